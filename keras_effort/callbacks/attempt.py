"""The life of one attempt, from its first gradient step to its outcome.

`AttemptTracker` follows an attempt and counts its steps and seconds; its record is built by
`Attempt.from_run`, which applies the one outcome rule (`classify_outcome`). `TargetStopping`,
`Restarts`, the tuner and the demo all record attempts that way, and the ledger stores exactly
what the record reports.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

from keras_effort.effort import Target
from keras_effort.ledger import Attempt
from keras_effort.ledger.attempt import censoring_budget, classify_outcome

__all__ = ["AttemptTracker", "censoring_budget", "classify_outcome"]


class AttemptTracker:
    """One attempt towards a target: its checks, its best value and how it ended.

    Steps are counted from the attempt's first step, so a record means the same whether
    `fit` started at `optimizer.iterations` 0 or later, or the attempt followed others.

    Args:
        target: the target to reach.
        start_step: the optimizer step at which the attempt began.
        budget: the gradient steps it may run (its cutoff), `None` when unknown.
        number: its number within its series of restarts, from 0.
        seed: the seed of its initial weights.
        run: the id of its series (one `fit`); a fresh one by default.
        experiment: the ledger's experiment name.
        config: hyperparameters stored with the record.
        batch_size: the training batch size, to count samples (`None`: unknown).

    Attributes:
        checks: the `(steps, value)` pairs seen at each check, steps from the attempt's start.
        best_value: the best monitored value seen, `None` before the first check.
        steps_to_target: the attempt's steps at the check that met the target, or `None`.
        seconds_to_target: wall-clock seconds from its start to that check, or `None`.
        diverged: whether the loss, the monitored value or the weights became non-finite.
        bad_data: whether a check read a non-finite metric from a finite model on bad data.
        end_step: the optimizer step at which it ended, once `end` was called.
        record: the finished `Attempt`, once `end` was called.
    """

    def __init__(
        self,
        target: Target,
        start_step: int,
        budget: int | None = None,
        number: int = 0,
        seed: int | None = None,
        run: str | None = None,
        experiment: str = "default",
        config: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.target = target
        self.start_step = int(start_step)
        self.budget = budget
        self.number = number
        self.seed = seed
        self.run = run or uuid.uuid4().hex
        self.experiment = experiment
        self.config = dict(config or {})
        self.batch_size = batch_size
        self.checks: list[tuple[int, float]] = []
        self.best_value: float | None = None
        self.steps_to_target: int | None = None
        self.seconds_to_target: float | None = None
        self.diverged = False
        self.bad_data = False
        self.end_step: int | None = None
        self.record: Attempt | None = None
        self._started = time.perf_counter()

    @property
    def reached(self) -> bool:
        """Whether some check met the target."""
        return self.steps_to_target is not None

    @property
    def over(self) -> bool:
        """Whether nothing more can change its outcome: it reached, diverged, met bad data or
        ended."""
        return self.reached or self.diverged or self.bad_data or self.record is not None

    def steps_run(self, step: int) -> int:
        """Gradient steps run by the attempt when the optimizer is at `step`."""
        return int(step) - self.start_step

    def record_check(self, step: int, value: float) -> None:
        """Record the monitored value measured at optimizer step `step`.

        A non-finite value marks the attempt diverged. Checks after the target was met keep
        the curve and the best value going, while `steps_to_target` keeps the first success.
        """
        if not math.isfinite(value):
            self.diverged = True
            return
        steps = self.steps_run(step)
        self.checks.append((steps, value))
        if self.target.better(value, self.best_value):
            self.best_value = value
        if not self.reached and self.target.reached(value):
            self.steps_to_target = steps
            self.seconds_to_target = time.perf_counter() - self._started

    def record_divergence(self) -> None:
        """Mark the attempt diverged (a non-finite loss or non-finite weights)."""
        self.diverged = True

    def record_bad_data(self) -> None:
        """Mark the attempt unjudgeable: a finite model gave a non-finite metric on bad data."""
        self.bad_data = True

    def end(self, step: int) -> Attempt:
        """End the attempt with the optimizer at `step`; return its record.

        Raises:
            RuntimeError: when the attempt has already ended.
        """
        if self.record is not None:
            raise RuntimeError(f"attempt {self.number} of run {self.run} has already ended")
        self.end_step = int(step)
        seconds = self.seconds_to_target if self.reached else time.perf_counter() - self._started
        self.record = Attempt.from_run(
            self.target,
            steps_run=self.steps_run(step),
            reached_at=self.steps_to_target,
            budget=self.budget,
            diverged=self.diverged,
            bad_data=self.bad_data,
            batch_size=self.batch_size,
            experiment=self.experiment,
            config=self.config,
            seed=self.seed,
            attempt=self.number,
            run=self.run,
            seconds=seconds,
            best_value=self.best_value,
            curve=list(self.checks),
        )
        return self.record
