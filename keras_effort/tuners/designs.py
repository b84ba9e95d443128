"""The pure rules behind `EffortOracle`: two-level designs, main effects, ranking, promotion.

Nothing here imports Keras or KerasTuner, so every rule the oracle follows is tested on plain
numbers. All effort arithmetic comes from `keras_effort.effort`.

Two-level fractional-factorial designs are coded `-1` (low level) and `+1` (high level). A
`2^(k-p)` design runs a full factorial in the first `k - p` *base* factors and sets each of the
other `p` factors to a product of base columns, its *generator*. The generators are the standard
minimum-aberration ones (Box, Hunter & Hunter, *Statistics for Experimenters*, table 6.22).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from keras_effort.arguments import integer, positive_int

MAX_FACTORS = 7

# Generators of the standard 2^(k-p) designs, keyed by (k, p): each string names the base factors
# (A, B, C, ...) whose product gives one added factor.
GENERATORS: dict[tuple[int, int], tuple[str, ...]] = {
    (3, 1): ("AB",),
    (4, 1): ("ABC",),
    (5, 1): ("ABCD",),
    (5, 2): ("AB", "AC"),
    (6, 1): ("ABCDE",),
    (6, 2): ("ABC", "BCD"),
    (6, 3): ("AB", "AC", "BC"),
    (7, 1): ("ABCDEF",),
    (7, 2): ("ABCD", "ABDE"),
    (7, 3): ("ABC", "BCD", "ACD"),
    (7, 4): ("AB", "AC", "BC", "ABC"),
}


def fractional_factorial(factors: int, fraction: int = 0) -> np.ndarray:
    """The standard two-level `2^(factors - fraction)` design.

    Rows are runs in standard (Yates) order of the base factors: the first column alternates
    fastest. Added columns are the products of base columns named by `GENERATORS`.

    Args:
        factors: the number of factors `k`, 1 to 7.
        fraction: `p`, how many factors are aliased with interactions; `0` is the full
            factorial. `(k, p)` must be a design listed in `GENERATORS` when `p > 0`.

    Returns:
        An int array of shape `(2 ** (k - p), k)` with entries `-1` and `+1`.

    Raises:
        ValueError: if `factors` is outside 1..7 or no standard design has that fraction.
    """
    factors = integer("factors", factors, 1, MAX_FACTORS)
    if fraction != 0 and (factors, fraction) not in GENERATORS:
        allowed = sorted(p for k, p in GENERATORS if k == factors)
        raise ValueError(
            f"`fraction` must be 0 or one of {allowed} for {factors} factors, got {fraction!r}"
        )
    base = factors - fraction
    runs = 2**base
    index = np.arange(runs)
    columns = [np.where((index >> j) & 1, 1, -1) for j in range(base)]
    for generator in GENERATORS.get((factors, fraction), ()):
        columns.append(np.prod([columns[ord(letter) - ord("A")] for letter in generator], axis=0))
    return np.stack(columns, axis=1).astype(np.int64)


def screening_design(factors: int, runs: int | None = None) -> np.ndarray:
    """The smallest standard two-level design for `factors` factors with at least `runs` runs.

    By default the smallest design in which every main effect is estimable: `2 ** ceil(log2(k +
    1))` runs (resolution III for 3, 5, 6 and 7 factors; a full factorial for 1 and 2 factors,
    resolution IV for 4).

    Args:
        factors: the number of factors, 1 to 7.
        runs: the minimum number of runs; at most the full factorial `2 ** factors`.

    Returns:
        The design, as `fractional_factorial` returns it.

    Raises:
        ValueError: if `factors` is outside 1..7 or `runs` exceeds the full factorial.
    """
    factors = integer("factors", factors, 1, MAX_FACTORS)
    minimum = 2 ** math.ceil(math.log2(factors + 1)) if factors > 1 else 2
    if runs is None:
        runs = minimum
    runs = integer("runs", runs, 1, 2**factors)  # at most every level combination
    for fraction in range(factors, -1, -1):
        size = 2 ** (factors - fraction)
        if size >= max(runs, minimum) and (fraction == 0 or (factors, fraction) in GENERATORS):
            return fractional_factorial(factors, fraction)
    return fractional_factorial(factors)  # unreachable: the full factorial always qualifies


def main_effects(design: np.ndarray, responses: Sequence[float] | np.ndarray) -> np.ndarray:
    """Main effect of each factor: mean response at its high level minus at its low level.

    Args:
        design: coded runs, shape `(runs, factors)`, entries `-1`/`+1` (rows may be missing
            from a full design, e.g. for failed runs).
        responses: one finite response per run.

    Returns:
        One effect per factor; `nan` for a factor not observed at both levels.

    Raises:
        ValueError: on mismatched shapes, codes other than -1/+1 or non-finite responses.
    """
    design = np.asarray(design)
    y = np.asarray(responses, dtype=np.float64)
    if design.ndim != 2 or y.shape != (design.shape[0],):
        raise ValueError(
            f"`design` must be (runs, factors) and `responses` (runs,), got {design.shape} "
            f"and {y.shape}"
        )
    if not np.isin(design, (-1, 1)).all():
        raise ValueError("`design` must hold only -1 and +1")
    if not np.isfinite(y).all():
        raise ValueError("`responses` must be finite (rank unreached runs instead)")
    effects = np.full(design.shape[1], np.nan)
    for j in range(design.shape[1]):
        high, low = y[design[:, j] == 1], y[design[:, j] == -1]
        if high.size and low.size:
            effects[j] = high.mean() - low.mean()
    return effects


def predicted_best_levels(effects: np.ndarray, fallback: Sequence[int]) -> np.ndarray:
    """The level of each factor that the main effects predict gives the smallest response.

    Args:
        effects: main effects on a response where smaller is better.
        fallback: the levels to keep where an effect is zero or unknown (`nan`), e.g. the
            best screened run's levels.

    Returns:
        Coded levels, `-1` or `+1` per factor.
    """
    effects = np.asarray(effects, dtype=np.float64)
    fallback = np.asarray(fallback, dtype=np.int64)
    decided = np.isfinite(effects) & (effects != 0)
    return np.where(decided, np.where(effects < 0, 1, -1), fallback).astype(np.int64)


def analyse_screens(
    coded: Sequence[Sequence[int]], keys: Iterable[tuple[float, float]]
) -> tuple[list[int], list[float], list[int]]:
    """What the screens say: their order, each factor's main effect, the predicted best row.

    Main effects are estimated on the screens' ranks (`ranks` of their `ranking_key`s), which
    are finite whether a screen reached the target or not.

    Args:
        coded: each screen's coded levels, shape `(screens, factors)`.
        keys: each screen's `ranking_key`.

    Returns:
        `(order, effects, levels)`: screen indices best first, the main effect per factor
        (`nan` where unobserved), and the levels the effects predict best (`predicted_best_levels`,
        with the best screen's levels where an effect says nothing).
    """
    coded, keys = np.asarray(coded), list(keys)
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    effects = main_effects(coded, ranks(keys))
    levels = predicted_best_levels(effects, fallback=coded[order[0]])
    return order, [float(e) for e in effects], levels.tolist()


def ranking_key(score: float, best_value: float | None, direction: str) -> tuple[float, float]:
    """Sort key ranking trials: reached ones by effort, then the others by how close they came.

    Args:
        score: the trial's effort (`inf` when it never reached the target).
        best_value: the best monitored value over its executions (`None` if never measured).
        direction: `"up"` when larger metric values are better, `"down"` otherwise.

    Returns:
        A tuple that sorts ascending from best to worst.
    """
    if math.isfinite(score):
        return (0.0, score)
    if best_value is None or not math.isfinite(best_value):
        return (2.0, 0.0)
    return (1.0, -best_value if direction == "up" else best_value)


def ranks(keys: Sequence[tuple[float, float]]) -> np.ndarray:
    """Ranks (1 = best) of sort keys, ties sharing their average rank."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    result = np.empty(len(keys))
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and keys[order[end + 1]] == keys[order[start]]:
            end += 1
        result[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return result


def promote(
    keys: Sequence[tuple[float, float]],
    intervals: Sequence[tuple[float, float]],
    limit: int,
) -> list[int]:
    """The promotion rule from anchors to the bridge, fixed in advance.

    The best anchor (smallest ranking key) is always promoted. Another anchor is promoted when
    it reached the target and its confidence interval for the effort overlaps the best
    anchor's, i.e. the anchors cannot be told apart at that confidence; when the best anchor
    never reached the target, no other anchor is promoted. At most `limit` anchors are
    promoted, best first.

    Args:
        keys: each anchor's `ranking_key`.
        intervals: each anchor's `(low, high)` confidence interval of its effort.
        limit: the most anchors to promote, at least 1.

    Returns:
        Indices of the promoted anchors, best first.
    """
    if len(keys) != len(intervals):
        raise ValueError("`keys` and `intervals` must have one entry per anchor")
    limit = positive_int("limit", limit)
    if not keys:
        return []
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    best = order[0]
    promoted = [best]
    if keys[best][0] != 0.0:
        return promoted
    _, best_high = intervals[best]
    for index in order[1:]:
        low, _ = intervals[index]
        if keys[index][0] == 0.0 and low <= best_high and len(promoted) < limit:
            promoted.append(index)
    return promoted
