"""Independent restarts inside one `model.fit`: cut stalled attempts and start afresh."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

from keras_effort.callbacks._monitor import optimizer_step
from keras_effort.callbacks.target_stopping import TargetStopping
from keras_effort.ledger import Attempt, Ledger
from keras_effort.restarts import FixedCutoff, RestartPolicy


class Restarts(keras.callbacks.Callback):
    """Runs independent attempts until one reaches the target or the step budget is spent.

    When an attempt reaches its cutoff without meeting the target (or diverges), every weight
    of the model is re-initialised with fresh random values (its own seed per attempt,
    reproducible from `seed`), the optimizer is restored to the state it had when training
    began (slots, `iterations`, learning rate, and the learned rates and multipliers of
    keras-effort's optimizers, which keep all their state in optimizer variables), training
    metrics are reset, and training continues with the next attempt. Learning-rate schedules
    restart with it, because they read `optimizer.iterations`.

    Give `fit` enough epochs to cover `max_steps`: training ends at the first success, when
    `max_steps` are spent, or when `fit` runs out of epochs, whichever comes first.

    Args:
        target: the `TargetStopping` that defines the target and how often it is checked.
            Pass it here only, not also in `fit`'s callbacks. Step-wise checks
            (`check_every=k`) suit restarts: with `"epoch"`, attempts are only judged at
            epoch ends.
        policy: the cutoffs: a `keras_effort.restarts` policy, any iterable of ints, or one
            int for a fixed cutoff.
        max_steps: the total gradient steps over all attempts.
        seed: seed from which every attempt's initial weights are drawn; `None` draws one
            (kept in `self.seed`, so a run can be repeated).
        ledger: where each attempt is recorded (default: the target's ledger).

    Attributes:
        attempts: the finished attempts as ledger `Attempt`s, in order.
        total_steps: gradient steps spent over all attempts so far.
        reached: whether some attempt reached the target.

    Example:
        ```python
        target = TargetStopping("val_accuracy", 0.7, check_every=25,
                                validation_data=(x_val, y_val))
        restarts = Restarts(target, policy=Luby(200), max_steps=20_000, seed=0)
        model.fit(x, y, epochs=1_000, callbacks=[restarts])
        restarts.reached, restarts.total_steps, len(restarts.attempts)
        ```
    """

    def __init__(
        self,
        target: TargetStopping,
        policy: RestartPolicy | Iterable[int] | int,
        max_steps: int,
        seed: int | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(target, TargetStopping):
            raise TypeError(f"`target` must be a TargetStopping, got {type(target).__name__}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"`max_steps` must be an int >= 1, got {max_steps!r}")
        if ledger is not None and not isinstance(ledger, Ledger):
            raise TypeError(f"`ledger` must be a keras_effort.Ledger, got {type(ledger).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an int or None, got {seed!r}")
        self.target = target
        self.policy = _as_policy(policy)
        self.max_steps = max_steps
        self.seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed
        self.ledger = ledger if ledger is not None else target.ledger
        self.attempts: list[Attempt] = []
        self._listeners: list[Any] = []
        self._initial_optimizer_state: list[np.ndarray] = []
        self._finished_steps = 0
        self._cutoff = 0
        self._in_attempt = False

    def add_listener(self, listener: Any) -> None:
        """Register a listener (see `TargetStopping.add_listener`) for checks and attempt ends."""
        self._listeners.append(listener)
        self.target.add_listener(listener)

    @property
    def total_steps(self) -> int:
        """Gradient steps spent over all attempts, including the current one."""
        current = self.target.total_steps if self._in_attempt else 0
        return self._finished_steps + current

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
        self.target.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.target.set_params(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.target._managed = True
        self.target.on_train_begin(logs)
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self._initial_optimizer_state = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
        self.attempts = []
        self._finished_steps = 0
        self._start_attempt()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.target.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.target.on_train_batch_end(batch, logs)
        self._after_progress()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.target.on_epoch_end(epoch, logs)
        self._after_progress()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_attempt:  # fit ran out of epochs mid-attempt: known to fail only so far
            self._end_attempt("stopped", budget=None)
        self.target._managed = False
        for listener in self._listeners:
            listener.on_training_end(self)
        if self.ledger is not None:
            self.ledger.flush()  # raises, naming the ledger, if a failed write is still pending

    # --------------------------------------------------------------- attempts

    def _start_attempt(self) -> None:
        number = len(self.attempts)
        _reinitialise_weights(self.model, self.attempt_seed(number))
        for variable, value in zip(
            self.model.optimizer.variables, self._initial_optimizer_state, strict=True
        ):
            variable.assign(value)
        self.model.reset_metrics()
        self._cutoff = min(next(self.policy), self.max_steps - self._finished_steps)
        self.target._begin_attempt(optimizer_step(self.model))
        self._in_attempt = True

    def _after_progress(self) -> None:
        if not self._in_attempt:
            return
        steps = self.target.total_steps
        if self.target.reached:
            self._end_attempt("reached", budget=self._cutoff)
            self.model.stop_training = True
            return
        if self.target.diverged:
            self._end_attempt("diverged", budget=max(self._cutoff, steps))
        elif steps >= self._cutoff:
            self._end_attempt("cutoff", budget=steps)
        else:
            return
        if self._finished_steps >= self.max_steps:
            self.model.stop_training = True
        else:
            self._start_attempt()

    def _end_attempt(self, outcome: str, budget: int | None) -> None:
        target = self.target
        steps = (
            target.steps_to_target - target._start_step if target.reached else target.total_steps
        )
        number = len(self.attempts)
        attempt = target.attempt(
            number=number,
            steps=steps,
            budget=budget,
            outcome=outcome,
            seed=self.attempt_seed(number),
        )
        self.attempts.append(attempt)
        self._finished_steps += target.total_steps
        self._in_attempt = False
        if hasattr(self.policy, "observe"):
            self.policy.observe(steps, target.reached, self._cutoff)
        if self.ledger is not None:
            # A failed write (disk full, server down) must not abort training: the ledger
            # keeps the attempt, retries it at the next write and `flush` raises at the end.
            self.ledger.add(attempt, keep_on_failure=True)
        for listener in self._listeners:
            listener.on_attempt_end(self, attempt)


def _as_policy(policy: RestartPolicy | Iterable[int] | int) -> Iterator[int]:
    if isinstance(policy, bool):
        raise ValueError(f"`policy` must be a policy, an iterable of ints or an int: {policy!r}")
    if isinstance(policy, int):
        return FixedCutoff(policy)
    if isinstance(policy, RestartPolicy):
        return policy
    try:
        return iter(policy)
    except TypeError:
        raise ValueError(
            f"`policy` must be a policy, an iterable of ints or an int, got {policy!r}"
        ) from None


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
