"""The optimizers' own kinds of argument, over the package's checks (`keras_effort.arguments`).

A hyperparameter in [0, 1), a learning rate that may be a schedule, a pair of bounds and a
fresh optimizer to wrap or to step with: each is checked here once, in the package's wording.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from keras_effort.arguments import (
    ArgumentError,
    instance_of,
    is_real,
    non_negative_real,
    positive_real,
    real_in,
)


def unit_interval(name: str, value: Any, learned: bool = False) -> float:
    """`value` as a float in [0, 1), or in (0, 1) when it is learned (its logit must exist).

    Raises:
        ArgumentError: `value` is outside that interval.
    """
    try:
        return real_in(name, value, 0.0, 1.0, low_open=learned, high_open=True)
    except ArgumentError as error:
        if not learned:
            raise
        raise ArgumentError(name, f"{error.allowed} when it is learned", value) from None


def learning_rate(value: Any, positive: bool = False) -> Any:
    """`value`: a finite float >= 0 (> 0 if `positive`), a schedule or a callable.

    Returns:
        The rate as a float, or the schedule or callable itself.

    Raises:
        ArgumentError: `value` is neither a rate in range nor callable.
    """
    if callable(value):
        return value  # a LearningRateSchedule or a callable without arguments
    try:
        check = positive_real if positive else non_negative_real
        return check("learning_rate", value)
    except ArgumentError as error:
        raise ArgumentError(
            "learning_rate", f"{error.allowed}, a LearningRateSchedule or a callable", value
        ) from None


def bounds(name: str, value: Any, what: str, finite_high: bool = True) -> tuple[float, float]:
    """`value` as `(low, high)`, two floats with `0 <= low <= high`.

    Args:
        name: The argument's name, for the message.
        value: The pair to check.
        what: What the pair bounds, for the message ("min_multiplier, max_multiplier").
        finite_high: Whether `high` must be finite (else `inf` means no upper bound).

    Raises:
        ArgumentError: `value` is not such a pair.
    """
    try:
        pair = tuple(value)
    except TypeError:  # not iterable
        pair = ()
    ok = len(pair) == 2 and all(is_real(b) and not math.isnan(b) for b in pair)
    if ok:
        low, high = (float(b) for b in pair)
        ok = math.isfinite(low) and (math.isfinite(high) or not finite_high) and 0 <= low <= high
    if not ok:
        kind = "two finite numbers" if finite_high else "two numbers, the first finite,"
        raise ArgumentError(name, f"({what}), {kind} with 0 <= {what.replace(', ', ' <= ')}", value)
    return low, high


def fresh_optimizer(name: str, value: Any) -> keras.optimizers.Optimizer:
    """`value`, a `keras.optimizers.Optimizer` that is not built yet (it will be built for us).

    Raises:
        ArgumentTypeError: `value` is not an optimizer (a `TypeError` and a `ValueError`).
        ArgumentError: it is built already.
    """
    instance_of(name, value, keras.optimizers.Optimizer, "a keras.optimizers.Optimizer")
    if value.built:
        raise ArgumentError(name, "a fresh optimizer, not built yet", value)
    return value
