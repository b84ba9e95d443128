"""Watching one metric against a target: shared by `TargetStopping` and `Restarts`."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

MODES = ("auto", "min", "max")

# Metrics whose values live in [0, 1] and grow as the model improves.
_BOUNDED_UP = ("accuracy", "acc", "auc", "precision", "recall", "f1", "iou")
_DOWN = ("loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "hinge", "divergence")


def optimizer_step(model: keras.Model) -> int:
    """The model's optimizer step count (`optimizer.iterations`) as an int."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _metric_kind(monitor: str) -> str | None:
    name = monitor.removeprefix("val_").lower()
    if any(word in name for word in _DOWN):
        return "down"
    if any(word in name for word in _BOUNDED_UP):
        return "bounded up"
    return None


class TargetMonitor:
    """Reads a monitored metric at a chosen granularity and compares it with a target.

    Args:
        monitor: a metric name as it appears in the logs of `fit`, e.g. `"val_accuracy"`.
        target: the value to reach.
        mode: `"max"`, `"min"` or `"auto"` (inferred from the metric, as Keras does).
        check_every: `"epoch"`, or an int `k` to check every `k` gradient steps.
        validation_data: `(x, y)` or `(x, y, sample_weight)` arrays or a `tf.data.Dataset`,
            evaluated at step-wise checks of a `val_` metric.
        validation_batch_size: batch size of those evaluations.
    """

    def __init__(
        self,
        monitor: str,
        target: float,
        mode: str = "auto",
        check_every: int | str = "epoch",
        validation_data: Any = None,
        validation_batch_size: int | None = None,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a metric name, got {monitor!r}")
        if isinstance(target, bool) or not isinstance(target, (int, float, np.number)):
            raise ValueError(f"`target` must be a number, got {target!r}")
        if not math.isfinite(float(target)):
            raise ValueError(f"`target` must be finite, got {target!r}")
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
        kind = _metric_kind(monitor)
        if kind == "bounded up" and not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"`target` = {target!r} is outside [0, 1], the range of {monitor!r}")
        if check_every != "epoch" and (
            isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1
        ):
            raise ValueError(f"`check_every` must be 'epoch' or an int >= 1, got {check_every!r}")
        self.stepwise_validation = check_every != "epoch" and monitor.startswith("val_")
        if self.stepwise_validation and validation_data is None:
            raise ValueError(
                f"checking {monitor!r} every {check_every} steps needs `validation_data`: "
                "`fit` only evaluates at epoch ends"
            )
        if validation_batch_size is not None and (
            not isinstance(validation_batch_size, int) or validation_batch_size < 1
        ):
            raise ValueError(
                f"`validation_batch_size` must be an int >= 1, got {validation_batch_size!r}"
            )
        self.monitor = monitor
        self.target = float(target)
        self.mode = mode
        self.check_every = check_every
        self.validation_data = validation_data
        self.validation_batch_size = validation_batch_size
        self._direction = {"max": "up", "min": "down"}.get(mode) or (
            "up" if kind == "bounded up" else kind
        )
        self._validation_dataset: Any = None

    @property
    def stepwise(self) -> bool:
        """True when checks happen every `check_every` gradient steps, not per epoch."""
        return self.check_every != "epoch"

    @property
    def direction(self) -> str:
        """`"up"` when larger values are better, `"down"` otherwise (after `bind`)."""
        return self._direction

    def bind(self, model: keras.Model) -> None:
        """Resolve `mode="auto"` from the model's metrics when the name alone is unclear."""
        if self._direction is not None:
            return
        name = self.monitor.removeprefix("val_")
        for metric in _flat_metrics(model):
            if metric.name == name and getattr(metric, "_direction", None) in ("up", "down"):
                self._direction = metric._direction
                return
        raise ValueError(
            f"cannot infer whether {self.monitor!r} should go up or down; pass mode='max' "
            "or mode='min'"
        )

    def reached(self, value: float) -> bool:
        """Whether `value` meets the target."""
        return value >= self.target if self._direction == "up" else value <= self.target

    def better(self, value: float, best: float | None) -> bool:
        """Whether `value` improves on `best`."""
        if best is None:
            return True
        return value > best if self._direction == "up" else value < best

    def value_from_logs(self, logs: dict[str, Any] | None) -> float:
        """The monitored value in `fit`'s logs; a clear error when it is not there."""
        logs = logs or {}
        if self.monitor not in logs:
            available = ", ".join(sorted(logs)) or "none"
            hint = (
                " (validation metrics appear at epoch ends only when `fit` gets validation data)"
                if self.monitor.startswith("val_")
                else ""
            )
            raise ValueError(
                f"monitored metric {self.monitor!r} is not in the logs; available: "
                f"{available}{hint}"
            )
        return float(keras.ops.convert_to_numpy(logs[self.monitor]))

    def evaluate(self, model: keras.Model) -> float:
        """Evaluate a `val_` metric on the validation data in the middle of training.

        `evaluate` resets the metrics that training shares with it, so their state is saved
        and restored: the training metrics' running averages are not disturbed.
        """
        metric_variables = [v for metric in model.metrics for v in metric.variables]
        saved = [keras.ops.convert_to_numpy(v) for v in metric_variables]
        try:
            results = model.evaluate(verbose=0, return_dict=True, **self._evaluate_arguments())
        finally:
            for variable, value in zip(metric_variables, saved, strict=True):
                variable.assign(value)
        return self.value_from_logs({f"val_{name}": value for name, value in results.items()})

    def _evaluate_arguments(self) -> dict[str, Any]:
        batch_size = self.validation_batch_size or 1024
        if self._validation_dataset is None:
            self._validation_dataset = _as_dataset(self.validation_data, batch_size)
        data = self._validation_dataset
        if isinstance(data, tuple):
            x, y, *weights = data
            return {
                "x": x,
                "y": y,
                "sample_weight": weights[0] if weights else None,
                "batch_size": batch_size,
            }
        return {"x": data}


def _as_dataset(validation_data: Any, batch_size: int) -> Any:
    """A cached, batched tf.data pipeline for array data (evaluate is ~10x faster on it)."""
    if not isinstance(validation_data, (tuple, list)):
        return validation_data  # already a dataset or a PyDataset
    if keras.backend.backend() != "tensorflow":
        return tuple(validation_data)
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(tuple(validation_data)).batch(batch_size).cache()


def _flat_metrics(model: keras.Model) -> list[Any]:
    metrics = []
    for metric in getattr(model, "metrics", []):
        metrics.extend(getattr(metric, "metrics", [metric]))
    return metrics
