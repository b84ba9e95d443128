"""keras-effort: measure, cut, show and choose by training effort.

Effort is the number of gradient steps needed to reach a target metric value with high
probability, counting restarts. See `keras_effort.effort` for the statistics.
"""

from typing import Any

from keras_effort.ledger import Attempt, Ledger

__version__ = "0.1.0"

__all__ = ["Attempt", "Ledger", "__version__", "find_learning_rate"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import keras_effort` stays free of Keras (and TensorFlow).
    if name == "find_learning_rate":
        from keras_effort.callbacks.lr_finder import find_learning_rate

        return find_learning_rate
    raise AttributeError(f"module 'keras_effort' has no attribute {name!r}")
