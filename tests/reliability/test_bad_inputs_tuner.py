"""Bad arguments to EffortOracle, EffortSearch and EffortTuner: a clear error naming the argument,
raised at construction, before any trial is wasted."""

from __future__ import annotations

import math

import keras
import keras_tuner
import pytest

from keras_effort.tuners import EffortOracle, EffortSearch, EffortTuner

pytestmark = pytest.mark.reliability

TARGET = ("val_accuracy", 0.9)


def space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    return hp


def oracle(**kwargs) -> EffortOracle:
    kwargs.setdefault("target", TARGET)
    kwargs.setdefault("hyperparameters", space())
    return EffortOracle(**kwargs)


def build(hp) -> keras.Model:
    hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def search(**kwargs) -> EffortSearch:
    kwargs.setdefault("target", TARGET)
    return EffortSearch(build, **kwargs)


def tuner(**kwargs) -> EffortTuner:
    kwargs.setdefault("oracle", oracle(strategy="random", max_trials=1))
    return EffortTuner(build, **kwargs)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch) -> None:
    """A tuner that gets as far as making its project directory makes it in `tmp_path`."""
    monkeypatch.chdir(tmp_path)


ROWS = [
    # The target.
    (oracle, {"target": "val_accuracy"}, ValueError, "`target`"),
    (oracle, {"target": ("val_accuracy",)}, ValueError, "`target`"),
    (oracle, {"target": ("val_custom", 3.0)}, ValueError, "target="),
    (search, {"target": None}, ValueError, "`target`"),
    # Counts.
    (oracle, {"max_trials": 0}, ValueError, "`max_trials`"),
    (oracle, {"max_trials": 2.5}, ValueError, "`max_trials`"),
    (oracle, {"max_steps": 0}, ValueError, "`max_steps`"),
    (oracle, {"max_steps": True}, ValueError, "`max_steps`"),
    (oracle, {"executions_per_trial": 0}, ValueError, "`executions_per_trial`"),
    (oracle, {"anchors": 0}, ValueError, "`anchors`"),
    (oracle, {"bridge_size": -1}, ValueError, "`bridge_size`"),
    (oracle, {"screen_runs": 0}, ValueError, "`screen_runs`"),
    # Probabilities and shares.
    (oracle, {"z": 1.0}, ValueError, "`z`"),
    (oracle, {"z": math.nan}, ValueError, "`z`"),
    (oracle, {"promotion_level": 0.0}, ValueError, "`promotion_level`"),
    (oracle, {"screen_share": 0.0}, ValueError, "`screen_share`"),
    (oracle, {"anchor_share": 1.5}, ValueError, "`anchor_share`"),
    (oracle, {"screen_share": "0.1"}, ValueError, "`screen_share`"),
    # Vocabulary.
    (oracle, {"measure": "median"}, ValueError, "`measure`"),
    (oracle, {"strategy": "grid"}, ValueError, "`strategy`"),
    # Budgets in seconds.
    (oracle, {"budget_unit": "minutes"}, ValueError, "`budget_unit`"),
    (oracle, {"budget_unit": None}, ValueError, "`budget_unit`"),
    (oracle, {"budget_unit": "seconds"}, ValueError, "`max_seconds`"),
    (oracle, {"budget_unit": "seconds", "max_seconds": 0}, ValueError, "`max_seconds`"),
    (oracle, {"budget_unit": "seconds", "max_seconds": math.inf}, ValueError, "`max_seconds`"),
    (oracle, {"budget_unit": "seconds", "max_seconds": math.nan}, ValueError, "`max_seconds`"),
    (oracle, {"budget_unit": "seconds", "max_seconds": "60"}, ValueError, "`max_seconds`"),
    (oracle, {"budget_unit": "seconds", "max_seconds": True}, ValueError, "`max_seconds`"),
    (oracle, {"max_seconds": 60}, ValueError, "`max_seconds`"),
    (search, {"budget_unit": "hours"}, ValueError, "`budget_unit`"),
    (search, {"anchors": 0}, ValueError, "`anchors`"),
    # EffortTuner's own arguments.
    (tuner, {"oracle": "random"}, TypeError, "`oracle`"),
    (tuner, {"check_every": 0}, ValueError, "`check_every`"),
    (tuner, {"check_every": "epoch"}, ValueError, "`check_every`"),
    (tuner, {"ledger": 42}, TypeError, "`ledger`"),
    (tuner, {"executions_per_trial": 3}, ValueError, "`executions_per_trial`"),
    # KerasTuner's own arguments, checked by the oracle.
    (oracle, {"seed": "abc"}, ValueError, "`seed`"),
    (oracle, {"seed": 1.5}, ValueError, "`seed`"),
    (oracle, {"hyperparameters": "x"}, ValueError, "`hyperparameters`"),
    (search, {"seed": "abc"}, ValueError, "`seed`"),
    (oracle, {"max_retries_per_trial": -1}, ValueError, "`max_retries_per_trial`"),
    (oracle, {"max_retries_per_trial": 1.5}, ValueError, "`max_retries_per_trial`"),
    (oracle, {"max_consecutive_failed_trials": "3"}, ValueError, "`max_consecutive_failed"),
    (oracle, {"max_consecutive_failed_trials": 0}, ValueError, "`max_consecutive_failed"),
]


def _id(row: tuple) -> str:
    factory, kwargs, *_ = row
    return f"{factory.__name__}-{'-'.join(f'{k}={v!r}' for k, v in kwargs.items())}"


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "argument"),
    ROWS,
    ids=[_id(row) for row in ROWS],
)
def test_bad_argument_is_named_at_construction(factory, kwargs, error, argument) -> None:
    with pytest.raises(error, match=argument):
        factory(**kwargs)
