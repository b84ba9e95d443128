"""EffortTuner under a MirroredStrategy, resumed after a kill, and in chief/worker mode."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from distributed_search import SCRIPT, SEARCH, free_port, start_search
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort import Ledger
from keras_effort.effort import RuntimeDistribution
from keras_effort.tuners import EffortOracle, EffortSearch
from keras_effort.tuners.plan import (
    DESIGN_ROW,
    EXECUTIONS,
    MAX_STEPS,
    SEED,
    STAGE,
)

# Anchors at half the budget and no capping: every stage has a budget of its own to check.
STAGED = {**SEARCH, "anchor_share": 0.5, "capping": math.inf}


def start(script: Path, directory: Path, max_trials: int, tuner_id=None, port=None, **options):
    ledger = str(directory / "ledger.sqlite")  # outside the project, which overwrite deletes
    return start_search(
        script, directory, ledger, tuner_id, port, max_trials, search=STAGED, **options
    )


def finish(process: subprocess.Popen, timeout: float) -> str:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"process timed out:\n{err[-3000:]}")
    if process.returncode != 0:
        pytest.fail(f"process failed ({process.returncode}):\n{err[-3000:]}")
    return out


def result_of(output: str) -> dict:
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def saved_trials(project: Path) -> dict[str, Trial]:
    trials = {}
    for path in project.glob("trial_*/trial.json"):
        trial = Trial.load(str(path))
        trials[trial.trial_id] = trial
    return trials


def reloaded_oracle(directory: Path, max_trials: int) -> EffortOracle:
    """The oracle rebuilt in this process from the files a search left."""
    oracle = EffortOracle(**STAGED, max_trials=max_trials)
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "toy")
    oracle.reload()
    return oracle


@pytest.mark.slow
def test_trials_run_under_a_distribution_strategy(tmp_path, mirrored_strategy) -> None:
    replicas = []

    def build(hp) -> keras.Model:
        replicas.append(tf.distribute.get_strategy().num_replicas_in_sync)
        learning_rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(320, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    tuner = EffortSearch(
        build,
        target=("val_accuracy", 0.9),
        strategy="random",
        max_trials=1,
        max_steps=20,
        executions_per_trial=1,
        check_every=10,
        seed=0,
        distribution_strategy=mirrored_strategy,
        directory=str(tmp_path),
        project_name="mirrored",
    )
    tuner.oracle.verbose = 0
    tuner.search(x[:256], y[:256], validation_data=(x[256:], y[256:]), batch_size=32, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == TrialStatus.COMPLETED
    assert replicas[-1] == 2  # the execution's model was built inside the strategy's scope
    attempts = tuner.oracle.attempts_of(trial)
    assert len(attempts) == 1 == len(tuner.ledger.attempts())
    assert all(a.steps <= 20 and (a.reached or a.steps == 20) for a in attempts)


@pytest.mark.slow
def test_a_killed_search_resumes_without_losing_or_repeating_trials(tmp_path) -> None:
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    project = tmp_path / "toy"
    max_trials = 6
    process = start(script, tmp_path, max_trials, overwrite=True)
    deadline = time.monotonic() + 240
    completed: dict[str, Trial] = {}
    try:
        while len(completed) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"search ended or hung before the kill:\n{process.stderr.read()[-3000:]}"
                )
            time.sleep(0.2)
            completed = {
                i: t for i, t in saved_trials(project).items() if t.status == TrialStatus.COMPLETED
            }
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    stage_at_kill = json.loads((project / "oracle.json").read_text())["effort_stage"]
    started_before_kill = set(saved_trials(project))

    output = finish(start(script, tmp_path, max_trials), timeout=300)
    result = result_of(output)
    final = saved_trials(project)
    # Nothing lost: every trial completed before the kill is there, unchanged.
    for trial_id, before in completed.items():
        after = final[trial_id]
        assert after.status == TrialStatus.COMPLETED
        assert after.hyperparameters.values == before.hyperparameters.values
        assert after.score == before.score
        assert after.metrics.get_config() == before.metrics.get_config()
    # Nothing repeated: max_trials trials, each design row screened once, each seed used once.
    assert len(final) == max_trials
    assert set(result["status"].values()) == {TrialStatus.COMPLETED}
    ordered = [final[i] for i in sorted(final)]
    stages = [t.hyperparameters.values[STAGE] for t in ordered]
    rank = {"screen": 0, "anchor": 1, "bridge": 2, "refine": 3, "confirm": 3}
    assert [rank[s] for s in stages] == sorted(rank[s] for s in stages)
    # The plan continued where it was: later trials are at or past the stage saved at the kill,
    # and every trial has its stage's budget.
    later = [t for t in ordered if t.trial_id not in started_before_kill]
    assert later and all(
        rank[t.hyperparameters.values[STAGE]] >= rank[stage_at_kill] for t in later
    )
    budgets = {"screen": 10, "anchor": 20, "bridge": 40, "refine": 40, "confirm": 40}
    assert all(
        t.hyperparameters.values[MAX_STEPS] == budgets[s]
        for t, s in zip(ordered, stages, strict=True)
    )
    rows = [
        t.hyperparameters.values[DESIGN_ROW]
        for t in ordered
        if t.hyperparameters.values[STAGE] == "screen"
    ]
    assert sorted(rows) == [0, 1]
    seeds = [
        t.hyperparameters.values[SEED] + e
        for t in ordered
        for e in range(t.hyperparameters.values[EXECUTIONS])
    ]
    assert len(seeds) == len(set(seeds))
    assert result["ranking"] == [
        t.trial_id for t in reloaded_oracle(tmp_path, max_trials).get_best_trials(max_trials)
    ]
    # The ledger holds each execution once: the killed trial's re-run wrote over the rows its
    # finished executions had left (before, `report` showed 3 runs where there were 2).
    attempts = Ledger(tmp_path / "ledger.sqlite", read_only=True).attempts()
    keys = [(a.experiment, a.run, a.attempt) for a in attempts]
    assert len(keys) == len(set(keys)) == len(seeds)


@pytest.mark.slow
def test_chief_and_two_workers_complete_every_trial_and_rank_as_one_process(tmp_path) -> None:
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    port = free_port()
    max_trials = 5
    chief = start(script, tmp_path, max_trials, "chief", port)
    workers = [start(script, tmp_path, max_trials, f"worker{i}", port) for i in range(2)]
    try:
        for worker in workers:
            finish(worker, timeout=300)
        result = result_of(finish(chief, timeout=120))
    finally:
        for process in (chief, *workers):
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert len(result["status"]) == max_trials
    assert set(result["status"].values()) == {TrialStatus.COMPLETED}
    project = tmp_path / "toy"
    # Both workers ran trials: each saved its tuner state after one.
    assert (project / "worker0.json").exists() and (project / "worker1.json").exists()
    # The chief's ranking is what one process computes from the same results.
    oracle = reloaded_oracle(tmp_path, max_trials)
    assert result["ranking"] == [t.trial_id for t in oracle.get_best_trials(max_trials)]
    for trial in oracle.trials.values():
        attempts = oracle.attempts_of(trial)
        assert len(attempts) == trial.hyperparameters.values[EXECUTIONS]
        expected = RuntimeDistribution.from_attempts(attempts).expected_steps()
        assert trial.score == expected or (math.isinf(trial.score) and math.isinf(expected))
    assert result["total_steps"] == oracle.total_steps() > 0
