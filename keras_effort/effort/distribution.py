"""Runtime distributions of steps-to-target, with censoring, and the effort measures on them.

A *run* either reaches the target at some gradient step `T`, or is stopped at its budget `b`
without reaching it, which says only `T > b` (the run is *censored*). From a sample of runs:

- `P(i)`, the probability that a run has reached the target by step `i`, is the Kaplan-Meier
  estimate, which is the plain fraction of successes when every run had the same budget;
- Koza's computational effort `E(z) = min_i i * R(z, i)` with `R = ceil(ln(1-z) / ln(1-P(i)))`;
- the expected cost of restarting at cutoff `c` until one attempt succeeds (Luby et al. 1993),
  `l(c) = E[min(T, c)] / P(c)`, and the cutoff `c*` that minimises it.

`P` only jumps at steps where some run succeeded, so both minima are attained at such a step;
the measures are evaluated there exactly, with no grid.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from keras_effort.arguments import is_real, positive_int, real_in

# The effort measures every view can rank or report by: `l(c*)` and Koza's effort.
MEASURES = ("expected", "koza")
# What a runtime counts, and how many of its whole counts make one unit: runtimes are whole
# numbers, so seconds are counted in milliseconds.
UNITS = {"steps": 1, "seconds": 1000}

# Relative slack when rounding R(z, i) up: ln(1-z) / ln(1-P) is an exact integer for some
# (z, P) pairs, e.g. z=0.99, P=0.9 gives 2, but its floating-point value may sit just above.
_CEIL_SLACK = 1e-9
# Run indices drawn per block of bootstrap resamples: bounds the memory of `confidence_interval`.
_BOOTSTRAP_BLOCK = 2_000_000


@dataclass(frozen=True)
class EffortEstimate:
    """Koza's computational effort.

    Attributes:
        steps: total gradient steps `I(z, i) = i * R(z, i)` at the best cutoff; `inf` when no
            run reached the target.
        cutoff: the step `i` at which each independent run is cut; `None` when no run succeeded.
        runs: the number `R(z, i)` of independent runs needed; `None` when no run succeeded.
    """

    steps: float
    cutoff: int | None
    runs: int | None


@dataclass(frozen=True)
class SuccessCurve:
    """The estimated success probability as a right-continuous step function.

    `probability[k]` is `P(T <= steps[k])`; `P` is 0 before `steps[0]` and stays at
    `probability[k]` until `steps[k + 1]`. Beyond `horizon`, the largest step any run was
    observed to, nothing is known and the last value is carried forward.

    Attributes:
        steps: the distinct steps at which some run reached the target, ascending.
        probability: the success probability at each of those steps.
        horizon: the largest step observed.
    """

    steps: np.ndarray
    probability: np.ndarray
    horizon: int


class AttemptLike(Protocol):
    """What the censoring rule reads of an attempt (`keras_effort.ledger.Attempt` has it)."""

    steps: int
    reached: bool
    budget: int | None


def observed_until(attempt: AttemptLike) -> int:
    """The last step at which an attempt was observed: the censoring rule for one attempt.

    A failed attempt is known not to have succeeded by its `budget` (or, with no budget
    recorded, by its `steps`); a success was observed up to its budget too, and at least to
    its `steps`.
    """
    censored_at = attempt.steps if attempt.budget is None else attempt.budget
    return max(censored_at, attempt.steps)


class TimedAttemptLike(AttemptLike, Protocol):
    """An attempt with its wall-clock `seconds`, for runtime distributions in seconds."""

    seconds: float | None


@dataclass(frozen=True)
class _Counted:
    steps: int
    reached: bool
    budget: int | None


def _in_milliseconds(attempt: TimedAttemptLike, seconds_budget: float | None) -> _Counted:
    """The attempt counted in milliseconds, censored where the step rule censors it.

    A failure observed until the steps it ran is observed until the seconds it ran; one the
    step rule censors beyond them (it diverged, and would not have succeeded later) failed
    within the whole `seconds_budget` (else within the seconds it ran).
    """
    spent = round(UNITS["seconds"] * (attempt.seconds or 0.0))
    beyond = not attempt.reached and observed_until(attempt) > attempt.steps
    budget = None
    if beyond and seconds_budget is not None:
        budget = max(spent, round(UNITS["seconds"] * seconds_budget))
    return _Counted(steps=spent, reached=attempt.reached, budget=budget)


class RuntimeDistribution:
    """The distribution of steps-to-target estimated from independent runs.

    Args:
        steps: for each run, the gradient step at which it first reached the target, or
            `None` if it never did within its budget.
        budgets: the steps each run was allowed: one int for all runs, or one entry per run.
            A run that reached the target needs no budget (its entry may be `None`); one that
            did not is censored at its budget. Required when some run failed.

    Raises:
        ValueError: on empty input, a negative, non-integral, NaN or infinite step or budget,
            a failed run without a budget, or a step beyond its run's budget.

    Example:
        >>> rd = RuntimeDistribution(steps=[100, 200, 300, None, None], budgets=1000)
        >>> rd.koza_effort(z=0.99)
        EffortEstimate(steps=1800.0, cutoff=300, runs=6)
        >>> rd.expected_steps(cutoff=300)
        400.0
    """

    def __init__(
        self,
        steps: Sequence[int | None] | np.ndarray,
        budgets: int | Sequence[int | None] | np.ndarray | None = None,
    ) -> None:
        reached, step_values = _parse_steps(steps)
        budget_values = _parse_budgets(budgets, len(step_values))
        if np.any(~reached & np.isnan(budget_values)):
            run = int(np.flatnonzero(~reached & np.isnan(budget_values))[0])
            raise ValueError(
                f"`budgets` must give a budget for every run that did not reach the target; "
                f"run {run} has steps=None and no budget"
            )
        over_budget = reached & (step_values > budget_values)  # NaN budgets compare False
        if np.any(over_budget):
            run = int(np.flatnonzero(over_budget)[0])
            raise ValueError(
                f"`steps[{run}]` = {int(step_values[run])} is beyond that run's budget "
                f"{int(budget_values[run])}; a run cannot reach the target after its budget"
            )
        observed = np.where(reached, step_values, budget_values)
        horizon = int(np.nanmax(np.fmax(budget_values, step_values)))
        self._init_from_observations(observed, reached, horizon)

    @classmethod
    def from_attempts(
        cls,
        attempts: Iterable[AttemptLike],
        unit: str = "steps",
        seconds_budget: float | None = None,
    ) -> RuntimeDistribution:
        """The runtime distribution of attempts at one target: the censoring rule.

        An attempt that reached the target is observed at its `steps`. One that did not is
        known only not to have succeeded within its `budget`, the steps it was allowed (an
        attempt cut at its cutoff, or one that diverged and would not have succeeded later),
        or, when no budget is recorded (an attempt stopped early), within the `steps` it ran.

        With `unit="seconds"` the runtimes are the attempts' wall-clock `seconds`, counted in
        milliseconds (`UNITS`), under the same rule: a failure is censored at the seconds it
        ran, except one the rule censors beyond the steps it ran (a diverged one), which
        failed within the whole `seconds_budget`.

        Args:
            attempts: records with `steps`, `reached` and `budget` attributes (and `seconds`
                with `unit="seconds"`).
            unit: `"steps"` or `"seconds"`, what the runtimes count.
            seconds_budget: the seconds each attempt was allowed, with `unit="seconds"`.

        Raises:
            ValueError: when there is no attempt, a step or budget is not a count, or `unit`
                is not one of `UNITS`.
        """
        if unit not in UNITS:
            raise ValueError(f"`unit` must be one of {tuple(UNITS)}, got {unit!r}")
        if unit == "seconds":
            attempts = [_in_milliseconds(attempt, seconds_budget) for attempt in attempts]
        steps: list[int | None] = []
        budgets: list[int] = []
        for attempt in attempts:
            steps.append(attempt.steps if attempt.reached else None)
            budgets.append(observed_until(attempt))
        return cls(steps, budgets)

    def _init_from_observations(
        self, observed: np.ndarray, reached: np.ndarray, horizon: int
    ) -> None:
        self._observed = observed
        self._reached = reached
        self._horizon = horizon
        runs = len(observed)
        event_steps, event_counts = np.unique(observed[reached], return_counts=True)
        censored = observed[~reached]
        if censored.size == 0 or (event_steps.size and censored.min() >= event_steps[-1]):
            # No run left the sample before the last success: Kaplan-Meier is the plain
            # fraction, computed as such so that 2 of 5 is exactly 0.4.
            probability = np.cumsum(event_counts) / runs
        else:
            at_risk = runs - np.searchsorted(np.sort(observed), event_steps, side="left")
            probability = 1.0 - np.cumprod(1.0 - event_counts / at_risk)
        self._event_steps = event_steps.astype(np.int64)
        self._probability = probability
        # E[min(T, u_k)] = integral over [0, u_k) of the survival function S = 1 - P.
        survival_before = np.concatenate(([1.0], 1.0 - probability[:-1]))
        gaps = np.diff(event_steps, prepend=0.0)
        self._area_to_event = np.cumsum(gaps * survival_before)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._expected_at_event = self._area_to_event / probability

    # ----------------------------------------------------------------- description

    @property
    def runs(self) -> int:
        """The number of runs."""
        return len(self._observed)

    @property
    def successes(self) -> int:
        """The number of runs that reached the target."""
        return int(self._reached.sum())

    @property
    def success_rate(self) -> float:
        """The plain fraction of runs that reached the target."""
        return self.successes / self.runs

    @property
    def horizon(self) -> int:
        """The largest step any run was observed to (its budget, or its success step)."""
        return self._horizon

    def __repr__(self) -> str:
        return (
            f"RuntimeDistribution(runs={self.runs}, successes={self.successes}, "
            f"horizon={self.horizon})"
        )

    # ------------------------------------------------------------- probabilities

    def success_probability(self, step: float | Sequence[float] | np.ndarray) -> float | np.ndarray:
        """Estimated probability that a run reaches the target within `step` gradient steps.

        The Kaplan-Meier estimate; the plain fraction of successes when budgets are equal.
        Beyond the horizon the last value is carried forward.

        Args:
            step: a step, or an array of steps, each non-negative.

        Returns:
            `P(T <= step)`: a float for a scalar `step`, else an array of the same shape.
        """
        steps = _non_negative_array(step, "step")
        # searchsorted counts the success steps <= step: 0 means none yet, so P = 0.
        passed = np.searchsorted(self._event_steps, steps, side="right")
        probability = np.concatenate(([0.0], self._probability))[passed]
        return float(probability) if probability.ndim == 0 else probability

    def success_curve(self) -> SuccessCurve:
        """The whole estimated success-probability step function, for plots."""
        return SuccessCurve(
            steps=self._event_steps.copy(),
            probability=self._probability.copy(),
            horizon=self._horizon,
        )

    def success_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence interval of `P(T <= step)` at each step of `success_curve()`.

        Greenwood's variance of the Kaplan-Meier estimate on the log-log scale (Kalbfleisch &
        Prentice 2002, section 1.4), which keeps the interval inside [0, 1]. Where `P` reaches
        1 the log-log scale is undefined and both bounds are NaN.

        Args:
            level: the interval's coverage at each step, in (0, 1).

        Returns:
            `(low, high)`: arrays aligned with `success_curve().steps`.
        """
        level = _check_probability(level, "level")
        quantile = statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
        at_risk = self.runs - np.searchsorted(np.sort(self._observed), self._event_steps)
        events = np.unique(self._observed[self._reached], return_counts=True)[1]
        survival = 1.0 - self._probability
        with np.errstate(divide="ignore", invalid="ignore"):
            greenwood = np.cumsum(events / (at_risk * (at_risk - events)))
            spread = np.exp(quantile * np.sqrt(greenwood) / np.abs(np.log(survival)))
            low, high = 1.0 - survival ** (1.0 / spread), 1.0 - survival**spread
        undefined = survival <= 0.0
        low[undefined] = high[undefined] = np.nan
        return low, high

    def censoring_steps(self) -> np.ndarray:
        """The steps at which the runs that did not reach the target were censored, ascending."""
        return np.sort(self._observed[~self._reached]).astype(np.int64)

    def median_steps(self) -> float:
        """The smallest step by which half the runs are estimated to succeed (`inf` if none)."""
        reached_half = np.flatnonzero(self._probability >= 0.5)
        return float(self._event_steps[reached_half[0]]) if reached_half.size else math.inf

    # ------------------------------------------------------------------- efforts

    def koza_effort(self, z: float = 0.99) -> EffortEstimate:
        """Koza's computational effort: steps of enough cut runs to succeed with probability z.

        Args:
            z: the required probability of at least one success, in (0, 1).

        Returns:
            The `EffortEstimate` at the cutoff that minimises `i * R(z, i)`; steps are `inf`
            when no run reached the target.
        """
        z = _check_probability(z)
        if self._event_steps.size == 0:
            return EffortEstimate(steps=math.inf, cutoff=None, runs=None)
        runs_needed = _runs_needed(z, self._probability)
        total = self._event_steps * runs_needed
        best = int(np.argmin(total))
        return EffortEstimate(
            steps=float(total[best]),
            cutoff=int(self._event_steps[best]),
            runs=int(runs_needed[best]),
        )

    def expected_steps(self, cutoff: float | None = None) -> float:
        """Expected total steps when restarting at `cutoff` until an attempt succeeds.

        `l(c) = E[min(T, c)] / P(T <= c)`, computed exactly from the step function.

        Args:
            cutoff: the restart cutoff, between 0 and the horizon; `None` for the optimal one.

        Returns:
            `l(cutoff)`; `inf` when no run reached the target by `cutoff`.

        Raises:
            ValueError: if `cutoff` is negative or beyond the horizon, where the distribution
                is unknown.
        """
        if cutoff is None:
            best = self._best_event()
            return math.inf if best is None else float(self._expected_at_event[best])
        cutoff = float(_non_negative_array(cutoff, "cutoff"))
        if cutoff > self._horizon:
            raise ValueError(
                f"`cutoff` = {cutoff:g} is beyond the horizon {self._horizon} (the largest "
                f"budget observed); the distribution is unknown there"
            )
        index = int(np.searchsorted(self._event_steps, cutoff, side="right")) - 1
        if index < 0:
            return math.inf
        area = self._area_to_event[index] + (1.0 - self._probability[index]) * (
            cutoff - self._event_steps[index]
        )
        return float(area / self._probability[index])

    def optimal_cutoff(self) -> int | None:
        """The restart cutoff `c*` that minimises `l(c)`; `None` when no run succeeded."""
        best = self._best_event()
        return None if best is None else int(self._event_steps[best])

    def _best_event(self) -> int | None:
        if self._event_steps.size == 0:
            return None
        return int(np.argmin(self._expected_at_event))

    # -------------------------------------------------------------- uncertainty

    def confidence_interval(
        self,
        measure: str,
        level: float = 0.95,
        n_boot: int = 1000,
        seed: int | None = 0,
        z: float = 0.99,
    ) -> tuple[float, float]:
        """Percentile-bootstrap confidence interval over runs.

        Runs are resampled with replacement, keeping each run's censoring. A resample in
        which no run succeeded has infinite effort, so with few successes the upper bound is
        often `inf`: that is the honest answer, not an error.

        Args:
            measure: `"koza"` (Koza's effort at `z`) or `"expected"` (`l(c*)`).
            level: the interval's coverage, in (0, 1).
            n_boot: the number of bootstrap resamples, at least 1.
            seed: seed of the resampling generator.
            z: the success probability of Koza's effort.

        Returns:
            `(low, high)`, the lower and upper percentiles taken without interpolation (so
            infinite resamples give an infinite bound rather than NaN).
        """
        check_measure(measure)
        level = _check_probability(level, "level")
        z = _check_probability(z)
        estimates = self.bootstrap(measure, n_boot, seed, z)
        tail = (1.0 - level) / 2.0
        low = np.quantile(estimates, tail, method="lower")
        high = np.quantile(estimates, 1.0 - tail, method="higher")
        return float(low), float(high)

    def bootstrap(
        self, statistic: str, n_boot: int = 1000, seed: int | None = 0, z: float = 0.99
    ) -> np.ndarray:
        """A statistic of the distribution over bootstrap resamples of its runs.

        Runs are resampled with replacement, each keeping its censoring, and a resample's
        horizon is this distribution's. Resamples are drawn in blocks and estimated together,
        a block at a time, so that memory stays bounded; the draws are those of one resample
        after another.

        Args:
            statistic: an effort measure (`"koza"` at `z`, `"expected"` for `l(c*)`), or
                `"restart_gain"`, `l(horizon) / l(c*)`.
            n_boot: the number of resamples, at least 1.
            seed: seed of the resampling generator.
            z: the success probability of Koza's effort.

        Returns:
            The `n_boot` values, in the order drawn: `inf` effort, and `nan` restart gain,
            for a resample in which no run succeeded.

        Raises:
            ValueError: if `statistic` is unknown or `n_boot` is not an int >= 1.
        """
        if statistic != "restart_gain":
            check_measure(statistic)
        positive_int("n_boot", n_boot)
        rng = np.random.default_rng(seed)
        block = max(1, _BOOTSTRAP_BLOCK // self.runs)
        return np.concatenate(
            [
                self._resampled(
                    rng.integers(0, self.runs, (min(block, n_boot - start), self.runs)),
                    statistic,
                    z,
                )
                for start in range(0, n_boot, block)
            ]
        )

    def _resampled(self, samples: np.ndarray, statistic: str, z: float) -> np.ndarray:
        """`statistic` of each resample, a row of run indices, as the methods compute it.

        Each resample's Kaplan-Meier estimate is computed on the grid of the distinct
        observed steps (a step where a resample has no success leaves `P` unchanged), all
        resamples at once, with the plain fraction where no run is censored before the last
        success, as `_init_from_observations` does.
        """
        grid, cell = np.unique(self._observed, return_inverse=True)
        count, width = samples.shape
        rows = np.arange(count)[:, None] * grid.size + cell[samples]
        total = np.bincount(rows.ravel(), minlength=count * grid.size).reshape(count, -1)
        events = np.bincount(
            rows.ravel(), weights=self._reached[samples].ravel(), minlength=count * grid.size
        ).reshape(count, -1)
        at_risk = width - np.cumsum(total, axis=1) + total
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard = np.where(events > 0, events / at_risk, 0.0)
        kaplan_meier = 1.0 - np.cumprod(1.0 - hazard, axis=1)
        success = events > 0
        censored = total > events
        reached = success.any(axis=1)
        last_success = np.where(reached, grid.size - 1 - np.argmax(success[:, ::-1], axis=1), -1)
        first_censored = np.where(censored.any(axis=1), np.argmax(censored, axis=1), grid.size)
        plain = (first_censored >= last_success)[:, None]
        probability = np.where(plain, np.cumsum(events, axis=1) / width, kaplan_meier)
        # Where a resample has no success so far, P = 0 and the cost is not used: no warnings.
        with np.errstate(divide="ignore", invalid="ignore"):
            if statistic == "koza":
                return np.where(success, grid * _runs_needed(z, probability), np.inf).min(axis=1)
            survival_before = np.concatenate(
                (np.ones((count, 1)), 1.0 - probability[:, :-1]), axis=1
            )
            area = np.cumsum(np.diff(grid, prepend=0.0) * survival_before, axis=1)
            optimal = np.where(success, area / probability, np.inf).min(axis=1)
            if statistic == "expected":
                return optimal
            # l(horizon): the area to the last success, then flat survival up to the horizon.
            last = np.arange(count), np.maximum(last_success, 0)
            p_last = probability[last]
            single_run = (area[last] + (1.0 - p_last) * (self._horizon - grid[last[1]])) / p_last
            return np.where(reached, single_run / optimal, np.nan)


def check_measure(measure: str) -> str:
    """`measure` itself when it is one of `MEASURES`.

    Raises:
        ValueError: naming the allowed measures otherwise.
    """
    if measure not in MEASURES:
        raise ValueError(f"`measure` must be one of {MEASURES}, got {measure!r}")
    return measure


def measure_effort(
    distribution: RuntimeDistribution, measure: str = "expected", z: float = 0.99
) -> float:
    """The effort of `distribution` by the named measure, in gradient steps (`inf` if unreached).

    Args:
        distribution: the runtime distribution.
        measure: `"expected"`, `l(c*)`, the expected steps restarting at the optimal cutoff;
            or `"koza"`, Koza's computational effort at confidence `z`.
        z: the confidence of Koza's effort, in (0, 1).

    Raises:
        ValueError: for an unknown measure or a `z` outside (0, 1).
    """
    if check_measure(measure) == "koza":
        return distribution.koza_effort(z).steps
    return distribution.expected_steps()


def _runs_needed(z: float, probability: np.ndarray) -> np.ndarray:
    """Koza's R(z, i): independent runs needed for P(at least one success) >= z."""
    with np.errstate(divide="ignore"):
        ratio = math.log1p(-z) / np.log1p(-probability)  # 0 where P = 1
    return np.maximum(np.ceil(ratio * (1.0 - _CEIL_SLACK)), 1.0)


def _check_probability(value: float, name: str = "z") -> float:
    return real_in(name, value, 0.0, 1.0, low_open=True, high_open=True)


def _non_negative_array(value: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a number or an array of numbers, got {value!r}"
        ) from None
    if np.any(np.isnan(array)) or np.any(array < 0):
        raise ValueError(f"`{name}` must be non-negative and not NaN, got {value!r}")
    return array


def _parse_steps(steps: object) -> tuple[np.ndarray, np.ndarray]:
    """Return (reached mask, step values with NaN where None) after validating `steps`."""
    if isinstance(steps, (str, bytes)) or not isinstance(steps, (Sequence, np.ndarray)):
        raise ValueError(f"`steps` must be a sequence of ints or None, got {type(steps).__name__}")
    if isinstance(steps, np.ndarray) and steps.dtype != object:
        if steps.ndim != 1:
            raise ValueError(f"`steps` must be one-dimensional, got shape {steps.shape}")
        values = steps.astype(np.float64)
        reached = np.ones(len(values), dtype=bool)
    else:
        reached = np.array([s is not None for s in steps], dtype=bool)
        try:
            values = np.array([np.nan if s is None else s for s in steps], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("`steps` must hold ints or None") from None
        if values.ndim != 1:
            raise ValueError("`steps` must be a flat sequence of ints or None")
    if values.size == 0:
        raise ValueError("`steps` is empty: at least one run is needed")
    _check_counts(values[reached], "steps", "use None for a run that never reached the target")
    return reached, values


def _parse_budgets(budgets: object, runs: int) -> np.ndarray:
    """Return one budget per run, NaN where none was given."""
    if budgets is None:
        return np.full(runs, np.nan)
    if is_real(budgets):
        values = np.full(runs, float(budgets))
    elif isinstance(budgets, (Sequence, np.ndarray)) and not isinstance(budgets, (str, bytes)):
        try:
            values = np.array([np.nan if b is None else b for b in budgets], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("`budgets` must hold ints or None") from None
        if values.shape != (runs,):
            raise ValueError(f"`budgets` has {len(values)} entries but `steps` has {runs}")
    else:
        raise ValueError(f"`budgets` must be an int or a sequence of ints, got {budgets!r}")
    given = values[~np.isnan(values)]
    if isinstance(budgets, numbers.Real) and np.isnan(float(budgets)):
        raise ValueError("`budgets` is NaN; it must be a non-negative int")
    _check_counts(given, "budgets", "budgets are step counts")
    return values


def _check_counts(values: np.ndarray, name: str, hint: str) -> None:
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values))
    if np.any(bad):
        value = values[np.flatnonzero(bad)[0]]
        raise ValueError(f"`{name}` must be non-negative integers, got {value!r} ({hint})")
