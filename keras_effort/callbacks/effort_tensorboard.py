"""Effort curves in TensorBoard, on a gradient-step axis that runs on across restarts."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_effort.arguments import flag, real_in
from keras_effort.callbacks.restarts import Restarts
from keras_effort.callbacks.target_stopping import TargetStopping
from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import Attempt
from keras_effort.optimizers.wrapper import unwrap
from keras_effort.report.tensorboard_plugin import summary as effort_summary

# The run's results, one value each at step 0: HParams shows these as its metrics.
RESULT_METRICS = {
    "result/total_steps": "total steps",
    "result/reached": "reached",
    "result/steps_to_target": "steps to target",
    "result/expected_steps": "l(c*)",
    "result/koza": "Koza E({z:g})",
}


class EffortTensorBoard(keras.callbacks.Callback):
    """Writes effort curves for TensorBoard, on the total gradient steps over all attempts.

    Listens to a `TargetStopping` or a `Restarts` (pass it as `source`; it need not be
    before this callback in `fit`'s list) and writes, with the gradient step over all
    attempts as TensorBoard's step (groups sort so that the monitored metric comes first):

    - `effort/<monitor>` at every check, and `effort/target` beside it;
    - `effort_attempts/table/NNNNNN`, a text table of the attempts (start and end step,
      steps, outcome), at each attempt's end: the restart boundaries, as text that no
      smoothing can blur; and `effort_attempts/records/NNNNNN`, the same attempts for the
      **Effort** dashboard (`keras_effort.report.tensorboard_plugin`), which draws them as a
      timeline. Each tag holds a chunk of 32 attempts, so the events grow linearly;
    - `rates/learning_rate`, the rate the optimizer uses (a schedule's current value), and
      `learned/<name>` for optimizers that adapt their own hyperparameters (anything with a
      `learned_hyperparameters` dict, such as keras-effort's hypergradient optimizers and
      ActiveLR): scalars as they are, tensors as `.../mean`, `.../min`, `.../max` and a
      histogram;
    - when training ends, the effort of the run's attempts (from `keras_effort.effort`)
      against the restart cutoff `c`, with `c` as the step: `effort_by_cutoff/
      success_probability` (`P(T <= c)`, Kaplan-Meier) and `effort_by_cutoff/expected_steps`
      (`l(c)`); and the run's results at step 0: `result/total_steps`, `result/reached`,
      `result/steps_to_target` (the total steps up to the first success, when reached),
      `result/expected_steps` (`l(c*)`) and `result/koza` (Koza's effort at `z`), the last
      two when finite.

    It also writes an HParams session (the `hparams` you give) whose metrics are the
    `result/` values, so the HParams dashboard sorts runs by effort, and a custom-scalars
    layout grouping the charts. Writers are created when training begins and closed when it
    ends, so the callback can be deep-copied (KerasTuner copies callbacks for every
    execution).

    Args:
        log_dir: the run's log directory (created when training begins).
        source: the `TargetStopping` or `Restarts` whose checks and attempts are written.
        hparams: hyperparameters of this run for the HParams dashboard (str, bool or number).
        z: the confidence of Koza's effort, in (0, 1).
        histograms: write histograms of per-parameter learned values.

    Raises:
        TypeError: when `log_dir`, `source`, `hparams` or `histograms` has the wrong type.
        ValueError: when `z` is not in (0, 1), an `hparams` value is not a str, bool or
            number, or `log_dir` lies under a file.
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
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise TypeError(
                f"`log_dir` must be a non-empty path (str or PathLike), got {log_dir!r}"
            )
        _check_log_dir(os.fspath(log_dir))
        if not isinstance(source, (TargetStopping, Restarts)):
            raise TypeError(
                f"`source` must be a TargetStopping or Restarts, got {type(source).__name__}"
            )
        if hparams is not None and not isinstance(hparams, Mapping):
            raise TypeError(f"`hparams` must be a mapping of names to values, got {hparams!r}")
        for name, value in (hparams or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"`hparams` keys must be strings, got {name!r}")
            if not isinstance(value, (str, bool, int, float)):
                raise ValueError(
                    f"`hparams[{name!r}]` must be a str, bool or number, got {value!r}"
                )
        self.log_dir = os.fspath(log_dir)
        self.source = source
        self.hparams = dict(hparams or {})
        self.z = real_in("z", z, 0.0, 1.0, low_open=True, high_open=True)
        self.histograms = flag("histograms", histograms)
        self.timeline: list[effort_summary.TimedAttempt] = []
        self._writer: Any = None
        source.add_listener(self)

    @property
    def attempts(self) -> list[Attempt]:
        """The attempts of the current (or last) `fit`, in order."""
        return [timed.attempt for timed in self.timeline]

    @property
    def _stopping(self) -> TargetStopping:
        return self.source.stopping if isinstance(self.source, Restarts) else self.source

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        # Checked again here: KerasTuner and users may change `log_dir` after construction.
        _check_log_dir(self.log_dir)
        try:
            os.makedirs(self.log_dir, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"`log_dir` {self.log_dir!r} cannot be created: {error.strerror}"
            ) from None
        self.timeline = []
        self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.experimental.write_raw_pb(_layout(self._stopping.monitor), step=0)

    # ------------------------------------------------------- listener events

    def on_check(self, source: TargetStopping, value: float) -> None:
        """Called by the source after each check of the monitored metric."""
        if self._writer is None:
            return
        import tensorflow as tf

        with self._writer.as_default(step=self.source.total_steps):
            tf.summary.scalar(f"{effort_summary.METRIC_GROUP}/{source.monitor}", value)
            tf.summary.scalar(f"{effort_summary.METRIC_GROUP}/target", source.target.value)
            optimizer = self.model.optimizer
            tf.summary.scalar(effort_summary.LEARNING_RATE_TAG, _to_float(optimizer.learning_rate))
            for name, learned in _learned_hyperparameters(optimizer).items():
                self._write_learned(name, learned)

    def on_attempt_end(self, source: TargetStopping | Restarts, attempt: Attempt) -> None:
        """Called by the source when an attempt ends."""
        end = self.source.total_steps
        start = self.timeline[-1].end if self.timeline else 0
        self.timeline.append(effort_summary.TimedAttempt(attempt, start, end, time.time()))
        if self._writer is None:
            return
        import tensorflow as tf

        stopping = self._stopping
        # Only the attempt's chunk is rewritten: the event file grows linearly with attempts.
        index, chunk = len(self.timeline) - 1, effort_summary.chunk(self.timeline)
        with self._writer.as_default(step=end):
            tf.summary.write(
                effort_summary.attempts_tag(index),
                tf.constant(effort_summary.payload(stopping.monitor, stopping.target.value, chunk)),
                metadata=effort_summary.summary_metadata(),
            )
            tf.summary.text(
                effort_summary.attempts_tag(index, effort_summary.ATTEMPTS_TABLE_TAG),
                _attempts_table(chunk),
            )

    def on_training_end(self, source: TargetStopping | Restarts) -> None:
        """Called by the source when its training ends: write the run's results and close.

        The source calls this after its last `on_attempt_end`, whatever the order of the
        callbacks in `fit`'s list.
        """
        if self._writer is None:
            return
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        distribution = RuntimeDistribution.from_attempts(self.attempts) if self.timeline else None
        results = {
            "result/total_steps": source.total_steps,
            "result/reached": float(source.reached),
        }
        if source.reached:
            results["result/steps_to_target"] = source.total_steps
        if distribution is not None:
            results["result/expected_steps"] = distribution.expected_steps()
            results["result/koza"] = distribution.koza_effort(self.z).steps
        with self._writer.as_default():
            for tag, value in results.items():
                if math.isfinite(value):
                    tf.summary.scalar(tag, value, step=0)
            if distribution is not None:
                for tag, points in _by_cutoff(distribution).items():
                    for cutoff, value in points:
                        tf.summary.scalar(tag, value, step=cutoff)
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in self.hparams],
                metrics=[
                    hp.Metric(tag, display_name=name.format(z=self.z))
                    for tag, name in RESULT_METRICS.items()
                ],
            )
            hp.hparams(self.hparams, trial_id=os.path.basename(os.path.abspath(self.log_dir)))
        self._writer.close()
        self._writer = None

    def _write_learned(self, name: str, value: Any) -> None:
        import tensorflow as tf

        array = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
        tag = f"{effort_summary.LEARNED_GROUP}/{name}"
        if array.size == 1:
            tf.summary.scalar(tag, float(array.reshape(())))
            return
        tf.summary.scalar(f"{tag}/mean", float(array.mean()))
        tf.summary.scalar(f"{tag}/min", float(array.min()))
        tf.summary.scalar(f"{tag}/max", float(array.max()))
        if self.histograms:
            tf.summary.histogram(tag, array)


def _check_log_dir(log_dir: str) -> None:
    """Refuse a log directory that is a file or lies under one, naming the file."""
    path = os.path.abspath(log_dir)
    while True:
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise ValueError(f"`log_dir` {log_dir!r} cannot be a directory: {path!r} is a file")
            return
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _by_cutoff(distribution: RuntimeDistribution) -> dict[str, list[tuple[int, float]]]:
    """`P(T <= c)` and `l(c)` at the cutoffs where they change, and up to the horizon.

    `P` is a step function: it is written just before and at each step where it jumps. `l(c)`
    is finite from the first success on, and linear between those steps, so its value there
    and at the horizon draws it exactly.
    """
    curve = distribution.success_curve()
    probability = [(0, 0.0)]
    for step, value in zip(curve.steps.tolist(), curve.probability.tolist(), strict=True):
        if step > 0:
            probability.append((int(step) - 1, probability[-1][1]))
        probability.append((int(step), float(value)))
    if probability[-1][0] < curve.horizon:
        probability.append((curve.horizon, probability[-1][1]))
    cutoffs = sorted({*(int(s) for s in curve.steps), curve.horizon})
    expected = [(c, distribution.expected_steps(c)) for c in cutoffs]
    return {
        "effort_by_cutoff/success_probability": probability,
        "effort_by_cutoff/expected_steps": [(c, v) for c, v in expected if math.isfinite(v)],
    }


def _attempts_table(timeline: list[effort_summary.TimedAttempt]) -> str:
    rows = ["| attempt | start step | end step | steps | outcome |", "|---:|---:|---:|---:|:---|"]
    for timed in timeline:
        attempt = timed.attempt
        rows.append(
            f"| {attempt.attempt} | {timed.start} | {timed.end} | {attempt.steps} "
            f"| {attempt.outcome} |"
        )
    return "\n".join(rows)


def _learned_hyperparameters(optimizer: Any) -> Mapping[str, Any]:
    """The learned hyperparameters of an optimizer or of the one it wraps, if any."""
    learner = unwrap(optimizer, lambda o: getattr(o, "learned_hyperparameters", None) is not None)
    return {} if learner is None else learner.learned_hyperparameters


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

    group = effort_summary.METRIC_GROUP
    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="effort",
                chart=[
                    chart(
                        f"{monitor} against the target",
                        rf"^{group}/{monitor}$",
                        rf"^{group}/target$",
                    ),
                    chart(
                        "success probability P(T <= c) by cutoff c",
                        r"^effort_by_cutoff/success_probability$",
                    ),
                    chart("expected steps l(c) by cutoff c", r"^effort_by_cutoff/expected_steps$"),
                    chart(
                        "learning rates",
                        rf"^{effort_summary.LEARNING_RATE_TAG}$",
                        rf"^{effort_summary.LEARNED_GROUP}/.*",
                    ),
                ],
            )
        ]
    )
    return custom_scalar_summary.pb(layout).SerializeToString()
