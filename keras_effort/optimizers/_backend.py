"""What the optimizers here need to know about the backend and the distribution Keras runs on.

This file is the one place where the optimizers (and `callbacks/schedule_free.py`) reach past
Keras' public API, so it is the one file to re-check at each Keras release. It uses:

- Keras: `Optimizer._backend_update_step` (overridden by `UpdatesAllTogether`),
  `Optimizer._all_reduce_sum_gradients` and `Optimizer._distribution_strategy` (TensorFlow's
  optimizer), and `ScheduleFreeAdamW._momentums` with `Optimizer._get_variable_index`
  (`schedule_free_z`).
- TensorFlow: `tf.__internal__.distribute.interim.maybe_merge_call`, the merge call Keras'
  own TensorFlow optimizer makes, and `tf.distribute`'s replica context.

Beyond these, the optimizers subclass `keras.optimizers.Optimizer` the way Keras' own do,
through the methods its custom-optimizer guide names (`build`, `update_step`,
`_get_variable_index`, `_apply_weight_decay`, `_use_weight_decay`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import keras
from keras import ops


def is_tensorflow() -> bool:
    """Whether Keras runs on TensorFlow (where `tf.distribute` strategies may run the step)."""
    return keras.backend.backend() == "tensorflow"


def is_jax() -> bool:
    """Whether Keras runs on JAX (a jitted train step, pure functions of the variables)."""
    return keras.backend.backend() == "jax"


def is_torch() -> bool:
    """Whether Keras runs on PyTorch (eager: every op runs as it is called)."""
    return keras.backend.backend() == "torch"


def no_grad() -> contextlib.AbstractContextManager:
    """`torch.no_grad()` on PyTorch, else nothing.

    An optimizer's update must build no autograd graph: Keras' own PyTorch optimizers
    disable gradients in their update, so `apply` in a custom training loop (outside
    `torch.no_grad()`) records nothing and costs no more than in `fit`.
    """
    if not is_torch():
        return contextlib.nullcontext()
    import torch

    return torch.no_grad()


def dense_gradients(grads: list) -> list:
    """The gradients with TensorFlow's `IndexedSlices` (an Embedding's gradient) made dense.

    An `IndexedSlices` holds one row per lookup, so a row looked up twice in a batch is stored
    twice. Keras' elementwise ops act on the stored rows (`ops.square` squares each lookup's
    part, not their sum), so an update that squares, reduces or compares the gradient would
    differ from the one the dense gradient gives, as it does with JAX and PyTorch. The dense
    gradient costs the memory of the variable, which the optimizer's moments take already.

    Args:
        grads: one gradient (or `None`) per variable.

    Returns:
        The gradients, each `IndexedSlices` replaced by the dense tensor it stands for.
    """
    if not is_tensorflow():
        return list(grads)
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


class DenseGradients:
    """`apply` takes sparse gradients as the dense ones they stand for (see `dense_gradients`).

    Put this class before `keras.optimizers.Optimizer` among the bases.
    """

    def apply(self, grads: list, trainable_variables: list | None = None):
        return super().apply(dense_gradients(grads), trainable_variables)


class NoGradApply:
    """`apply` records no autograd graph on PyTorch.

    Keras' own multi-tensor PyTorch optimizers disable gradients in their update; its generic
    per-variable path does not, so an optimizer built on `update_step` would record a graph of
    every op when a custom training loop calls `apply` with gradients enabled. Put this class
    before `keras.optimizers.Optimizer` among the bases.
    """

    def apply(self, grads: list, trainable_variables: list | None = None):
        with no_grad():
            return super().apply(grads, trainable_variables)


class InPlaceAssignments:
    """`Optimizer.assign`, `assign_add` and `assign_sub` in place on PyTorch.

    Keras routes an optimizer's writes through these methods so that a backend can do them
    its own way (TensorFlow's optimizer does). On PyTorch, `Variable.assign_add` computes
    `variable + value` and copies it in: a temporary and a second pass over memory that an
    in-place `add_` on the variable's tensor avoids (what Keras' own PyTorch optimizers do).
    Put this class before `keras.optimizers.Optimizer` among the bases.
    """

    def assign(self, variable, value) -> None:
        if not is_torch():
            return super().assign(variable, value)
        _in_place(variable, "copy_", value)

    def assign_add(self, variable, value) -> None:
        if not is_torch():
            return super().assign_add(variable, value)
        _in_place(variable, "add_", value)

    def assign_sub(self, variable, value) -> None:
        if not is_torch():
            return super().assign_sub(variable, value)
        _in_place(variable, "sub_", value)


def _in_place(variable, method: str, value) -> None:
    import torch

    tensor = variable.value if isinstance(variable, keras.Variable) else variable
    with torch.no_grad():  # model variables require gradients; their update records none
        getattr(tensor, method)(keras.ops.convert_to_tensor(value, tensor.dtype))


def all_reduce_sum(values: list) -> list:
    """`values` (tensors) summed over the replicas of a `tf.distribute` strategy.

    Keras' TensorFlow optimizer all-reduces the gradients inside `apply`; a wrapper that reads
    the gradients before its inner optimizer does needs the same global sums. Outside a
    strategy, with one replica and on the other backends (which pass global gradients) the
    values come back unchanged.

    Args:
        values: tensors of any shapes.

    Returns:
        The summed tensors, in the same order.
    """
    if not is_tensorflow() or not values:
        return values
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def update_each_variable(function: Callable[..., None], updates: list, *shared: Any) -> None:
    """Call `function(variable, *arguments, *shared)` for each `(variable, *arguments)`.

    Under `tf.distribute` model variables are mirrored and may be assigned only through the
    strategy's `extended.update` (as Keras' optimizers do): each call then runs once per
    replica, on the replica's copy. Elsewhere this is a plain loop.

    Args:
        function: what to do with one variable; it assigns and returns nothing.
        updates: tuples `(variable, *arguments)`.
        *shared: further arguments, the same for every variable.
    """
    if not is_tensorflow():
        for variable, *arguments in updates:
            function(variable, *arguments, *shared)
        return
    import tensorflow as tf

    def update_all(strategy: Any, updates: list, shared: tuple) -> None:
        for variable, *arguments in updates:
            strategy.extended.update(
                variable.value, function, args=(*arguments, *shared), group=False
            )

    context = tf.distribute.get_replica_context()
    if context is None:  # already in cross-replica context
        update_all(tf.distribute.get_strategy(), updates, shared)
    else:
        context.merge_call(update_all, args=(updates, shared))


def assign_if(condition: Any, assign: Callable[[Any], None]) -> None:
    """Run `assign(condition)`, whose assignments take effect only where `condition` holds.

    `assign` must select with `ops.where(condition, new, old)` (so that a False condition
    writes the old values). On JAX it runs as it is: a jitted train step drops the
    assignments made inside a `cond`. Elsewhere it runs inside `ops.cond`, with a condition of
    True, so that a step where `condition` is False costs nothing.

    Args:
        condition: a scalar boolean tensor.
        assign: makes the assignments, given the condition to select with.
    """
    if is_jax():
        assign(condition)
    else:
        ops.cond(condition, lambda: assign(True), lambda: None)


class UpdatesAllTogether:
    """The step of all variables in one call of `self._update_all(grads, variables, rate)`.

    Keras' optimizer calls `update_step` once per variable; an optimizer whose step depends on
    all gradients together (a global learned rate, a distance estimate over every weight)
    implements `_update_all` instead, and `_update_anchor`, one of its own variables. Under a
    `tf.distribute` strategy the gradients are all-reduced first and `_update_all` runs once
    per replica, in the update of the anchor (a mirrored variable), where reads and writes of
    mirrored variables use the replica's own copy. On PyTorch the step records no autograd
    graph. Put this class before `keras.optimizers.Optimizer` among the bases.
    """

    def _update_all(self, grads: list, trainable_variables: list, learning_rate: Any) -> None:
        raise NotImplementedError

    def _update_anchor(self) -> keras.Variable:
        """One of the optimizer's own variables, built with the optimizer."""
        raise NotImplementedError

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} updates all variables together, its step depending on "
            "every gradient: use `apply` or `apply_gradients`."
        )

    def _backend_update_step(self, grads: list, trainable_variables: list, learning_rate) -> None:
        if is_tensorflow():
            self._tensorflow_update_all(grads, trainable_variables, learning_rate)
            return
        with no_grad():
            self._update_all(grads, trainable_variables, learning_rate)

    def _tensorflow_update_all(self, grads: list, trainable_variables: list, learning_rate):
        import tensorflow as tf

        pairs = self._all_reduce_sum_gradients(
            [(g, v.value) for g, v in zip(grads, trainable_variables, strict=True)]
        )
        reduced = [g for g, _ in pairs]
        anchor = self._update_anchor().value

        def update(_, grads, learning_rate):
            self._update_all(grads, trainable_variables, learning_rate)
            return tf.constant(0)

        def cross_replica_update(distribution, grads, learning_rate):
            distribution.extended.update(anchor, update, args=(grads, learning_rate), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            cross_replica_update, self._distribution_strategy, reduced, learning_rate
        )


def schedule_free_z(optimizer: Any, variable: Any) -> Any:
    """The fast sequence `z` that Keras' `ScheduleFreeAdamW` keeps for `variable`.

    Keras keeps `z` in the optimizer's "momentum" slot of each variable.
    """
    return optimizer._momentums[optimizer._get_variable_index(variable)]
