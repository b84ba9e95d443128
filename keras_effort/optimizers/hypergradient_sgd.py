"""SGD with hypergradient descent on its learning rate (and momentum)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_effort.optimizers._arguments import unit_interval
from keras_effort.optimizers.hypergradient import (
    LEARNING_RATE,
    HypergradientOptimizer,
    read_value,
)


@keras.saving.register_keras_serializable(package="keras_effort")
class HypergradientSGD(HypergradientOptimizer):
    """SGD (with optional momentum) that learns its learning rate, and its momentum, online.

    Before step `t` uses the learning rate, the rate is adapted with the hypergradient
    `h_t = g_t . u_{t-1}`, where `u_{t-1}` is the previous update direction (Baydin et al.,
    SGD-HD and SGDN-HD), all variables together for the default global scope:

        alpha_t = alpha_{t-1} + hypergradient_lr * h_t      (additive rule)
        theta_t = theta_{t-1} - alpha_t * u_t

    Momentum is PyTorch's form (as in the reference code), `b_t = momentum * b_{t-1} + g_t`,
    `u_t = b_t`, or `u_t = g_t + momentum * b_t` with Nesterov; with a constant rate it is the
    same method as `keras.optimizers.SGD`. With `learn=("learning_rate", "momentum")` the
    momentum is learned too (Chandra et al.), kept in (0, 1) as `(tanh(x) + 1) / 2`, from
    `d u_{t-1} / d momentum` with the previous buffer held constant.

    Args:
        learning_rate: the initial learned rate, a float >= 0; or a
            `keras.optimizers.schedules.LearningRateSchedule` whose value a learned
            multiplier (starting at 1) scales. Defaults to `0.01`.
        momentum: float in [0, 1), in (0, 1) when learned. Defaults to `0.0`.
        nesterov: whether to use Nesterov momentum. Defaults to `False`.
        hypergradient_lr: step size of the default hyper-optimizer `SGD(hypergradient_lr)`, or
            `beta` of the multiplicative rule. Defaults to `1e-3` (the paper's SGD-HD runs)
            with the additive rule, `0.02` with the multiplicative rule.
        scope: `"global"` (one learned rate, the paper's), `"variable"` (one per model
            variable) or `"element"` (one per weight). Defaults to `"global"`.
        rule: `"additive"` or `"multiplicative"`
            (`alpha_t = alpha_{t-1} * (1 + hypergradient_lr * cos(g_t, u_{t-1}))`).
        learn: the hyperparameters to learn, from `("learning_rate", "momentum")`.
        hyper_optimizer: a fresh Keras optimizer for the learned hyperparameters, possibly a
            hypergradient optimizer itself (a tower). `None` means `SGD(hypergradient_lr)`.
        learning_rate_bounds: `(low, high)` in rate units, or `None` (the default):
            `(0.01 * learning_rate, max(1, learning_rate))`, a floor relative to the start.
        **kwargs: base optimizer options: `weight_decay` (decoupled, scaled by the learned
            rate and part of `u`), `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`,
            `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`.

    Raises:
        ValueError: for a negative or non-finite rate, a momentum outside [0, 1), an unknown
            scope, rule or learned hyperparameter, or bad bounds.

    Reference:
        - [Baydin et al., 2018](https://arxiv.org/abs/1703.04782), "Online Learning Rate
          Adaptation with Hypergradient Descent", ICLR.
        - [Chandra et al., 2022](https://arxiv.org/abs/1909.13371), "Gradient Descent: The
          Ultimate Optimizer", NeurIPS.
    """

    _learnable = (LEARNING_RATE, "momentum")
    _default_hypergradient_lr = 1e-3

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        hypergradient_lr: float | None = None,
        scope: str = "global",
        rule: str = "additive",
        learn: Sequence[str] = (LEARNING_RATE,),
        hyper_optimizer: keras.optimizers.Optimizer | None = None,
        learning_rate_bounds: Sequence[float] | None = None,
        name: str = "hypergradient_sgd",
        **kwargs: Any,
    ) -> None:
        unit_interval("momentum", momentum, learned="momentum" in learn)
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
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    @property
    def _uses_momentum(self) -> bool:
        return self.momentum > 0 or "momentum" in self.learn

    def _build_slots(self, variables: list) -> None:
        self._momentums = (
            self.add_optimizer_variables(variables, "momentum") if self._uses_momentum else []
        )

    def _direction(self, gradient, variable, hyperparameters, step):
        if not self._uses_momentum:
            return gradient, {}
        momentum = hyperparameters["momentum"]
        buffer = self._momentums[self._get_variable_index(variable)]
        # A copy (a pass over memory on PyTorch) only if it is read after the slot is written.
        previous = read_value(buffer) if "momentum" in self.learn else ops.convert_to_tensor(buffer)
        current = momentum * previous + gradient
        self.assign(buffer, current)
        if self.nesterov:
            return gradient + momentum * current, {"momentum": current + momentum * previous}
        return current, {"momentum": previous}

    def _foreach_directions(self, grads, indices, hyperparameters, step):
        # `_direction`'s equations on all variables at once, in place (only the rate is learned).
        import torch

        if not self._uses_momentum:
            return grads
        buffers = [self._momentums[i].value for i in indices]
        torch._foreach_mul_(buffers, self.momentum)  # b = momentum b + g
        torch._foreach_add_(buffers, grads)
        if not self.nesterov:
            return buffers
        directions = torch._foreach_mul(buffers, self.momentum)  # u = g + momentum b
        torch._foreach_add_(directions, grads)
        return directions

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
