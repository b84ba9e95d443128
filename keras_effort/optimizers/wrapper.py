"""The base of the optimizers that wrap another one, and `unwrap` to find what is wrapped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from keras_effort.arguments import ArgumentError
from keras_effort.optimizers._arguments import fresh_optimizer
from keras_effort.optimizers._backend import dense_gradients, no_grad

# Options of the wrapped optimizer that would act behind the wrapper's back: an average of the
# weights, steps taken only every few calls, or a loss scale, none of which the wrapper sees.
UNSUPPORTED_INNER_OPTIONS = ("use_ema", "gradient_accumulation_steps", "loss_scale_factor")


class WrapperOptimizer(keras.optimizers.Optimizer):
    """An optimizer that changes the steps of another, as `keras.optimizers.LossScaleOptimizer`.

    `inner_optimizer` is the wrapped optimizer. `learning_rate` and `iterations` are its (so
    `ReduceLROnPlateau`, learning rate schedules and `TensorBoard` act on it), `variables`
    are the wrapper's own followed by its, and `learned_hyperparameters` are its, if any,
    followed by the wrapper's (`_own_learned_hyperparameters`). The configuration holds the
    wrapped optimizer serialised by `keras.optimizers.serialize`, so `get_config` and
    `from_config` round-trip and a saved `.keras` model reloads both.

    A subclass creates its variables in `build` after calling `super().build(var_list)`, takes
    its step in `_step(grads, variables)` (it calls `self.inner_optimizer.apply` there) and
    adds its own arguments to `get_config`.

    Args:
        optimizer: The `keras.optimizers.Optimizer` to wrap. It must not be built yet, must
            not wrap another optimizer itself (wrap the wrapper instead, e.g. in a
            `LossScaleOptimizer`) and must not use `use_ema`, `gradient_accumulation_steps`
            or `loss_scale_factor`.
        name: The optimizer's name.
        **kwargs: Base optimizer options, all refused: set them on the wrapped optimizer.

    Raises:
        ArgumentTypeError: `optimizer` is not a `keras.optimizers.Optimizer` (a `TypeError`
            and a `ValueError`).
        ArgumentError: `optimizer` is built, wraps another optimizer or uses an unsupported
            option, or a base optimizer option is given.
    """

    def __init__(
        self, optimizer: keras.optimizers.Optimizer, name: str | None = None, **kwargs: Any
    ) -> None:
        fresh_optimizer("optimizer", optimizer)
        if hasattr(optimizer, "inner_optimizer"):
            raise ArgumentError(
                "optimizer",
                f"an optimizer that wraps no other (wrap the {type(self).__name__} instead, "
                f"e.g. LossScaleOptimizer({type(self).__name__}(...)))",
                optimizer,
            )
        for option in UNSUPPORTED_INNER_OPTIONS:
            if getattr(optimizer, option):
                raise ArgumentError(
                    f"optimizer.{option}",
                    f"unset: {type(self).__name__} does not support `{option}` on the "
                    "wrapped optimizer",
                    getattr(optimizer, option),
                )
        if kwargs:
            raise ArgumentError(
                ", ".join(sorted(kwargs)),
                f"left out: {type(self).__name__} takes no base optimizer options; set them "
                "on the wrapped optimizer",
                kwargs,
            )
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer

    def build(self, var_list: list) -> None:
        """Build the wrapped optimizer on `var_list`, then this one."""
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self) -> list:
        """The wrapper's own variables followed by the wrapped optimizer's."""
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self) -> Any:
        """The wrapped optimizer's learning rate (a variable, or its schedule's value)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> Any:
        """The wrapped optimizer's step counter."""
        return self.inner_optimizer.iterations

    @property
    def learned_hyperparameters(self) -> dict[str, Any]:
        """The wrapped optimizer's learned hyperparameters, if any, then the wrapper's."""
        learned = dict(getattr(self.inner_optimizer, "learned_hyperparameters", {}))
        if self.built:
            learned.update(self._own_learned_hyperparameters())
        return learned

    def _own_learned_hyperparameters(self) -> dict[str, Any]:
        """The wrapper's learned values, by name, once built."""
        return {}

    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Build on the first call, then take the wrapper's step (`_step`).

        Args:
            grads: One gradient (or `None`) per variable; TensorFlow's `IndexedSlices` are
                taken as the dense gradients they stand for.
            trainable_variables: The variables; defaults to those the optimizer was built
                with. Needed on the first call, which builds the optimizer.
        """
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        with no_grad():  # on PyTorch, a custom training loop's `apply` records no graph
            self._step(dense_gradients(grads), list(trainable_variables))

    def _step(self, grads: list, variables: list) -> None:
        """One step: let the wrapped optimizer step `variables`, and change what it did."""
        raise NotImplementedError

    def finalize_variable_values(self, var_list: list) -> None:
        """Forwarded to the wrapped optimizer."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        """The name and the wrapped optimizer; subclasses add their own arguments."""
        return {
            "name": self.name,
            "optimizer": keras.optimizers.serialize(self.inner_optimizer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> WrapperOptimizer:
        """Rebuild the wrapper and its wrapped optimizer from `get_config()`."""
        config = dict(config)
        optimizer = keras.optimizers.deserialize(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)


def unwrap(optimizer: Any, until: type | Callable[[Any], bool] | None = None) -> Any:
    """Follow `inner_optimizer` inwards from `optimizer`.

    Works through any chain of wrappers that name what they wrap `inner_optimizer`: a
    `WrapperOptimizer`, Keras' `LossScaleOptimizer`.

    Args:
        optimizer: An optimizer (or `None`).
        until: A class, or a predicate on an optimizer: stop at the first optimizer, from
            `optimizer` inwards, that is an instance of the class or that the predicate
            accepts. `None`: go to the innermost optimizer.

    Returns:
        That optimizer, or `None` if none matches.
    """
    if until is None:
        while hasattr(optimizer, "inner_optimizer"):
            optimizer = optimizer.inner_optimizer
        return optimizer
    accepts = (lambda o: isinstance(o, until)) if isinstance(until, type) else until
    while optimizer is not None:
        if accepts(optimizer):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None
