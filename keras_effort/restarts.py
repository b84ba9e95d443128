"""Restart cutoff policies: how many steps each attempt may run before it is restarted.

Each policy is an iterator of cutoffs (positive ints). Policies that learn from the attempts
so far are told each finished attempt through `observe`. Pure Python: no Keras here.

- `FixedCutoff(steps)`: the same cutoff every time.
- `Luby(unit)`: 1, 1, 2, 1, 1, 2, 4, 1, 1, 2, ... times `unit`: within a logarithmic factor of
  the best fixed cutoff for any runtime distribution (Luby, Sinclair & Zuckerman 1993).
- `Geometric(first, factor)`: first, first * factor, first * factor^2, ...
- `Cutoffs(values)`: the given cutoffs, in order, then no more attempts.
- `EstimatedOptimal(unit)`: Luby until a few attempts have succeeded, then the cutoff `c*` that
  minimises the expected steps `l(c)` of the Kaplan-Meier estimate of the attempts so far,
  with Luby's cutoffs interleaved so that longer cutoffs keep being explored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sized

from keras_effort.arguments import ArgumentError, integer, is_int, positive_int, real_in
from keras_effort.effort import RuntimeDistribution
from keras_effort.effort.distribution import AttemptLike


def luby(index: int) -> int:
    """The `index`-th term (from 1) of Luby's universal sequence 1, 1, 2, 1, 1, 2, 4, ...

    Raises:
        ArgumentError: `index` is not an integer >= 1.
    """
    index = positive_int("index", index)
    while True:
        k = index.bit_length()
        if index == (1 << k) - 1:  # index = 2^k - 1: the term is 2^(k-1)
            return 1 << (k - 1)
        index -= (1 << (k - 1)) - 1  # otherwise repeat the sequence from the start


class RestartPolicy(Iterator[int]):
    """Base of cutoff policies: an iterator of cutoffs that may learn from attempts."""

    def observe(self, attempt: AttemptLike) -> None:
        """Learn from one finished attempt; fixed policies ignore it.

        Args:
            attempt: its record (`steps`, `reached` and `budget`, as `ledger.Attempt` has).
        """

    def __iter__(self) -> RestartPolicy:
        return self


class FixedCutoff(RestartPolicy):
    """Every attempt gets the same cutoff.

    Args:
        steps: the cutoff in gradient steps, >= 1.
    """

    def __init__(self, steps: int) -> None:
        self.steps = positive_int("steps", steps)

    def __next__(self) -> int:
        return self.steps

    def __repr__(self) -> str:
        return f"FixedCutoff({self.steps})"


class Cutoffs(RestartPolicy):
    """The given cutoffs in order; after the last, no attempt is left.

    Args:
        values: the cutoffs, positive ints. A list or tuple is checked at once; the values
            of an iterator (a generator, say) as they are drawn.

    Raises:
        ArgumentError: for a string, a mapping, an empty collection or a cutoff that is not an
            integer >= 1.
    """

    def __init__(self, values: Iterable[int]) -> None:
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise ArgumentError("policy", "a restart policy, an int or an iterable of ints", values)
        if isinstance(values, Sized):
            if not len(values):
                raise ArgumentError("policy", "a non-empty iterable of cutoffs", values)
            values = [positive_int("policy cutoff", value) for value in values]
        self._values = iter(values)

    def __next__(self) -> int:
        return positive_int("policy cutoff", next(self._values))

    def __repr__(self) -> str:
        return "Cutoffs(...)"


def as_policy(policy: RestartPolicy | Iterable[int] | int) -> RestartPolicy:
    """A policy from a policy, one int (a fixed cutoff) or an iterable of cutoffs.

    Raises:
        ArgumentError: for anything else, or a cutoff that is not an integer >= 1.
    """
    if isinstance(policy, RestartPolicy):
        return policy
    if is_int(policy):
        return FixedCutoff(int(policy))
    return Cutoffs(policy)


class Luby(RestartPolicy):
    """Luby's universal restart sequence: 1, 1, 2, 1, 1, 2, 4, 1, 1, 2, ... times `unit`.

    Args:
        unit: steps of the shortest attempt, >= 1.

    Reference:
        Luby, Sinclair & Zuckerman, "Optimal speedup of Las Vegas algorithms", Information
        Processing Letters 47 (1993).
    """

    def __init__(self, unit: int) -> None:
        self.unit = positive_int("unit", unit)
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
        self.first = positive_int("first", first)
        self.factor = real_in("factor", factor, 1.0)
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
        self.unit = positive_int("unit", unit)
        self.min_successes = positive_int("min_successes", min_successes)
        self.explore_every = integer("explore_every", explore_every, minimum=2)
        self._luby = Luby(unit)
        self._attempts: list[AttemptLike] = []
        self._issued = 0

    @property
    def estimate(self) -> int | None:
        """The current estimate of `c*`, or `None` before `min_successes` successes."""
        if sum(attempt.reached for attempt in self._attempts) < self.min_successes:
            return None
        return RuntimeDistribution.from_attempts(self._attempts).optimal_cutoff()

    def observe(self, attempt: AttemptLike) -> None:
        self._attempts.append(attempt)

    def __next__(self) -> int:
        self._issued += 1
        estimate = self.estimate
        if estimate is None or self._issued % self.explore_every == 0:
            return next(self._luby)
        return max(estimate, 1)

    def __repr__(self) -> str:
        return f"EstimatedOptimal({self.unit}, estimate={self.estimate})"
