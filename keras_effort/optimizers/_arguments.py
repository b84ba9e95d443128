"""Checks of optimizer arguments shared by every optimizer here, with one wording."""

from __future__ import annotations

import math
import numbers
from typing import Any


def _is_real(value: Any) -> bool:
    """A real number (NumPy scalars included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_unit_interval(name: str, value: Any, learned: bool = False) -> None:
    """Raise unless `value` is a float in [0, 1), or in (0, 1) when it is learned."""
    low_ok = _is_real(value) and (value > 0 if learned else value >= 0)
    if not (low_ok and math.isfinite(value) and value < 1):
        interval = "(0, 1) when it is learned" if learned else "[0, 1)"
        raise ValueError(f"`{name}` must be a float in {interval}, got {value!r}")


def check_non_negative(name: str, value: Any, allow_none: bool = False) -> None:
    """Raise unless `value` is a finite float >= 0 (or None, when allowed)."""
    if value is None and allow_none:
        return
    if not (_is_real(value) and math.isfinite(value) and value >= 0):
        allowed = "None or a float >= 0" if allow_none else "a float >= 0"
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}")


def check_learning_rate(value: Any) -> None:
    """Raise unless `value` is a finite float >= 0, a schedule or a callable."""
    if callable(value):
        return  # a LearningRateSchedule or a callable without arguments
    if not (_is_real(value) and math.isfinite(value) and value >= 0):
        raise ValueError(
            "`learning_rate` must be a finite float >= 0, a LearningRateSchedule or a "
            f"callable, got {value!r}"
        )
