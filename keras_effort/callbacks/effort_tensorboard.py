"""Effort curves in TensorBoard, on a gradient-step axis that runs on across restarts."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_effort.callbacks.restarts import Restarts
from keras_effort.callbacks.target_stopping import TargetStopping
from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import Attempt, runtime_distribution_of


class EffortTensorBoard(keras.callbacks.Callback):
    """Writes effort curves for TensorBoard, on the total gradient steps over all attempts.

    Listens to a `TargetStopping` or a `Restarts` (pass it as `source`; it need not be
    before this callback in `fit`'s list) and writes, with the gradient step as TensorBoard's
    step:

    - `effort/<monitor>` at every check, and `effort/target` beside it;
    - `effort/learning_rate`, the rate the optimizer uses (a schedule's current value), and
      `learned/<name>` for optimizers that adapt their own hyperparameters (anything with a
      `learned_hyperparameters` dict, such as keras-effort's hypergradient optimizers and
      ActiveLR): scalars as they are, tensors as `.../mean`, `.../min`, `.../max` and a
      histogram;
    - at each attempt's end: `effort/attempt` (its number, marking the boundary),
      `effort/attempt_steps`, `effort/attempt_reached` (0 or 1),
      `effort/attempt_steps_to_target` when it succeeded, and the running estimates over all
      attempts this callback has seen: `effort/koza` (Koza's effort at `z`),
      `effort/expected_steps` (`l(c*)`),
      `effort/optimal_cutoff` (`c*`) and `effort/success_probability` (estimated `P(T <= c)`
      at the longest cutoff so far). Infinite estimates are not written.

    At the end of training it writes an HParams session (the `hparams` you give, with
    `effort/total_steps`, `effort/reached` and, when reached, `effort/steps_to_target`, the
    total steps over all attempts up to the first success, as metrics) so the
    HParams dashboard can sort runs by effort, and a custom-scalars layout grouping the charts.
    Writers are created when training begins and closed when it ends, so the callback can be
    deep-copied (KerasTuner copies callbacks for every execution).

    Args:
        log_dir: the run's log directory.
        source: the `TargetStopping` or `Restarts` whose checks and attempts are written.
        hparams: hyperparameters of this run for the HParams dashboard (str, bool or number).
        z: the confidence of Koza's effort.
        histograms: write histograms of per-parameter learned values.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        source: TargetStopping | Restarts,
        hparams: Mapping[str, str | bool | float | int] | None = None,
        z: float = 0.99,
        histograms: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(source, (TargetStopping, Restarts)):
            raise TypeError(
                f"`source` must be a TargetStopping or Restarts, got {type(source).__name__}"
            )
        for name, value in (hparams or {}).items():
            if not isinstance(value, (str, bool, int, float)):
                raise ValueError(
                    f"`hparams[{name!r}]` must be a str, bool or number, got {value!r}"
                )
        if not 0.0 < z < 1.0:
            raise ValueError(f"`z` must be in (0, 1), got {z!r}")
        self.log_dir = os.fspath(log_dir)
        self.source = source
        self.hparams = dict(hparams or {})
        self.z = z
        self.histograms = histograms
        self.attempts: list[Attempt] = []
        self._writer: Any = None
        source.add_listener(self)

    @property
    def _target(self) -> TargetStopping:
        return self.source.stopping if isinstance(self.source, Restarts) else self.source

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.experimental.write_raw_pb(_layout(self._target.monitor), step=0)

    # ------------------------------------------------------- listener events

    def on_check(self, source: TargetStopping, value: float) -> None:
        """Called by the source after each check of the monitored metric."""
        if self._writer is None:
            return
        import tensorflow as tf

        step = self.source.total_steps
        with self._writer.as_default(step=step):
            tf.summary.scalar(f"effort/{source.monitor}", value)
            tf.summary.scalar("effort/target", source.target.value)
            optimizer = self.model.optimizer
            tf.summary.scalar("effort/learning_rate", _to_float(optimizer.learning_rate))
            for name, learned in _learned_hyperparameters(optimizer).items():
                self._write_learned(name, learned)

    def on_attempt_end(self, source: TargetStopping | Restarts, attempt: Attempt) -> None:
        """Called by the source when an attempt ends."""
        self.attempts.append(attempt)
        if self._writer is None:
            return
        import tensorflow as tf

        distribution = runtime_distribution_of(self.attempts)
        with self._writer.as_default(step=self.source.total_steps):
            tf.summary.scalar("effort/attempt", attempt.attempt)
            tf.summary.scalar("effort/attempt_steps", attempt.steps)
            tf.summary.scalar("effort/attempt_reached", float(attempt.reached))
            if attempt.reached:
                tf.summary.scalar("effort/attempt_steps_to_target", attempt.steps)
            for name, value in _running_estimates(distribution, self.z).items():
                if math.isfinite(value):
                    tf.summary.scalar(f"effort/{name}", value)

    def on_training_end(self, source: TargetStopping | Restarts) -> None:
        """Called by the source when its training ends: write the run's result and close.

        The source calls this after its last `on_attempt_end`, whatever the order of the
        callbacks in `fit`'s list.
        """
        if self._writer is None:
            return
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        with self._writer.as_default():
            hp.hparams(self.hparams, trial_id=os.path.basename(os.path.abspath(self.log_dir)))
            tf.summary.scalar("effort/total_steps", source.total_steps, step=0)
            tf.summary.scalar("effort/reached", float(source.reached), step=0)
            if source.reached:
                tf.summary.scalar("effort/steps_to_target", source.total_steps, step=0)
        self._writer.close()
        self._writer = None

    def _write_learned(self, name: str, value: Any) -> None:
        import tensorflow as tf

        array = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
        if array.size == 1:
            tf.summary.scalar(f"learned/{name}", float(array.reshape(())))
            return
        tf.summary.scalar(f"learned/{name}/mean", float(array.mean()))
        tf.summary.scalar(f"learned/{name}/min", float(array.min()))
        tf.summary.scalar(f"learned/{name}/max", float(array.max()))
        if self.histograms:
            tf.summary.histogram(f"learned/{name}", array)


def _running_estimates(distribution: RuntimeDistribution, z: float) -> dict[str, float]:
    cutoff = distribution.optimal_cutoff()
    return {
        "koza": distribution.koza_effort(z).steps,
        "expected_steps": distribution.expected_steps(),
        "optimal_cutoff": math.inf if cutoff is None else float(cutoff),
        "success_probability": distribution.success_probability(distribution.horizon),
    }


def _learned_hyperparameters(optimizer: Any) -> Mapping[str, Any]:
    """The learned hyperparameters of an optimizer or of the one it wraps, if any."""
    while optimizer is not None:
        learned = getattr(optimizer, "learned_hyperparameters", None)
        if learned is not None:
            return learned
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return {}


def _to_float(value: Any) -> float:
    return float(keras.ops.convert_to_numpy(value))


def _layout(monitor: str) -> bytes:
    """A custom-scalars layout: one "effort" category grouping the effort charts."""
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

    def chart(title: str, *tags: str) -> layout_pb2.Chart:
        return layout_pb2.Chart(
            title=title, multiline=layout_pb2.MultilineChartContent(tag=list(tags))
        )

    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="effort",
                chart=[
                    chart(
                        f"{monitor} against the target", rf"^effort/{monitor}$", r"^effort/target$"
                    ),
                    chart(
                        "steps per attempt",
                        r"^effort/attempt_steps$",
                        r"^effort/attempt_steps_to_target$",
                    ),
                    chart("running effort estimates", r"^effort/koza$", r"^effort/expected_steps$"),
                    chart("success probability", r"^effort/success_probability$"),
                    chart("learning rates", r"^effort/learning_rate$", r"^learned/.*"),
                ],
            )
        ]
    )
    return custom_scalar_summary.pb(layout).SerializeToString()
