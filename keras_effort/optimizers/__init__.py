"""Optimizers that adapt their own learning rates (Keras 3, `keras.ops` only).

Every optimizer here keeps all of its mutable state in Keras variables created in `build`,
so that saving, reloading and `keras_effort.callbacks.Restarts` (which resets an optimizer by
re-assigning the values its variables had right after `build`) work without special cases.
Optimizers that learn hyperparameters expose them as `optimizer.learned_hyperparameters`,
a dict mapping a name to a tensor (a scalar, or a tensor of any shape).
"""

from keras_effort.optimizers.active_lr import ActiveLR
from keras_effort.optimizers.active_lr_epoch_end import ActiveLREpochEnd
from keras_effort.optimizers.active_lr_presets import (
    ActiveAdaBelief,
    ActiveAdamW,
    ActiveRAdam,
    ActiveSGD,
    active_adabelief,
    active_adamw,
    active_radam,
    active_sgd,
)
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.autorate import AutoRate
from keras_effort.optimizers.hypergradient_adam import HypergradientAdam
from keras_effort.optimizers.hypergradient_rmsprop import HypergradientRMSprop
from keras_effort.optimizers.hypergradient_sgd import HypergradientSGD
from keras_effort.optimizers.prodigy import Prodigy
from keras_effort.optimizers.radam import RAdam
from keras_effort.optimizers.wrapper import WrapperOptimizer, unwrap

__all__: list[str] = ["HypergradientAdam", "HypergradientRMSprop", "HypergradientSGD"]
__all__ += ["ActiveLR", "ActiveLREpochEnd", "AdaBelief", "AutoRate", "Prodigy", "RAdam"]
__all__ += ["active_adabelief", "active_adamw", "active_radam", "active_sgd"]
__all__ += ["WrapperOptimizer", "unwrap"]
# Deprecated names of active_sgd, active_adamw, active_radam and active_adabelief.
__all__ += ["ActiveAdaBelief", "ActiveAdamW", "ActiveRAdam", "ActiveSGD"]
