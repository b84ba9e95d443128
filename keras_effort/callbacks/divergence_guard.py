"""DivergenceGuard: roll back to the last good state when the loss blows up."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import keras
import numpy as np

from keras_effort.arguments import one_of, optional, positive_int, real_in


@dataclasses.dataclass(frozen=True)
class DivergenceEvent:
    """One rollback.

    Attributes:
        step: the optimizer step at which the loss was found non-finite, exploding or dead.
        loss: the mean training loss of the steps since the previous check.
        restored_step: the step of the snapshot restored (the weights and optimizer state
            are those of that step; `optimizer.iterations` keeps counting the work done).
        learning_rate: the learning rate before the cut.
        new_learning_rate: the learning rate after the cut, or `None` when the rate is a
            schedule (not cut).
        reason: why the guard rolled back: `"not finite"`, `"exploded"` (above `explosion`
            times the reference) or `"dead"` (no better than chance after a spike).
    """

    step: int
    loss: float
    restored_step: int
    learning_rate: float
    new_learning_rate: float | None
    reason: str = "not finite"


# A look whose loss is this many times the running average is a spike: the guard stops
# trusting new snapshots until the loss is back below where it was.
_SPIKE = 2.0
# A loss above the chance level less this fraction counts as "at chance" (no better).
_CHANCE_BAND = 0.05
# A network is recovered once its running average is this far below the chance level.
_BELOW_CHANCE = 0.9


class DivergenceGuard(keras.callbacks.Callback):
    """Snapshot the model and optimizer every `every` steps; roll back when the loss diverges.

    After every training batch the guard derives the mean loss of the steps since its last
    look from Keras' running epoch mean, and rolls back when that loss is

    - **not finite**;
    - **exploded**: above `explosion` times the reference, the lowest running average of the
      attempt (a moving average over about 10 looks), which starts at the loss before the
      first update. When the first look averages several steps (`steps_per_execution > 1`)
      that loss is not seen, and the reference starts at the chance level of a
      cross-entropy loss instead (`ln(classes)`, or `ln 2` for binary cross-entropy), so a
      first step that wrecks the network is still caught;
    - **dead**: after a spike (a rollback, a loss twice the running average, or a rise back
      to the chance level from clearly below it), the loss stayed at the chance level or
      above it (no more than 5% below) for `2 * every` steps while the weights moved
      further from the last good snapshot than that snapshot's own norm: a huge step killed
      the network (its ReLUs output zero and it predicts one distribution whatever the
      input, or one confident wrong answer), a state no rate cut revives. Only for
      cross-entropy losses, whose chance level is known, and balanced classes.

    A rollback restores the weights and the optimizer state of the last good snapshot (one
    whose own batch loss, computed before its update, was healthy, and taken before any
    spike the network has not recovered from), multiplies the learning rate by `factor`
    (by `factor**k` at the k-th rollback in a row with no look between them whose loss was
    finite and below the chance level, so that
    a rate thousands of times too large comes down in a few rollbacks instead of a dozen),
    restarts the epoch's running metrics (so that the bad batch does not stay in them),
    records a `DivergenceEvent` in `events`, prints one line saying what it did (unless
    `verbose=0`) and tells its listeners. When rollbacks recur after healthy training
    (the second non-finite loss with at least `every` healthy steps since the previous
    rollback) the cause is likely the data, a NaN or inf in some batch's inputs or labels,
    which no rate cut cures: the guard warns once (and keeps cutting the rate; pass
    `max_events` to stop instead).

    It works with any optimizer, including keras-effort's `AutoRate` (whose learned scale
    is restored too), and with `Restarts` (a new attempt, seen as `optimizer.iterations`
    going back, takes a fresh snapshot).

    Args:
        every: steps between snapshots, an int >= 1. Defaults to `20`.
        factor: multiplier of the learning rate after a rollback, in (0, 1); its k-th power
            after k rollbacks in a row. Defaults to `0.5`.
        explosion: a loss this many times its reference is a divergence, a float > 1.
            Defaults to `10.0`.
        max_events: stop training after this many rollbacks (`None`: never). Defaults to
            `None`.
        verbose: `1` prints one line per rollback, `0` nothing. Defaults to `1`.

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
        verbose: int = 1,
    ) -> None:
        super().__init__()
        self.every = positive_int("every", every)
        self.factor = real_in("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.explosion = real_in("explosion", explosion, 1.0, low_open=True)
        self.max_events = optional(positive_int, "max_events", max_events)
        self.verbose = one_of("verbose", verbose, (0, 1))
        self.events: list[DivergenceEvent] = []
        self._listeners: list[Any] = []
        self._chance: float | None = None  # the loss of a uniform prediction, when known
        self._warned_data = False
        self._reset_attempt()
        self._mean_start = 0  # the step at which Keras' running loss mean last restarted
        self._mean_seen = (0, 0.0)  # (steps, running mean) at the previous look

    def _reset_attempt(self) -> None:
        """Forget the state of the attempt: a new one starts from new weights."""
        self._snapshot: tuple[int, list, list] | None = None  # the last good state
        self._pending: tuple[int, list, list] | None = None  # a state not judged yet
        self._average: float | None = None
        self._best: float | None = None  # the reference: the lowest running average
        self._suspect: float | None = None  # the running average before an unhealed spike
        self._at_chance_since: int | None = None  # start of the run of looks at chance
        self._healthy_steps = 0  # steps of the healthy looks since the last rollback
        self._in_a_row = 0  # rollbacks since the last healthy look
        self._data_suspects = 0  # rollbacks on a non-finite loss after healthy training
        self._last_step = -1

    def add_listener(self, listener: Any) -> None:
        """Register an object whose `on_divergence(guard, event)` is called after a rollback."""
        self._listeners.append(listener)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset_attempt()
        self._chance = _chance_level(self.model)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._restart_mean()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self._step()
        if step < self._last_step:  # a restart re-initialised the model and its optimizer
            self._reset_attempt()
            self._restart_mean()
        if self._snapshot is None:
            self._snapshot = self._take_snapshot(step)
        elif (
            self._pending is None
            and self._suspect is None
            and step - self._snapshot[0] >= self.every
        ):
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
        if self._best is None and steps - seen_steps > 1 and self._chance is not None:
            # The first look averages several steps: the loss before the first update is
            # not seen, and a blown-up average must not become the reference.
            self._average = self._best = self._chance
        look_start = step - (steps - seen_steps)
        if not math.isfinite(loss):
            self._roll_back(step, loss, "not finite")
        elif self._best is not None and loss > self.explosion * self._best:
            self._roll_back(step, loss, "exploded")
        elif self._judge(look_start, step, loss):
            self._roll_back(step, loss, "dead")

    def _judge(self, look_start: int, step: int, loss: float) -> bool:
        """Take a healthy-looking loss into the averages; whether the network is dead."""
        previous = self._average
        if self._suspect is None and previous is not None and loss > _SPIKE * previous:
            self._suspect = previous
        chance = self._chance
        # No better than a uniform prediction: flat at the chance level, or a network stuck
        # on a confident wrong answer above it.
        at_chance = chance is not None and loss >= (1.0 - _CHANCE_BAND) * chance
        if at_chance and self._best is not None and self._best < _BELOW_CHANCE * chance:
            self._suspect = self._best if self._suspect is None else self._suspect
        if not at_chance:
            self._at_chance_since = None
        elif self._at_chance_since is None:
            self._at_chance_since = look_start
        self._healthy_steps += step - look_start
        if not at_chance:  # progress: a loss at the chance level learns nothing yet
            self._in_a_row = 0
        self._average = loss if previous is None else 0.9 * previous + 0.1 * loss
        self._best = self._average if self._best is None else min(self._best, self._average)
        if self._suspect is not None:
            recovered = self._average < self._suspect and (
                chance is None or self._average < _BELOW_CHANCE * chance
            )
            if recovered:
                self._suspect = None
            elif (
                self._at_chance_since is not None and step - self._at_chance_since >= 2 * self.every
            ):
                if self._moved_far():
                    return True
                # A network slow to leave the chance level: look again `every` steps later.
                self._at_chance_since = step - self.every
        if self._pending is not None and self._suspect is None:
            self._snapshot, self._pending = self._pending, None
        return False

    def _roll_back(self, step: int, loss: float, reason: str) -> None:
        restored_step, weights, optimizer_state = self._snapshot
        for variable, value in zip(self.model.weights, weights, strict=True):
            variable.assign(value)
        optimizer = self.model.optimizer
        for variable, value in zip(_restorable(optimizer), optimizer_state, strict=True):
            variable.assign(value)
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self._in_a_row += 1
        cut = self.factor**self._in_a_row
        try:
            optimizer.learning_rate = rate * cut
            new_rate: float | None = rate * cut
        except TypeError:  # a LearningRateSchedule cannot be assigned a value
            new_rate = None
            if not any(event.new_learning_rate is None for event in self.events):
                warnings.warn(
                    "DivergenceGuard restored the last good state but cannot cut a learning "
                    "rate schedule; pass a float rate to let it cut the rate.",
                    stacklevel=2,
                )
        event = DivergenceEvent(step, loss, restored_step, rate, new_rate, reason)
        self.events.append(event)
        if self.verbose:
            print(self._describe(event))
        self._warn_if_data(reason)
        self.model.reset_metrics()
        self._restart_mean()
        self._snapshot, self._pending = self._take_snapshot(restored_step), None
        # The rate that led here may still be too large: trust no new snapshot until the
        # loss is back below where it was.
        self._suspect = self._average
        self._at_chance_since = None
        self._healthy_steps = 0
        for listener in self._listeners:
            listener.on_divergence(self, event)
        if self.max_events is not None and len(self.events) >= self.max_events:
            self.model.stop_training = True

    def _describe(self, event: DivergenceEvent) -> str:
        if event.reason == "exploded":
            why = f"above {self.explosion:g} x its reference {self._best:.4g}"
        elif event.reason == "dead":
            why = (
                f"no better than the chance level {self._chance:.4g} after a huge step: "
                "a dead network"
            )
        else:
            why = "not finite"
        rate = (
            "the rate schedule is not cut"
            if event.new_learning_rate is None
            else f"learning rate {event.learning_rate:.4g} -> {event.new_learning_rate:.4g}"
        )
        return (
            f"DivergenceGuard: step {event.step}: loss {event.loss:.4g} {why}; "
            f"restored step {event.restored_step}, {rate}."
        )

    def _warn_if_data(self, reason: str) -> None:
        """Warn once when non-finite losses keep coming after healthy training."""
        if reason != "not finite" or self._healthy_steps < self.every:
            return
        self._data_suspects += 1
        if self._data_suspects >= 2 and not self._warned_data:
            self._warned_data = True
            warnings.warn(
                f"DivergenceGuard rolled back {len(self.events)} times; {self._data_suspects} "
                "non-finite losses came after at least `every` healthy steps, as a NaN or "
                "inf in some batch's inputs or labels would, once per epoch, whatever the "
                "rate. Check the data: the guard cuts the learning rate at every rollback "
                "(pass `max_events` to stop training instead).",
                stacklevel=3,
            )

    def _moved_far(self) -> bool:
        """Whether the weights moved further from the snapshot than the snapshot's norm.

        A step large enough to kill a network moves its weights that far; a network that is
        merely slow to leave the chance level stays near the snapshot.
        """
        weights = self._snapshot[1]
        moved = norm = 0.0
        for variable, value in zip(self.model.weights, weights, strict=True):
            before = np.asarray(value, np.float64)
            now = np.asarray(keras.ops.convert_to_numpy(variable), np.float64)
            moved += float(np.sum((now - before) ** 2))
            norm += float(np.sum(before**2))
        return moved > norm

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


def _chance_level(model: keras.Model) -> float | None:
    """The loss of a uniform prediction for a cross-entropy loss; `None` for other losses."""
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else getattr(loss, "name", None)
    name = name or getattr(loss, "__name__", None)
    if name == "binary_crossentropy":
        return math.log(2.0)
    if name not in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return None
    try:
        classes = model.outputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed model
        return None
    return math.log(classes) if isinstance(classes, int) and classes >= 2 else None


def _restorable(optimizer: keras.optimizers.Optimizer) -> list:
    """The optimizer's variables except its step counter, which keeps counting work done."""
    counter = optimizer.iterations.path
    return [v for v in optimizer.variables if v.path != counter]
