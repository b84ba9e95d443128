"""Effort against target: from metric curves of runs to one summary row per target.

The rows show the phase transition of Poli & Yilmaz: for modest targets one long run is as
cheap as any restart strategy ("single run"); near a model's accuracy limit, restarting short
attempts at the optimal cutoff is cheaper ("restarts"). The call is made on a bootstrap interval
of the restart gain `l(budget) / l(c*)`, so that a handful of runs near the boundary reads
"tie" rather than a verdict another set of seeds would overturn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_effort.arguments import non_negative_int
from keras_effort.effort.distribution import RuntimeDistribution
from keras_effort.effort.target import meets, mode_direction

# One long run counts as the best strategy when it costs at most this much more than l(c*).
SINGLE_RUN_TOLERANCE = 0.05
# The coverage of the restart gain's bootstrap interval on which the regime is called.
REGIME_LEVEL = 0.95

Curve = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]


@dataclass(frozen=True)
class EffortSummary:
    """Effort to one target, summarised over runs.

    Attributes:
        target: the metric value to reach.
        runs: the number of runs.
        success_rate: the fraction of runs that reached the target.
        median_steps: the step by which half the runs are estimated to succeed (`inf` if none).
        koza_effort: Koza's computational effort at confidence `z` (`inf` if no run succeeded).
        koza_runs: the independent runs `R(z, i)` behind Koza's effort.
        optimal_cutoff: the restart cutoff `c*` that minimises `l(c)`.
        expected_steps_optimal: `l(c*)`, the expected steps restarting at `c*`.
        budget: the longest budget (the horizon), the length of "one long run".
        expected_steps_single_run: `l(budget)`, the expected steps of one long run restarted
            only when it fails (COCO's aRT when budgets are equal).
        regime: `"restarts"` when restarting at `c*` beats one long run by more than 5%
            (`restart_gain` > 1.05) over the whole 95% bootstrap interval, `"single run"`
            when the whole interval is within 5% (one long run is as cheap), `"tie"` when
            the interval straddles 1.05 (these runs cannot tell), `"unreached"` when no run
            reached the target. Without a bootstrap the point estimate decides.
        successes: the number of runs that reached the target; the estimates rest on them.
        z: the confidence of Koza's effort.
        restart_gain: `l(budget) / l(c*)`, how many times more one long run costs than
            restarting at `c*` (at least 1; `nan` when unreached).
        restart_gain_interval: the 95% bootstrap interval of `restart_gain` over runs
            (`None` without a bootstrap); a resample with no success counts as anything
            from 1 to `inf`.
        censored_steps: the first and last step at which a run that did not reach the
            target was censored (`None` when every run reached it).
        censored_early: the runs censored before the horizon: they say nothing of the steps
            past their cutoff, where the estimates rest on the runs that went on.
    """

    target: float
    runs: int
    success_rate: float
    median_steps: float
    koza_effort: float
    koza_runs: int | None
    optimal_cutoff: int | None
    expected_steps_optimal: float
    budget: int
    expected_steps_single_run: float
    regime: str
    successes: int = 0
    z: float = 0.99
    restart_gain: float = math.nan
    restart_gain_interval: tuple[float, float] | None = None
    censored_steps: tuple[int, int] | None = None
    censored_early: int = 0

    @property
    def censored(self) -> int:
        """The runs that did not reach the target (censored at their budget)."""
        return self.runs - self.successes

    def as_dict(self) -> dict[str, object]:
        """The row as a plain dict (JSON-friendly apart from `inf`)."""
        return asdict(self)


def summarize(
    distribution: RuntimeDistribution,
    target: float,
    z: float = 0.99,
    n_boot: int = 1000,
    seed: int | None = 0,
) -> EffortSummary:
    """Summarise a runtime distribution as one row of an effort table.

    Args:
        distribution: the runs' steps-to-target.
        target: the target the steps refer to (recorded in the row).
        z: the confidence of Koza's effort, in (0, 1).
        n_boot: bootstrap resamples of the restart gain on which the regime is called; 0
            calls it on the point estimate alone.
        seed: seed of the resampling (the same seed gives the same row).

    Returns:
        The `EffortSummary` row.

    Raises:
        ValueError: if `n_boot` is not an int >= 0.
    """
    non_negative_int("n_boot", n_boot)
    koza = distribution.koza_effort(z)
    censored = distribution.censoring_steps()
    optimal = distribution.expected_steps()
    single_run = distribution.expected_steps(distribution.horizon)
    gain = restart_gain(distribution)
    interval = None
    if math.isinf(optimal):
        regime = "unreached"
    else:
        if n_boot:
            interval = _restart_gain_interval(distribution, n_boot, seed)
        low, high = interval or (gain, gain)
        if low > 1.0 + SINGLE_RUN_TOLERANCE:
            regime = "restarts"
        elif high <= 1.0 + SINGLE_RUN_TOLERANCE:
            regime = "single run"
        else:
            regime = "tie"
    return EffortSummary(
        target=float(target),
        runs=distribution.runs,
        success_rate=distribution.success_rate,
        median_steps=distribution.median_steps(),
        koza_effort=koza.steps,
        koza_runs=koza.runs,
        optimal_cutoff=distribution.optimal_cutoff(),
        expected_steps_optimal=optimal,
        budget=distribution.horizon,
        expected_steps_single_run=single_run,
        regime=regime,
        successes=distribution.successes,
        z=z,
        restart_gain=gain,
        restart_gain_interval=interval,
        censored_steps=(int(censored[0]), int(censored[-1])) if censored.size else None,
        censored_early=int((censored < distribution.horizon).sum()),
    )


def restart_gain(distribution: RuntimeDistribution) -> float:
    """`l(budget) / l(c*)`: how many times more one long run costs than restarting at `c*`.

    Args:
        distribution: the runs' steps-to-target.

    Returns:
        The ratio, at least 1 (past the last success `l(c)` only grows); `nan` when no run
        reached the target.
    """
    optimal = distribution.expected_steps()
    if math.isinf(optimal):
        return math.nan
    return distribution.expected_steps(distribution.horizon) / optimal


def _restart_gain_interval(
    distribution: RuntimeDistribution, n_boot: int, seed: int | None
) -> tuple[float, float]:
    gains = distribution.bootstrap("restart_gain", n_boot, seed)
    tail = (1.0 - REGIME_LEVEL) / 2.0
    # A resample with no success says nothing: it stretches the interval both ways.
    low = np.quantile(np.where(np.isnan(gains), 1.0, gains), tail, method="lower")
    high = np.quantile(np.where(np.isnan(gains), math.inf, gains), 1.0 - tail, method="higher")
    return float(low), float(high)


def steps_to_target(
    steps: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    target: float,
    mode: str = "max",
) -> int | None:
    """The first step of a metric curve at which the target is reached.

    Args:
        steps: the gradient steps at which the metric was measured, increasing.
        values: the metric values at those steps.
        target: the value to reach.
        mode: `"max"` when larger values are better (accuracy), `"min"` for losses.

    Returns:
        The first step with `value >= target` (`<=` for `"min"`), or `None` if none.
    """
    steps_array, values_array = _check_curve(steps, values)
    hits = _reaches(values_array, target, mode)
    return int(steps_array[hits.argmax()]) if hits.any() else None


def effort_table(
    curves: Sequence[Curve],
    targets: Sequence[float],
    *,
    mode: str = "max",
    budgets: int | Sequence[int] | None = None,
    z: float = 0.99,
    n_boot: int = 1000,
) -> list[EffortSummary]:
    """Effort to each target from the metric curves of independent runs.

    Args:
        curves: one `(steps, values)` pair per run; runs may have different lengths.
        targets: the metric values to summarise, each giving one row.
        mode: `"max"` when larger metric values are better, `"min"` otherwise.
        budgets: the steps each run was allowed (one int, or one per run); by default the last
            step of each run's curve.
        z: the confidence of Koza's effort, in (0, 1).
        n_boot: bootstrap resamples on which each row's regime is called (see `summarize`).

    Returns:
        One `EffortSummary` per target, in the order given.
    """
    distributions = runtime_distributions(curves, targets, mode=mode, budgets=budgets)
    return [
        summarize(distribution, target, z, n_boot)
        for target, distribution in zip(targets, distributions, strict=True)
    ]


def runtime_distributions(
    curves: Sequence[Curve],
    targets: Sequence[float],
    *,
    mode: str = "max",
    budgets: int | Sequence[int] | None = None,
) -> list[RuntimeDistribution]:
    """The runtime distribution of steps to each target, from the metric curves of runs.

    Args:
        curves: one `(steps, values)` pair per run; runs may have different lengths.
        targets: the metric values to reach, each giving one distribution.
        mode: `"max"` when larger metric values are better, `"min"` otherwise.
        budgets: the steps each run was allowed (one int, or one per run); by default the last
            step of each run's curve.

    Returns:
        One `RuntimeDistribution` per target, in the order given.
    """
    if len(curves) == 0:
        raise ValueError("`curves` is empty: at least one run is needed")
    if len(targets) == 0:
        raise ValueError("`targets` is empty: give at least one target")
    checked = [_check_curve(steps, values, index) for index, (steps, values) in enumerate(curves)]
    if budgets is None:
        budgets = [int(steps[-1]) for steps, _ in checked]
    distributions = []
    for target in targets:
        if not math.isfinite(target):
            raise ValueError(f"`targets` must be finite numbers, got {target!r}")
        reached_at = []
        for steps, values in checked:
            hits = _reaches(values, target, mode)
            reached_at.append(int(steps[hits.argmax()]) if hits.any() else None)
        distributions.append(RuntimeDistribution(reached_at, budgets))
    return distributions


def _reaches(values: np.ndarray, target: float, mode: str) -> np.ndarray:
    direction = mode_direction(mode)
    if direction is None:
        raise ValueError(f"`mode` must be 'max' or 'min', got {mode!r}")
    return meets(values, target, direction)


def _check_curve(
    steps: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    index: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    where = "" if index is None else f" of curve {index}"
    steps_array = np.asarray(steps, dtype=np.float64)
    values_array = np.asarray(values, dtype=np.float64)
    if steps_array.ndim != 1 or steps_array.shape != values_array.shape or steps_array.size == 0:
        raise ValueError(
            f"`steps` and `values`{where} must be non-empty 1-D arrays of one length, got "
            f"shapes {steps_array.shape} and {values_array.shape}"
        )
    if np.any(~np.isfinite(steps_array)) or np.any(steps_array < 0):
        raise ValueError(f"`steps`{where} must be finite and non-negative")
    if np.any(np.diff(steps_array) <= 0):
        raise ValueError(f"`steps`{where} must be strictly increasing")
    return steps_array, values_array
