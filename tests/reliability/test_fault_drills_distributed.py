"""The distributed-search drill: a KerasTuner chief and 3 workers on 127.0.0.1, every process
writing to one PostgreSQL ledger; one worker killed with SIGKILL mid-trial and restarted."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from keras_tuner.engine.trial import TrialStatus

from keras_effort import Ledger
from keras_effort.effort import RuntimeDistribution

pytestmark = [pytest.mark.reliability, pytest.mark.postgres, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np
    from keras_effort import Ledger
    from keras_effort.tuners import EffortSearch

    directory, url = sys.argv[1], sys.argv[2]
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
        build, target=("val_accuracy", 0.9), max_trials=6, max_steps=40,
        executions_per_trial=2, seed=1, check_every=10,
        oracle_options={"screen_budget": 0.25, "anchors": 1, "bridge_size": 1},
        ledger=Ledger(url), directory=directory, project_name="toy",
    )
    tuner.search(x[:256], y[:256], validation_data=(x[256:], y[256:]), batch_size=32, verbose=0)
    if os.environ["KERASTUNER_TUNER_ID"] == "chief":
        trials = tuner.oracle.get_best_trials(6)
        print("RESULT " + json.dumps({
            "ranking": [t.trial_id for t in trials],
            "scores": {t.trial_id: t.score for t in trials},
            "executions": {t.trial_id: len(tuner.oracle.attempts_of(t)) for t in trials},
            "status": {i: t.status for i, t in tuner.oracle.trials.items()},
        }))
    """
)


def _start(script, directory, url, tuner_id, port):
    environment = dict(
        os.environ,
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
    )
    return subprocess.Popen(
        [sys.executable, str(script), str(directory), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _ranking_from_ledger(by_trial, scores):
    """The oracle's ranking rule, transcribed: reached trials by effort, then the others by
    their best value (val_accuracy: larger is better), more executions first among equals; a
    configuration re-run at a later stage is ranked by its latest trial, its earlier trials
    after all the others."""

    def key(trial):
        bests = [a.best_value for a in by_trial[trial] if a.best_value is not None]
        if math.isfinite(scores[trial]):
            place = (0.0, scores[trial])
        elif bests:
            place = (1.0, -max(bests))
        else:
            place = (2.0, 0.0)
        return place, -len(by_trial[trial])

    def configuration(trial):
        config = by_trial[trial][0].config
        return json.dumps({k: v for k, v in config.items() if not k.startswith("effort/")})

    in_start_order = sorted(by_trial, key=int)
    latest = {}
    for trial in in_start_order:
        latest[configuration(trial)] = trial
    current = sorted(latest.values(), key=key)
    return current + sorted((t for t in in_start_order if t not in current), key=key)


def test_a_worker_killed_mid_trial_loses_and_repeats_nothing(tmp_path, postgres_url):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ledger = Ledger(postgres_url)
    processes = {"chief": _start(script, tmp_path, postgres_url, "chief", port)}
    for number in range(3):
        name = f"worker{number}"
        processes[name] = _start(script, tmp_path, postgres_url, name, port)
    try:
        deadline = time.monotonic() + 400
        while len(ledger.attempts()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the workers are training: kill one of them mid-trial
        assert len(ledger.attempts()) >= 2, "no execution finished in time"
        processes["worker1"].send_signal(signal.SIGKILL)
        processes["worker1"].communicate()
        processes["worker1"] = _start(script, tmp_path, postgres_url, "worker1", port)
        outputs = {}
        for name in ("worker0", "worker1", "worker2", "chief"):
            out, err = processes[name].communicate(timeout=600)
            assert processes[name].returncode == 0, f"{name} failed:\n{err[-3000:]}"
            outputs[name] = out
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    (line,) = [x for x in outputs["chief"].splitlines() if x.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    # No trial lost: every one completed.
    assert len(result["status"]) == 6
    assert set(result["status"].values()) == {TrialStatus.COMPLETED}
    # No execution recorded twice: one row per (trial, execution), as many as each trial ran.
    rows = ledger.attempts()
    keys = [(a.experiment, a.run) for a in rows]
    assert len(keys) == len(set(keys))
    by_trial = {}
    for attempt in rows:
        by_trial.setdefault(attempt.experiment.rpartition("/trial_")[2], []).append(attempt)
    assert set(by_trial) == set(result["status"])
    assert {trial: len(rows) for trial, rows in by_trial.items()} == result["executions"]
    # The oracle's scores and ranking are those recomputed from the ledger alone.
    scores = {
        trial: RuntimeDistribution.from_attempts(attempts).expected_steps()
        for trial, attempts in by_trial.items()
    }
    for trial, score in result["scores"].items():
        assert score == scores[trial] or (math.isinf(score) and math.isinf(scores[trial]))
    assert result["ranking"] == _ranking_from_ledger(by_trial, scores)
    print(f"\ndistributed drill: {len(rows)} executions in the ledger, trials lost 0, repeated 0")
