"""Effort against target: from metric curves of runs to one summary row per target.

The rows show the phase transition of Poli & Yilmaz: for modest targets one long run is as
cheap as any restart strategy ("single run"); near a model's accuracy limit, restarting short
attempts at the optimal cutoff is cheaper ("restarts").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_effort.effort.distribution import RuntimeDistribution
from keras_effort.effort.target import meets, mode_direction

# One long run counts as the best strategy when it costs at most this much more than l(c*).
SINGLE_RUN_TOLERANCE = 0.05

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
        regime: `"single run"` when `l(budget)` is within 5% of `l(c*)`, `"restarts"` when
            restarting at `c*` is cheaper, `"unreached"` when no run reached the target.
        successes: the number of runs that reached the target; the estimates rest on them.
        z: the confidence of Koza's effort.
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
    censored_steps: tuple[int, int] | None = None
    censored_early: int = 0

    @property
    def censored(self) -> int:
        """The runs that did not reach the target (censored at their budget)."""
        return self.runs - self.successes

    def as_dict(self) -> dict[str, object]:
        """The row as a plain dict (JSON-friendly apart from `inf`)."""
        return asdict(self)


def summarize(distribution: RuntimeDistribution, target: float, z: float = 0.99) -> EffortSummary:
    """Summarise a runtime distribution as one row of an effort table.

    Args:
        distribution: the runs' steps-to-target.
        target: the target the steps refer to (recorded in the row).
        z: the confidence of Koza's effort, in (0, 1).

    Returns:
        The `EffortSummary` row.
    """
    koza = distribution.koza_effort(z)
    censored = distribution.censoring_steps()
    optimal = distribution.expected_steps()
    single_run = distribution.expected_steps(distribution.horizon)
    if math.isinf(optimal):
        regime = "unreached"
    elif single_run <= (1.0 + SINGLE_RUN_TOLERANCE) * optimal:
        regime = "single run"
    else:
        regime = "restarts"
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
        censored_steps=(int(censored[0]), int(censored[-1])) if censored.size else None,
        censored_early=int((censored < distribution.horizon).sum()),
    )


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
) -> list[EffortSummary]:
    """Effort to each target from the metric curves of independent runs.

    Args:
        curves: one `(steps, values)` pair per run; runs may have different lengths.
        targets: the metric values to summarise, each giving one row.
        mode: `"max"` when larger metric values are better, `"min"` otherwise.
        budgets: the steps each run was allowed (one int, or one per run); by default the last
            step of each run's curve.
        z: the confidence of Koza's effort, in (0, 1).

    Returns:
        One `EffortSummary` per target, in the order given.
    """
    distributions = runtime_distributions(curves, targets, mode=mode, budgets=budgets)
    return [
        summarize(distribution, target, z)
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
