"""What the optimizers here need to know about the backend Keras runs on."""

from __future__ import annotations

import contextlib

import keras


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
    if keras.backend.backend() != "tensorflow":
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
