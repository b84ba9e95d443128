"""Stop `fit` the moment a monitored metric reaches a target, and record the steps it took."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import keras

from keras_effort.callbacks._monitor import TargetMonitor, optimizer_step
from keras_effort.ledger import Attempt, Ledger


class TargetStopping(keras.callbacks.Callback):
    """Stops training when the monitored metric reaches `target`; records steps to target.

    Unlike `EarlyStopping(baseline=...)`, which stops when a metric stops improving, this stops
    as soon as the target is met, and measures the effort it took in gradient steps
    (`optimizer.iterations`), samples and seconds.

    With `check_every="epoch"` the metric is read from the epoch logs, so steps-to-target is
    known to the epoch. With `check_every=k` it is checked every `k` gradient steps: training
    metrics from the batch logs (running averages over the epoch so far), `val_` metrics by
    evaluating `validation_data` (training metrics' running state is saved and restored around
    it). With `steps_per_execution = n`, batch hooks fire every `n` steps, so checks happen at
    the first multiple of `n` at or after each multiple of `k`.

    A non-finite loss or monitored value ends the attempt as a failure (`outcome="diverged"`);
    it is recorded, not raised.

    Args:
        monitor: the metric to watch, as named in `fit`'s logs, e.g. `"val_accuracy"`.
        target: the value to reach. Accuracy-like metrics must have targets in [0, 1].
        mode: `"max"`, `"min"` or `"auto"`: inferred from the name (accuracy, AUC,
            precision and recall go up; loss and error go down) or the metric itself.
        check_every: `"epoch"` or an int `k >= 1`: check every `k` gradient steps.
        validation_data: `(x, y)`, `(x, y, sample_weight)` or a dataset, evaluated at
            step-wise checks of a `val_` metric (required for those).
        ledger: a `Ledger` to which the attempt is written when training ends.
        experiment: the experiment name of the ledger row.
        config: hyperparameters stored with the ledger row.
        seed: the seed stored with the ledger row.
        batch_size: the training batch size, to count samples (`None`: samples unknown).
        validation_batch_size: batch size of step-wise evaluations (default 1024).
        stop_training: set `False` to measure steps to target without stopping.

    Attributes:
        reached: whether the target was reached.
        steps_to_target: `optimizer.iterations` at the check that met the target, or `None`.
        samples_to_target: `steps_to_target * batch_size`, or `None`.
        seconds_to_target: wall-clock seconds from the start of training to that check.
        curve: the `(step, value)` pairs seen at each check.
        best_value: the best monitored value seen.
        outcome: `"reached"`, `"cutoff"` (ran all of `fit` without reaching), `"diverged"`
            or `"stopped"` (another callback stopped training first).
        steps: gradient steps run in this `fit`.

    Example:
        ```python
        stop = TargetStopping("val_accuracy", 0.9, check_every=10, validation_data=(xv, yv))
        model.fit(x, y, epochs=50, callbacks=[stop])
        print(stop.reached, stop.steps_to_target)
        ```
    """

    def __init__(
        self,
        monitor: str = "val_accuracy",
        target: float | None = None,
        mode: str = "auto",
        check_every: int | str = "epoch",
        validation_data: Any = None,
        ledger: Ledger | None = None,
        experiment: str = "default",
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        stop_training: bool = True,
    ) -> None:
        super().__init__()
        if target is None:
            raise ValueError("`target` is required: the metric value to reach")
        if ledger is not None and not isinstance(ledger, Ledger):
            raise TypeError(f"`ledger` must be a keras_effort.Ledger, got {type(ledger).__name__}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"`batch_size` must be an int >= 1, got {batch_size!r}")
        self.watch = TargetMonitor(
            monitor, target, mode, check_every, validation_data, validation_batch_size
        )
        if not self.watch.stepwise:
            # On backends where Keras dispatches batch ends asynchronously, it does so only
            # when no callback overrides the batch hook: epoch checks keep the default one.
            self.on_train_batch_end = super().on_train_batch_end
        if not isinstance(experiment, str) or not experiment:
            raise ValueError(f"`experiment` must be a non-empty string, got {experiment!r}")
        try:
            json.dumps(dict(config or {}), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`config` must be a JSON-serialisable mapping: {error}") from None
        self.ledger = ledger
        self.experiment = experiment
        self.config = dict(config or {})
        self.seed = seed
        self.batch_size = batch_size
        self.stop_training = stop_training
        self._listeners: list[Any] = []
        # Set by `Restarts`, which then decides when attempts begin, end and stop training.
        self._managed = False
        self.outcome: str | None = None
        self.steps = 0
        self._first_epoch: int | None = None
        self._budget: int | None = None
        self._begin_attempt(0)

    @property
    def monitor(self) -> str:
        """The monitored metric's name."""
        return self.watch.monitor

    @property
    def target(self) -> float:
        """The target value."""
        return self.watch.target

    def add_listener(self, listener: Any) -> None:
        """Register an object told of checks and the ends of attempts and of training.

        A listener has `on_check(source, value)`, `on_attempt_end(source, attempt)` and
        `on_training_end(source)`. `EffortTensorBoard` registers itself this way; listeners
        are plain objects, so they are deep-copied together with this callback (as KerasTuner
        does).
        """
        self._listeners.append(listener)

    @property
    def samples_to_target(self) -> int | None:
        """Samples seen by the check that met the target, when `batch_size` is known."""
        if self.steps_to_target is None or self.batch_size is None:
            return None
        return self.steps_to_target * self.batch_size

    @property
    def finished(self) -> bool:
        """Whether checks are over: diverged, or reached with `stop_training` on.

        With `stop_training=False` checks go on after the target, so the curve and the best
        value cover the whole run while `steps_to_target` keeps the first success.
        """
        return self._diverged or (self.reached and self.stop_training)

    @property
    def diverged(self) -> bool:
        """Whether the current attempt's loss or metric became non-finite."""
        return self._diverged

    @property
    def total_steps(self) -> int:
        """Gradient steps since the current attempt (this `fit`) began."""
        return optimizer_step(self.model) - self._start_step

    def _begin_attempt(self, step: int) -> None:
        self.reached = False
        self.steps_to_target = None
        self.seconds_to_target = None
        self.curve = []
        self.best_value = None
        self._diverged = False
        self._start_step = step
        self._next_check = step + (self.watch.check_every if self.watch.stepwise else 0)
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.outcome = None
        self.steps = 0
        self._first_epoch = None
        self._budget = None
        if not self._managed:
            self._begin_attempt(optimizer_step(self.model))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.watch.stepwise or self.finished:
            return
        step = optimizer_step(self.model)
        if step < self._next_check:
            return
        every = self.watch.check_every
        self._next_check = step + every - (step - self._start_step) % every
        if _is_non_finite(logs, "loss"):
            self._diverge()
            return
        value = (
            self.watch.evaluate(self.model)
            if self.watch.stepwise_validation
            else self.watch.value_from_logs(logs)
        )
        self._check(step, value)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.finished:
            return
        if _is_non_finite(logs, "loss"):
            self._diverge()
        elif not self.watch.stepwise:
            self._check(optimizer_step(self.model), self.watch.value_from_logs(logs))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._managed:
            return
        self.steps = self.total_steps
        planned = self._planned_steps()
        if self.reached:
            self.outcome = "reached"
        elif self._diverged:
            self.outcome = "diverged"
        elif planned is not None and self.steps >= planned:
            self.outcome = "cutoff"
        else:
            self.outcome = "stopped"
        # A run stopped early by someone else is only known to fail up to where it stopped;
        # one that diverged would never have succeeded within its planned budget.
        self._budget = None if self.outcome == "stopped" else planned
        attempt = self.attempt()
        if self.ledger is not None:
            self.ledger.add(attempt, keep_on_failure=True)
        for listener in self._listeners:
            listener.on_attempt_end(self, attempt)
            listener.on_training_end(self)
        if self.ledger is not None:
            self.ledger.flush()  # raises, naming the ledger, if the write is still pending

    # ---------------------------------------------------------------- results

    def attempt(
        self,
        number: int = 0,
        steps: int | None = None,
        budget: int | None = None,
        outcome: str | None = None,
        seed: int | None = None,
    ) -> Attempt:
        """The current attempt as a ledger `Attempt`, its steps counted from its start.

        Without arguments, the record of a finished `fit`; `Restarts` passes the attempt's
        number, steps, budget, outcome and seed.
        """
        if steps is None:
            steps = self.steps_to_target - self._start_step if self.reached else self.steps
        budget = self._budget if budget is None else budget
        return Attempt(
            experiment=self.experiment,
            target_metric=self.monitor,
            target_value=self.target,
            steps=steps,
            reached=self.reached,
            budget=budget if budget is not None and budget >= steps else None,
            outcome=outcome or self.outcome,
            config=self.config,
            seed=self.seed if seed is None else seed,
            attempt=number,
            samples=None if self.batch_size is None else steps * self.batch_size,
            seconds=self.seconds_to_target if self.reached else time.perf_counter() - self._started,
            best_value=self.best_value,
            curve=[(step - self._start_step, value) for step, value in self.curve],
        )

    def _check(self, step: int, value: float) -> None:
        if self.watch.direction is None:  # compiled metrics exist only once training runs
            self.watch.bind(self.model)
        if not math.isfinite(value):
            self._diverge()
            return
        self.curve.append((step, value))
        if self.watch.better(value, self.best_value):
            self.best_value = value
        if not self.reached and self.watch.reached(value):
            self.reached = True
            self.steps_to_target = step
            self.seconds_to_target = time.perf_counter() - self._started
            if self.stop_training and not self._managed:
                self.model.stop_training = True
        for listener in self._listeners:
            listener.on_check(self, value)

    def _diverge(self) -> None:
        self._diverged = True
        if not self._managed:
            self.model.stop_training = True

    def _planned_steps(self) -> int | None:
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if not epochs or not steps:
            return None
        return (epochs - (self._first_epoch or 0)) * steps


def _is_non_finite(logs: dict[str, Any] | None, name: str) -> bool:
    if not logs or name not in logs:
        return False
    return not math.isfinite(float(keras.ops.convert_to_numpy(logs[name])))
