"""Independent restarts inside one `model.fit`: cut stalled attempts and start afresh."""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from keras_effort.arguments import (
    flag,
    integer,
    one_of,
    optional,
    positive_int,
    renamed,
    renamed_attribute,
    text,
)
from keras_effort.callbacks.monitor import non_finite_loss, optimizer_step
from keras_effort.callbacks.schedule_free import AveragedValidation
from keras_effort.callbacks.target_stopping import (
    FinishesWhenFitRaises,
    TargetStopping,
    as_ledger,
)
from keras_effort.ledger import Attempt, Ledger
from keras_effort.restarts import RestartPolicy, as_policy


class Restarts(FinishesWhenFitRaises, AveragedValidation, keras.callbacks.Callback):
    """Runs independent attempts until one reaches the target or the step budget is spent.

    When an attempt reaches its cutoff without meeting the target (or diverges), every weight
    of the model is re-initialised with fresh random values (its own seed per attempt,
    reproducible from `seed`), the optimizer is restored to the state it had when training
    began (slots, `iterations`, learning rate, and the learned rates and multipliers of
    keras-effort's optimizers, which keep all their state in optimizer variables), training
    metrics are reset, and training continues with the next attempt. Learning-rate schedules
    restart with it, because they read `optimizer.iterations`.

    The `TargetStopping` measures each attempt and writes it to its ledger when it ends;
    `Restarts` decides when attempts begin and end. An attempt is judged on the weights it
    trained: with step-wise checks, an attempt is checked at its cutoff even when the cutoff
    is not a check step; with per-epoch checks, a cutoff that falls on an epoch's last batch
    waits for that epoch's check before the weights are re-initialised. An attempt that ends
    on bad data (`"bad_data"`: non-finite validation data, see `TargetStopping`) ends
    training, since no restart can fix the data.

    Used as a context manager around `fit` (`with restarts: model.fit(...)`), it records the
    attempt running when `fit` is interrupted (Ctrl-C, an exception) as `"stopped"` with the
    steps it ran, tells its listeners that training ended and flushes the ledger.

    Give `fit` enough epochs to cover `max_total_steps`: training ends at the first success,
    when `max_total_steps` are spent, when the policy has no cutoff left, or when `fit` runs
    out of epochs, whichever comes first. A `Restarts` used for a second `fit` goes on where
    it left off: attempt numbers, seeds and the policy continue, and `max_total_steps` is that
    `fit`'s budget.

    Args:
        stopping: the `TargetStopping` that defines the target and how often it is checked.
            Pass it here only, not also in `fit`'s callbacks. Step-wise checks
            (`check_every=k`) suit restarts: with `"epoch"`, attempts are only judged at
            epoch ends.
        policy: the cutoffs: a `keras_effort.restarts` policy, one int for a fixed cutoff, or
            a non-empty iterable of ints (attempts end when it runs out).
        max_total_steps: the most gradient steps over all attempts of one `fit` (formerly
            `max_steps`, the name `EffortOracle` gives the budget of one execution; the old
            name still works, with a `DeprecationWarning`).
        seed: seed from which every attempt's initial weights are drawn; `None` draws one
            (kept in `self.seed`, so a run can be repeated).
        ledger: where each attempt is recorded (a `Ledger`, path or URL); by default the
            `stopping`'s ledger.
        run: the id of the series of attempts in the ledger (with the experiment, the
            attempt's number and the ledger's writer, it names a row); by default a fresh id
            for every `fit`. A re-run under a named writer (`Ledger(..., writer=...)`)
            replaces its rows; under a ledger's default writer, a row rewritten with other
            values raises `LedgerError`, and another process's re-run adds rows of its own.
        resume: continue `run` from the ledger instead of re-running it: the first `fit`
            reads the run's recorded attempts (their numbers, steps and the policy's cutoffs
            go on after them) and continues the attempt the run was in on the model as it
            is (load the checkpoint first): its weights and optimizer state are kept, and
            its steps so far are the optimizer's `iterations`. Later attempts start from a
            fresh optimizer state. Needs `run` and a ledger.
        verbose: 1 prints a line when an attempt ends (its outcome, steps and what is
            left) and, when `fit` ends without reaching the target, one line that sums up
            its attempts and says what to try; 0 is silent.

    Attributes:
        attempts: the finished attempts as ledger `Attempt`s, in order.
        total_steps: gradient steps spent over all attempts so far.
        max_total_steps: the `max_total_steps` argument (`max_steps` is a deprecated alias).
        reached: whether some attempt reached the target.
        run: the id of the current `fit`'s series of attempts (the ledger's `run`).

    Raises:
        ValueError: for a bad argument, naming it, or a `stopping` another `Restarts` drives;
            when training begins, for a resumed run that already reached the target.

    Example:
        ```python
        stopping = TargetStopping("val_accuracy", 0.7, check_every=25,
                                  validation_data=(x_val, y_val))
        restarts = Restarts(stopping, policy=Luby(200), max_total_steps=20_000, seed=0)
        model.fit(x, y, epochs=1_000, callbacks=[restarts])
        restarts.reached, restarts.total_steps, len(restarts.attempts)
        ```
    """

    max_steps = renamed_attribute("max_total_steps")

    @renamed(max_steps="max_total_steps")
    def __init__(
        self,
        stopping: TargetStopping,
        policy: RestartPolicy | Iterable[int] | int,
        max_total_steps: int,
        seed: int | None = None,
        ledger: Ledger | str | os.PathLike[str] | None = None,
        run: str | None = None,
        verbose: int = 1,
        resume: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(stopping, TargetStopping):
            raise TypeError(f"`stopping` must be a TargetStopping, got {type(stopping).__name__}")
        if stopping.driven_by is not None:
            raise ValueError("`stopping` is already driven by another Restarts; give each its own")
        self.max_total_steps = positive_int("max_total_steps", max_total_steps)
        seed = optional(integer, "seed", seed)
        run = optional(text, "run", run)
        self.verbose = one_of("verbose", verbose, (0, 1))
        if flag("resume", resume) and run is None:
            raise ValueError("`resume=True` needs `run`: the id of the run to continue")
        if resume and ledger is None and stopping.ledger is None:
            raise ValueError("`resume=True` needs a `ledger` that holds the run's attempts")
        self.policy = as_policy(policy)
        self.stopping = stopping
        if ledger is not None:
            stopping.ledger = as_ledger(ledger)
        stopping.driven_by = self
        self.seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed
        self.attempts: list[Attempt] = []
        self.run = run or uuid.uuid4().hex
        self._given_run = run
        self._steps_run: list[int] = []
        self._counted: Any = None  # the last attempt whose steps are in `_steps_run`
        self._listeners: list[Any] = []
        self._initial_optimizer_state: list[np.ndarray] = []
        self._fit_steps = 0
        self._fit_first_attempt = 0  # the index in `attempts` of this fit's first attempt
        self._policy_spent = False
        self._cutoff = 0
        self._resume = resume  # cleared once the first `fit` has resumed
        self._steps_before = 0  # steps the current attempt ran before this `fit` (resumed)
        self._training = False

    @property
    def ledger(self) -> Ledger | None:
        """The ledger the attempts are written to (the `stopping`'s)."""
        return self.stopping.ledger

    def add_listener(self, listener: Any) -> None:
        """Register a listener (see `TargetStopping.add_listener`) for checks and attempt ends."""
        self._listeners.append(listener)
        self.stopping.add_listener(listener)

    @property
    def total_steps(self) -> int:
        """Gradient steps spent over all attempts, including the current one."""
        uncounted = self.stopping.attempt is not None and self.stopping.attempt is not self._counted
        return sum(self._steps_run) + (self.stopping.total_steps if uncounted else 0)

    @property
    def reached(self) -> bool:
        """Whether some attempt reached the target."""
        return any(attempt.reached for attempt in self.attempts)

    def attempt_seed(self, number: int) -> int:
        """The seed of attempt `number`'s initial weights, derived from `seed`."""
        return int(np.random.default_rng([self.seed, number]).integers(2**31))

    # ------------------------------------------------------------------ hooks

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self.stopping.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.stopping.set_params(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.run = self._given_run or uuid.uuid4().hex
        self._fit_steps = 0
        self._fit_first_attempt = len(self.attempts)
        self._training = True
        if self._resume:
            self._resume = False
            # The optimizer holds the resumed attempt's state; later attempts start afresh.
            self._initial_optimizer_state = _fresh_optimizer_state(self.model)
            self._resume_run()
            return
        self._initial_optimizer_state = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
        self._start_attempt()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.stopping.observe_batch(logs)
        steps = self.params.get("steps")
        ends_epoch = bool(steps) and batch + 1 >= steps
        # A per-epoch check at this epoch's end judges the weights this attempt trained:
        # wait for it rather than re-initialise them first.
        if not (ends_epoch and not self.stopping.stepwise):
            self._end_attempt_if_over(logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stopping.observe_epoch(logs)
        self._end_attempt_if_over(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        attempt = self.stopping.attempt
        if attempt is not None and attempt.record is None:
            self.stopping.observe_batch(logs, final=True)  # judged where fit ended it
        self._finish_training()

    def _finish_training(self) -> None:
        """End the running attempt (if any), tell the listeners, flush the ledger."""
        self._training = False
        attempt = self.stopping.attempt
        if attempt is not None and attempt.record is None:
            self._end_attempt()  # fit ended (out of epochs, or interrupted) mid-attempt
        if not any(record.reached for record in self.attempts[self._fit_first_attempt :]):
            self._say(self._unreached_summary())
        for listener in self._listeners:
            listener.on_training_end(self)
        if self.ledger is not None:
            self.ledger.flush()  # raises, naming the ledger, if a failed write is still pending

    # --------------------------------------------------------------- attempts

    def _start_attempt(self, steps_before: int | None = None) -> None:
        """Begin the next attempt: on fresh weights, or (`steps_before` given) on the model's
        current weights and optimizer state, continuing a resumed attempt."""
        cutoff = self._next_cutoff()
        if cutoff is None:
            self.model.stop_training = True
            return
        number = self.attempts[-1].attempt + 1 if self.attempts else 0
        if steps_before is None:
            steps_before = 0
            _reinitialise_weights(self.model, self.attempt_seed(number))
            for variable, value in zip(
                self.model.optimizer.variables, self._initial_optimizer_state, strict=True
            ):
                variable.assign(value)
        self.model.reset_metrics()
        self._steps_before = steps_before
        self._cutoff = min(cutoff, steps_before + self.max_total_steps - self._fit_steps)
        self.stopping.begin_attempt(
            budget=self._cutoff,
            number=number,
            seed=self.attempt_seed(number),
            run=self.run,
            steps_done=steps_before,
        )

    def _resume_run(self) -> None:
        """Take the run's recorded attempts from the ledger and continue the one it was in."""
        experiment = self.stopping.experiment
        recorded = sorted(
            (a for a in self.ledger.attempts(experiment=experiment) if a.run == self.run),
            key=lambda attempt: attempt.attempt,
        )
        success = next((a for a in recorded if a.reached), None)
        if success is not None:
            raise ValueError(
                f"run {self.run!r} of experiment {experiment!r} reached the target at attempt "
                f"{success.attempt}: there is no attempt to resume"
            )
        for record in recorded:
            next(self.policy, None)  # the cutoff that attempt had
            self.policy.observe(record)
            self.attempts.append(record)
            self._steps_run.append(record.steps)
        steps_before = optimizer_step(self.model)
        number = recorded[-1].attempt + 1 if recorded else 0
        self._say(
            f"Restarts: resuming run {self.run} at attempt {number} ({len(recorded)} attempts in "
            f"the ledger), on the model's current weights, {steps_before:,} steps in"
        )
        self._start_attempt(steps_before=steps_before)

    def _next_cutoff(self) -> int | None:
        try:
            return next(self.policy)
        except StopIteration:
            self._policy_spent = True
            self._say(
                f"Restarts: the policy has no cutoff left after "
                f"{_count(len(self.attempts), 'attempt')}; training stops"
            )
            return None

    def _end_attempt_if_over(self, logs: dict[str, Any] | None) -> None:
        attempt = self.stopping.attempt
        if attempt is None or attempt.record is not None:
            return
        if not attempt.over and self.stopping.total_steps < self._cutoff:
            return
        if not attempt.over and non_finite_loss(logs):
            attempt.record_divergence()  # cut on a NaN loss between checks: it diverged
        self.stopping.observe_batch(logs, final=True)  # judged at its cutoff, check step or not
        record = self._end_attempt()
        if record.outcome == "bad_data":
            self._say(
                f"Restarts: the validation data gives a non-finite {self.stopping.monitor}; "
                "restarting cannot fix the data: training stops"
            )
        spent = self._fit_steps >= self.max_total_steps
        if record.reached or record.outcome == "bad_data" or spent:
            self.model.stop_training = True
        else:
            self._start_attempt()

    def _end_attempt(self) -> Attempt:
        record = self.stopping.end_attempt()
        self.attempts.append(record)
        steps_run = self.stopping.total_steps
        self._steps_run.append(steps_run)
        self._counted = self.stopping.attempt
        self._fit_steps += steps_run - self._steps_before
        self.policy.observe(record)
        best = record.best_value
        best = "" if best is None else f", best {self.stopping.monitor} {best:.4g}"
        self._say(
            f"Restarts: attempt {record.attempt} {record.outcome} after {steps_run:,} steps"
            f"{best}; {self._fit_steps:,} of {self.max_total_steps:,} steps spent"
        )
        return record

    def _unreached_summary(self) -> str:
        """One line on a fit that ended without reaching the target, and what to try."""
        records = self.attempts[self._fit_first_attempt :]
        target = self.stopping.target
        sign = {"up": ">= ", "down": "<= "}.get(target.direction or "", "")
        outcomes = Counter(record.outcome for record in records)
        line = (
            f"Restarts: {target.metric} {sign}{target.value:g} not reached in "
            f"{_count(len(records), 'attempt')}"
        )
        if outcomes:
            line += f" ({', '.join(f'{n} {outcome}' for outcome, n in outcomes.items())})"
        line += f", {_count(self._fit_steps, 'step')} of {self.max_total_steps:,}"
        values = [record.best_value for record in records if record.best_value is not None]
        if values:
            best = min(values) if target.direction == "down" else max(values)
            line += f"; best {target.metric} {best:.4g}"
        return f"{line}. {self._what_to_try(records)}"

    def _what_to_try(self, records: list[Attempt]) -> str:
        if any(record.outcome == "bad_data" for record in records):
            return "Fix the validation data (it holds NaN or inf): no learning rate or cutoff can."
        if records and all(record.outcome == "diverged" for record in records):
            return "Every attempt diverged: try a lower learning rate or a DivergenceGuard."
        if self._fit_steps >= self.max_total_steps:
            advice = "a larger `max_total_steps`"
        elif self._policy_spent:
            advice = "a policy with more cutoffs"
        else:  # fit ended first: it ran out of epochs, or another callback stopped it
            advice = "more epochs in `fit` (enough for `max_total_steps`)"
        if any(record.outcome == "cutoff" for record in records):
            advice += ", longer cutoffs"
        return f"Try {advice} or an easier target."

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)


def _count(number: int, noun: str) -> str:
    """`1 attempt`, `2 attempts`, `1,000 steps`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _reinitialise_weights(model: keras.Model, seed: int) -> None:
    """Give every weight of `model` fresh random values drawn from its initializers.

    Each layer with weights is rebuilt from its config and build config (as `.keras` loading
    does) with the random seed set, and its fresh weights copied over; nested models are
    walked layer by layer, so subclassed models work as long as their layers have configs.
    The user's Python and NumPy random streams are preserved.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        keras.utils.set_random_seed(seed)
        _reinitialise_layers(model)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _reinitialise_layers(container: keras.Layer) -> None:
    for layer in container.layers:
        if not layer.weights:
            continue
        if isinstance(layer, keras.Model):
            _reinitialise_layers(layer)
            continue
        try:
            fresh = layer.__class__.from_config(layer.get_config())
            fresh.build_from_config(layer.get_build_config())
        except Exception as error:
            raise ValueError(
                f"Restarts cannot re-initialise layer {layer.name!r} "
                f"({type(layer).__name__}): rebuilding it from its config failed ({error}). "
                "Give the layer a complete `get_config`."
            ) from error
        layer.set_weights(fresh.get_weights())


def _fresh_optimizer_state(model: keras.Model) -> list[np.ndarray]:
    """The values of the model's optimizer variables as a new optimizer of its config has them.

    Raises:
        ValueError: when a new optimizer built from the config has other variables.
    """
    optimizer = model.optimizer
    fresh = optimizer.__class__.from_config(optimizer.get_config())
    fresh.build(model.trainable_variables)
    if len(fresh.variables) != len(optimizer.variables):
        raise ValueError(
            f"Restarts cannot resume: a new {type(optimizer).__name__} built from its config "
            f"has {len(fresh.variables)} variables, the model's has {len(optimizer.variables)}"
        )
    return [keras.ops.convert_to_numpy(v) for v in fresh.variables]
