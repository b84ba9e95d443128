"""Argument checks of the tuners: each error names the argument and what it allows."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner

from keras_effort.effort import MEASURES, Target

# How the oracle searches: in stages, or at random.
STRATEGIES = ("staged", "random")
# What budgets and scores count: gradient steps, or wall-clock seconds of training.
BUDGET_UNITS = ("steps", "seconds")
# The `EffortOracle` arguments that count something, and their least values.
_COUNTS = {
    "max_trials": 1,
    "max_steps": 1,
    "executions_per_trial": 1,
    "anchors": 1,
    "bridge_size": 1,
    "max_consecutive_failed_trials": 1,
    "max_retries_per_trial": 0,
}


def as_target(target: Target | tuple[Any, ...]) -> Target:
    """Normalise `("val_accuracy", 0.9)` or `("val_loss", 0.2, "min")` to a `Target`.

    Raises:
        ValueError: for anything else, a target `Target` refuses, or one whose metric's
            direction cannot be inferred.
    """
    if isinstance(target, (tuple, list)) and len(target) in (2, 3):
        target = Target(*target)
    if not isinstance(target, Target):
        raise ValueError(
            f"`target` must be a Target or a (metric, value[, mode]) tuple, got {target!r}"
        )
    if target.direction is None:
        raise ValueError(
            f"cannot infer whether {target.metric!r} should go up or down; pass "
            "`target=(metric, value, 'max')` or `'min'`"
        )
    return target


def check_oracle_arguments(arguments: Mapping[str, Any]) -> None:
    """Check `EffortOracle`'s arguments (all but `target`), by name.

    Raises:
        ValueError: naming the first bad argument and what it allows.
    """
    for name, minimum in _COUNTS.items():
        check_int(name, arguments[name], minimum)
    check_int("screen_runs", arguments["screen_runs"], optional=True)
    if arguments["seed"] is not None:
        check_int("seed", arguments["seed"], minimum=-(2**63))
    hyperparameters = arguments["hyperparameters"]
    if hyperparameters is not None and not isinstance(
        hyperparameters, keras_tuner.HyperParameters
    ):
        raise ValueError(
            "`hyperparameters` must be a keras_tuner.HyperParameters or None, got "
            f"{type(hyperparameters).__name__}"
        )
    for name in ("z", "promotion_level"):
        check_fraction(name, arguments[name])
    for name in ("screen_budget", "anchor_budget"):
        check_fraction(name, arguments[name], include_one=True)
    check_capping(arguments["capping"])
    check_choice("criterion", arguments["criterion"], MEASURES)
    check_choice("strategy", arguments["strategy"], STRATEGIES)
    check_budget_unit(arguments["budget_unit"], arguments["max_seconds"])


def check_int(name: str, value: object, minimum: int = 1, optional: bool = False) -> None:
    """Raise `ValueError` unless `value` is an int >= `minimum` (or `None` when `optional`)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}")


def check_fraction(name: str, value: object, include_one: bool = False) -> None:
    """Raise `ValueError` unless `value` is a number in (0, 1), or (0, 1] with `include_one`."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (0.0 < float(value) < 1.0 or (include_one and float(value) == 1.0)):
        interval = "(0, 1]" if include_one else "(0, 1)"
        raise ValueError(f"`{name}` must be a number in {interval}, got {value!r}")


def check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    """Raise `ValueError` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {tuple(allowed)}, got {value!r}")


def check_capping(capping: object) -> None:
    """Raise `ValueError` unless `capping` is a number >= 1 (or `inf`)."""
    if (
        isinstance(capping, bool)
        or not isinstance(capping, numbers.Real)
        or math.isnan(capping)
        or capping < 1.0
    ):
        raise ValueError(f"`capping` must be a number >= 1 (or inf), got {capping!r}")


def check_budget_unit(budget_unit: object, max_seconds: object) -> None:
    """Raise `ValueError` unless `max_seconds` is a finite number > 0 exactly in seconds."""
    check_choice("budget_unit", budget_unit, BUDGET_UNITS)
    if budget_unit == "steps":
        if max_seconds is not None:
            raise ValueError(
                "`max_seconds` is the budget of budget_unit='seconds'; with budget_unit='steps' "
                f"the budget is `max_steps` and `max_seconds` must be None, got {max_seconds!r}"
            )
        return
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, numbers.Real)
        or not 0.0 < float(max_seconds) < math.inf
    ):
        raise ValueError(
            "`max_seconds` must be a finite number > 0 with budget_unit='seconds', "
            f"got {max_seconds!r}"
        )
