"""Reading the monitored metric in the middle of `fit`: from the logs, or by evaluating."""

from __future__ import annotations

import itertools
import math
from typing import Any

import keras
import numpy as np

from keras_effort.arguments import optional, positive_int
from keras_effort.callbacks.schedule_free import averaged_weights
from keras_effort.effort import Target


def optimizer_step(model: keras.Model) -> int:
    """The model's optimizer step count (`optimizer.iterations`) as an int."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def logged_value(logs: dict[str, Any] | None, name: str) -> float | None:
    """The value of `name` in `fit`'s logs as a float, or `None` when it is not there."""
    if not logs or name not in logs:
        return None
    return float(keras.ops.convert_to_numpy(logs[name]))


def non_finite_loss(logs: dict[str, Any] | None) -> bool:
    """Whether the logs hold a NaN or infinite loss (the running mean of the epoch so far)."""
    loss = logged_value(logs, "loss")
    return loss is not None and not math.isfinite(loss)


class MetricReader:
    """Reads the target's metric: from `fit`'s logs, or by evaluating validation data.

    Args:
        metric: the monitored metric's name, e.g. `"val_accuracy"`.
        validation_data: `(x, y)` or `(x, y, sample_weight)` arrays, a `tf.data.Dataset` or a
            `keras.utils.PyDataset`, evaluated by `evaluate` (needed to read a `val_` metric
            between epochs).
        validation_steps: batches of `validation_data` per evaluation; required for an
            infinite dataset (`repeat()`), which would otherwise never end.
        validation_batch_size: batch size of evaluations of array data (default 1024).

    Raises:
        ValueError: for validation data of another type, tuples of the wrong length, an
            infinite dataset without `validation_steps`, or a bad count.
    """

    def __init__(
        self,
        metric: str,
        validation_data: Any = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
    ) -> None:
        for name, value in (
            ("validation_steps", validation_steps),
            ("validation_batch_size", validation_batch_size),
        ):
            optional(positive_int, name, value)
        _check_validation_data(validation_data, validation_steps)
        self.metric = metric
        self.validation_data = validation_data
        self.validation_steps = validation_steps
        self.validation_batch_size = validation_batch_size
        self._evaluation_data: Any = None

    def from_logs(self, logs: dict[str, Any] | None) -> float:
        """The monitored value in `fit`'s logs.

        Raises:
            ValueError: when the metric is not in the logs, listing those that are.
        """
        value = logged_value(logs, self.metric)
        if value is None:
            available = ", ".join(sorted(logs or {})) or "none"
            hint = (
                " (validation metrics appear at epoch ends only when `fit` gets validation data)"
                if self.metric.startswith("val_")
                else ""
            )
            raise ValueError(
                f"monitored metric {self.metric!r} is not in the logs; available: {available}{hint}"
            )
        return value

    def evaluate(self, model: keras.Model) -> dict[str, Any]:
        """Evaluate the model on the validation data in the middle of training.

        `evaluate` resets the metrics that training shares with it, so their state is saved
        and restored: the training metrics' running averages are not disturbed. A model
        trained by a schedule-free optimizer is evaluated on its averaged weights (see
        `keras_effort.callbacks.schedule_free`).

        Returns:
            Every compiled metric as `fit` logs it for validation data (`val_loss`,
            `val_accuracy`, ...); `from_logs` reads the monitored one.
        """
        metric_variables = [v for metric in model.metrics for v in metric.variables]
        saved = [keras.ops.convert_to_numpy(v) for v in metric_variables]
        try:
            with averaged_weights(model):
                results = model.evaluate(
                    verbose=0, return_dict=True, **self._evaluate_arguments()
                )
        finally:
            for variable, value in zip(metric_variables, saved, strict=True):
                variable.assign(value)
        return {f"val_{name}": value for name, value in results.items()}

    def holds_non_finite(self) -> bool:
        """Whether the validation data holds a NaN or infinite number (inputs, targets, weights).

        Read only once a check has seen a non-finite value, to tell bad data from a diverged
        model; a dataset is read for `validation_steps` batches (all of it when `None`).
        """
        if self.validation_data is None:
            return False
        batches = (
            [self.validation_data]
            if isinstance(self.validation_data, (tuple, list))
            else itertools.islice(self.validation_data, self.validation_steps)
        )
        for batch in batches:
            for part in keras.tree.flatten(batch):
                array = np.asarray(part)
                if np.issubdtype(array.dtype, np.number) and not np.isfinite(array).all():
                    return True
        return False

    def _evaluate_arguments(self) -> dict[str, Any]:
        batch_size = self.validation_batch_size or 1024
        if self._evaluation_data is None:
            self._evaluation_data = _as_dataset(self.validation_data, batch_size)
        data = self._evaluation_data
        if isinstance(data, tuple):
            x, y, *weights = data
            return {
                "x": x,
                "y": y,
                "sample_weight": weights[0] if weights else None,
                "batch_size": batch_size,
                "steps": self.validation_steps,
            }
        return {"x": data, "steps": self.validation_steps}


def finite_weights(model: keras.Model) -> bool:
    """Whether every weight of `model` is finite (a diverged model has NaN or inf weights)."""
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def resolve_direction(target: Target, model: keras.Model) -> Target:
    """`target` with its direction known: from its mode or name, else the compiled metric's.

    Raises:
        ValueError: when neither says which way the metric should go.
    """
    if target.direction is not None:
        return target
    name = target.metric.removeprefix("val_")
    for metric in _flat_metrics(model):
        # Keras metrics carry their direction (e.g. `MeanSquaredError` goes down).
        direction = getattr(metric, "_direction", None)
        if metric.name == name and direction in ("up", "down"):
            return target.with_direction(direction)
    raise ValueError(
        f"cannot infer whether {target.metric!r} should go up or down; pass mode='max' or "
        "mode='min'"
    )


def _check_validation_data(data: Any, steps: int | None) -> None:
    if data is None:
        return
    if isinstance(data, (tuple, list)):
        if len(data) not in (2, 3):
            raise ValueError(
                "`validation_data` must be (x, y) or (x, y, sample_weight), got a sequence of "
                f"length {len(data)}"
            )
        return
    if isinstance(data, keras.utils.PyDataset):
        return
    if type(data).__module__.startswith("tensorflow") and hasattr(data, "cardinality"):
        import tensorflow as tf

        if steps is None and int(data.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
            raise ValueError(
                "`validation_data` is an infinite dataset (`repeat()`): pass `validation_steps`, "
                "the batches to evaluate at each check"
            )
        return
    raise ValueError(
        "`validation_data` must be (x, y), (x, y, sample_weight), a tf.data.Dataset or a "
        f"keras.utils.PyDataset, got {type(data).__name__}"
    )


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
