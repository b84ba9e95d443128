"""Keras callbacks that measure and cut training effort.

Add them to `model.fit(callbacks=[...])`; nothing else in the training code changes.
"""

from keras_effort.callbacks.divergence_guard import DivergenceEvent, DivergenceGuard
from keras_effort.callbacks.effort_tensorboard import EffortTensorBoard
from keras_effort.callbacks.lr_finder import (
    LearningRateFinder,
    LearningRateFinderResult,
    find_learning_rate,
)
from keras_effort.callbacks.restarts import Restarts
from keras_effort.callbacks.target_stopping import TargetStopping

__all__ = [
    "DivergenceEvent",
    "DivergenceGuard",
    "EffortTensorBoard",
    "LearningRateFinder",
    "LearningRateFinderResult",
    "Restarts",
    "TargetStopping",
    "find_learning_rate",
]
