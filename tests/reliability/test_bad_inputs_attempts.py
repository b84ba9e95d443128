"""Bad input to the attempt machinery: every row names the argument and what is allowed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_effort.callbacks import Restarts, TargetStopping
from keras_effort.cli import main
from keras_effort.demo import run_demo
from keras_effort.effort import Target
from keras_effort.restarts import Cutoffs, EstimatedOptimal, FixedCutoff, Geometric, Luby
from keras_effort.tuners import EffortOracle

pytestmark = pytest.mark.reliability

ARRAYS = (np.zeros((4, 2), "float32"), np.zeros(4, "int64"))
INFINITE = tf.data.Dataset.from_tensor_slices(ARRAYS).batch(2).repeat()


def stopping(**kwargs):
    return TargetStopping(**{"monitor": "loss", "target": 0.1, **kwargs})


def restarts(**kwargs):
    arguments = {"stopping": stopping(), "policy": 10, "max_total_steps": 100}
    return Restarts(**{**arguments, **kwargs})


def oracle(**kwargs):
    return EffortOracle(**{"target": ("val_accuracy", 0.9), **kwargs})


ROWS = [
    # TargetStopping
    (stopping, {"monitor": ""}, ValueError, "`monitor`"),
    (stopping, {"monitor": 3}, ValueError, "`monitor`"),
    (stopping, {"target": None}, ValueError, "`target` is required"),
    (stopping, {"target": "0.5"}, ValueError, "`target` must be a finite number"),
    (stopping, {"target": float("nan")}, ValueError, "`target` must be a finite number"),
    (stopping, {"target": math.inf}, ValueError, "`target` must be a finite number"),
    (stopping, {"target": True}, ValueError, "`target` must be a finite number"),
    (stopping, {"monitor": "val_accuracy", "target": 0.99, "mode": "min"}, ValueError, "`mode`"),
    (stopping, {"monitor": "val_loss", "mode": "max"}, ValueError, "`mode`"),
    (stopping, {"mode": "up"}, ValueError, "`mode`"),
    (stopping, {"monitor": "accuracy", "target": 1.5}, ValueError, "outside [0, 1]"),
    (stopping, {"monitor": "accuracy", "target": -0.1}, ValueError, "outside [0, 1]"),
    (stopping, {"check_every": 0}, ValueError, "`check_every`"),
    (stopping, {"check_every": -3}, ValueError, "`check_every`"),
    (stopping, {"check_every": 2.5}, ValueError, "`check_every`"),
    (stopping, {"check_every": "step"}, ValueError, "`check_every`"),
    (stopping, {"check_every": True}, ValueError, "`check_every`"),
    (stopping, {"monitor": "val_loss", "check_every": 5}, ValueError, "`validation_data`"),
    (stopping, {"validation_data": 42}, ValueError, "`validation_data`"),
    (stopping, {"validation_data": "data"}, ValueError, "`validation_data`"),
    (stopping, {"validation_data": (1,)}, ValueError, "`validation_data`"),
    (stopping, {"validation_data": (1, 2, 3, 4)}, ValueError, "`validation_data`"),
    (stopping, {"validation_data": INFINITE}, ValueError, "`validation_steps`"),
    (stopping, {"validation_data": ARRAYS, "validation_steps": 0}, ValueError,
     "`validation_steps`"),
    (stopping, {"validation_data": ARRAYS, "validation_steps": 1.5}, ValueError,
     "`validation_steps`"),
    (stopping, {"validation_batch_size": 0}, ValueError, "`validation_batch_size`"),
    (stopping, {"validation_batch_size": "64"}, ValueError, "`validation_batch_size`"),
    (stopping, {"ledger": 42}, TypeError, "`ledger`"),
    (stopping, {"ledger": [1]}, TypeError, "`ledger`"),
    (stopping, {"experiment": ""}, ValueError, "`experiment`"),
    (stopping, {"experiment": 7}, ValueError, "`experiment`"),
    (stopping, {"config": {"f": print}}, ValueError, "`config`"),
    (stopping, {"config": {"x": math.nan}}, ValueError, "`config`"),
    (stopping, {"config": 5}, ValueError, "`config`"),
    (stopping, {"seed": "abc"}, ValueError, "`seed`"),
    (stopping, {"seed": 1.5}, ValueError, "`seed`"),
    (stopping, {"batch_size": 0}, ValueError, "`batch_size`"),
    (stopping, {"batch_size": -1}, ValueError, "`batch_size`"),
    (stopping, {"batch_size": 32.0}, ValueError, "`batch_size`"),
    (stopping, {"stop_training": "no"}, ValueError, "`stop_training`"),
    (stopping, {"stop_training": 0}, ValueError, "`stop_training`"),
    # Restarts and its policies
    (restarts, {"stopping": "loss"}, TypeError, "`stopping`"),
    (restarts, {"max_total_steps": 0}, ValueError, "`max_total_steps`"),
    (restarts, {"max_total_steps": 10.5}, ValueError, "`max_total_steps`"),
    (restarts, {"max_total_steps": True}, ValueError, "`max_total_steps`"),
    (restarts, {"policy": []}, ValueError, "`policy` must be a non-empty iterable of cutoffs"),
    (restarts, {"policy": "abc"}, ValueError, "`policy`"),
    (restarts, {"policy": [0, -1]}, ValueError, "`policy cutoff`"),
    (restarts, {"policy": [3, 2.5]}, ValueError, "`policy cutoff`"),
    (restarts, {"policy": 0}, ValueError, "`steps`"),
    (restarts, {"policy": 3.5}, ValueError, "`policy`"),
    (restarts, {"policy": None}, ValueError, "`policy`"),
    (restarts, {"policy": {"a": 1}}, ValueError, "`policy`"),
    (restarts, {"seed": "abc"}, ValueError, "`seed`"),
    (restarts, {"seed": 2.0}, ValueError, "`seed`"),
    (restarts, {"ledger": 42}, TypeError, "`ledger`"),
    (restarts, {"run": ""}, ValueError, "`run`"),
    (restarts, {"run": 5}, ValueError, "`run`"),
    (restarts, {"verbose": 2}, ValueError, "`verbose`"),
    (restarts, {"verbose": "yes"}, ValueError, "`verbose`"),
    (FixedCutoff, {"steps": 0}, ValueError, "`steps`"),
    (FixedCutoff, {"steps": "5"}, ValueError, "`steps`"),
    (Luby, {"unit": -1}, ValueError, "`unit`"),
    (Luby, {"unit": 1.5}, ValueError, "`unit`"),
    (Geometric, {"first": 0}, ValueError, "`first`"),
    (Geometric, {"first": 10, "factor": 0.5}, ValueError, "`factor`"),
    (Geometric, {"first": 10, "factor": math.nan}, ValueError, "`factor`"),
    (Cutoffs, {"values": b"ab"}, ValueError, "`policy`"),
    (EstimatedOptimal, {"unit": 0}, ValueError, "`unit`"),
    (EstimatedOptimal, {"unit": 10, "min_successes": 0}, ValueError, "`min_successes`"),
    (EstimatedOptimal, {"unit": 10, "explore_every": 1}, ValueError, "`explore_every`"),
    # Target
    (Target, {"metric": "", "value": 0.5}, ValueError, "`metric`"),
    (Target, {"metric": "val_accuracy", "value": "high"}, ValueError, "`value`"),
    (Target, {"metric": "val_accuracy", "value": math.nan}, ValueError, "`value`"),
    (Target, {"metric": "val_accuracy", "value": 0.5, "mode": "larger"}, ValueError, "`mode`"),
    # EffortOracle
    (oracle, {"target": "val_accuracy"}, ValueError, "`target`"),
    (oracle, {"target": ("val_accuracy",)}, ValueError, "`target`"),
    (oracle, {"target": ("val_accuracy", 0.9, "min")}, ValueError, "`mode`"),
    (oracle, {"target": ("val_score", 0.9)}, ValueError, "go up or down"),
    (oracle, {"seed": "abc"}, ValueError, "`seed`"),
    (oracle, {"seed": 1.5}, ValueError, "`seed`"),
    (oracle, {"hyperparameters": "x"}, ValueError, "`hyperparameters`"),
    (oracle, {"max_trials": 0}, ValueError, "`max_trials`"),
    (oracle, {"max_steps": -5}, ValueError, "`max_steps`"),
    (oracle, {"executions_per_trial": 0}, ValueError, "`executions_per_trial`"),
    (oracle, {"z": 1.0}, ValueError, "`z`"),
    (oracle, {"z": "0.9"}, ValueError, "`z`"),
    (oracle, {"measure": "mean"}, ValueError, "`measure`"),
    (oracle, {"strategy": "grid"}, ValueError, "`strategy`"),
    (oracle, {"screen_share": 0.0}, ValueError, "`screen_share`"),
    (oracle, {"anchor_share": 1.5}, ValueError, "`anchor_share`"),
    (oracle, {"anchors": 0}, ValueError, "`anchors`"),
    (oracle, {"bridge_size": 0}, ValueError, "`bridge_size`"),
    (oracle, {"promotion_level": 0.0}, ValueError, "`promotion_level`"),
    (oracle, {"screen_runs": 0}, ValueError, "`screen_runs`"),
    # The demo's training
    (run_demo, {"runs": 0}, ValueError, "`runs`"),
    (run_demo, {"epochs": 0}, ValueError, "`epochs`"),
    (run_demo, {"batch_size": 0}, ValueError, "`batch_size`"),
    (run_demo, {"check_every": 2.5}, ValueError, "`check_every`"),
    (run_demo, {"learning_rate": math.nan}, ValueError, "`learning_rate`"),
    (run_demo, {"learning_rate": -1.0}, ValueError, "`learning_rate`"),
    (run_demo, {"learning_rate": math.inf}, ValueError, "`learning_rate`"),
    (run_demo, {"targets": [1.5]}, ValueError, "`targets`"),
]


@pytest.mark.parametrize(("build", "kwargs", "error", "message"), ROWS)
def test_bad_input_is_refused_naming_the_argument(build, kwargs, error, message):
    with pytest.raises(error, match=_literal(message)):
        build(**kwargs)


@pytest.mark.parametrize("rate", ["nan", "-1", "0", "inf", "abc"])
def test_the_demo_command_refuses_a_bad_learning_rate(rate, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--learning-rate", rate])
    assert stopped.value.code == 2
    assert "--learning-rate" in capsys.readouterr().err


def test_a_loss_target_below_zero_is_warned_about():
    with pytest.warns(UserWarning, match="no attempt can reach it"):
        TargetStopping("val_loss", -1.0)


def _literal(text: str) -> str:
    import re

    return re.escape(text)
