"""Restart cutoff policies: how many steps each attempt may run before it is restarted.

Each policy is an iterator of cutoffs (positive ints). Policies that learn from the attempts
so far are told each attempt's result through `observe`. Pure Python: no Keras here.

- `FixedCutoff(steps)`: the same cutoff every time.
- `Luby(unit)`: 1, 1, 2, 1, 1, 2, 4, 1, 1, 2, ... times `unit`: within a logarithmic factor of
  the best fixed cutoff for any runtime distribution (Luby, Sinclair & Zuckerman 1993).
- `Geometric(first, factor)`: first, first * factor, first * factor^2, ...
- `EstimatedOptimal(unit)`: Luby until a few attempts have succeeded, then the cutoff `c*` that
  minimises the expected steps `l(c)` of the Kaplan-Meier estimate of the attempts so far,
  with Luby's cutoffs interleaved so that longer cutoffs keep being explored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from keras_effort.effort import RuntimeDistribution


def luby(index: int) -> int:
    """The `index`-th term (from 1) of Luby's universal sequence 1, 1, 2, 1, 1, 2, 4, ..."""
    if index < 1:
        raise ValueError(f"`index` must be >= 1, got {index!r}")
    while True:
        k = index.bit_length()
        if index == (1 << k) - 1:  # index = 2^k - 1: the term is 2^(k-1)
            return 1 << (k - 1)
        index -= (1 << (k - 1)) - 1  # otherwise repeat the sequence from the start


class RestartPolicy(Iterator[int]):
    """Base of cutoff policies: an iterator of cutoffs that may learn from attempts."""

    def observe(self, steps: int, reached: bool, cutoff: int) -> None:
        """Learn from one finished attempt; fixed policies ignore it.

        Args:
            steps: steps the attempt ran (its steps to target if `reached`).
            reached: whether it reached the target.
            cutoff: the cutoff it was given.
        """

    def __iter__(self) -> RestartPolicy:
        return self


class FixedCutoff(RestartPolicy):
    """Every attempt gets the same cutoff.

    Args:
        steps: the cutoff in gradient steps, >= 1.
    """

    def __init__(self, steps: int) -> None:
        self.steps = _positive_int(steps, "steps")

    def __next__(self) -> int:
        return self.steps

    def __repr__(self) -> str:
        return f"FixedCutoff({self.steps})"


class Luby(RestartPolicy):
    """Luby's universal restart sequence: 1, 1, 2, 1, 1, 2, 4, 1, 1, 2, ... times `unit`.

    Args:
        unit: steps of the shortest attempt, >= 1.

    Reference:
        Luby, Sinclair & Zuckerman, "Optimal speedup of Las Vegas algorithms", Information
        Processing Letters 47 (1993).
    """

    def __init__(self, unit: int) -> None:
        self.unit = _positive_int(unit, "unit")
        self._index = 0

    def __next__(self) -> int:
        self._index += 1
        return self.unit * luby(self._index)

    def __repr__(self) -> str:
        return f"Luby({self.unit})"


class Geometric(RestartPolicy):
    """Cutoffs growing geometrically: first, first * factor, first * factor^2, ...

    Args:
        first: the first cutoff, >= 1.
        factor: the growth factor, >= 1 (1 is a fixed cutoff).
    """

    def __init__(self, first: int, factor: float = 2.0) -> None:
        self.first = _positive_int(first, "first")
        if not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 1:
            raise ValueError(f"`factor` must be a finite number >= 1, got {factor!r}")
        self.factor = float(factor)
        self._next = float(self.first)

    def __next__(self) -> int:
        cutoff = math.ceil(self._next - 1e-9)
        self._next *= self.factor
        return cutoff

    def __repr__(self) -> str:
        return f"Geometric({self.first}, {self.factor:g})"


class EstimatedOptimal(RestartPolicy):
    """Restart at the estimated optimal cutoff `c*`, learning it from the attempts so far.

    Starts with Luby's sequence. Once `min_successes` attempts have reached the target, each
    cutoff is `c*` of the Kaplan-Meier estimate of all attempts (each censored at its own
    cutoff), except every `explore_every`-th attempt, which takes the next Luby cutoff: an
    estimate can only see up to the longest cutoff tried, and exploration keeps that horizon
    growing so a better, longer `c*` can still be found. The estimate converges to the true
    optimal cutoff as attempts accumulate.

    Args:
        unit: the Luby unit, >= 1.
        min_successes: successes needed before the estimate is used, >= 1.
        explore_every: every this many attempts, explore with Luby (>= 2).
    """

    def __init__(self, unit: int, min_successes: int = 3, explore_every: int = 4) -> None:
        self.unit = _positive_int(unit, "unit")
        self.min_successes = _positive_int(min_successes, "min_successes")
        self.explore_every = _positive_int(explore_every, "explore_every")
        if self.explore_every < 2:
            raise ValueError(f"`explore_every` must be >= 2, got {explore_every!r}")
        self._luby = Luby(unit)
        self._steps: list[int | None] = []
        self._budgets: list[int] = []
        self._issued = 0

    @property
    def estimate(self) -> int | None:
        """The current estimate of `c*`, or `None` before `min_successes` successes."""
        if sum(s is not None for s in self._steps) < self.min_successes:
            return None
        return RuntimeDistribution(self._steps, self._budgets).optimal_cutoff()

    def observe(self, steps: int, reached: bool, cutoff: int) -> None:
        self._steps.append(int(steps) if reached else None)
        self._budgets.append(int(cutoff) if not reached else max(int(cutoff), int(steps)))

    def __next__(self) -> int:
        self._issued += 1
        estimate = self.estimate
        if estimate is None or self._issued % self.explore_every == 0:
            return next(self._luby)
        return max(estimate, 1)

    def __repr__(self) -> str:
        return f"EstimatedOptimal({self.unit}, estimate={self.estimate})"


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1, got {value!r}")
    return value
