"""Bad arguments to ActiveLR, its Active* constructors and the schedules: a clear error naming
the argument, raised at construction (before any training step could turn them into NaN)."""

from __future__ import annotations

import math

import keras
import pytest

from keras_effort.optimizers import (
    ActiveLR,
    active_adabelief,
    active_adamw,
    active_radam,
    active_sgd,
)
from keras_effort.schedules import CyclicalLearningRate, LubyCosineRestarts, OneCycle, Warmup

pytestmark = pytest.mark.reliability


def active_lr(**kwargs):
    """ActiveLR around a fresh SGD unless the row gives another `optimizer`."""
    kwargs.setdefault("optimizer", keras.optimizers.SGD())
    return ActiveLR(**kwargs)


def built_sgd():
    optimizer = keras.optimizers.SGD()
    optimizer.build([keras.Variable([1.0])])
    return optimizer


ROWS = [
    # ActiveLR: the wrapped optimizer.
    (active_lr, {"optimizer": "adam"}, TypeError, "`optimizer`"),
    (active_lr, {"optimizer": None}, TypeError, "`optimizer`"),
    (active_lr, {"optimizer": keras.optimizers.AdamW(use_ema=True)}, ValueError, "`use_ema`"),
    (
        active_lr,
        {"optimizer": keras.optimizers.SGD(gradient_accumulation_steps=2)},
        ValueError,
        "`gradient_accumulation_steps`",
    ),
    (
        active_lr,
        {"optimizer": keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())},
        ValueError,
        "`optimizer`",
    ),
    (active_lr, {"optimizer": built_sgd()}, ValueError, "`optimizer`"),
    # ActiveLR: its own arguments.
    (active_lr, {"increase": -0.1}, ValueError, "`increase`"),
    (active_lr, {"increase": math.inf}, ValueError, "`increase`"),
    (active_lr, {"increase": math.nan}, ValueError, "`increase`"),
    (active_lr, {"increase": "0.2"}, ValueError, "`increase`"),
    (active_lr, {"decrease": 0.0}, ValueError, "`decrease`"),
    (active_lr, {"decrease": 1.5}, ValueError, "`decrease`"),
    (active_lr, {"decrease": math.nan}, ValueError, "`decrease`"),
    (active_lr, {"decrease": "0.5"}, ValueError, "`decrease`"),
    (active_lr, {"period": 0}, ValueError, "`period`"),
    (active_lr, {"period": "batch"}, ValueError, "`period`"),
    (active_lr, {"period": 2.5}, ValueError, "`period`"),
    (active_lr, {"period": True}, ValueError, "`period`"),
    (active_lr, {"warmup_periods": 0}, ValueError, "`warmup_periods`"),
    (active_lr, {"warmup_periods": 1.5}, ValueError, "`warmup_periods`"),
    (active_lr, {"bounds": 5}, ValueError, "`bounds`"),
    (active_lr, {"bounds": (2.0, 1.0)}, ValueError, "`bounds`"),
    (active_lr, {"bounds": (-1.0, 1.0)}, ValueError, "`bounds`"),
    (active_lr, {"bounds": (0.1, math.inf)}, ValueError, "`bounds`"),
    (active_lr, {"bounds": ("0.1", "10")}, ValueError, "`bounds`"),
    (active_lr, {"bounds": (0.1, 1.0, 10.0)}, ValueError, "`bounds`"),
    # The Active* constructors pass their arguments on to ActiveLR or the Keras optimizer.
    (active_sgd, {"learning_rate": 0.1, "increase": math.inf}, ValueError, "`increase`"),
    (active_sgd, {"learning_rate": 0.1, "momentum": 1.5}, ValueError, "`momentum`"),
    (active_adamw, {"decrease": 2.0}, ValueError, "`decrease`"),
    (active_radam, {"period": -1}, ValueError, "`period`"),
    (active_adabelief, {"increase": "0.2"}, ValueError, "`increase`"),
    # Schedules.
    (OneCycle, {"max_learning_rate": -1.0, "total_steps": 10}, ValueError, "`max_learning_rate`"),
    (OneCycle, {"max_learning_rate": 1.0, "total_steps": 0}, ValueError, "`total_steps`"),
    (
        OneCycle,
        {"max_learning_rate": 1.0, "total_steps": 100, "pct_start": 1.5},
        ValueError,
        "`pct_start`",
    ),
    (
        CyclicalLearningRate,
        {"initial_learning_rate": 0.1, "maximal_learning_rate": 0.01, "step_size": 10},
        ValueError,
        "`maximal_learning_rate`",
    ),
    (
        CyclicalLearningRate,
        {
            "initial_learning_rate": 0.01,
            "maximal_learning_rate": 0.1,
            "step_size": 10,
            "mode": "sawtooth",
        },
        ValueError,
        "`mode`",
    ),
    (
        LubyCosineRestarts,
        {"initial_learning_rate": 0.1, "unit_steps": 10, "alpha": 2.0},
        ValueError,
        "`alpha`",
    ),
    (Warmup, {"schedule_or_rate": 0.1, "warmup_steps": 0}, ValueError, "`warmup_steps`"),
    (Warmup, {"schedule_or_rate": -0.1, "warmup_steps": 10}, ValueError, "`schedule_or_rate`"),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "argument"),
    ROWS,
    ids=[
        f"{factory.__name__}-{'-'.join(kwargs)}-{i}" for i, (factory, kwargs, *_) in enumerate(ROWS)
    ],
)
def test_bad_argument_is_named_at_construction(factory, kwargs, error, argument):
    with pytest.raises(error, match=argument):
        factory(**kwargs)
