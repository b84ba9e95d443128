"""RMSprop with hypergradient descent on its learning rate and rho."""

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
class HypergradientRMSprop(HypergradientOptimizer):
    """RMSprop that learns its learning rate, and its decay `rho`, online.

    The update direction is Keras' (uncentered, momentum-free) RMSprop step without the rate,
    `v_t = rho * v_{t-1} + (1 - rho) * g_t^2`, `u_t = g_t / sqrt(v_t + epsilon)`; before step
    `t` uses the rate, the rate is adapted with `h_t = g_t . u_{t-1}` (Baydin et al.). With
    `"rho"` in `learn`, rho (Chandra et al.'s gamma) is learned as `(tanh(x) + 1) / 2` from
    `d u_{t-1} / d rho` with `v_{t-2}` held constant.

    Args:
        learning_rate: the initial learned rate, a float >= 0; or a
            `keras.optimizers.schedules.LearningRateSchedule` whose value a learned
            multiplier (starting at 1) scales. Defaults to `0.001`.
        rho: decay of the squared-gradient average, in [0, 1) ((0, 1) when learned).
            Defaults to `0.9`.
        epsilon: added to `v` under the square root. Defaults to `1e-7` (Keras' RMSprop).
        hypergradient_lr: step size of the default hyper-optimizer `SGD(hypergradient_lr)`, or
            `beta` of the multiplicative rule. Defaults to `1e-7` with the additive rule,
            `0.02` with the multiplicative rule.
        scope: `"global"`, `"variable"` or `"element"`. Defaults to `"global"`.
        rule: `"additive"` or `"multiplicative"`. Defaults to `"additive"`.
        learn: the hyperparameters to learn, from `("learning_rate", "rho")`.
        hyper_optimizer: a fresh Keras optimizer for the learned hyperparameters, possibly a
            hypergradient optimizer itself (a tower), e.g. `keras.optimizers.RMSprop(1e-4)`
            for Chandra's `RMSProp(alpha, gamma) / RMSProp(1e-4)`. `None` means
            `SGD(hypergradient_lr)`.
        learning_rate_bounds: `(low, high)` in rate units, or `None` (the default):
            `(0.01 * learning_rate, max(1, learning_rate))`, a floor relative to the start.
        **kwargs: base optimizer options (`weight_decay`, `clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).

    Raises:
        ValueError: for a negative or non-finite rate, a rho outside [0, 1), a negative
            epsilon, an unknown scope, rule or learned hyperparameter, or bad bounds.

    Reference:
        - [Baydin et al., 2018](https://arxiv.org/abs/1703.04782), "Online Learning Rate
          Adaptation with Hypergradient Descent", ICLR.
        - [Chandra et al., 2022](https://arxiv.org/abs/1909.13371), "Gradient Descent: The
          Ultimate Optimizer", NeurIPS.
        - Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", lecture 6e
          (RMSprop).
    """

    _learnable = (LEARNING_RATE, "rho")
    _default_hypergradient_lr = 1e-7

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        hypergradient_lr: float | None = None,
        scope: str = "global",
        rule: str = "additive",
        learn: Sequence[str] = (LEARNING_RATE,),
        hyper_optimizer: keras.optimizers.Optimizer | None = None,
        learning_rate_bounds: Sequence[float] | None = None,
        name: str = "hypergradient_rmsprop",
        **kwargs: Any,
    ) -> None:
        unit_interval("rho", rho, learned="rho" in learn)
        non_negative_real("epsilon", epsilon)
        super().__init__(
            learning_rate=learning_rate,
            hypergradient_lr=hypergradient_lr,
            scope=scope,
            rule=rule,
            learn=learn,
            hyper_optimizer=hyper_optimizer,
            learning_rate_bounds=learning_rate_bounds,
            name=name,
            **kwargs,
        )
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _build_slots(self, variables: list) -> None:
        self._velocities = self.add_optimizer_variables(variables, "velocity")

    def _direction(self, gradient, variable, hyperparameters, step):
        rho = hyperparameters["rho"]
        slot = self._velocities[self._get_variable_index(variable)]
        # A copy (a pass over memory on PyTorch) only if it is read after the slot is written.
        previous = read_value(slot) if "rho" in self.learn else ops.convert_to_tensor(slot)
        velocity = rho * previous + (1 - rho) * ops.square(gradient)
        self.assign(slot, velocity)
        denominator = velocity + self.epsilon
        direction = gradient / ops.sqrt(denominator)
        if "rho" not in self.learn:
            return direction, {}
        d_rho = -0.5 * direction * (previous - ops.square(gradient)) / denominator
        return direction, {"rho": d_rho}

    def _foreach_directions(self, grads, indices, hyperparameters, step):
        # `_direction`'s equations on all variables at once, in place (only the rate is learned).
        import torch

        velocities = [self._velocities[i].value for i in indices]
        dtype = self._velocities[indices[0]].dtype
        torch._foreach_mul_(velocities, self.rho)  # v = rho v + (1 - rho) g^2
        torch._foreach_add_(
            velocities, torch._foreach_mul(grads, grads), alpha=complement(self.rho, dtype)
        )
        denominators = torch._foreach_add(velocities, self.epsilon)
        torch._foreach_sqrt_(denominators)
        return torch._foreach_div(grads, denominators)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
