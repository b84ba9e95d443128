"""Stop `fit` the moment a monitored metric reaches a target, and record the steps it took."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import keras

from keras_effort.arguments import (
    ArgumentError,
    flag,
    integer,
    optional,
    positive_int,
    real_in,
    text,
)
from keras_effort.callbacks.attempt import AttemptTracker
from keras_effort.callbacks.monitor import (
    MetricReader,
    finite_weights,
    logged_value,
    non_finite_loss,
    optimizer_step,
    resolve_direction,
)
from keras_effort.callbacks.schedule_free import AveragedValidation
from keras_effort.effort import Target
from keras_effort.ledger import Attempt, Ledger


class FinishesWhenFitRaises:
    """Callback mixin: `with callback: model.fit(...)` ends the fit's attempt when `fit` raises.

    Keras calls no callback when `fit` raises (a `KeyboardInterrupt`, an error): used as a
    context manager, the callback records the running attempt as `"stopped"`, tells its
    listeners and flushes the ledger, and the error goes on. A class using it keeps
    `_training` and defines `_finish_training`; `_finisher` names who ends the fit.
    """

    _training: bool

    def _finisher(self) -> Any:
        return self

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """When `fit` raised, record the running attempt as `"stopped"`; never swallow the error."""
        finisher = self._finisher()
        if kind is not None and finisher._training:
            finisher._finish_training()


class TargetStopping(FinishesWhenFitRaises, AveragedValidation, keras.callbacks.Callback):
    """Stops training when the monitored metric reaches `target`; records steps to target.

    Unlike `EarlyStopping(baseline=...)`, which stops when a metric stops improving, this stops
    as soon as the target is met, and measures the effort it took in gradient steps
    (`optimizer.iterations`), samples and seconds, counted from the start of the attempt.

    With `check_every="epoch"` the metric is read from the epoch logs, so steps-to-target is
    known to the epoch. With `check_every=k` it is checked every `k` gradient steps: training
    metrics from the batch logs (running averages over the epoch so far), `val_` metrics by
    evaluating `validation_data` (training metrics' running state is saved and restored around
    it). With `steps_per_execution = n`, batch hooks fire every `n` steps, so checks happen at
    the first multiple of `n` at or after each multiple of `k`. Whatever `k`, an attempt is
    also judged at the step where it ends (its cutoff, or the end of `fit`) when that step
    was not a check step.

    Reaching is judged at float32 precision, the precision of Keras' metrics, so an
    accuracy of exactly the target (342/360 against 0.95) reaches it.

    A non-finite loss or monitored value ends the attempt as a failure (`outcome="diverged"`);
    it is recorded, not raised. But when a `val_` metric, or the validation loss beside it,
    is non-finite while the weights and the training loss are finite and `validation_data`
    holds a NaN or an infinite number, the data is bad, not the run: the attempt ends as
    `"bad_data"`, with a `RuntimeWarning` naming the metric, and never counts as reaching.

    Used as a context manager around `fit` (`with stop: model.fit(...)`), it records the
    attempt running when `fit` is interrupted (Ctrl-C, an exception) as `"stopped"` with the
    steps it ran, tells its listeners that training ended and flushes the ledger; Keras calls
    no callback when `fit` raises.

    Given to `Restarts`, it measures each of the restarts' attempts: pass it to the
    `Restarts` only, not also to `fit`.

    Args:
        monitor: the metric to watch, as named in `fit`'s logs, e.g. `"val_accuracy"`.
        target: the value to reach. Accuracy-like metrics must have targets in [0, 1].
        mode: `"max"`, `"min"` or `"auto"`: inferred from the name (accuracy, AUC,
            precision and recall go up; loss and error go down) or the metric itself. A mode
            that contradicts the name is refused.
        check_every: `"epoch"` or an int `k >= 1`: check every `k` gradient steps.
        validation_data: `(x, y)`, `(x, y, sample_weight)`, a `tf.data.Dataset` or a
            `keras.utils.PyDataset`, evaluated at step-wise checks of a `val_` metric
            (required for those).
        validation_steps: batches evaluated per check; required for an infinite dataset.
        ledger: a `Ledger`, or a path or database URL to open one, to which each attempt is
            written when it ends.
        experiment: the experiment name of the ledger rows.
        config: hyperparameters stored with the ledger rows (JSON-serialisable).
        seed: the seed stored with the ledger row.
        batch_size: the training batch size, to count samples (`None`: samples unknown).
        validation_batch_size: batch size of step-wise evaluations (default 1024).
        stop_training: set `False` to measure steps to target without stopping.

    Attributes:
        target: the `keras_effort.effort.Target` (metric, value, mode).
        attempt: the `AttemptTracker` of the current (or last) attempt.
        record: the last finished attempt as a ledger `Attempt`, or `None`.
        driven_by: the `Restarts` that runs this callback's attempts, or `None`.

    Raises:
        ValueError: for a bad argument, naming it, at construction.

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
        validation_steps: int | None = None,
        ledger: Ledger | str | os.PathLike[str] | None = None,
        experiment: str = "default",
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        stop_training: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a metric name, got {monitor!r}")
        if target is None:
            raise ValueError("`target` is required: the metric value to reach")
        self.target = Target(monitor, real_in("target", target), mode)
        if check_every != "epoch":
            try:
                check_every = positive_int("check_every", check_every)
            except ArgumentError:
                allowed = "'epoch' or an integer >= 1"
                raise ArgumentError("check_every", allowed, check_every) from None
        self.check_every = check_every
        if self.evaluates and validation_data is None:
            raise ValueError(
                f"checking {monitor!r} every {check_every} steps needs `validation_data`: "
                "`fit` only evaluates at epoch ends"
            )
        self.reader = MetricReader(
            monitor, validation_data, validation_steps, validation_batch_size
        )
        if not self.stepwise:
            # On backends where Keras dispatches batch ends asynchronously, it does so only
            # when no callback overrides the batch hook: epoch checks keep the default one.
            self.on_train_batch_end = super().on_train_batch_end
        self.ledger = as_ledger(ledger)
        text("experiment", experiment)
        try:
            json.dumps(dict(config or {}), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`config` must be a JSON-serialisable mapping: {error}") from None
        self.experiment = experiment
        self.config = dict(config or {})
        self.seed = optional(integer, "seed", seed)
        self.batch_size = optional(positive_int, "batch_size", batch_size)
        stop_training = flag("stop_training", stop_training)
        self.stop_training = stop_training
        self.driven_by: Any = None
        self.attempt: AttemptTracker | None = None
        self.record: Attempt | None = None
        self._listeners: list[Any] = []
        self._next_check = 0
        self._budget_pending = False
        self._training = False  # between `on_train_begin` and the end of training

    # ------------------------------------------------------------- properties

    @property
    def monitor(self) -> str:
        """The monitored metric's name."""
        return self.target.metric

    @property
    def stepwise(self) -> bool:
        """True when checks happen every `check_every` gradient steps, not per epoch."""
        return self.check_every != "epoch"

    @property
    def evaluates(self) -> bool:
        """True when step-wise checks evaluate validation data (a `val_` metric)."""
        return self.stepwise and self.monitor.startswith("val_")

    @property
    def reached(self) -> bool:
        """Whether the current (or last) attempt reached the target."""
        return self.attempt is not None and self.attempt.reached

    @property
    def diverged(self) -> bool:
        """Whether the current (or last) attempt's loss or metric became non-finite."""
        return self.attempt is not None and self.attempt.diverged

    @property
    def steps_to_target(self) -> int | None:
        """The attempt's steps at the check that met the target, or `None`."""
        return None if self.attempt is None else self.attempt.steps_to_target

    @property
    def samples_to_target(self) -> int | None:
        """Samples seen by the check that met the target, when `batch_size` is known."""
        if self.steps_to_target is None or self.batch_size is None:
            return None
        return self.steps_to_target * self.batch_size

    @property
    def seconds_to_target(self) -> float | None:
        """Wall-clock seconds from the attempt's start to the check that met the target."""
        return None if self.attempt is None else self.attempt.seconds_to_target

    @property
    def curve(self) -> list[tuple[int, float]]:
        """The `(steps, value)` pairs seen at each check, steps from the attempt's start."""
        return [] if self.attempt is None else self.attempt.checks

    @property
    def best_value(self) -> float | None:
        """The best monitored value the attempt saw."""
        return None if self.attempt is None else self.attempt.best_value

    @property
    def outcome(self) -> str | None:
        """How the last finished attempt ended, or `None` while it runs."""
        return None if self.record is None else self.record.outcome

    @property
    def total_steps(self) -> int:
        """Gradient steps the current (or last) attempt has run."""
        if self.attempt is None:
            return 0
        end = self.attempt.end_step
        return self.attempt.steps_run(optimizer_step(self.model) if end is None else end)

    def add_listener(self, listener: Any) -> None:
        """Register an object told of checks and the ends of attempts and of training.

        A listener has `on_check(source, value)`, `on_attempt_end(source, attempt)` and
        `on_training_end(source)`. `EffortTensorBoard` registers itself this way; listeners
        are plain objects, so they are deep-copied together with this callback (as KerasTuner
        does).
        """
        self._listeners.append(listener)

    # -------------------------------------------- attempts (used by Restarts too)

    def begin_attempt(
        self,
        budget: int | None = None,
        number: int = 0,
        seed: int | None = None,
        run: str | None = None,
        steps_done: int = 0,
    ) -> AttemptTracker:
        """Begin an attempt at the model's current optimizer step.

        Args:
            budget: the steps the attempt may run (its cutoff), `None` when unknown.
            number: the attempt's number within its series.
            seed: the seed of its initial weights (default: this callback's `seed`).
            run: the id of its series (default: a fresh one).
            steps_done: steps the attempt ran before (one resumed from a checkpoint).
        """
        step = optimizer_step(self.model)
        self.attempt = AttemptTracker(
            self.target,
            start_step=step - steps_done,
            budget=budget,
            number=number,
            seed=self.seed if seed is None else seed,
            run=run,
            experiment=self.experiment,
            config=self.config,
            batch_size=self.batch_size,
        )
        self.record = None
        every = self.check_every if self.stepwise else 0
        self._next_check = step + (every - steps_done % every if every else 0)
        return self.attempt

    def observe_batch(self, logs: dict[str, Any] | None, final: bool = False) -> None:
        """Check the target after a batch when a step-wise check is due.

        Args:
            logs: the batch logs (or, at the end of `fit`, its last logs).
            final: whether the attempt ends at this step (its cutoff, the step budget or the
                end of `fit`): then it is checked now unless this step was checked already,
                so that every attempt is judged on the weights it ends with.
        """
        if not self.stepwise or not self._checking:
            return
        step = optimizer_step(self.model)
        steps_run = self.attempt.steps_run(step)
        checks = self.attempt.checks
        if final:
            if steps_run == 0 or (checks and checks[-1][0] == steps_run):
                return
        elif step < self._next_check:
            return
        every = self.check_every
        self._next_check = step + every - steps_run % every
        if non_finite_loss(logs):
            self.attempt.record_divergence()
            return
        self._check(step, self.reader.evaluate(self.model) if self.evaluates else logs)

    def observe_epoch(self, logs: dict[str, Any] | None) -> None:
        """Check the target at an epoch's end (per-epoch checks), or notice a non-finite loss."""
        if not self._checking:
            return
        step = optimizer_step(self.model)
        if self.attempt.steps_run(step) == 0:
            # An attempt that has not trained yet (one a restart began on the epoch's last
            # batch) is not judged on another attempt's epoch.
            return
        if non_finite_loss(logs):
            self.attempt.record_divergence()
        elif not self.stepwise:
            self._check(step, logs)

    def end_attempt(self) -> Attempt:
        """End the current attempt at the model's optimizer step; record and announce it.

        Returns:
            The attempt's record, as written to the ledger.
        """
        record = self.attempt.end(optimizer_step(self.model))
        self.record = record
        if self.ledger is not None:
            # A failed write (disk full, server down) must not abort training: the ledger
            # keeps the attempt, retries it at the next write, and `flush` raises at the end.
            self.ledger.add(record, keep_on_failure=True)
        for listener in self._listeners:
            listener.on_attempt_end(self, record)
        return record

    @property
    def _checking(self) -> bool:
        """Whether checks go on: after the target only when `stop_training` is off."""
        attempt = self.attempt
        if attempt is None or attempt.record is not None or attempt.diverged or attempt.bad_data:
            return False
        return not (attempt.reached and self.stop_training)

    def _check(self, step: int, logs: dict[str, Any] | None) -> None:
        """Judge the attempt on `logs` (fit's, or an evaluation's), read at optimizer `step`.

        The training loss is known to be finite here. A non-finite monitored value, or a
        non-finite validation loss beside a `val_` metric (NaN inputs can leave an accuracy
        finite but meaningless), is bad data when the weights are finite and the validation
        data holds a non-finite number, and a divergence otherwise (huge but finite weights
        overflow too): either way, no value of this check counts as reaching.
        """
        value = self.reader.from_logs(logs)
        if self.target.direction is None:  # compiled metrics exist only once training runs
            self.target = self.attempt.target = resolve_direction(self.target, self.model)
        beside = "val_loss" if self.monitor.startswith("val_") else "loss"
        invalid = [
            name
            for name in dict.fromkeys((self.monitor, beside))
            if (logged := logged_value(logs, name)) is not None and not math.isfinite(logged)
        ]
        bad_data = (
            bool(invalid)
            and self.monitor.startswith("val_")
            and finite_weights(self.model)
            and self.reader.holds_non_finite()
        )
        if bad_data:
            self._warn_bad_data(step, invalid, logs)
            self.attempt.record_bad_data()
        elif invalid:
            self.attempt.record_divergence()
        else:
            self.attempt.record_check(step, value)
        for listener in self._listeners:
            listener.on_check(self, value)

    def _warn_bad_data(self, step: int, invalid: list[str], logs: dict[str, Any] | None) -> None:
        values = ", ".join(f"{name} = {logged_value(logs, name)}" for name in invalid)
        warnings.warn(
            f"{values} at step {self.attempt.steps_run(step)} of attempt {self.attempt.number} "
            f"(monitoring {self.monitor!r}): the validation data holds NaN or infinite values, "
            "while the model's weights and training loss are finite. The data is bad, not the "
            "run: the attempt ends as 'bad_data', is not judged, and no restart can fix it.",
            RuntimeWarning,
            stacklevel=2,
        )

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.driven_by is not None:
            raise ValueError(
                "this TargetStopping is driven by a Restarts: pass only the Restarts to `fit`, "
                "or every attempt would be recorded twice"
            )
        self.begin_attempt()
        self._budget_pending = True
        self._training = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._budget_pending:  # `initial_epoch` is known only now
            epochs, steps = self.params.get("epochs"), self.params.get("steps")
            self.attempt.budget = (epochs - epoch) * steps if epochs and steps else None
            self._budget_pending = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.observe_batch(logs)
        self._stop_if_over()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.observe_epoch(logs)
        self._stop_if_over()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.observe_batch(logs, final=True)  # judged where it ends, check step or not
        self._finish_training()

    def _finisher(self) -> Any:
        return self.driven_by or self  # a driving `Restarts` ends the attempt and the fit

    def _finish_training(self) -> None:
        """End the running attempt (if any), tell the listeners, flush the ledger."""
        self._training = False
        if self.attempt is not None and self.attempt.record is None:
            self.end_attempt()
        for listener in self._listeners:
            listener.on_training_end(self)
        if self.ledger is not None:
            self.ledger.flush()  # raises, naming the ledger, if the write is still pending

    def _stop_if_over(self) -> None:
        attempt = self.attempt
        if attempt.diverged or ((attempt.reached or attempt.bad_data) and self.stop_training):
            self.model.stop_training = True


def as_ledger(ledger: Ledger | str | os.PathLike[str] | None) -> Ledger | None:
    """A `Ledger` from a ledger, a path or a database URL (`None` stays `None`).

    Raises:
        TypeError: for anything else.
    """
    if ledger is None or isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, (str, os.PathLike)):
        return Ledger(ledger)
    raise TypeError(
        f"`ledger` must be a keras_effort.Ledger, a path or a database URL, got "
        f"{type(ledger).__name__}"
    )
