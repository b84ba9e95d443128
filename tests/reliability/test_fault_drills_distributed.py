"""The distributed-search drill: a KerasTuner chief and 3 workers on 127.0.0.1, every process
writing to one PostgreSQL ledger; one worker killed with SIGKILL mid-trial and restarted."""

from __future__ import annotations

import json
import math
import signal
import time

import pytest
from distributed_search import SCRIPT, free_port, start_search
from keras_tuner.engine.trial import TrialStatus

from keras_effort import Ledger
from keras_effort.effort import RuntimeDistribution

pytestmark = [pytest.mark.reliability, pytest.mark.postgres, pytest.mark.slow]

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
    port = free_port()
    ledger = Ledger(postgres_url)
    processes = {"chief": start_search(script, tmp_path, postgres_url, "chief", port)}
    for number in range(3):
        name = f"worker{number}"
        processes[name] = start_search(script, tmp_path, postgres_url, name, port)
    try:
        deadline = time.monotonic() + 400
        while len(ledger.attempts()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the workers are training: kill one of them mid-trial
        assert len(ledger.attempts()) >= 2, "no execution finished in time"
        processes["worker1"].send_signal(signal.SIGKILL)
        processes["worker1"].communicate()
        processes["worker1"] = start_search(script, tmp_path, postgres_url, "worker1", port)
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
