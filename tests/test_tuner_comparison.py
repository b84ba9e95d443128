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
