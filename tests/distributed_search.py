"""A tiny distributed `EffortSearch`, shared by the fault drill
(tests/reliability/test_fault_drills_distributed.py) and the soak (benchmarks/ledger_soak.py).

Every process runs the same script, as KerasTuner's distributed mode expects: the chief (the
oracle's gRPC server) and each worker differ only in `KERASTUNER_TUNER_ID`. All of them write
to one ledger; the search's state is in `directory`, so a process killed and started again
resumes from it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

# argv: the search folder, the ledger (a path or a database URL), max_trials. The chief
# prints the oracle's view of the finished search on one line starting with "RESULT ".
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np
    from keras_effort import Ledger
    from keras_effort.tuners import EffortSearch

    directory, ledger, max_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(384, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")

    def build(hp):
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

    tuner = EffortSearch(
        build, target=("val_accuracy", 0.9), max_trials=max_trials, max_steps=40,
        executions_per_trial=2, seed=1, check_every=10,
        oracle_options={"screen_budget": 0.25, "anchors": 1, "bridge_size": 1},
        ledger=Ledger(ledger), directory=directory, project_name="toy",
    )
    tuner.search(x[:256], y[:256], validation_data=(x[256:], y[256:]), batch_size=32, verbose=0)
    if os.environ["KERASTUNER_TUNER_ID"] == "chief":
        trials = tuner.oracle.get_best_trials(max_trials)
        print("RESULT " + json.dumps({
            "ranking": [t.trial_id for t in trials],
            "scores": {t.trial_id: t.score for t in trials},
            "executions": {t.trial_id: len(tuner.oracle.attempts_of(t)) for t in trials},
            "status": {i: t.status for i, t in tuner.oracle.trials.items()},
        }))
    """
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_search(
    script: Path,
    directory: Path,
    ledger: str,
    tuner_id: str,
    port: int,
    max_trials: int = 6,
    backend: str = "tensorflow",
) -> subprocess.Popen:
    """Start one process of the search (`tuner_id` "chief" or "worker<n>"), its output piped.

    Args:
        script: where `SCRIPT` was written.
        directory: the search's folder, the same for every process.
        ledger: the ledger every process writes, a path or a database URL.
        tuner_id: `KERASTUNER_TUNER_ID`: "chief" serves the oracle, the others run trials.
        port: the chief's port on 127.0.0.1.
        max_trials: the search's `max_trials`.
        backend: `KERAS_BACKEND` of the process.

    Returns:
        The process, with text `stdout` and `stderr` pipes.
    """
    environment = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
    )
    return subprocess.Popen(
        [sys.executable, str(script), str(directory), ledger, str(max_trials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
