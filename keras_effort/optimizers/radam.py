"""RAdam: Adam with a rectified adaptive learning rate (Liu et al., ICLR 2020)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_effort.arguments import non_negative_real, optional
from keras_effort.optimizers._arguments import learning_rate as learning_rate_argument
from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers._backend import DenseGradients, NoGradApply


def variance_rectification(step: Any, beta_2: float, dtype: str) -> tuple[Any, Any, Any]:
    """Quantities of RAdam's variance rectification at a 1-based step.

    `beta_2 ** step` and `1 - beta_2 ** step` are computed as `exp(step * log(beta_2))` and
    `-expm1(step * log(beta_2))` from double-precision constants: the naive float32 power
    loses so many digits that `rho_t` moves by up to 1 near the threshold (for `beta_2 = 0.99999`
    it crosses 5 two steps early), while this form agrees with PyTorch's double-precision
    arithmetic to float32 rounding.

    Args:
        step: The 1-based step number, a scalar tensor.
        beta_2: Decay rate of the second moment.
        dtype: Dtype of the returned tensors.

    Returns:
        `(rho_t, r_t, bias_correction_2)`: the length of the approximated simple moving average,
        the rectification factor `sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))`
        (clipped to 0 where its argument is negative, i.e. where it is not used) and
        `1 - beta_2 ** step`.
    """
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    log_beta_2_times_step = ops.multiply(ops.cast(step, dtype), math.log(beta_2))
    beta_2_power = ops.exp(log_beta_2_times_step)
    bias_correction_2 = ops.negative(ops.expm1(log_beta_2_times_step))
    step = ops.cast(step, dtype)
    rho_t = rho_inf - 2.0 * step * beta_2_power / bias_correction_2
    rectification_squared = (
        (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
    )
    r_t = ops.sqrt(ops.maximum(rectification_squared, 0.0))
    return rho_t, r_t, bias_correction_2


@keras.saving.register_keras_serializable(package="keras_effort")
class RAdam(DenseGradients, NoGradApply, keras.optimizers.Optimizer):
    """Rectified Adam, with the semantics and defaults of `torch.optim.RAdam`.

    While the variance of the adaptive learning rate is intractable (`rho_t <= 5`, the first
    five steps for the usual `beta_2`), RAdam takes an un-adapted momentum step
    `lr * m_hat`; afterwards it takes Adam's step scaled by the rectification factor `r_t`:
    `lr * r_t * m_hat * sqrt(1 - beta_2^t) / (sqrt(v) + epsilon)`, where
    `rho_inf = 2 / (1 - beta_2) - 1` and `rho_t = rho_inf - 2 t beta_2^t / (1 - beta_2^t)`.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` or a
            callable without arguments. Defaults to `0.001`.
        beta_1: Decay rate of the first moment estimate. Defaults to `0.9`.
        beta_2: Decay rate of the second moment estimate. Defaults to `0.999`.
        epsilon: Added to `sqrt(v)` in the denominator. Defaults to `1e-8`, as in PyTorch.
        weight_decay: Weight decay coefficient, or `None` for none. Defaults to `None`.
        decoupled_weight_decay: If `True`, decay the weights as AdamW does,
            `w -= lr * weight_decay * w` before the step (RAdamW, as in the authors' code);
            if `False` (PyTorch's default), add `weight_decay * w` to the gradient (L2).
        **kwargs: Other `keras.optimizers.Optimizer` arguments: `name`, `clipnorm`,
            `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`, `gradient_accumulation_steps`.

    Raises:
        ValueError: If `learning_rate` is a negative or non-finite float, `beta_1` or `beta_2`
            is outside [0, 1), or `epsilon` or `weight_decay` is negative.

    Reference:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate
        and Beyond", ICLR 2020, arXiv:1908.03265. PyTorch: `torch.optim.RAdam`.
    """

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float | None = None,
        decoupled_weight_decay: bool = False,
        **kwargs: Any,
    ) -> None:
        learning_rate_argument(learning_rate)
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        unit_interval("beta_1", beta_1)
        unit_interval("beta_2", beta_2)
        non_negative_real("epsilon", epsilon)
        optional(non_negative_real, "weight_decay", weight_decay)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.decoupled_weight_decay = decoupled_weight_decay

    def build(self, var_list: list) -> None:
        """Create the first and second moment slots of every variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def _apply_weight_decay(self, variables: list) -> None:
        # Keras applies `weight_decay` decoupled, before `update_step`; L2 decay goes into the
        # gradient in `update_step` instead.
        if self.decoupled_weight_decay:
            super()._apply_weight_decay(variables)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one RAdam step to `variable`."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        coupled_decay = self.weight_decay and not self.decoupled_weight_decay
        if coupled_decay and self._use_weight_decay(variable):
            gradient = gradient + ops.convert_to_tensor(self.weight_decay, dtype) * variable
        step = self.iterations + 1
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        bias_correction_1 = 1 - ops.power(
            ops.convert_to_tensor(self.beta_1, dtype), ops.cast(step, dtype)
        )
        rho_t, r_t, bias_correction_2 = variance_rectification(step, self.beta_2, dtype)
        # Scalars first and one cond on the scalar rho_t: no more tensor ops than Adam's step.
        self.assign_sub(
            variable,
            ops.cond(
                rho_t > 5.0,
                lambda: (
                    m
                    * (lr * r_t * ops.sqrt(bias_correction_2) / bias_correction_1)
                    / (ops.sqrt(v) + self.epsilon)
                ),
                lambda: m * (lr / bias_correction_1),
            ),
        )

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, for `from_config` and `.keras` saving."""
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "decoupled_weight_decay": self.decoupled_weight_decay,
            }
        )
        return config
