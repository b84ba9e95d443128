"""Bad input to AutoRate, Prodigy and DivergenceGuard: every row names the argument."""

from __future__ import annotations

import math

import keras
import pytest

from keras_effort.callbacks import DivergenceGuard
from keras_effort.optimizers import AutoRate, Prodigy

pytestmark = pytest.mark.reliability


def autorate(**kwargs):
    return AutoRate(**{"optimizer": keras.optimizers.Adam(0.01), **kwargs})


def built_adam():
    optimizer = keras.optimizers.Adam(0.01)
    optimizer.build([keras.Variable([1.0])])
    return optimizer


ROWS = [
    # AutoRate
    (autorate, {"optimizer": "adam"}, ValueError, "`optimizer`"),
    (autorate, {"optimizer": None}, ValueError, "`optimizer`"),
    (autorate, {"optimizer": built_adam()}, ValueError, "`optimizer`"),
    (autorate, {"hypergradient_lr": -0.1}, ValueError, "`hypergradient_lr`"),
    (autorate, {"hypergradient_lr": math.nan}, ValueError, "`hypergradient_lr`"),
    (autorate, {"target_cosine": 1.0}, ValueError, "`target_cosine`"),
    (autorate, {"target_cosine": -0.1}, ValueError, "`target_cosine`"),
    (autorate, {"initial_step": 0.0}, ValueError, "`initial_step`"),
    (autorate, {"initial_step": 1.5}, ValueError, "`initial_step`"),
    (autorate, {"max_step": 0.0}, ValueError, "`max_step`"),
    (autorate, {"max_step": float("nan")}, ValueError, "`max_step`"),
    (autorate, {"explosion": 1.0}, ValueError, "`explosion`"),
    (autorate, {"explosion": math.inf}, ValueError, "`explosion`"),
    (autorate, {"cut": 0.0}, ValueError, "`cut`"),
    (autorate, {"cut": 1.0}, ValueError, "`cut`"),
    (autorate, {"clipnorm": 1.0}, ValueError, "clipnorm"),
    # Prodigy
    (Prodigy, {"learning_rate": 0.0}, ValueError, "`learning_rate`"),
    (Prodigy, {"learning_rate": -1.0}, ValueError, "`learning_rate`"),
    (Prodigy, {"beta_1": 1.0}, ValueError, "`beta_1`"),
    (Prodigy, {"beta_2": -0.5}, ValueError, "`beta_2`"),
    (Prodigy, {"beta_3": 1.5}, ValueError, "`beta_3`"),
    (Prodigy, {"epsilon": 0.0}, ValueError, "`epsilon`"),
    (Prodigy, {"weight_decay": -0.01}, ValueError, "`weight_decay`"),
    (Prodigy, {"d0": 0.0}, ValueError, "`d0`"),
    (Prodigy, {"d0": math.inf}, ValueError, "`d0`"),
    (Prodigy, {"d_coef": -1.0}, ValueError, "`d_coef`"),
    (Prodigy, {"growth_rate": 1.0}, ValueError, "`growth_rate`"),
    (Prodigy, {"growth_rate": math.nan}, ValueError, "`growth_rate`"),
    # DivergenceGuard
    (DivergenceGuard, {"every": 0}, ValueError, "`every`"),
    (DivergenceGuard, {"every": 2.5}, ValueError, "`every`"),
    (DivergenceGuard, {"every": True}, ValueError, "`every`"),
    (DivergenceGuard, {"factor": 1.0}, ValueError, "`factor`"),
    (DivergenceGuard, {"factor": 0.0}, ValueError, "`factor`"),
    (DivergenceGuard, {"explosion": 0.5}, ValueError, "`explosion`"),
    (DivergenceGuard, {"explosion": math.nan}, ValueError, "`explosion`"),
    (DivergenceGuard, {"max_events": 0}, ValueError, "`max_events`"),
    (DivergenceGuard, {"max_events": "3"}, ValueError, "`max_events`"),
    (DivergenceGuard, {"verbose": 2}, ValueError, "`verbose`"),
    (DivergenceGuard, {"verbose": True}, ValueError, "`verbose`"),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "names"),
    ROWS,
    ids=[
        f"{factory.__name__}-{'-'.join(map(str, kwargs))}-{i}"
        for i, (factory, kwargs, *_) in enumerate(ROWS)
    ],
)
def test_bad_input_names_the_argument(factory, kwargs, error, names) -> None:
    with pytest.raises(error) as raised:
        factory(**kwargs)
    assert names in str(raised.value)
