"""Prodigy: Adam whose step size estimates the distance to the solution (learning-rate free)."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_effort.arguments import non_negative_real, optional, positive_real, real_in
from keras_effort.optimizers._arguments import learning_rate as learning_rate_argument
from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers._backend import DenseGradients, NoGradApply, UpdatesAllTogether


@keras.saving.register_keras_serializable(package="keras_effort")
class Prodigy(DenseGradients, NoGradApply, UpdatesAllTogether, keras.optimizers.Optimizer):
    """Mishchenko & Defazio's Prodigy, a port of the authors' `prodigyopt` package.

    Adam whose step is `d * learning_rate`, with `learning_rate` left at 1.0 and `d` an
    estimate of the distance from the initial weights `x0` to the solution that starts at `d0`
    and only grows. Each step, over all variables together, with `dlr = d * lr * bc`:

        r = beta_3 r + (d / d0) dlr <g, x0 - x>
        m = beta_1 m + (1 - beta_1) d g,     v = beta_2 v + (1 - beta_2) d^2 g^2
        s = beta_3 s + (d / d0) dlr g        ((d / d0) d g with `safeguard_warmup`)
        d_hat = d_coef r / sum|s|,  d_max = max(d_max, d_hat),  d = min(d_max, d * growth_rate)
        x -= dlr m / (sqrt(v) + d epsilon)

    (`d` becomes `max(d, d_hat)` on the step where it still equals `d0`; `bc` is Adam's bias
    correction when `use_bias_correction`, else 1; a step with no gradient mass, `sum|s| = 0`,
    leaves the weights unchanged.) The learned `d` is `optimizer.d` and
    `learned_hyperparameters["d"]`.

    Args:
        learning_rate: a multiplier of the estimated step, a float > 0 or a schedule; leave it
            at `1.0` unless training is unstable. Defaults to `1.0`.
        beta_1: decay of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: decay of the second moment, in [0, 1). Defaults to `0.999`.
        beta_3: decay of the distance estimate's sums, in [0, 1), or `None` for
            `sqrt(beta_2)`. Defaults to `None`.
        epsilon: added to `sqrt(v)`, scaled by `d`, a float > 0. Defaults to `1e-8`.
        weight_decay: weight decay, a float >= 0. Defaults to `0.0`.
        decouple: AdamW-style decoupled weight decay (`x -= weight_decay * dlr * x`) rather
            than an L2 term in the gradient. Defaults to `True`.
        use_bias_correction: Adam's bias correction of the step. Defaults to `False`.
        safeguard_warmup: leave the learning rate out of `s` (for warm-up schedules).
            Defaults to `False`.
        d0: the initial distance estimate, a float > 0. Defaults to `1e-6`.
        d_coef: multiplier of the estimate `d_hat`, a float > 0. Defaults to `1.0`.
        growth_rate: the largest factor `d` may grow by per step, a float > 1 (`inf`: no
            limit). Defaults to `inf`.
        **kwargs: base optimizer options (`clipnorm`, `clipvalue`, `global_clipnorm`,
            `use_ema`, `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`).

    Raises:
        ValueError: for an argument outside the range given above.

    Reference:
        - [Mishchenko & Defazio, 2024](https://arxiv.org/abs/2306.06101), "Prodigy: An
          Expeditiously Adaptive Parameter-Free Learner", ICML; code: `prodigyopt`.
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        beta_3: float | None = None,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
        name: str = "prodigy",
        **kwargs: Any,
    ) -> None:
        learning_rate_argument(learning_rate, positive=True)
        beta_1 = unit_interval("beta_1", beta_1)
        beta_2 = unit_interval("beta_2", beta_2)
        beta_3 = optional(unit_interval, "beta_3", beta_3)
        weight_decay = non_negative_real("weight_decay", weight_decay)
        epsilon, d0, d_coef = (
            positive_real(argument, value)
            for argument, value in (("epsilon", epsilon), ("d0", d0), ("d_coef", d_coef))
        )
        growth_rate = real_in("growth_rate", growth_rate, 1.0, low_open=True, finite=False)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.beta_3 = None if beta_3 is None else float(beta_3)
        self.epsilon = float(epsilon)
        # Prodigy scales the decay by its own step `dlr`: the base optimizer's decay is unused.
        self.prodigy_weight_decay = float(weight_decay)
        self.decouple = bool(decouple)
        self.use_bias_correction = bool(use_bias_correction)
        self.safeguard_warmup = bool(safeguard_warmup)
        self.d0 = float(d0)
        self.d_coef = float(d_coef)
        self.growth_rate = float(growth_rate)

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        # The scalars in the widest float type of the variables (float64 in float64 models).
        dtypes = {keras.backend.standardize_dtype(v.dtype) for v in variables}
        self._scalar_dtype = "float64" if "float64" in dtypes else "float32"

        def scalar(name: str, value: float):
            return self.add_variable(
                shape=(),
                dtype=self._scalar_dtype,
                name=name,
                # A NumPy float64, so that a float64 variable is not initialised through float32.
                initializer=keras.initializers.Constant(np.float64(value)),
            )

        self.d = scalar("d", self.d0)
        self.d_max = scalar("d_max", self.d0)
        self.numerator = scalar("numerator", 0.0)
        self._momentums, self._velocities, self._sums, self._starts = self.add_optimizer_variables(
            variables, ["momentum", "velocity", "sum", "start"]
        )

    def _apply_weight_decay(self, variables: list) -> None:
        """Weight decay is part of the step, scaled by `dlr` (see `update`)."""

    def _update_anchor(self) -> keras.Variable:
        return self.d

    def _update_all(self, grads: list, variables: list, learning_rate) -> None:
        # Every variable is read once as a backend tensor, and the arithmetic is done on
        # tensors: JAX's `where` takes no Keras variable, and on PyTorch a Python float
        # combined with a Keras variable goes through `keras.ops`, which makes it a float32
        # tensor first (a float64 model would lose its precision in `beta_3 * s`).
        read = ops.convert_to_tensor
        dtype = self._scalar_dtype
        lr = ops.cast(learning_rate, dtype)
        d = read(self.d)
        d0 = ops.convert_to_tensor(self.d0, dtype)
        step = ops.cast(self.iterations, dtype)
        beta_1, beta_2 = self.beta_1, self.beta_2
        beta_3 = math.sqrt(beta_2) if self.beta_3 is None else self.beta_3
        if self.use_bias_correction:
            correction = ops.sqrt(1 - beta_2 ** (step + 1)) / (1 - beta_1 ** (step + 1))
        else:
            correction = 1.0
        dlr = d * lr * correction
        s_weight = (d / d0) * (d if self.safeguard_warmup else dlr)
        first = self.iterations == 0

        numerator = ops.zeros((), dtype)
        denominator = ops.zeros((), dtype)
        gradients, momentums, velocities = {}, {}, {}
        for gradient, variable in zip(grads, variables, strict=True):
            index = self._get_variable_index(variable)
            vdtype = variable.dtype
            x = read(variable)
            gradient = ops.cast(gradient, vdtype)
            if self.prodigy_weight_decay and not self.decouple:
                gradient = gradient + self.prodigy_weight_decay * x
            # x0 is the weights at the first step (as in `prodigyopt`), so a restart that
            # re-initialises the weights and resets the optimizer starts from the new weights.
            x0 = ops.where(first, x, read(self._starts[index]))
            numerator += (d / d0) * dlr * ops.cast(ops.sum(gradient * (x0 - x)), dtype)
            d_v = ops.cast(d, vdtype)
            m = beta_1 * read(self._momentums[index]) + (1 - beta_1) * d_v * gradient
            v = beta_2 * read(self._velocities[index]) + (1 - beta_2) * d_v * d_v * gradient**2
            s = beta_3 * read(self._sums[index]) + ops.cast(s_weight, vdtype) * gradient
            denominator += ops.cast(ops.sum(ops.abs(s)), dtype)
            self.assign(self._starts[index], x0)
            self.assign(self._momentums[index], m)
            self.assign(self._velocities[index], v)
            self.assign(self._sums[index], s)
            gradients[index], momentums[index], velocities[index] = gradient, m, v

        active = denominator > 0
        old_numerator, old_d_max = read(self.numerator), read(self.d_max)
        numerator = beta_3 * old_numerator + numerator
        d_hat = self.d_coef * numerator / ops.where(active, denominator, 1.0)
        d_new = ops.where(ops.equal(d, d0), _max(d, d_hat), d)
        d_max = _max(old_d_max, d_hat)
        d_new = ops.where(active, _min(d_max, d_new * self.growth_rate), d)
        self.assign(self.numerator, ops.where(active, numerator, old_numerator))
        self.assign(self.d_max, ops.where(active, d_max, old_d_max))
        self.assign(self.d, d_new)

        for variable in variables:
            index = self._get_variable_index(variable)
            vdtype = variable.dtype
            dlr_v, d_v = ops.cast(dlr, vdtype), ops.cast(d_new, vdtype)
            x = read(variable)
            new = x
            if self.prodigy_weight_decay and self.decouple:
                new = new - self.prodigy_weight_decay * dlr_v * new
            # Without momentum `prodigyopt` steps along `d * g` with the updated `d`.
            direction = d_v * gradients[index] if beta_1 == 0 else momentums[index]
            new = new - dlr_v * direction / (ops.sqrt(velocities[index]) + d_v * self.epsilon)
            self.assign(variable, ops.where(active, new, x))

    @property
    def learned_hyperparameters(self) -> dict[str, Any]:
        """`{"d": ...}`, the distance estimate, once built; empty before."""
        return {"d": self.d} if self.built else {}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "epsilon": self.epsilon,
                "weight_decay": self.prodigy_weight_decay,
                "decouple": self.decouple,
                "use_bias_correction": self.use_bias_correction,
                "safeguard_warmup": self.safeguard_warmup,
                "d0": self.d0,
                "d_coef": self.d_coef,
                "growth_rate": self.growth_rate,
            }
        )
        return config


# Python's `max` and `min`, as `prodigyopt` uses them on its scalars (the first argument unless
# the second is strictly larger or smaller, so a NaN estimate keeps the current one). Not
# `ops.maximum`/`ops.minimum`: on Keras' PyTorch backend they return float32 for float64 inputs
# (keras-team/keras#23223), which costs a float64 model its precision.
def _max(a, b):
    return ops.where(b > a, b, a)


def _min(a, b):
    return ops.where(b < a, b, a)
