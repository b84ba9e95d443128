"""The pure rules of the effort oracle: designs, main effects, scores, ranking, promotion."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from keras_effort.tuners import designs


@pytest.mark.parametrize(
    ("factors", "fraction"), [(k, 0) for k in range(1, 8)] + list(designs.GENERATORS)
)
def test_designs_are_balanced_and_orthogonal(factors: int, fraction: int) -> None:
    design = designs.fractional_factorial(factors, fraction)
    assert design.shape == (2 ** (factors - fraction), factors)
    assert set(np.unique(design)) == {-1, 1}
    # Every column has as many runs at each level, and main-effect columns are orthogonal.
    assert (design.sum(axis=0) == 0).all()
    assert (design.T @ design == len(design) * np.eye(factors)).all()
    # No run repeats.
    assert len({tuple(row) for row in design}) == len(design)


def test_full_factorial_holds_every_combination_in_yates_order() -> None:
    design = designs.fractional_factorial(3)
    assert {tuple(row) for row in design} == set(itertools.product((-1, 1), repeat=3))
    assert design[:, 0].tolist() == [-1, 1, -1, 1, -1, 1, -1, 1]
    assert design[:, 2].tolist() == [-1, -1, -1, -1, 1, 1, 1, 1]


def test_generated_columns_are_products_of_base_columns() -> None:
    design = designs.fractional_factorial(5, 2)  # D = AB, E = AC
    a, b, c, d, e = design.T
    assert (d == a * b).all()
    assert (e == a * c).all()
    half = designs.fractional_factorial(5, 1)  # E = ABCD: resolution V, 16 of 32 runs
    assert len(half) == 16
    assert (half[:, 4] == half[:, :4].prod(axis=1)).all()


@pytest.mark.parametrize(
    ("factors", "runs", "expected"),
    [
        (1, None, 2),
        (2, None, 4),
        (3, None, 4),
        (4, None, 8),
        (5, None, 8),
        (7, None, 8),
        (5, 9, 16),
        (5, 16, 16),
        (6, 20, 32),
        (3, 8, 8),
    ],
)
def test_screening_design_picks_the_smallest_standard_design(
    factors: int, runs: int | None, expected: int
) -> None:
    assert len(designs.screening_design(factors, runs)) == expected


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: designs.fractional_factorial(0), "factors"),
        (lambda: designs.fractional_factorial(8), "factors"),
        (lambda: designs.fractional_factorial(4, 2), "fraction"),
        (lambda: designs.screening_design(3, 9), "runs"),
        (lambda: designs.promote([(0.0, 1.0)], [(1.0, 2.0)], 0), "limit"),
    ],
)
def test_bad_arguments_are_named(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()


def test_main_effects_recover_a_linear_response_exactly() -> None:
    design = designs.fractional_factorial(5, 2)
    coefficients = np.array([3.0, -2.0, 0.0, 0.5, -1.0])
    responses = 10.0 + design @ coefficients
    # An effect is the difference between the two level means: twice the coefficient.
    np.testing.assert_allclose(designs.main_effects(design, responses), 2 * coefficients)


def test_main_effects_of_a_factor_seen_at_one_level_are_unknown() -> None:
    design = np.array([[1, -1], [1, 1]])
    effects = designs.main_effects(design, [1.0, 3.0])
    assert math.isnan(effects[0])
    assert effects[1] == 2.0  # 3 at the high level minus 1 at the low


def test_main_effects_reject_infinite_responses() -> None:
    with pytest.raises(ValueError, match="finite"):
        designs.main_effects(np.array([[1], [-1]]), [1.0, math.inf])


def test_predicted_levels_follow_negative_effects_and_fall_back_when_undecided() -> None:
    levels = designs.predicted_best_levels(np.array([-1.5, 2.0, 0.0, np.nan]), [1, 1, -1, 1])
    assert levels.tolist() == [1, -1, -1, 1]


def test_ranking_puts_reached_by_effort_then_unreached_by_closeness() -> None:
    keys = {
        "fast": designs.ranking_key(100.0, 0.95, "up"),
        "slow": designs.ranking_key(900.0, 0.99, "up"),
        "close": designs.ranking_key(math.inf, 0.85, "up"),
        "far": designs.ranking_key(math.inf, 0.40, "up"),
        "unmeasured": designs.ranking_key(math.inf, None, "up"),
    }
    assert sorted(keys, key=keys.get) == ["fast", "slow", "close", "far", "unmeasured"]
    # For a loss, smaller best values are closer.
    assert designs.ranking_key(math.inf, 0.2, "down") < designs.ranking_key(math.inf, 0.5, "down")


def test_ranks_average_ties() -> None:
    keys = [(0.0, 5.0), (1.0, -0.5), (0.0, 5.0), (0.0, 1.0)]
    assert designs.ranks(keys).tolist() == [2.5, 4.0, 2.5, 1.0]


def test_promotion_keeps_anchors_whose_interval_overlaps_the_best() -> None:
    keys = [(0.0, 300.0), (0.0, 200.0), (0.0, 260.0), (1.0, -0.8)]
    intervals = [(250.0, 400.0), (150.0, 240.0), (241.0, 500.0), (math.inf, math.inf)]
    # Best is anchor 1 (interval up to 240): anchor 0 starts at 250 (no overlap), anchor 2 at 241.
    assert designs.promote(keys, intervals, limit=3) == [1]
    intervals[2] = (230.0, 500.0)
    assert designs.promote(keys, intervals, limit=3) == [1, 2]
    assert designs.promote(keys, intervals, limit=1) == [1]


def test_promotion_when_no_anchor_reached_takes_only_the_closest() -> None:
    keys = [(1.0, -0.6), (1.0, -0.7)]
    assert designs.promote(keys, [(math.inf, math.inf)] * 2, limit=2) == [1]
    assert designs.promote([], [], limit=2) == []
