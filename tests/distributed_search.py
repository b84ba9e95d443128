"""The tiny search of the tuner tests: its data, its model, and the script every process of a
distributed search runs (tests/test_tuner_distributed.py, the fault drill
tests/reliability/test_fault_drills_distributed.py and the soak benchmarks/ledger_soak.py).

Every process runs the same script, as KerasTuner's distributed mode expects: the chief (the
oracle's gRPC server) and each worker differ only in `KERASTUNER_TUNER_ID`. All of them write
to one ledger; the search's state is in `directory`, so a process killed and started again
resumes from it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

# The drill's search: 2 screens at a quarter of the budget, 1 anchor, then probes.
SEARCH = {
    "target": ("val_accuracy", 0.9),
    "max_steps": 40,
    "executions_per_trial": 2,
    "seed": 1,
    "screen_share": 0.25,
    "anchors": 1,
    "bridge_size": 1,
}
# The script's file stub: the search is `main` below, found on the PYTHONPATH `start_search` sets.
SCRIPT = "import distributed_search\n\ndistributed_search.main()\n"


def toy_data(seed: int = 0):
    """`((x, y), (x_val, y_val))`: 256 and 128 points of 4 features, labelled by a half-plane."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(384, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return (x[:256], y[:256]), (x[256:], y[256:])


def build_toy(hp) -> keras.Model:
    """A compiled 4-8-2 MLP whose one hyperparameter is Adam's learning rate."""
    learning_rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    """The search of one process. argv: the search folder, the ledger (a path or a database
    URL), max_trials, `overwrite` or `keep`, and the oracle's arguments as JSON. The chief (or a
    lone process) prints the oracle's view of the finished search on one line "RESULT {...}"."""
    from keras_effort import Ledger
    from keras_effort.tuners import EffortSearch

    directory, ledger, max_trials, mode, search = sys.argv[1:6]
    (x, y), validation = toy_data()
    tuner = EffortSearch(
        build_toy,
        **json.loads(search),
        max_trials=int(max_trials),
        check_every=10,
        ledger=Ledger(ledger),
        directory=directory,
        project_name="toy",
        overwrite=mode == "overwrite",
    )
    tuner.search(x, y, validation_data=validation, batch_size=32, verbose=0)
    if "worker" not in os.environ.get("KERASTUNER_TUNER_ID", ""):
        trials = tuner.oracle.get_best_trials(int(max_trials))
        result = {
            "ranking": [t.trial_id for t in trials],
            "scores": {t.trial_id: t.score for t in trials},
            "executions": {t.trial_id: len(tuner.oracle.attempts_of(t)) for t in trials},
            "status": {i: t.status for i, t in tuner.oracle.trials.items()},
            "total_steps": tuner.total_steps,
        }
        print("RESULT " + json.dumps(result))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_search(
    script: Path,
    directory: Path,
    ledger: str,
    tuner_id: str | None,
    port: int | None,
    max_trials: int = 6,
    backend: str = "tensorflow",
    overwrite: bool = False,
    search: Mapping[str, Any] = SEARCH,
) -> subprocess.Popen:
    """Start one process of the search, its output piped.

    Args:
        script: where `SCRIPT` was written.
        directory: the search's folder, the same for every process.
        ledger: the ledger every process writes, a path or a database URL.
        tuner_id: `KERASTUNER_TUNER_ID`: "chief" serves the oracle, "worker<n>" run trials;
            `None` for a search in one process.
        port: the chief's port on 127.0.0.1 (`None` in one process).
        max_trials: the search's `max_trials`.
        backend: `KERAS_BACKEND` of the process.
        overwrite: whether the search starts afresh (`overwrite=True`) rather than resuming.
        search: the `EffortSearch` arguments, as `SEARCH` (JSON, `inf` included).

    Returns:
        The process, with text `stdout` and `stderr` pipes.
    """
    environment = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    path = [str(Path(__file__).parent), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, path))
    if tuner_id is not None:
        environment.update(
            KERASTUNER_TUNER_ID=tuner_id,
            KERASTUNER_ORACLE_IP="127.0.0.1",
            KERASTUNER_ORACLE_PORT=str(port),
        )
    mode = "overwrite" if overwrite else "keep"
    arguments = [str(directory), ledger, str(max_trials), mode, json.dumps(dict(search))]
    return subprocess.Popen(
        [sys.executable, str(script), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
