"""Bad arguments to the hypergradient optimizers, RAdam and AdaBelief: a clear error naming the
argument, raised at construction (before a training step could turn them into NaN weights)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from keras_effort.optimizers import (
    AdaBelief,
    HypergradientAdam,
    HypergradientRMSprop,
    HypergradientSGD,
    RAdam,
)

pytestmark = pytest.mark.reliability


def built_sgd():
    optimizer = keras.optimizers.SGD()
    optimizer.build([keras.Variable([1.0])])
    return optimizer


ROWS = [
    # The learning rate, for every optimizer.
    *[
        (cls, {"learning_rate": value}, ValueError, "`learning_rate`")
        for cls in (HypergradientSGD, HypergradientAdam, HypergradientRMSprop, RAdam, AdaBelief)
        for value in (math.nan, math.inf, -0.1, "0.1")
    ],
    # A learned rate that would start outside its bounds (it used to be clipped silently).
    (
        HypergradientSGD,
        {"learning_rate": 5.0, "learning_rate_bounds": (0.0, 1.0)},
        ValueError,
        "`learning_rate_bounds`",
    ),
    (
        HypergradientAdam,
        {"learning_rate": 1e-4, "learning_rate_bounds": (1e-3, 1.0)},
        ValueError,
        "`learning_rate_bounds`",
    ),
    # The bounds themselves.
    (HypergradientSGD, {"learning_rate_bounds": (0.5, 0.1)}, ValueError, "`learning_rate_bounds`"),
    (HypergradientSGD, {"learning_rate_bounds": (-1.0, 1.0)}, ValueError, "`learning_rate_bounds`"),
    (
        HypergradientSGD,
        {"learning_rate_bounds": (math.nan, 1.0)},
        ValueError,
        "`learning_rate_bounds`",
    ),
    (HypergradientSGD, {"learning_rate_bounds": 5}, ValueError, "`learning_rate_bounds`"),
    (HypergradientSGD, {"learning_rate_bounds": ("a", "b")}, ValueError, "`learning_rate_bounds`"),
    (
        HypergradientSGD,
        {"learning_rate_bounds": (0.0, 0.5, 1.0)},
        ValueError,
        "`learning_rate_bounds`",
    ),
    # The hyper step.
    (HypergradientSGD, {"hypergradient_lr": -1e-3}, ValueError, "`hypergradient_lr`"),
    (HypergradientAdam, {"hypergradient_lr": math.nan}, ValueError, "`hypergradient_lr`"),
    (HypergradientRMSprop, {"hypergradient_lr": math.inf}, ValueError, "`hypergradient_lr`"),
    (HypergradientSGD, {"hypergradient_lr": "1e-3"}, ValueError, "`hypergradient_lr`"),
    (HypergradientSGD, {"scope": "layer"}, ValueError, "`scope`"),
    (HypergradientAdam, {"scope": None}, ValueError, "`scope`"),
    (HypergradientSGD, {"rule": "exponential"}, ValueError, "`rule`"),
    (HypergradientAdam, {"learn": ["rho"]}, ValueError, "`learn`"),
    (HypergradientAdam, {"learn": []}, ValueError, "`learn`"),
    (HypergradientAdam, {"learn": ["beta_1", "beta_1"]}, ValueError, "`learn`"),
    (HypergradientRMSprop, {"learn": "momentum"}, ValueError, "`learn`"),
    (HypergradientSGD, {"hyper_optimizer": "sgd"}, ValueError, "`hyper_optimizer`"),
    (HypergradientSGD, {"hyper_optimizer": built_sgd()}, ValueError, "`hyper_optimizer`"),
    # A tower: the error of its inner level names the inner argument.
    (
        HypergradientAdam,
        {"hyper_optimizer_args": {"learning_rate": -1.0}},
        ValueError,
        "`learning_rate`",
    ),
    # Hyperparameters in [0, 1), or (0, 1) when learned.
    (HypergradientSGD, {"momentum": 1.0}, ValueError, "`momentum`"),
    (HypergradientSGD, {"momentum": -0.1}, ValueError, "`momentum`"),
    (HypergradientSGD, {"momentum": math.nan}, ValueError, "`momentum`"),
    (HypergradientSGD, {"momentum": 0.0, "learn": ["momentum"]}, ValueError, "`momentum`"),
    (HypergradientAdam, {"beta_1": 1.0}, ValueError, "`beta_1`"),
    (HypergradientAdam, {"beta_2": -0.1}, ValueError, "`beta_2`"),
    (HypergradientAdam, {"beta_1": 0.0, "learn": ["beta_1"]}, ValueError, "`beta_1`"),
    (HypergradientRMSprop, {"rho": 1.5}, ValueError, "`rho`"),
    (HypergradientRMSprop, {"rho": math.inf}, ValueError, "`rho`"),
    (RAdam, {"beta_1": 1.0}, ValueError, "`beta_1`"),
    (RAdam, {"beta_2": math.nan}, ValueError, "`beta_2`"),
    (AdaBelief, {"beta_1": -0.5}, ValueError, "`beta_1`"),
    (AdaBelief, {"beta_2": 1.0}, ValueError, "`beta_2`"),
    # Non-negative values.
    (HypergradientAdam, {"epsilon": -1e-7}, ValueError, "`epsilon`"),
    (HypergradientRMSprop, {"epsilon": math.nan}, ValueError, "`epsilon`"),
    (RAdam, {"epsilon": -1.0}, ValueError, "`epsilon`"),
    (RAdam, {"weight_decay": -0.1}, ValueError, "`weight_decay`"),
    (AdaBelief, {"epsilon": math.inf}, ValueError, "`epsilon`"),
    (AdaBelief, {"weight_decay": -0.1}, ValueError, "`weight_decay`"),
]


def construct(factory, kwargs):
    kwargs = dict(kwargs)
    if "hyper_optimizer_args" in kwargs:
        kwargs["hyper_optimizer"] = HypergradientSGD(**kwargs.pop("hyper_optimizer_args"))
    return factory(**kwargs)


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "argument"),
    ROWS,
    ids=[
        f"{factory.__name__}-{'-'.join(kwargs)}-{i}" for i, (factory, kwargs, *_) in enumerate(ROWS)
    ],
)
def test_bad_argument_is_named_at_construction(factory, kwargs, error, argument):
    with pytest.raises(error, match=argument):
        construct(factory, kwargs)


@pytest.mark.parametrize("cls", [RAdam, AdaBelief, HypergradientAdam])
def test_numpy_scalars_and_schedules_are_accepted(cls):
    # The checks refuse bad values, not good ones of another type.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)
    for rate in (np.float64(0.01), schedule):
        cls(learning_rate=rate)
