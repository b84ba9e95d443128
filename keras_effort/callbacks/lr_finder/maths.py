"""The range test's loss maths: the smoothed loss and the rates read off it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_effort.arguments import real_in


def smooth_losses(losses: Sequence[float] | np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Exponential moving average of losses with bias correction, as fastai's range test.

    `average_i = beta * average_{i-1} + (1 - beta) * loss_i` starting from 0, reported as
    `average_i / (1 - beta ** (i + 1))` so that the early values are not pulled towards 0. Once a
    loss is NaN or infinite, every later smoothed value is too.

    Args:
        losses: the losses of consecutive steps.
        beta: the weight of the past, in [0, 1).

    Returns:
        The smoothed losses, float64, same length as `losses`.

    Raises:
        ValueError: if `beta` is outside [0, 1).
    """
    real_in("beta", beta, 0.0, 1.0, high_open=True)
    losses = np.asarray(losses, dtype=np.float64)
    smoothed = np.empty_like(losses)
    average = 0.0
    for i, loss in enumerate(losses):
        average = beta * average + (1.0 - beta) * loss
        smoothed[i] = average / (1.0 - beta ** (i + 1))
    return smoothed


def suggest_learning_rates(
    learning_rates: Sequence[float] | np.ndarray,
    smoothed_losses: Sequence[float] | np.ndarray,
    safety_factor: float = 10.0,
) -> tuple[float | None, float | None]:
    """Suggestions from a range-test curve: steepest descent and edge of stability.

    Only the points before the first non-finite smoothed loss count.

    - Steepest: the rate where the smoothed loss falls fastest per unit of log rate, that is the
      left end of the most negative `diff(loss) / diff(log(rate))`, searched up to the lowest
      loss and skipping the first tenth of the curve, where the bias-corrected average still
      rests on few losses (fastai's convention). `None` when the loss never falls there.
    - Edge of stability: the rate at the lowest smoothed loss, the largest rate at which the
      loss still improved before it turned up, divided by `safety_factor` (fastai's "minimum"
      suggestion for a factor of 10).

    Args:
        learning_rates: increasing rates, one per step.
        smoothed_losses: the smoothed loss at each rate (see `smooth_losses`).
        safety_factor: the edge-of-stability divisor, >= 1.

    Returns:
        `(steepest, edge_of_stability)`, each a float or `None` when the curve has no finite
        loss (or, for steepest, no descent).

    Raises:
        ValueError: if the arrays differ in length or `safety_factor` is below 1.
    """
    real_in("safety_factor", safety_factor, 1.0)
    rates = np.asarray(learning_rates, dtype=np.float64)
    losses = np.asarray(smoothed_losses, dtype=np.float64)
    if rates.shape != losses.shape or rates.ndim != 1:
        raise ValueError(
            "`learning_rates` and `smoothed_losses` must be 1-D of the same length, got shapes "
            f"{rates.shape} and {losses.shape}"
        )
    non_finite = np.flatnonzero(~np.isfinite(losses))
    usable = int(non_finite[0]) if non_finite.size else losses.size
    if usable == 0:
        return None, None
    lowest = int(np.argmin(losses[:usable]))
    edge_of_stability = float(rates[lowest] / safety_factor)

    first = usable // 10
    if lowest - first < 1:
        return None, edge_of_stability
    window = slice(first, lowest + 1)
    slopes = np.diff(losses[window]) / np.diff(np.log(rates[window]))
    steepest_index = int(np.argmin(slopes))
    steepest = float(rates[first + steepest_index]) if slopes[steepest_index] < 0 else None
    return steepest, edge_of_stability
