"""The record of one training attempt, and the runtime distribution of several."""

from __future__ import annotations

import json
import math
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from keras_effort.arguments import (
    ArgumentError,
    integer,
    is_int,
    is_real,
    non_negative_real,
    optional,
    real_in,
)
from keras_effort.effort import RuntimeDistribution

# New outcomes go at the end: a distributed tuner sends an outcome as its index in this tuple.
OUTCOMES = ("reached", "cutoff", "diverged", "stopped", "bad_data")



class TargetLike(Protocol):
    """What `Attempt.from_run` reads of a target (`keras_effort.effort.Target`)."""

    metric: str
    value: float


# Both backends store counts as signed 64-bit integers.
_INT64 = (-(2**63), 2**63 - 1)


def classify_outcome(
    *,
    reached: bool,
    diverged: bool,
    steps_run: int,
    budget: int | None,
    bad_data: bool = False,
) -> str:
    """How an attempt ended: `"reached"`, `"diverged"`, `"bad_data"`, `"cutoff"` or `"stopped"`.

    Args:
        reached: whether some check met the target.
        diverged: whether the loss or the model's weights became non-finite.
        steps_run: gradient steps the attempt ran.
        budget: the steps it was allowed (its cutoff), `None` when unknown.
        bad_data: whether a check read a non-finite metric from a finite model on validation
            data that holds non-finite numbers (which no restart can fix).

    Returns:
        `"reached"` if it met the target; else `"diverged"`; else `"bad_data"`; else
        `"cutoff"` when it spent its budget; else `"stopped"` (ended early, e.g. by another
        callback, an exception or the end of `fit`).
    """
    if reached:
        return "reached"
    if diverged:
        return "diverged"
    if bad_data:
        return "bad_data"
    if budget is not None and steps_run >= budget:
        return "cutoff"
    return "stopped"


def censoring_budget(outcome: str, steps_run: int, budget: int | None) -> int | None:
    """The budget an attempt's record carries, which is where a failure is censored.

    A diverged attempt would not have succeeded later, so it failed within its whole budget;
    an attempt cut at its cutoff failed within the steps it ran; one stopped early, or one
    whose metric could not be judged (`"bad_data"`), is known to have failed only so far (no
    budget: censored at its steps, which leaves the success probability unbiased).
    """
    if outcome in ("stopped", "bad_data"):
        return None
    return steps_run if budget is None else max(budget, steps_run)


