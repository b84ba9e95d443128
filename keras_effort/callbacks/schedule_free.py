"""Evaluating a schedule-free optimizer's model on its averaged weights.

A schedule-free optimizer (Defazio et al. 2024) trains at an interpolation `y` between a fast
sequence `z` and its running average `x`, and its guarantees are for `x`: a model must be
evaluated at `x`, and trained on at `y`. Keras' `ScheduleFreeAdamW` keeps the model's weights at
`y` and leaves the swap to the user; an evaluation at `y` measures the wrong weights. Here,
for the duration of an evaluation, the weights are set to `x = (y - (1 - beta_1) z) / beta_1`
(the inverse of Keras' `y = (1 - beta_1) z + beta_1 x`) and put back bit for bit afterwards.
An optimizer with its own `swap_to_eval()` and `swap_to_train()` methods (as schedule-free
implementations elsewhere expose) is asked to swap itself.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from keras_effort.optimizers._backend import schedule_free_z

# The training weights of each model while it is swapped (or the optimizer, when it swapped
# itself): a model in here is not swapped again by a nested evaluation.
_SWAPPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_schedule_free(optimizer: Any) -> bool:
    """Whether `optimizer` must be evaluated on averaged weights (see this module)."""
    schedule_free = getattr(keras.optimizers, "ScheduleFreeAdamW", None)
    if schedule_free is not None and isinstance(optimizer, schedule_free):
        return True
    return callable(getattr(optimizer, "swap_to_eval", None)) and callable(
        getattr(optimizer, "swap_to_train", None)
    )


def swap_to_averaged(model: Any) -> bool:
    """Set `model`'s weights to its schedule-free optimizer's averaged point.

    Nothing happens for another optimizer, an optimizer not built yet (no step taken), or a
    model already swapped.

    Returns:
        Whether the weights were swapped (then `swap_back` must follow).
    """
    optimizer = getattr(model, "optimizer", None)
    if model in _SWAPPED or not is_schedule_free(optimizer):
        return False
    if not optimizer.built:
        return False
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()  # on JAX, mid-fit, the latest weights may live outside the variables
    if hasattr(optimizer, "swap_to_eval"):
        optimizer.swap_to_eval()
        _SWAPPED[model] = optimizer
        return True
    beta_1 = optimizer.beta_1() if callable(optimizer.beta_1) else optimizer.beta_1
    variables = list(model.trainable_variables)
    saved = [keras.ops.copy(variable.value) for variable in variables]
    for variable in variables:
        z = schedule_free_z(optimizer, variable)
        y = variable.value
        variable.assign((y - (1.0 - beta_1) * keras.ops.cast(z, y.dtype)) / beta_1)
    _SWAPPED[model] = saved
    return True


def swap_back(model: Any) -> None:
    """Undo `swap_to_averaged`: the training weights `y` again (nothing if not swapped)."""
    saved = _SWAPPED.pop(model, None)
    if saved is None:
        return
    if isinstance(saved, list):
        for variable, value in zip(model.trainable_variables, saved, strict=True):
            variable.assign(value)
    else:
        saved.swap_to_train()


@contextmanager
def averaged_weights(model: Any) -> Iterator[bool]:
    """`model` on its schedule-free optimizer's averaged weights inside the `with` block.

    Yields:
        Whether the weights were swapped.
    """
    swapped = swap_to_averaged(model)
    try:
        yield swapped
    finally:
        if swapped:
            swap_back(model)


class AveragedValidation:
    """Callback mixin: evaluations that fire this callback's hooks run on averaged weights.

    `fit` passes its callbacks to the evaluation of `validation_data` at epoch ends, so a
    callback with this mixin makes that evaluation, and the `val_` logs it produces, use a
    schedule-free optimizer's averaged weights. Put it before `keras.callbacks.Callback` in
    the bases.
    """

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swapped_for_test = swap_to_averaged(self.model)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if getattr(self, "_swapped_for_test", False):
            swap_back(self.model)
            self._swapped_for_test = False
