"""The Keras-free target: direction, reaching, and the targets it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from keras_effort.effort import Target, infer_direction
from keras_effort.effort.target import meets


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("val_accuracy", "up"),
        ("sparse_categorical_accuracy", "up"),
        ("val_auc", "up"),
        ("loss", "down"),
        ("val_mean_squared_error", "down"),
        ("val_my_score", None),
    ],
)
def test_direction_is_inferred_from_the_name(metric: str, direction: str | None) -> None:
    assert infer_direction(metric) == direction
    assert Target(metric, 0.5).direction == direction


def test_reached_and_better_follow_the_direction() -> None:
    up, down = Target("val_accuracy", 0.9), Target("val_loss", 0.3)
    assert up.reached(0.9) and up.reached(0.95) and not up.reached(0.89)
    assert down.reached(0.3) and down.reached(0.1) and not down.reached(0.31)
    assert up.better(0.8, 0.7) and not up.better(0.6, 0.7) and up.better(0.1, None)
    assert down.better(0.2, 0.3) and not down.better(0.4, 0.3)
    values = np.array([0.1, 0.3, 0.5])
    assert meets(values, 0.3, "up").tolist() == [False, True, True]
    assert meets(values, 0.3, "down").tolist() == [True, True, False]


def test_an_unknown_direction_comes_from_the_mode_or_is_refused_when_needed() -> None:
    assert Target("val_my_score", 2.0, "max").reached(3.0)
    assert Target("val_my_score", 2.0).with_direction("down").reached(1.0)
    with pytest.raises(ValueError, match="go up or down"):
        Target("val_my_score", 2.0).reached(3.0)


def test_a_mode_that_contradicts_the_metric_is_refused_naming_the_direction() -> None:
    # Before, `mode="min"` on accuracy "reached" 0.99 at accuracy 0.69.
    with pytest.raises(ValueError, match=r"`mode` = 'min' contradicts 'val_accuracy'.*larger"):
        Target("val_accuracy", 0.99, "min")
    with pytest.raises(ValueError, match=r"`mode` = 'max' contradicts 'val_loss'.*smaller"):
        Target("val_loss", 0.2, "max")
    assert Target("val_accuracy", 0.99, "max").direction == "up"


def test_targets_outside_the_metric_range_are_refused_or_warned() -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        Target("val_accuracy", 1.5)
    with pytest.warns(UserWarning, match="no attempt can reach it"):
        Target("val_loss", -1.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("", 0.5), "`metric`"),
        ((3, 0.5), "`metric`"),
        (("val_accuracy", "0.5"), "`value`"),
        (("val_accuracy", True), "`value`"),
        (("val_accuracy", float("nan")), "`value`"),
        (("val_loss", float("inf")), "`value`"),
        (("val_accuracy", 0.5, "up"), "`mode`"),
    ],
)
def test_bad_targets_name_the_argument(arguments: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target(*arguments)
