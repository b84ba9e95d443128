"""Restart cutoff policies, without Keras."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import Attempt
from keras_effort.restarts import (
    EstimatedOptimal,
    FixedCutoff,
    Geometric,
    Luby,
    luby,
)


def luby_by_definition(i: int) -> int:
    """Luby et al.'s recursive definition, transcribed."""
    k = 1
    while (1 << k) - 1 < i:
        k += 1
    if i == (1 << k) - 1:
        return 1 << (k - 1)
    return luby_by_definition(i - (1 << (k - 1)) + 1)


def test_luby_sequence():
    assert [luby(i) for i in range(1, 16)] == [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]
    assert [luby(i) for i in range(1, 600)] == [luby_by_definition(i) for i in range(1, 600)]
    assert list(itertools.islice(Luby(50), 7)) == [50, 50, 100, 50, 50, 100, 200]


def test_fixed_and_geometric():
    assert list(itertools.islice(FixedCutoff(30), 3)) == [30, 30, 30]
    assert list(itertools.islice(Geometric(10, 1.5), 5)) == [10, 15, 23, 34, 51]
    assert list(itertools.islice(Geometric(10, 2), 4)) == [10, 20, 40, 80]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FixedCutoff(0), "`steps` must be an integer >= 1, got 0"),
        (lambda: Luby(2.5), "`unit` must be an integer >= 1, got 2.5"),
        (lambda: Geometric(10, 0.5), "`factor` must be a finite number >= 1, got 0.5"),
        (lambda: Geometric(0), "`first`"),
        (
            lambda: EstimatedOptimal(10, explore_every=1),
            "`explore_every` must be an integer >= 2, got 1",
        ),
        (lambda: EstimatedOptimal(10, min_successes=0), "`min_successes`"),
        (lambda: luby(0), "`index` must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def _draw_steps(rng: np.random.Generator, n: int) -> np.ndarray:
    """A bimodal runtime distribution: 30% of runs succeed near step 100, the rest take ~20000."""
    fast = rng.random(n) < 0.3
    return np.where(fast, rng.normal(100, 8, n), rng.lognormal(np.log(20000), 0.5, n)).round()


def test_estimated_optimal_converges_to_the_true_optimal_cutoff():
    rng = np.random.default_rng(0)
    population = _draw_steps(rng, 400_000).astype(int)
    truth = RuntimeDistribution(population.tolist())
    true_cutoff = truth.optimal_cutoff()
    true_cost = truth.expected_steps()
    assert 100 < true_cutoff < 140  # the fast mode, not one long run

    policy = EstimatedOptimal(unit=32)
    spent = 0
    for _ in range(3000):
        cutoff = next(policy)
        steps = int(_draw_steps(rng, 1)[0])
        reached = steps <= cutoff
        spent += min(steps, cutoff)
        spent_here = steps if reached else cutoff
        policy.observe(Attempt("e", "m", 0.5, steps=spent_here, reached=reached, budget=cutoff))
    estimate = policy.estimate
    # The learned cutoff is nearly as good as the true optimum, judged on the true distribution.
    assert truth.expected_steps(estimate) <= 1.05 * true_cost
    assert abs(estimate - true_cutoff) <= 20


def test_estimated_optimal_explores_with_luby_before_and_between_estimates():
    policy = EstimatedOptimal(unit=10, min_successes=2, explore_every=3)
    assert [next(policy) for _ in range(3)] == [10, 10, 20]  # no successes yet: Luby
    policy.observe(Attempt("e", "m", 0.5, steps=5, reached=True, budget=10))
    policy.observe(Attempt("e", "m", 0.5, steps=7, reached=True, budget=10))
    policy.observe(Attempt("e", "m", 0.5, steps=20, reached=False, budget=20))
    assert policy.estimate == 7
    cutoffs = [next(policy) for _ in range(6)]
    # Attempts 4..9: every third (6 and 9) explores with the next Luby terms 10 and 10.
    assert cutoffs == [7, 7, 10, 7, 7, 10]
