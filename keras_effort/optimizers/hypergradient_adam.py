"""Adam (AdamW) with hypergradient descent on its learning rate and betas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_effort.arguments import non_negative_real
from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers.hypergradient import (
    LEARNING_RATE,
    HypergradientOptimizer,
    complement,
    read_value,
)


@keras.saving.register_keras_serializable(package="keras_effort")
class HypergradientAdam(HypergradientOptimizer):
    """Adam that learns its learning rate, and its betas, online (Adam-HD).

    The update direction is Keras' Adam step without the rate,

        u_t = m_t / (sqrt(v_t) + epsilon) * sqrt(1 - beta_2^t) / (1 - beta_1^t),

    and before step `t` uses the rate, the rate is adapted with `h_t = g_t . u_{t-1}`
    (Baydin et al.; exactly the direction of the reference `adam_hd.py`). With `weight_decay`
    this is AdamW: `u_t` gains `weight_decay * theta_{t-1}`, so the decay is scaled by the
    learned rate and enters the hypergradient. With `learn` containing `"beta_1"` or
    `"beta_2"` (Chandra et al.) the betas are learned as `(tanh(x) + 1) / 2`, from
    `d u_{t-1} / d beta` with the previous moments held constant (bias corrections included).

    Args:
        learning_rate: the initial learned rate, a float >= 0; or a
            `keras.optimizers.schedules.LearningRateSchedule` whose value a learned
            multiplier (starting at 1) scales. Defaults to `0.001`.
        beta_1: decay of the first moment, in [0, 1) ((0, 1) when learned). Defaults to `0.9`.
        beta_2: decay of the second moment, in [0, 1) ((0, 1) when learned). Defaults to
            `0.999`.
        epsilon: added to `sqrt(v)`. Defaults to `1e-7` (Keras' Adam).
        weight_decay: decoupled weight decay (AdamW form) or `None`. Defaults to `None`.
        hypergradient_lr: step size of the default hyper-optimizer `SGD(hypergradient_lr)`, or
            `beta` of the multiplicative rule. Defaults to `1e-7` (the paper's Adam-HD runs)
            with the additive rule, `0.02` with the multiplicative rule.
        scope: `"global"`, `"variable"` or `"element"`. Defaults to `"global"`.
        rule: `"additive"` or `"multiplicative"`. Defaults to `"additive"`.
        learn: the hyperparameters to learn, from `("learning_rate", "beta_1", "beta_2")`.
        hyper_optimizer: a fresh Keras optimizer for the learned hyperparameters, possibly a
            hypergradient optimizer itself (a tower), e.g. `keras.optimizers.SGD(1e-5)` for
            Chandra's `Adam / SGD(1e-5)`. `None` means `SGD(hypergradient_lr)`.
        learning_rate_bounds: `(low, high)` in rate units, or `None` (the default):
            `(0.01 * learning_rate, max(1, learning_rate))`, a floor relative to the start.
        **kwargs: base optimizer options (`clipnorm`, `clipvalue`, `global_clipnorm`,
            `use_ema`, `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`).

    Raises:
        ValueError: for a negative or non-finite rate, betas outside [0, 1), a negative
            epsilon, an unknown scope, rule or learned hyperparameter, or bad bounds.

    Reference:
        - [Baydin et al., 2018](https://arxiv.org/abs/1703.04782), "Online Learning Rate
          Adaptation with Hypergradient Descent", ICLR.
        - [Chandra et al., 2022](https://arxiv.org/abs/1909.13371), "Gradient Descent: The
          Ultimate Optimizer", NeurIPS.
        - [Kingma & Ba, 2015](https://arxiv.org/abs/1412.6980), "Adam"; [Loshchilov & Hutter,
          2019](https://arxiv.org/abs/1711.05101), "Decoupled Weight Decay Regularization".
    """

    _learnable = (LEARNING_RATE, "beta_1", "beta_2")
    _default_hypergradient_lr = 1e-7

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        hypergradient_lr: float | None = None,
        scope: str = "global",
        rule: str = "additive",
        learn: Sequence[str] = (LEARNING_RATE,),
        hyper_optimizer: keras.optimizers.Optimizer | None = None,
        learning_rate_bounds: Sequence[float] | None = None,
        name: str = "hypergradient_adam",
        **kwargs: Any,
    ) -> None:
        unit_interval("beta_1", beta_1, learned="beta_1" in learn)
        unit_interval("beta_2", beta_2, learned="beta_2" in learn)
        non_negative_real("epsilon", epsilon)
        super().__init__(
            learning_rate=learning_rate,
            hypergradient_lr=hypergradient_lr,
            scope=scope,
            rule=rule,
            learn=learn,
            hyper_optimizer=hyper_optimizer,
            learning_rate_bounds=learning_rate_bounds,
            weight_decay=weight_decay,
            name=name,
            **kwargs,
        )
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _build_slots(self, variables: list) -> None:
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"]
        )

    def _direction(self, gradient, variable, hyperparameters, step):
        beta_1, beta_2 = hyperparameters["beta_1"], hyperparameters["beta_2"]
        index = self._get_variable_index(variable)
        m_slot, v_slot = self._momentums[index], self._velocities[index]
        # The previous moments are needed after the slots are written only for the betas'
        # derivatives: copy them then only (a copy is a pass over memory on PyTorch). The new
        # moments are not written again in this step: no copy.
        learns_betas = "beta_1" in self.learn or "beta_2" in self.learn
        previous = read_value if learns_betas else ops.convert_to_tensor
        m_previous, v_previous = previous(m_slot), previous(v_slot)
        self.assign_add(m_slot, (gradient - m_previous) * (1 - beta_1))
        self.assign_add(v_slot, (ops.square(gradient) - v_previous) * (1 - beta_2))
        m, v = ops.convert_to_tensor(m_slot), ops.convert_to_tensor(v_slot)

        beta_1_power, beta_2_power = ops.power(beta_1, step), ops.power(beta_2, step)
        correction = ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        root_v = ops.sqrt(v)
        denominator = root_v + self.epsilon
        direction = m * correction / denominator

        # Derivatives only of what is learned: on an eager backend each costs passes over memory.
        derivatives = {}
        if "beta_1" in self.learn:
            # Through m (m_previous - g) and through the bias correction 1 / (1 - b1^t).
            derivatives["beta_1"] = correction * (
                m_previous - gradient
            ) / denominator + direction * (step * ops.power(beta_1, step - 1) / (1 - beta_1_power))
        if "beta_2" in self.learn:
            # Through sqrt(v), d sqrt(v) = (v_previous - g^2) / (2 sqrt(v)) (0 where v = 0), and
            # through sqrt(1 - b2^t); d u / d sqrt(v) = -u / (sqrt(v) + epsilon).
            d_root_v = ops.divide_no_nan(v_previous - ops.square(gradient), 2 * root_v)
            derivatives["beta_2"] = -direction * (
                d_root_v / denominator
                + step * ops.power(beta_2, step - 1) / (2 * (1 - beta_2_power))
            )
        return direction, derivatives

    def _foreach_directions(self, grads, indices, hyperparameters, step):
        # `_direction`'s equations on all variables at once, in place (only the rate is learned).
        import torch

        beta_1, beta_2 = hyperparameters["beta_1"], hyperparameters["beta_2"]
        m = [self._momentums[i].value for i in indices]
        v = [self._velocities[i].value for i in indices]
        dtype = self._momentums[indices[0]].dtype
        # m += (g - m) (1 - beta_1), v += (g^2 - v) (1 - beta_2)
        torch._foreach_lerp_(m, grads, complement(self.beta_1, dtype))
        torch._foreach_lerp_(v, torch._foreach_mul(grads, grads), complement(self.beta_2, dtype))
        correction = ops.sqrt(1 - ops.power(beta_2, step)) / (1 - ops.power(beta_1, step))
        denominators = torch._foreach_sqrt(v)
        torch._foreach_add_(denominators, self.epsilon)
        directions = torch._foreach_mul(m, correction)
        torch._foreach_div_(directions, denominators)
        return directions

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
