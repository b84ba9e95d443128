"""DivergenceGuard: roll back to the last good state when the loss blows up."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class DivergenceEvent:
    """One rollback.

    Attributes:
        step: the optimizer step at which the loss was found non-finite or exploding.
        loss: the mean training loss of the steps since the previous check.
        restored_step: the step of the snapshot restored (the weights and optimizer state
            are those of that step; `optimizer.iterations` keeps counting the work done).
        learning_rate: the learning rate before the cut.
        new_learning_rate: the learning rate after the cut, or `None` when the rate is a
            schedule (not cut).
    """

    step: int
    loss: float
    restored_step: int
    learning_rate: float
    new_learning_rate: float | None


class DivergenceGuard(keras.callbacks.Callback):
    """Snapshot the model and optimizer every `every` steps; roll back when the loss diverges.

    After every training batch the guard derives the mean loss of the steps since its last
    look from Keras' running epoch mean. When that loss is not finite or exceeds `explosion`
    times the lowest running average of the attempt (a moving average over about 10 looks),
    it restores the weights and the optimizer state of the last good snapshot (one whose own
    batch loss, computed before its update, was healthy), multiplies the learning rate by
    `factor`, restarts the epoch's running metrics (so that the bad batch does not stay in
    them), records a `DivergenceEvent` in `events` and tells its listeners. It works with
    any optimizer, including keras-effort's `AutoRate` (whose learned scale is restored too),
    and with `Restarts` (a new attempt, seen as `optimizer.iterations` going back, takes a
    fresh snapshot).

    Args:
        every: steps between snapshots, an int >= 1. Defaults to `20`.
        factor: multiplier of the learning rate after a rollback, in (0, 1). Defaults to `0.5`.
        explosion: a loss this many times its running average is a divergence, a float > 1.
            Defaults to `10.0`.
        max_events: stop training after this many rollbacks (`None`: never). Defaults to
            `None`.

    Raises:
        ValueError: for an argument outside the range given above.

    Example:

    ```python
    guard = DivergenceGuard(every=20)
    model.fit(x, y, callbacks=[guard])
    guard.events  # [DivergenceEvent(step=..., loss=nan, restored_step=..., ...)]
    ```
    """

    def __init__(
        self,
        every: int = 20,
        factor: float = 0.5,
        explosion: float = 10.0,
        max_events: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be an int >= 1, got {every!r}")
        if not (_is_number(factor) and 0 < factor < 1):
            raise ValueError(f"`factor` must be a float in (0, 1), got {factor!r}")
        if not (_is_number(explosion) and math.isfinite(explosion) and explosion > 1):
            raise ValueError(f"`explosion` must be a finite float > 1, got {explosion!r}")
        if max_events is not None and (
            isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1
        ):
            raise ValueError(f"`max_events` must be None or an int >= 1, got {max_events!r}")
        self.every = every
        self.factor = float(factor)
        self.explosion = float(explosion)
        self.max_events = max_events
        self.events: list[DivergenceEvent] = []
        self._listeners: list[Any] = []
        self._snapshot: tuple[int, list, list] | None = None  # the last good state
        self._pending: tuple[int, list, list] | None = None  # a state not judged yet
        self._average: float | None = None
        self._best: float | None = None  # the lowest running average of the attempt
        self._last_step = -1
        self._mean_start = 0  # the step at which Keras' running loss mean last restarted
        self._mean_seen = (0, 0.0)  # (steps, running mean) at the previous look

    def add_listener(self, listener: Any) -> None:
        """Register an object whose `on_divergence(guard, event)` is called after a rollback."""
        self._listeners.append(listener)

    @property
    def snapshot_step(self) -> int | None:
        """The optimizer step of the snapshot a rollback would restore, if any."""
        return None if self._snapshot is None else self._snapshot[0]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._snapshot, self._pending, self._average, self._best = None, None, None, None
        self._last_step = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._restart_mean()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self._step()
        if step < self._last_step:  # a restart re-initialised the model and its optimizer
            self._snapshot, self._pending, self._average, self._best = None, None, None, None
            self._restart_mean()
        if self._snapshot is None:
            self._snapshot = self._take_snapshot(step)
        elif self._pending is None and step - self._snapshot[0] >= self.every:
            # The loss of this batch, computed before its update, tells whether the state
            # is good: only then does the snapshot become the one a rollback restores.
            self._pending = self._take_snapshot(step)
        self._last_step = step

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not logs or "loss" not in logs or self._snapshot is None:
            return
        step = self._step()
        self._last_step = step
        steps = step - self._mean_start
        seen_steps, seen_mean = self._mean_seen
        if steps <= seen_steps:
            return
        mean = float(logs["loss"])
        loss = (steps * mean - seen_steps * seen_mean) / (steps - seen_steps)
        self._mean_seen = (steps, mean)
        if math.isfinite(loss) and (self._best is None or loss <= self.explosion * self._best):
            self._average = loss if self._average is None else 0.9 * self._average + 0.1 * loss
            self._best = self._average if self._best is None else min(self._best, self._average)
            if self._pending is not None:
                self._snapshot, self._pending = self._pending, None
            return
        self._roll_back(step, loss)

    def _roll_back(self, step: int, loss: float) -> None:
        restored_step, weights, optimizer_state = self._snapshot
        for variable, value in zip(self.model.weights, weights, strict=True):
            variable.assign(value)
        optimizer = self.model.optimizer
        for variable, value in zip(_restorable(optimizer), optimizer_state, strict=True):
            variable.assign(value)
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        try:
            optimizer.learning_rate = rate * self.factor
            new_rate: float | None = rate * self.factor
        except TypeError:  # a LearningRateSchedule cannot be assigned a value
            new_rate = None
            if not any(event.new_learning_rate is None for event in self.events):
                warnings.warn(
                    "DivergenceGuard restored the last good state but cannot cut a learning "
                    "rate schedule; pass a float rate to let it cut the rate.",
                    stacklevel=2,
                )
        event = DivergenceEvent(step, loss, restored_step, rate, new_rate)
        self.events.append(event)
        self.model.reset_metrics()
        self._restart_mean()
        self._snapshot, self._pending = self._take_snapshot(restored_step), None
        for listener in self._listeners:
            listener.on_divergence(self, event)
        if self.max_events is not None and len(self.events) >= self.max_events:
            self.model.stop_training = True

    def _take_snapshot(self, step: int) -> tuple[int, list, list]:
        weights = [keras.ops.convert_to_numpy(v) for v in self.model.weights]
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        state = [keras.ops.convert_to_numpy(v) for v in _restorable(optimizer)]
        return step, weights, state

    def _restart_mean(self) -> None:
        self._mean_start = self._step() if self.model is not None else 0
        self._mean_seen = (0, 0.0)

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))


def _restorable(optimizer: keras.optimizers.Optimizer) -> list:
    """The optimizer's variables except its step counter, which keeps counting work done."""
    counter = optimizer.iterations.path
    return [v for v in optimizer.variables if v.path != counter]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not np.isnan(value)
