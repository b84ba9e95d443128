"""Seconds of one optimizer step alone (`optimizer.apply`), compiled as `fit` runs it.

Whole training steps hide the optimizer's cost behind the forward and backward passes and,
on a loaded machine, behind other processes. Here the update of a model's weights with fixed
gradients is timed in a `tf.function` on TensorFlow, under `jax.jit` on JAX (the state's
buffers donated, as Keras' JAX trainer does) and eagerly under `torch.no_grad()` on PyTorch.
Several optimizers are timed in one process with their blocks of steps interleaved, so that a
burst of load hits all alike, and each gets its fastest step, the least disturbed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np


def compiled_step(optimizer: Any, grads: list, variables: list, jit: bool = False) -> Callable:
    """`optimizer.apply(grads, variables)` as one call compiled the way `fit` compiles it.

    Args:
        optimizer: a built optimizer.
        grads: one gradient tensor per variable.
        variables: the variables it updates.
        jit: XLA on TensorFlow.

    Returns:
        A function of no arguments running one step (and returning a tensor to wait for, or
        `None`).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda: optimizer.apply(grads, variables), jit_compile=jit)
    if backend == "jax":
        import jax

        stateless = jax.jit(optimizer.stateless_apply, donate_argnums=(0, 2))
        state = {"optimizer": [v.value for v in optimizer.variables]}
        state["weights"] = [v.value for v in variables]

        def step() -> Any:
            state["weights"], state["optimizer"] = stateless(
                state["optimizer"], grads, state["weights"]
            )
            return state["weights"][-1]

        return step
    import torch

    def step() -> None:
        with torch.no_grad():  # as Keras' PyTorch trainer runs `apply`
            optimizer.apply(grads, variables)

    return step


def timed_step(make: Callable[[], Any], shapes: Sequence[tuple[int, ...]], jit: bool = False):
    """A fresh optimizer's compiled step on fresh weights of `shapes`, warmed up, and a timer.

    Args:
        make: returns the optimizer to time.
        shapes: the weights' shapes (a model's trainable weights).
        jit: XLA on TensorFlow.

    Returns:
        A function of no arguments that runs one step and returns its seconds.
    """
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in shapes]
    grads = [keras.ops.convert_to_tensor(rng.normal(size=s).astype("float32")) for s in shapes]
    optimizer = make()
    optimizer.build(variables)
    step = compiled_step(optimizer, grads, variables, jit)
    for _ in range(3):
        step()

    def seconds() -> float:
        start = time.perf_counter()
        result = step()
        keras.ops.convert_to_numpy(result if result is not None else variables[-1])
        return time.perf_counter() - start

    return seconds


def fastest_steps(
    makers: Mapping[str, Callable[[], Any]],
    shapes: Sequence[tuple[int, ...]],
    rounds: int = 10,
    repeats: int = 20,
    jit: bool = False,
) -> dict[str, float]:
    """Each optimizer's fastest step, in seconds, from interleaved blocks of steps.

    Args:
        makers: per name, a function returning a fresh optimizer.
        shapes: the weights' shapes.
        rounds: blocks of steps per optimizer.
        repeats: steps per block.
        jit: XLA on TensorFlow.

    Returns:
        Per name, the fastest step's seconds.
    """
    steps = {name: timed_step(make, shapes, jit) for name, make in makers.items()}
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, seconds in steps.items():
            best[name] = min(best[name], *(seconds() for _ in range(repeats)))
    return best
