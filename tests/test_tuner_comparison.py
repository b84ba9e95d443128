"""A tiny piece of benchmarks/tuner_comparison.py: every tuner is held to the same step budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "tuner_comparison.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("tuner_comparison", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_a_search_stops_at_its_step_budget_exactly(harness, tmp_path) -> None:
    pytest.importorskip("sklearn")
    # Runs of 50 steps (two "epochs" of 25), a search budget of 75: the second run is cut at 25
    # steps, and the third never starts.
    task = harness.Task("tiny", "digits", "mlp", 0.99, 50, 75)
    counter = harness.StepCounter(task.tuning_steps)
    trajectory = harness.Trajectory(counter)
    chosen = harness.run_keras_tuner(
        "RandomSearch", task, harness.load(task), 0, str(tmp_path), trajectory
    )
    assert counter.total == 75
    # One point per completed trial, at the steps spent when it completed.
    assert [steps for steps, _ in trajectory.points] == [50, 75]
    assert chosen == trajectory.points[-1][1]
    assert set(chosen) == {"learning_rate", "batch_size", "width", "depth", "optimizer"}


def test_merging_keeps_other_runs_replaces_rerun_ones_and_refuses_other_tasks(harness) -> None:
    task = {"name": "tiny", "max_steps": 50}
    config = {"learning_rate": 0.01, "batch_size": 32, "width": 8, "depth": 1, "optimizer": "sgd"}
    other = {**config, "width": 16}

    def measured(cfg, effort, screened_out=False):
        return {"config": cfg, "l": effort, "screened_out": screened_out}

    def run(tuner, seed, chosen_l):
        return {"tuner": tuner, "seed": seed, "chosen_l": chosen_l, "trajectory": [[10, config]]}

    old = {
        "task": task,
        "remeasure_seeds": 3,
        "runs": [run("A", 0, 1.0), run("A", 1, 2.0), run("B", 0, 3.0)],
        "measured": [measured(config, 40.0), measured(other, float("inf"), True)],
    }
    new = {
        "task": task,
        "remeasure_seeds": 3,
        "runs": [run("A", 1, 5.0)],
        "measured": [measured(other, 60.0)],
    }
    result = harness.merged(old, new)
    assert sorted((r["tuner"], r["seed"], r["chosen_l"]) for r in result["runs"]) == [
        ("A", 0, 1.0),
        ("A", 1, 5.0),
        ("B", 0, 3.0),
    ]
    # A full measurement replaces one that was cut short; the others are kept.
    assert sorted(m["l"] for m in result["measured"]) == [40.0, 60.0]
    harness.score_trajectories(result)
    assert result["best_known_l"] == 40.0
    assert all(r["steps_to_within"] == 10 for r in result["runs"])
    # A better configuration found elsewhere (a search at another budget) moves the bar.
    harness.score_trajectories(result, best=30.0)
    assert result["best_known_l"] == 30.0
    assert all(r["steps_to_within"] is None for r in result["runs"])
    with pytest.raises(ValueError, match="task"):
        harness.merged(old, {**new, "task": {**task, "max_steps": 60}})
