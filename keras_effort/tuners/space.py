"""The search space as the staged oracle moves in it: screening levels, design rows, neighbours.

`keras_effort.tuners.designs` decides *which* coded levels to try; this module turns codes into
configurations of a `keras_tuner.HyperParameters` space and takes the refinement's steps
around the incumbent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras_tuner
import numpy as np
from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed

# The prefix of the hyperparameters the oracle sets itself (a trial's stage and budget).
EFFORT_PREFIX = "effort/"
# Standard deviation, on a hyperparameter's own [0, 1] scale, of a refinement step.
REFINE_SCALE = 0.1
# Chance that a refinement step moves a Choice or Boolean to another value.
REFINE_SWITCH = 0.25


def tunable(hyperparameters: keras_tuner.HyperParameters) -> list[Any]:
    """The hyperparameters to tune: neither `Fixed` nor the oracle's own."""
    return [
        hp
        for hp in hyperparameters.space
        if not isinstance(hp, Fixed) and not hp.name.startswith(EFFORT_PREFIX)
    ]


def configuration(values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's configuration: its values without the oracle's stage and budget."""
    return {k: v for k, v in values.items() if not k.startswith(EFFORT_PREFIX)}


def two_levels(hp: Any) -> tuple[Any, Any]:
    """The low and high screening levels of a hyperparameter.

    A numeric range (`Int`, `Float`) is screened at its lower and upper quartile on its own
    sampling scale (log for log ranges), so neither level sits on an edge; a `Boolean` at
    `False`/`True`; a `Choice` at its first and last values (with more than two values, the
    ones between are reached by the refinement stage).
    """
    if isinstance(hp, Boolean):
        return False, True
    if isinstance(hp, Choice):
        return hp.values[0], hp.values[-1]
    return _native(hp.prob_to_value(0.25)), _native(hp.prob_to_value(0.75))


def values_at_levels(
    hyperparameters: keras_tuner.HyperParameters, factors: Sequence[str], codes: Sequence[int]
) -> dict[str, Any]:
    """The configuration at one design row: each factor at its coded level, the rest default.

    Args:
        hyperparameters: the search space.
        factors: the screened hyperparameters' names, in design column order.
        codes: the row's levels, `-1` (low) or `+1` (high) per factor.
    """
    levels = dict(zip(factors, codes, strict=True))
    hps = keras_tuner.HyperParameters()
    for hp in hyperparameters.space:
        hps.merge([hp])
        if hps.is_active(hp) and not hp.name.startswith(EFFORT_PREFIX):
            if hp.name in levels:
                low, high = two_levels(hp)
                hps.values[hp.name] = high if levels[hp.name] > 0 else low
            else:
                hps.values[hp.name] = hp.default
    return dict(hps.values)


def neighbours(
    hyperparameters: keras_tuner.HyperParameters,
    values: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A random neighbour of `values` and its mirror image.

    Numeric values move by a normal step on their own `[0, 1]` scale, an ordered `Choice`
    (numbers, e.g. widths) to a value beside the current one; the mirror takes the opposite
    steps (mirrored sampling, Brockhoff et al., PPSN 2010). An unordered `Choice` or a
    `Boolean` switches to another value alike in both. At least one factor moves.

    Args:
        hyperparameters: the search space.
        values: the configuration to move from.
        rng: the source of the steps.

    Returns:
        `(neighbour, mirror)`.
    """
    hps = [hp for hp in tunable(hyperparameters) if hp.name in values]
    moved, mirrored = dict(values), dict(values)
    must_move = hps[int(rng.integers(len(hps)))].name if hps else None
    for hp in hps:
        current = values[hp.name]
        if isinstance(hp, (Choice, Boolean)):
            if hp.name != must_move and rng.random() >= REFINE_SWITCH:
                continue
            options = [False, True] if isinstance(hp, Boolean) else list(hp.values)
            last = len(options) - 1
            if isinstance(hp, Choice) and hp.ordered and current in options and last > 0:
                index = options.index(current)
                if index in (0, last):  # at an end: inwards, and the mirror stays
                    step = 1 if index == 0 else -1
                else:
                    step = 1 if rng.random() < 0.5 else -1
                moved[hp.name] = options[index + step]
                mirrored[hp.name] = options[min(max(index - step, 0), last)]
            else:
                others = [value for value in options if value != current]
                if others:
                    moved[hp.name] = mirrored[hp.name] = others[int(rng.integers(len(others)))]
        else:
            probability = hp.value_to_prob(current)
            step = rng.normal(0.0, REFINE_SCALE)
            for target, sign in ((moved, 1.0), (mirrored, -1.0)):
                shifted = float(np.clip(probability + sign * step, 0.0, 1.0))
                target[hp.name] = _native(hp.prob_to_value(shifted))
    return moved, mirrored


def next_probe(
    hyperparameters: keras_tuner.HyperParameters,
    incumbent: tuple[str, Mapping[str, Any]],
    mirror: dict[str, Any] | None,
    rng: np.random.Generator,
    tried: Callable[[dict[str, Any]], bool],
    attempts: int,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The next probe around the incumbent, and the mirror to probe after it.

    Neighbours come in mirrored pairs (`neighbours`): after a probe, the next one is its
    mirror image around the same incumbent, unless a new incumbent has replaced it in between.
    A step in the wrong direction is followed by one in the other.

    Args:
        hyperparameters: the search space.
        incumbent: the incumbent trial's id and configuration.
        mirror: the pending mirror, `{"around": trial_id, "values": ...}`, or `None`.
        rng: the source of the steps.
        tried: whether a configuration was tried before.
        attempts: how many neighbours to draw before giving up.

    Returns:
        `(probe, mirror)`: the probe (`None` when every draw was tried before) and the mirror
        to follow it (`None` when there is none).
    """
    around, values = incumbent
    if mirror is not None and mirror["around"] == around and not tried(mirror["values"]):
        return mirror["values"], None
    for _ in range(attempts):
        moved, mirrored = neighbours(hyperparameters, values, rng)
        if not tried(moved):
            return moved, {"around": around, "values": mirrored}
    return None, None


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
