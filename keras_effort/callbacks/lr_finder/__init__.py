"""The learning-rate range test: find the edge of stability in one short run.

Effort-optimal runs use learning rates close to the largest the model tolerates. The range test
(Smith 2017; fastai's `lr_find`) finds that edge cheaply: train for a few dozen steps while the
rate grows exponentially, watch the smoothed loss fall and then blow up, and read suggestions off
the curve. `LearningRateFinder` is the callback; `find_learning_rate` runs it in one call and
leaves the model as it was.

The rooms: `maths` (smoothing and suggestions, NumPy only), `result` (the result object and its
plot), `callback` (the callback and the driver).
"""

from keras_effort.callbacks.lr_finder.callback import LearningRateFinder, find_learning_rate
from keras_effort.callbacks.lr_finder.maths import smooth_losses, suggest_learning_rates
from keras_effort.callbacks.lr_finder.result import LearningRateFinderResult

__all__ = [
    "LearningRateFinder",
    "LearningRateFinderResult",
    "find_learning_rate",
    "smooth_losses",
    "suggest_learning_rates",
]
