"""AdaBelief: Adam with the step size adapted by the belief in the gradient (Zhuang et al.)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_effort.arguments import non_negative_real, optional
from keras_effort.optimizers._arguments import learning_rate as learning_rate_argument
from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers._backend import DenseGradients, NoGradApply
from keras_effort.optimizers.radam import variance_rectification


@keras.saving.register_keras_serializable(package="keras_effort")
class AdaBelief(DenseGradients, NoGradApply, keras.optimizers.Optimizer):
    """AdaBelief, with the semantics and defaults of the authors' `adabelief-pytorch` 0.2.x.

    Like Adam, but the second moment tracks the "belief", the squared deviation of the gradient
    from its moving average:

        m_t = beta_1 m_{t-1} + (1 - beta_1) g_t
        s_t = beta_2 s_{t-1} + (1 - beta_2) (g_t - m_t)^2 + epsilon
        w_t = w_{t-1} - lr / (1 - beta_1^t) * m_t / (sqrt(s_t / (1 - beta_2^t)) + epsilon)

    With `rectify=True` (the package's default) the step is rectified as in RAdam: while
    `rho_t < 5` it is the momentum step `lr * m_t / (1 - beta_1^t)` (the package's
    `degenerated_to_sgd=True`), afterwards
    `lr * r_t * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m_t / (sqrt(s_t) + epsilon)`.
    Weight decay is decoupled (`w -= lr * weight_decay * w` before the step), the package's
    `weight_decouple=True, fixed_decay=False`.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` or a
            callable without arguments. Defaults to `0.001`.
        beta_1: Decay rate of the first moment estimate. Defaults to `0.9`.
        beta_2: Decay rate of the belief estimate. Defaults to `0.999`.
        epsilon: Added to the belief every step and to the denominator. Defaults to `1e-16`,
            the package's default since 0.1.0.
        rectify: Whether to rectify the step as RAdam does. Defaults to `True`.
        weight_decay: Decoupled weight decay coefficient, or `None` for none.
        **kwargs: Other `keras.optimizers.Optimizer` arguments: `name`, `clipnorm`,
            `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`, `gradient_accumulation_steps`.

    Raises:
        ValueError: If `learning_rate` is a negative or non-finite float, `beta_1` or `beta_2`
            is outside [0, 1), or `epsilon` or `weight_decay` is negative.

    Reference:
        Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
        Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020,
        arXiv:2010.07468. Code: github.com/juntang-zhuang/Adabelief-Optimizer,
        `adabelief_pytorch` 0.2.x.
    """

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-16,
        rectify: bool = True,
        weight_decay: float | None = None,
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
        self.rectify = rectify

    def build(self, var_list: list) -> None:
        """Create the first moment and belief slots of every variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._beliefs = self.add_optimizer_variables(
            var_list, ["momentum", "belief"]
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one AdaBelief step to `variable`."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = self.iterations + 1
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        s = self._beliefs[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        residual = ops.subtract(gradient, m)
        self.assign_add(
            s, ops.multiply(ops.subtract(ops.square(residual), s), 1 - self.beta_2) + self.epsilon
        )
        bias_correction_1 = 1 - ops.power(
            ops.convert_to_tensor(self.beta_1, dtype), ops.cast(step, dtype)
        )
        rho_t, r_t, bias_correction_2 = variance_rectification(step, self.beta_2, dtype)
        # Scalars first and one cond on the scalar rho_t: no more tensor ops than Adam's step.
        if self.rectify:
            update = ops.cond(
                rho_t >= 5.0,
                lambda: (
                    m
                    * (lr * r_t * ops.sqrt(bias_correction_2) / bias_correction_1)
                    / (ops.sqrt(s) + self.epsilon)
                ),
                lambda: m * (lr / bias_correction_1),
            )
        else:
            update = (
                m
                * (lr / bias_correction_1)
                / (ops.sqrt(s) / ops.sqrt(bias_correction_2) + self.epsilon)
            )
        self.assign_sub(variable, update)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, for `from_config` and `.keras` saving."""
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "rectify": self.rectify,
            }
        )
        return config
