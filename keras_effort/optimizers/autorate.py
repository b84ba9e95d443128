"""AutoRate: any Keras optimizer, with its learning rate as a starting guess."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_effort.arguments import non_negative_real, real_in
from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers._backend import all_reduce_sum
from keras_effort.optimizers.wrapper import WrapperOptimizer


@keras.saving.register_keras_serializable(package="keras_effort")
class AutoRate(WrapperOptimizer):
    """Wraps any Keras optimizer and learns the scale of its steps online.

    Each step the inner optimizer proposes its own update `delta_t` (with its own learning
    rate, schedule, momentum, clipping and weight decay); AutoRate applies `scale * delta_t`.
    The scale is learned in log space, so it moves by orders of magnitude and never reaches 0:

        c_t = -cos(g_t, applied_{t-1})            (> 0: the last step was too short)
        log scale += hypergradient_lr * (c_t + target_cosine)

    `c_t` is the normalised hypergradient of the loss with respect to log scale (Baydin et al.).
    Its plain zero-crossing settles on too small a scale: in the noise-dominated phase of
    training consecutive gradients are anti-correlated at every stable rate (for SGD on a
    quadratic, `E c = -rate * curvature / 2`), so a greedy rule keeps shrinking (the
    short-horizon bias of Wu et al.). AutoRate aims at `c = -target_cosine` instead: a fixed
    fraction of the stable range, whatever the scale of the task.

    Four guards make any starting rate safe:

    - The first step moves the weights by `initial_step` times their norm: the scale starts
      at `initial_step * |w| / |delta_0|`, whatever the given rate, and is learned from
      there. The given rate thus only sets the unit of the scale (and a schedule's shape).
      The inner step is measured as a change of the weights, exact to about 1e-7 of their
      size in float32: a rate whose steps are far below that makes the steps noisy.
    - No step moves the weights by more than `max_step` times their norm: the scale is
      lowered to that size whenever the inner step would exceed it. The steps of a momentum
      optimizer grow for about `1 / (1 - momentum)` steps after the first, and a dead ReLU
      network gives the hypergradient nothing to shrink the scale with.
    - A step whose gradient is not finite, or whose gradient norm exceeds `explosion` times
      its running average, undoes the previous step (the likely cause), skips its own and
      multiplies the scale by `cut`. The inner optimizer sees a zero gradient on that step.
    - All state lives in optimizer variables, so `keras_effort.callbacks.Restarts` resets it
      and a saved `.keras` model resumes it exactly.

    The learned scale is `optimizer.scale` (and `learned_hyperparameters["scale"]`, which
    `keras_effort.callbacks.EffortTensorBoard` logs); the effective learning rate is
    `scale * inner_optimizer.learning_rate`.

    Under a `tf.distribute` strategy the gradient's dot product with the previous step is
    exact (all-reduced); its norm, used only to normalise, is the root of the summed squared
    norms of the replicas' gradients.

    Args:
        optimizer: the Keras optimizer to wrap, not built yet. Its learning rate (a float or a
            schedule) is the unit of the learned scale.
        hypergradient_lr: step of the log-scale rule per step. Defaults to `0.1`.
        target_cosine: the anti-correlation of consecutive steps aimed at, in [0, 1).
            Defaults to `0.02`.
        initial_step: the size of the first step relative to the weights' norm, in (0, 1).
            Defaults to `0.03`.
        max_step: the largest step relative to the weights' norm, in (0, 1): a larger step
            lowers the scale to this size. Defaults to `0.03`.
        explosion: a gradient norm this many times its running average counts as divergence,
            a float > 1. Defaults to `10.0`.
        cut: factor on the scale after a divergence, in (0, 1). Defaults to `0.5`.
        name: the optimizer's name.

    Raises:
        ArgumentTypeError: if `optimizer` is not a Keras optimizer (a `TypeError` and a
            `ValueError`).
        ArgumentError: if `optimizer` is built or cannot be wrapped (see `WrapperOptimizer`),
            or for an argument out of its range.

    Reference:
        - [Baydin et al., 2018](https://arxiv.org/abs/1703.04782), "Online Learning Rate
          Adaptation with Hypergradient Descent", ICLR.
        - [Wu et al., 2018](https://arxiv.org/abs/1803.02021), "Understanding Short-Horizon
          Bias in Stochastic Meta-Optimization", ICLR.
        - [Cutkosky et al., 2023](https://arxiv.org/abs/2306.00144), "Mechanic: A Learning
          Rate Tuner" (a learned scale around any base optimizer).
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        hypergradient_lr: float = 0.1,
        target_cosine: float = 0.02,
        initial_step: float = 0.03,
        explosion: float = 10.0,
        cut: float = 0.5,
        max_step: float = 0.03,
        name: str = "autorate",
        **kwargs: Any,
    ) -> None:
        hypergradient_lr = non_negative_real("hypergradient_lr", hypergradient_lr)
        target_cosine = unit_interval("target_cosine", target_cosine)
        initial_step, max_step, cut = (
            real_in(argument, value, 0.0, 1.0, low_open=True, high_open=True)
            for argument, value in (
                ("initial_step", initial_step), ("max_step", max_step), ("cut", cut)
            )
        )
        explosion = real_in("explosion", explosion, 1.0, low_open=True)
        super().__init__(optimizer, name=name, **kwargs)
        self.hypergradient_lr = hypergradient_lr
        self.target_cosine = target_cosine
        self.initial_step = initial_step
        self.explosion = explosion
        self.cut = cut
        self.max_step = max_step

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        self.log_scale = self.add_variable(
            shape=(), initializer="zeros", name="log_scale", aggregation="only_first_replica"
        )
        # Running average of the squared gradient norm, 0 until the first finite step.
        self.gradient_power = self.add_variable(
            shape=(), initializer="zeros", name="gradient_power", aggregation="only_first_replica"
        )
        self._applied = self.add_optimizer_variables(variables, "applied")

    @property
    def scale(self) -> Any:
        """The learned multiplier of the inner optimizer's steps (1.0 before the first step)."""
        return ops.exp(self.log_scale) if self.built else ops.convert_to_tensor(1.0)

    def _own_learned_hyperparameters(self) -> dict[str, Any]:
        """`{"scale": ...}`, for `EffortTensorBoard`."""
        return {"scale": self.scale}

    def _step(self, grads: list, variables: list) -> None:
        grads = [ops.convert_to_tensor(g) for g in grads]
        slots = [self._applied[self._get_variable_index(v)] for v in variables]
        applied = [ops.copy(slot.value) for slot in slots]

        dot, gradient_power, finite = all_reduce_sum(
            [
                _sum(_dot(g, ops.cast(a, g.dtype)) for g, a in zip(grads, applied, strict=True)),
                _sum(_dot(g, g) for g in grads),
                _sum(ops.sum(ops.cast(ops.logical_not(ops.isfinite(g)), "float32")) for g in grads),
            ]
        )
        average = ops.copy(self.gradient_power.value)
        exploding = (average > 0) & (gradient_power > self.explosion**2 * average)
        ok = (finite == 0) & ops.isfinite(gradient_power) & ops.logical_not(exploding)

        applied_power = _sum(_dot(a, a) for a in applied)
        norms = ops.sqrt(gradient_power * applied_power)
        defined = ok & (norms > 0)
        cosine = ops.where(defined, -dot / ops.where(defined, norms, 1.0), 0.0)
        step = self.hypergradient_lr * (cosine + self.target_cosine)
        log_scale = self.log_scale.value + ops.where(
            ok, ops.where(defined, step, 0.0), math.log(self.cut)
        )
        self.log_scale.assign(log_scale)
        self.gradient_power.assign(
            ops.where(
                ok,
                ops.where(average > 0, 0.9 * average + 0.1 * gradient_power, gradient_power),
                average,
            )
        )

        before = [ops.copy(v.value) for v in variables]
        self.inner_optimizer.apply([ops.where(ok, g, ops.zeros_like(g)) for g in grads], variables)
        deltas = [v.value - b for v, b in zip(variables, before, strict=True)]

        # Step sizes relative to the weights' norm, in log space: `relative` is the log scale
        # at which this step would move the weights by their whole norm.
        weight_norm = ops.sqrt(_sum(_dot(b, b) for b in before))
        delta_norm = ops.sqrt(_sum(_dot(d, d) for d in deltas))
        measurable = (delta_norm > 0) & (weight_norm > 0)
        relative = ops.log(
            ops.where(measurable, weight_norm, 1.0) / ops.where(measurable, delta_norm, 1.0)
        )
        # The first step moves the weights by `initial_step` of their norm, whatever the inner
        # rate: too large a rate would wreck the network at once, too small a one would take
        # many steps to grow out of.
        first = ok & (average == 0)
        start = ops.where(measurable, math.log(self.initial_step) + relative, 0.0)
        log_scale = ops.where(first, start, self.log_scale.value)
        # No step moves them by more than `max_step`: a momentum optimizer's steps grow for
        # ~1 / (1 - momentum) steps after the first, and a scale that overshoots kills ReLUs
        # before the hypergradient can shrink it.
        cap = math.log(self.max_step) + relative
        log_scale = ops.where(ok & measurable, ops.minimum(log_scale, cap), log_scale)
        self.log_scale.assign(log_scale)

        scale = ops.exp(self.log_scale.value)
        for variable, old, delta, slot, last in zip(
            variables, before, deltas, slots, applied, strict=True
        ):
            change = ops.where(
                ok, ops.cast(scale, delta.dtype) * delta, -ops.cast(last, delta.dtype)
            )
            variable.assign(old + change)
            slot.assign(ops.where(ok, ops.cast(change, slot.dtype), ops.zeros_like(last)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hypergradient_lr": self.hypergradient_lr,
                "target_cosine": self.target_cosine,
                "initial_step": self.initial_step,
                "max_step": self.max_step,
                "explosion": self.explosion,
                "cut": self.cut,
            }
        )
        return config


def _dot(x, y) -> Any:
    """`x . y` over all elements (`ops.vdot` is 1-D only on PyTorch)."""
    return ops.sum(ops.multiply(x, y))


def _sum(values) -> Any:
    """The float32 sum of scalar tensors."""
    return sum(ops.cast(v, "float32") for v in values)