@dataclass(frozen=True)
class Attempt:
    """One training attempt: a run from fresh weights until it reached the target or stopped.

    Attributes:
        experiment: the name grouping attempts of one configuration or study.
        target_metric: the monitored metric, e.g. `"val_accuracy"`.
        target_value: the value to reach.
        steps: gradient steps spent: the step at which the target was reached if `reached`,
            else the steps run before stopping.
        reached: whether the target was reached (a `bool`).
        budget: the steps the attempt was allowed (its cutoff); a failed attempt is censored
            at its budget, or at `steps` when no budget is recorded.
        outcome: `"reached"`, `"cutoff"` (stopped at its budget), `"diverged"` (non-finite
            loss or metric from non-finite weights), `"stopped"` (ended early for another
            reason) or `"bad_data"` (a finite model gave a non-finite metric on validation
            data holding NaN or inf: the attempt could not be judged).
        config: the hyperparameters, any JSON-serialisable mapping.
        seed: the seed of the attempt's initial weights.
        attempt: the attempt's number within its series of restarts (its run), from 0.
        run: the id of the series of attempts this one belongs to (one `fit` of `Restarts`
            or `TargetStopping`, one tuner execution); default: a fresh random id. With
            `experiment`, `attempt` and `writer` it is the row's key in the ledger: writing
            the same attempt twice keeps one row.
        samples: training samples seen (steps times batch size).
        seconds: wall-clock seconds spent.
        best_value: the best monitored value seen.
        curve: the monitored metric as `(step, value)` pairs.
        id: the row id, set by the ledger.
        created_at: the Unix time the row was first written, set by the ledger.
        writer: who wrote the row: when `None`, the writing ledger's `Ledger.writer`; `None`
            also for rows of ledgers older than the writer (schema version 2).

    Raises:
        ValueError: naming the field, when a value is of the wrong type or out of range.
    """

    experiment: str
    target_metric: str
    target_value: float
    steps: int
    reached: bool
    budget: int | None = None
    outcome: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    attempt: int = 0
    run: str = field(default_factory=lambda: uuid.uuid4().hex)
    samples: int | None = None
    seconds: float | None = None
    best_value: float | None = None
    curve: Sequence[tuple[int, float]] | None = None
    id: int | None = None
    created_at: float | None = None
    writer: str | None = None

    def __post_init__(self) -> None:
        for name in ("experiment", "target_metric", "run"):
            _check_text(getattr(self, name), name)
        if self.writer is not None:
            _check_text(self.writer, "writer")
        real_in("target_value", self.target_value)
        if not isinstance(self.reached, (bool, np.bool_)):
            raise ValueError(f"`reached` must be a bool, got {self.reached!r}")
        for name in ("steps", "attempt"):
            integer(name, getattr(self, name), 0, _INT64[1])
        for name in ("budget", "samples"):
            optional(integer, name, getattr(self, name), 0, _INT64[1])
        optional(integer, "seed", self.seed, *_INT64)
        if self.reached and self.budget is not None and self.steps > self.budget:
            raise ValueError(
                f"`steps` = {self.steps} is beyond `budget` = {self.budget} for a reached attempt"
            )
        outcome = self.outcome
        if outcome is None:  # the rule, knowing only whether it reached
            outcome = classify_outcome(
                reached=bool(self.reached), diverged=False, steps_run=self.steps, budget=None
            )
        if outcome not in OUTCOMES:
            raise ValueError(f"`outcome` must be one of {OUTCOMES}, got {self.outcome!r}")
        if (outcome == "reached") != bool(self.reached):
            raise ValueError(f"`outcome` = {outcome!r} contradicts `reached` = {self.reached!r}")
        optional(non_negative_real, "seconds", self.seconds)
        if self.best_value is not None and not is_real(self.best_value):  # NaN allowed: None
            raise ArgumentError("best_value", "None or a number", self.best_value)
        if not isinstance(self.config, Mapping):
            raise ValueError(f"`config` must be a mapping, got {type(self.config).__name__}")
        try:
            json.dumps(dict(self.config), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`config` must be a JSON-serialisable mapping: {error}") from None
        # Normalise NumPy scalars to Python types, which the databases and JSON accept.
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "reached", bool(self.reached))
        object.__setattr__(self, "target_value", float(self.target_value))
        for name in ("steps", "attempt", "budget", "samples", "seed"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        if self.best_value is not None:
            best = float(self.best_value)
            object.__setattr__(self, "best_value", best if math.isfinite(best) else None)
        if self.seconds is not None:
            object.__setattr__(self, "seconds", float(self.seconds))
        if self.curve is not None:
            object.__setattr__(self, "curve", _normalised_curve(self.curve))


    @classmethod
    def from_run(
        cls,
        target: TargetLike,
        *,
        steps_run: int,
        reached_at: int | None = None,
        budget: int | None = None,
        diverged: bool = False,
        bad_data: bool = False,
        batch_size: int | None = None,
        **fields: Any,
    ) -> Attempt:
        """The record of a finished run towards `target`: the one way an attempt is recorded.

        The outcome is `classify_outcome`'s, the recorded budget `censoring_budget`'s; the
        steps are those to the target if it was reached, else those run.

        Args:
            target: what was aimed at (its `metric` and `value`).
            steps_run: gradient steps the attempt ran.
            reached_at: its steps at the check that met the target, `None` if none did.
            budget: the steps it was allowed (its cutoff), `None` when unknown.
            diverged: whether the loss or the weights became non-finite.
            bad_data: whether a finite model gave a non-finite metric on bad data.
            batch_size: the training batch size, to count samples (`None`: unknown).
            **fields: the record's other fields (`experiment`, `run`, `seconds`, ...).

        Raises:
            ValueError: naming the field, when a value is of the wrong type or out of range.
        """
        reached = reached_at is not None
        outcome = classify_outcome(
            reached=reached,
            diverged=diverged,
            steps_run=steps_run,
            budget=budget,
            bad_data=bad_data,
        )
        steps = reached_at if reached else steps_run
        return cls(
            target_metric=target.metric,
            target_value=target.value,
            steps=steps,
            reached=reached,
            budget=censoring_budget(outcome, steps_run, budget),
            outcome=outcome,
            samples=None if batch_size is None else steps * batch_size,
            **fields,
        )


def runtime_distribution_of(attempts: Sequence[Attempt]) -> RuntimeDistribution:
    """Deprecated alias of `RuntimeDistribution.from_attempts`, which owns the censoring rule.

    Warns:
        DeprecationWarning: always; call `RuntimeDistribution.from_attempts(attempts)`.
    """
    warnings.warn(
        "`keras_effort.ledger.runtime_distribution_of` is deprecated: use "
        "`keras_effort.effort.RuntimeDistribution.from_attempts`",
        DeprecationWarning,
        stacklevel=2,
    )
    return RuntimeDistribution.from_attempts(attempts)


def _normalised_curve(curve: object) -> list[tuple[int, float]]:
    """`curve` as a list of `(int step, float value)`; values may be non-finite (divergence)."""
    allowed = "a sequence of (step, value) pairs with int steps >= 0 and numeric values"
    if isinstance(curve, (str, bytes, Mapping)) or not isinstance(curve, Sequence | np.ndarray):
        raise ValueError(f"`curve` must be {allowed}, got {type(curve).__name__}")
    pairs = []
    for index, pair in enumerate(curve):
        try:
            step, value = pair
        except (TypeError, ValueError):
            message = f"`curve` item {index} must be a (step, value) pair, got {pair!r}"
            raise ValueError(message) from None
        if not (is_int(step) and 0 <= step <= _INT64[1] and is_real(value)):
            raise ValueError(f"`curve` must be {allowed}; item {index} is {pair!r}")
        pairs.append((int(step), float(value)))
    return pairs


def _check_text(value: object, name: str) -> None:
    # NUL cannot be stored in a PostgreSQL text column: refuse it on every backend alike.
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"`{name}` must be a non-empty string without NUL, got {value!r}")
