"""Checks of optimizer arguments shared by every optimizer here, with one wording."""

from __future__ import annotations

import math
from typing import Any


def check_unit_interval(name: str, value: Any, learned: bool = False) -> None:
    """Raise unless `value` is a float in [0, 1), or in (0, 1) when it is learned."""
    low_ok = isinstance(value, (int, float)) and (value > 0 if learned else value >= 0)
    if not (low_ok and math.isfinite(value) and value < 1):
        interval = "(0, 1) when it is learned" if learned else "[0, 1)"
        raise ValueError(f"`{name}` must be a float in {interval}, got {value!r}")


def check_non_negative(name: str, value: Any, allow_none: bool = False) -> None:
    """Raise unless `value` is a finite float >= 0 (or None, when allowed)."""
    if value is None and allow_none:
        return
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        allowed = "None or a float >= 0" if allow_none else "a float >= 0"
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}")
