"""The optimizers `keras-effort bench` knows by name, and importable factories.

Every entry is a factory taking the learning rate and returning a fresh optimizer. For
Prodigy the rate is its initial distance estimate `d0` (its learning rate stays 1.0, the
quantity it claims to be free of).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import keras

from keras_effort import optimizers as ours

Factory = Callable[[float], Any]

NAMED_OPTIMIZERS: dict[str, Factory] = {
    "adam": lambda rate: keras.optimizers.Adam(rate),
    "adamw": lambda rate: keras.optimizers.AdamW(rate),
    "sgd": lambda rate: keras.optimizers.SGD(rate),
    "sgd_momentum": lambda rate: keras.optimizers.SGD(rate, momentum=0.9),
    "nadam": lambda rate: keras.optimizers.Nadam(rate),
    "lion": lambda rate: keras.optimizers.Lion(rate),
    "autorate_adam": lambda rate: ours.AutoRate(keras.optimizers.Adam(rate)),
    "autorate_sgd": lambda rate: ours.AutoRate(keras.optimizers.SGD(rate, momentum=0.9)),
    "prodigy": lambda rate: ours.Prodigy(d0=rate),
    "radam": lambda rate: ours.RAdam(rate),
    "adabelief": lambda rate: ours.AdaBelief(rate),
    "hypergradient_sgd": lambda rate: ours.HypergradientSGD(rate, momentum=0.9),
    "hypergradient_adam": lambda rate: ours.HypergradientAdam(rate),
    "hypergradient_rmsprop": lambda rate: ours.HypergradientRMSprop(rate),
    "active_sgd": lambda rate: ours.active_sgd(rate),
    "active_adamw": lambda rate: ours.active_adamw(rate),
    "active_radam": lambda rate: ours.active_radam(rate),
    "active_adabelief": lambda rate: ours.active_adabelief(rate),
}
# Keras' schedule-free optimizers, in the Keras versions that have them.
for _name, _class in (
    ("schedule_free_adamw", getattr(keras.optimizers, "ScheduleFreeAdamW", None)),
    ("schedule_free_sgd", getattr(keras.optimizers, "ScheduleFreeSGD", None)),
):
    if _class is not None:
        NAMED_OPTIMIZERS[_name] = _class


def resolve_optimizer(spec: str) -> Factory:
    """The factory named by `spec`: a name of `NAMED_OPTIMIZERS` or `package.module:function`.

    Args:
        spec: e.g. `"adam"` or `"my_package.optimizers:make"` (a callable taking the learning
            rate and returning a `keras.optimizers.Optimizer`).

    Returns:
        The factory.

    Raises:
        ValueError: for an unknown name, a module or attribute that cannot be imported, or an
            attribute that is not callable.
    """
    if spec in NAMED_OPTIMIZERS:
        return NAMED_OPTIMIZERS[spec]
    if ":" not in spec:
        raise ValueError(
            f"unknown optimizer {spec!r}: give one of {', '.join(NAMED_OPTIMIZERS)} or an "
            "importable factory as package.module:function"
        )
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import the optimizer factory {spec!r}: {error}") from None
    if not callable(factory):
        raise ValueError(f"the optimizer factory {spec!r} is not callable")
    return factory


def make_optimizer(spec: str, rate: float) -> Any:
    """A fresh optimizer from `spec` at `rate`.

    Raises:
        ValueError: as `resolve_optimizer`, or when the factory returns no Keras optimizer.
    """
    optimizer = resolve_optimizer(spec)(rate)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"the optimizer factory {spec!r} returned {type(optimizer).__name__}, not a "
            "keras.optimizers.Optimizer"
        )
    return optimizer


def needs_epoch_end(optimizer: Any) -> bool:
    """Whether `optimizer` is an `ActiveLR(period="epoch")`, which needs `ActiveLREpochEnd`."""
    return isinstance(optimizer, ours.ActiveLR) and optimizer.period == "epoch"
