"""ActiveLR around SGD, AdamW, RAdam and AdaBelief, with the reference code's defaults.

`active_sgd`, `active_adamw`, `active_radam` and `active_adabelief` build an `ActiveLR`; the
names they had before, `ActiveSGD`, `ActiveAdamW`, `ActiveRAdam` and `ActiveAdaBelief` (class
names for functions), still work and warn `DeprecationWarning`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import keras

from keras_effort.optimizers.active_lr import DEFAULT_DECREASE, DEFAULT_INCREASE, EPOCH, ActiveLR
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.radam import RAdam


def active_sgd(
    learning_rate: float | Any,
    momentum: float = 0.9,
    increase: float = 0.1,
    decrease: float = 0.9,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `keras.optimizers.SGD` with momentum, with the reference defaults.

    Args:
        learning_rate: The SGD learning rate (the reference code requires one too).
        momentum: SGD momentum. Defaults to `0.9`.
        increase: ActiveLR's additive increase. Defaults to `0.1`.
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.9`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `keras.optimizers.SGD` arguments, e.g. `nesterov`, `weight_decay`.

    Returns:
        An `ActiveLR` wrapping the SGD optimizer.
    """
    inner = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, **kwargs)
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def active_adamw(
    learning_rate: float | Any = 1e-3,
    weight_decay: float = 0.0,
    epsilon: float = 1e-8,
    increase: float = DEFAULT_INCREASE,
    decrease: float = DEFAULT_DECREASE,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `keras.optimizers.AdamW`, with the reference code's defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        weight_decay: Decoupled weight decay; the reference `ActiveAdam` defaults to `0.0`.
        epsilon: Defaults to `1e-8` (the reference code's; Keras' AdamW uses `1e-7`).
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `keras.optimizers.AdamW` arguments, e.g. `beta_1`, `beta_2`.

    Returns:
        An `ActiveLR` wrapping the AdamW optimizer.
    """
    inner = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=weight_decay, epsilon=epsilon, **kwargs
    )
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def active_radam(
    learning_rate: float | Any = 1e-3,
    weight_decay: float | None = 1e-2,
    increase: float = DEFAULT_INCREASE,
    decrease: float = DEFAULT_DECREASE,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `RAdam` with decoupled weight decay, the reference defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        weight_decay: Decoupled weight decay; the reference `ActiveRAdam` defaults to `1e-2`.
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `RAdam` arguments, e.g. `beta_1`, `epsilon`.

    Returns:
        An `ActiveLR` wrapping the RAdam optimizer.
    """
    inner = RAdam(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        decoupled_weight_decay=True,
        **kwargs,
    )
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def active_adabelief(
    learning_rate: float | Any = 1e-3,
    epsilon: float = 1e-8,
    rectify: bool = True,
    increase: float = DEFAULT_INCREASE,
    decrease: float = DEFAULT_DECREASE,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `AdaBelief`, with the reference `ActiveBelief` defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        epsilon: Defaults to `1e-8`, the reference code's (`AdaBelief` alone uses `1e-16`).
        rectify: Whether AdaBelief rectifies its step. Defaults to `True`.
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `AdaBelief` arguments, e.g. `weight_decay`.

    Returns:
        An `ActiveLR` wrapping the AdaBelief optimizer.
    """
    inner = AdaBelief(learning_rate=learning_rate, epsilon=epsilon, rectify=rectify, **kwargs)
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def _deprecated(function: Callable[..., ActiveLR], old_name: str) -> Callable[..., ActiveLR]:
    """`function` under its old name, warning `DeprecationWarning` at each call."""

    @functools.wraps(function)
    def deprecated(*args: Any, **kwargs: Any) -> ActiveLR:
        warnings.warn(
            f"{old_name} is deprecated: call keras_effort.optimizers.{function.__name__}",
            DeprecationWarning,
            stacklevel=2,
        )
        return function(*args, **kwargs)

    deprecated.__name__ = deprecated.__qualname__ = old_name
    deprecated.__doc__ = f"Deprecated name of `{function.__name__}`, which it calls."
    return deprecated


ActiveSGD = _deprecated(active_sgd, "ActiveSGD")
ActiveAdamW = _deprecated(active_adamw, "ActiveAdamW")
ActiveRAdam = _deprecated(active_radam, "ActiveRAdam")
ActiveAdaBelief = _deprecated(active_adabelief, "ActiveAdaBelief")
