"""Performance profiles: how often each experiment's effort is within a factor of the best.

For targets `t` and experiments `e` with efforts `E[e, t]`, the performance ratio is
`r[e, t] = E[e, t] / min_e' E[e', t]`, and the profile of `e` is the fraction of targets with
`r[e, t] <= tau` (Dolan & Moré 2002; the MLCommons AlgoPerf benchmark scores training
algorithms this way, with time to a validation target as the effort). An experiment that never
reached a target has an infinite ratio there, as do all experiments at a target none reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def performance_ratios(efforts: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Each experiment's effort over the best effort, target by target.

    Args:
        efforts: per experiment, its effort at each target (the same targets, in the same
            order, for every experiment); `inf` where it did not reach the target.

    Returns:
        Per experiment, the ratios `r[e, t] >= 1`; `inf` where the experiment, or every
        experiment, did not reach the target.

    Raises:
        ValueError: when `efforts` is empty, the experiments have different numbers of
            targets, or an effort is negative or NaN.
    """
    if not efforts:
        raise ValueError("`efforts` is empty: give at least one experiment")
    names = list(efforts)
    try:
        rows = [np.asarray(efforts[name], dtype=np.float64) for name in names]
    except (TypeError, ValueError):
        raise ValueError("`efforts` must map each experiment to a sequence of numbers") from None
    if len({row.shape for row in rows}) != 1 or rows[0].ndim != 1 or rows[0].size == 0:
        raise ValueError(
            "`efforts` must give every experiment a non-empty sequence of efforts, one per "
            "target, of one length"
        )
    matrix = np.stack(rows)
    if np.any(np.isnan(matrix)) or np.any(matrix < 0):
        raise ValueError("`efforts` must be non-negative numbers or inf, not NaN")
    best = matrix.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.isinf(matrix), np.inf, matrix / best)
    ratios[:, best == 0] = np.where(matrix[:, best == 0] == 0, 1.0, np.inf)
    return dict(zip(names, ratios, strict=True))


def performance_profile(
    efforts: Mapping[str, Sequence[float]], taus: Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """The fraction of targets each experiment reaches within `tau` times the best effort.

    Args:
        efforts: per experiment, its effort at each target, as in `performance_ratios`.
        taus: the factors at which to evaluate the profile, each at least 1.

    Returns:
        Per experiment, `rho(tau)` for each `tau`: an array of fractions in [0, 1].

    Raises:
        ValueError: as `performance_ratios`, or when a `tau` is below 1 or NaN.
    """
    taus = np.asarray(taus, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0 or np.any(np.isnan(taus)) or np.any(taus < 1.0):
        raise ValueError(f"`taus` must be a non-empty 1-D sequence of numbers >= 1, got {taus!r}")
    return {
        name: (ratios[None, :] <= taus[:, None]).mean(axis=1)
        for name, ratios in performance_ratios(efforts).items()
    }


def profile_score(
    efforts: Mapping[str, Sequence[float]], tau_max: float = 4.0
) -> dict[str, float]:
    """The AlgoPerf-style score: the area under each profile over `tau` in [1, tau_max].

    The profile `rho(tau)` is a step function of the ratios, so the area is exact: a target
    reached at ratio `r <= tau_max` adds `(tau_max - r)` to the integral, one missed or
    reached beyond `tau_max` adds nothing. Divided by `tau_max - 1` and the number of targets,
    the score is in [0, 1]: 1 when an experiment is the fastest at every target, 0 when it is
    never within `tau_max` times the fastest.

    Args:
        efforts: per experiment, its effort at each target, as in `performance_ratios`.
        tau_max: the largest factor of the best effort that still counts (AlgoPerf: 4).

    Returns:
        Per experiment, its score in [0, 1].

    Raises:
        ValueError: as `performance_ratios`, or for a `tau_max` that is not a number > 1.
    """
    if not isinstance(tau_max, (int, float)) or not 1.0 < tau_max < np.inf:
        raise ValueError(f"`tau_max` must be a finite number > 1, got {tau_max!r}")
    return {
        name: float(np.mean(np.clip(tau_max - ratios, 0.0, None)) / (tau_max - 1.0))
        for name, ratios in performance_ratios(efforts).items()
    }
