"""The target: a metric, the value to reach, and which way is better.

One definition serves the callbacks, the tuner's oracle and the effort tables, so "reached"
means the same thing everywhere.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from keras_effort.arguments import real_in

MODES = ("auto", "max", "min")

# Names whose metrics live in [0, 1] and grow as the model improves.
_BOUNDED_UP = ("accuracy", "acc", "auc", "precision", "recall", "f1", "iou")
# Names whose metrics shrink as the model improves and are never negative.
_DOWN = ("loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "hinge", "divergence")


def infer_direction(metric: str) -> str | None:
    """`"up"` or `"down"` when the metric's name says which way is better, else `None`.

    Losses and errors go down; accuracy, AUC, precision, recall, F1 and IoU go up. A `val_`
    prefix is ignored.
    """
    name = metric.removeprefix("val_").lower()
    if any(word in name for word in _DOWN):
        return "down"
    if any(word in name for word in _BOUNDED_UP):
        return "up"
    return None


def mode_direction(mode: str) -> str | None:
    """The direction a mode fixes: `"max"` is `"up"`, `"min"` is `"down"`, `"auto"` none."""
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
    return {"max": "up", "min": "down"}.get(mode)


def meets(values: float | np.ndarray, value: float, direction: str) -> bool | np.ndarray:
    """Whether `values` meet the target `value` (`>=` going up, `<=` going down).

    Both sides are compared in float32, the precision Keras computes its metrics in: an
    accuracy of 342/360 comes back as 0.949999988, which is 0.95 at that precision, so it
    meets a target of 0.95 (in float64 it would fall short by 1.2e-8). This is the one place
    that judges reaching: `Target.reached`, the effort tables and the exports all call it.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"`direction` must be 'up' or 'down', got {direction!r}")
    # Beyond float32's range a number becomes +-inf, which still compares the right way.
    with np.errstate(over="ignore"):
        values32 = np.asarray(values, dtype=np.float64).astype(np.float32)
        value32 = np.float32(value)
    return values32 >= value32 if direction == "up" else values32 <= value32


@dataclass(frozen=True)
class Target:
    """The metric value an attempt must reach.

    Args:
        metric: the monitored metric as named in `fit`'s logs, e.g. `"val_accuracy"`.
        value: the value to reach.
        mode: `"max"` (larger is better), `"min"`, or `"auto"`: inferred from the name
            (see `infer_direction`) or, in the callbacks, from the compiled metric itself.

    Raises:
        ValueError: for an empty metric name, a non-finite value, an unknown mode, a mode that
            contradicts the direction the metric's name implies (`mode="min"` for an accuracy),
            or a value outside [0, 1] for an accuracy-like metric.

    Warns:
        UserWarning: for a negative target of a loss or error, which no model can reach.

    Example:
        >>> Target("val_accuracy", 0.9).reached(0.92)
        True
    """

    metric: str
    value: float
    mode: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"`metric` must be a metric name, got {self.metric!r}")
        object.__setattr__(self, "value", real_in("value", self.value))
        chosen = mode_direction(self.mode)
        named = infer_direction(self.metric)
        if named is not None and chosen is not None and named != chosen:
            better = "larger" if named == "up" else "smaller"
            raise ValueError(
                f"`mode` = {self.mode!r} contradicts {self.metric!r}, for which {better} values "
                f"are better; use mode='auto' (or {'max' if named == 'up' else 'min'!r})"
            )
        if named == "up" and not 0.0 <= self.value <= 1.0:
            raise ValueError(
                f"target `value` = {self.value!r} is outside [0, 1], the range of {self.metric!r}"
            )
        if named == "down" and self.value < 0.0:
            warnings.warn(
                f"the target {self.metric} <= {self.value:g} is negative: losses and errors are "
                "never negative, so no attempt can reach it",
                UserWarning,
                stacklevel=3,
            )

    @property
    def direction(self) -> str | None:
        """`"up"` when larger values are better, `"down"` otherwise; `None` if unknown."""
        return mode_direction(self.mode) or infer_direction(self.metric)

    def with_direction(self, direction: str) -> Target:
        """This target with its mode set from a known direction (`"up"` or `"down"`)."""
        return Target(self.metric, self.value, "max" if direction == "up" else "min")

    def reached(self, value: float) -> bool:
        """Whether `value` meets the target, compared at float32 precision (see `meets`).

        Raises:
            ValueError: when the direction is unknown (mode `"auto"` on an unfamiliar name).
        """
        return bool(meets(value, self.value, self._known_direction()))

    def better(self, value: float, best: float | None) -> bool:
        """Whether `value` improves on `best` (`None`: nothing seen yet)."""
        if best is None:
            return True
        return value > best if self._known_direction() == "up" else value < best

    def __str__(self) -> str:
        sign = {"up": ">=", "down": "<="}.get(self.direction or "", "->")
        return f"{self.metric} {sign} {self.value:g}"

    def _known_direction(self) -> str:
        direction = self.direction
        if direction is None:
            raise ValueError(
                f"cannot tell whether {self.metric!r} should go up or down; pass mode='max' or "
                "mode='min'"
            )
        return direction
