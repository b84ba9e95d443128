"""How `EffortOracle` scores and ranks trials: one effort measure, in steps or in seconds.

The censoring rule and every effort figure come from `keras_effort.effort`
(`RuntimeDistribution.from_attempts`); the order among trials is `designs.ranking_key`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort.effort import UNITS, RuntimeDistribution, Target, measure_effort
from keras_effort.ledger import Attempt
from keras_effort.tuners import designs, metrics


@dataclass(frozen=True)
class Scoring:
    """A search's score of a trial's attempts and its ranking of trials.

    Attributes:
        target: the search's target.
        measure: `"expected"` (`l(c*)`) or `"koza"` (`keras_effort.effort.MEASURES`).
        z: the confidence of Koza's effort.
        direction: `"up"` when larger metric values are better, `"down"` otherwise.
        executions: `executions_per_trial`; a trial measured with fewer ranks after every trial
            measured with all of them.
        budget_unit: `"steps"` or `"seconds"`, what scores count.
        max_seconds: the full budget of an execution in seconds, where a diverged execution
            is censored with `budget_unit="seconds"`.
        search: `<project_name>-<search_id>`, which names the attempts' experiment.
    """

    target: Target
    measure: str
    z: float
    executions: int
    budget_unit: str = "steps"
    max_seconds: float | None = None
    search: str = ""

    @property
    def direction(self) -> str:
        """`"up"` when larger values of the target's metric are better, else `"down"`."""
        return self.target.direction or "up"

    def attempts(self, trial: Trial) -> list[Attempt]:
        """The attempts a trial's executions reported, in order."""
        return metrics.attempts_of(trial, self.target, self.search)

    def distribution(self, attempts: Sequence[Attempt]) -> RuntimeDistribution:
        """The attempts' runtime distribution in `budget_unit` (seconds count milliseconds)."""
        return RuntimeDistribution.from_attempts(attempts, self.budget_unit, self.max_seconds)

    def score(self, attempts: Sequence[Attempt]) -> float:
        """The effort of the attempts in `budget_unit`; `inf` when none reached the target."""
        distribution = self.distribution(attempts)
        return measure_effort(distribution, self.measure, self.z) / UNITS[self.budget_unit]

    def interval(
        self, attempts: Sequence[Attempt], level: float, seed: int, n_boot: int = 500
    ) -> tuple[float, float]:
        """The bootstrap confidence interval of `score`, at `level` (as the promotion rule uses)."""
        low, high = self.distribution(attempts).confidence_interval(
            self.measure, level=level, n_boot=n_boot, seed=seed, z=self.z
        )
        return low / UNITS[self.budget_unit], high / UNITS[self.budget_unit]

    def ranking_key(self, trial: Trial) -> tuple[float, float]:
        """A trial's key (`designs.ranking_key`): by effort, then by its best value if unreached."""
        values = [a.best_value for a in self.attempts(trial) if a.best_value is not None]
        best = None if not values else (max(values) if self.direction == "up" else min(values))
        score = math.inf if trial.score is None else trial.score
        return designs.ranking_key(score, best, self.direction)

    def sort_key(self, trial: Trial) -> tuple[bool, tuple[float, float], int]:
        """A trial's place among all trials, smaller is better.

        A trial with fewer executions than asked (a screen, a probe) may owe its place to one
        lucky seed: it ranks after every trial measured in full. Among equal keys, the trial
        with more executions is the better-supported one.
        """
        executions = len(self.attempts(trial))
        return executions < self.executions, self.ranking_key(trial), -executions

    def ranked(self, trials: Sequence[Trial], configuration: Callable[[Trial], str]) -> list[Trial]:
        """The completed trials, best first, then the others.

        A configuration re-run later with more evidence (an anchor re-running a screen, a
        confirmation re-running a probe) is ranked by its latest trial: its earlier trials,
        which a lucky seed at a small budget could otherwise put first, follow all the others.

        Args:
            trials: every trial, in the order they started.
            configuration: a trial's configuration's hash, the same whatever its stage.
        """
        completed = [t for t in trials if t.status == TrialStatus.COMPLETED]
        latest = {configuration(trial): trial for trial in completed}
        current = sorted(latest.values(), key=self.sort_key)
        superseded = sorted((t for t in completed if t not in current), key=self.sort_key)
        return current + superseded + [t for t in trials if t.status != TrialStatus.COMPLETED]

    def total_steps(self, trials: Iterable[Trial]) -> int:
        """Gradient steps run by every execution the trials reported."""
        return sum(a.steps for trial in trials for a in self.attempts(trial))

    def total_seconds(self, trials: Iterable[Trial]) -> float:
        """Wall-clock seconds of training of every execution the trials reported."""
        return sum(a.seconds or 0.0 for trial in trials for a in self.attempts(trial))

    def attempt_key(self, attempt: Attempt) -> tuple[float, float]:
        """One execution's key, to keep the best execution's model: its cost if it reached."""
        cost = attempt.seconds if self.budget_unit == "seconds" else attempt.steps
        return designs.ranking_key(
            cost if attempt.reached else math.inf, attempt.best_value, self.direction
        )
