"""Argument checks of the tuners that are about a search, not a plain number.

Counts, fractions and choices are checked by `keras_effort.arguments`, in one wording; here are
the target, the search space and the pairing of `budget_unit` with `max_seconds`.
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from keras_effort.arguments import ArgumentError, one_of, positive_real
from keras_effort.effort import Target

# How the oracle searches: in stages, or at random.
STRATEGIES = ("staged", "random")
# What budgets and scores count: gradient steps, or wall-clock seconds of training.
BUDGET_UNITS = ("steps", "seconds")
# The old names of `EffortOracle` (and `EffortSearch`) arguments, and their new ones.
RENAMED = {"criterion": "measure", "screen_budget": "screen_share", "anchor_budget": "anchor_share"}


def as_target(target: Target | tuple[Any, ...]) -> Target:
    """Normalise `("val_accuracy", 0.9)` or `("val_loss", 0.2, "min")` to a `Target`.

    Raises:
        ValueError: for anything else, a target `Target` refuses, or one whose metric's
            direction cannot be inferred.
    """
    if isinstance(target, (tuple, list)) and len(target) in (2, 3):
        target = Target(*target)
    if not isinstance(target, Target):
        raise ArgumentError("target", "a Target or a (metric, value[, mode]) tuple", target)
    if target.direction is None:
        raise ValueError(
            f"cannot infer whether {target.metric!r} should go up or down; pass "
            "`target=(metric, value, 'max')` or `'min'`"
        )
    return target


def hyperparameters(value: Any) -> keras_tuner.HyperParameters | None:
    """`value`, which must be a `keras_tuner.HyperParameters` or None.

    Raises:
        ArgumentError: for anything else.
    """
    if value is not None and not isinstance(value, keras_tuner.HyperParameters):
        raise ArgumentError("hyperparameters", "a keras_tuner.HyperParameters or None", value)
    return value


def budget_unit(unit: Any, max_seconds: Any) -> tuple[str, float | None]:
    """`(unit, max_seconds)`: `max_seconds` is a finite number > 0 exactly in seconds.

    Raises:
        ArgumentError: for an unknown unit, or `max_seconds` given in steps or missing (or not
            a finite number > 0) in seconds.
    """
    one_of("budget_unit", unit, BUDGET_UNITS)
    if unit == "steps":
        if max_seconds is not None:
            raise ArgumentError(
                "max_seconds", "None with budget_unit='steps' (the budget is `max_steps`)",
                max_seconds,
            )  # fmt: skip
        return unit, None
    return unit, positive_real("max_seconds", max_seconds)
