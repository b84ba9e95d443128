"""keras-effort: measure, cut, show and choose by training effort.

Effort is the number of gradient steps needed to reach a target metric value with high
probability, counting restarts. See `keras_effort.effort` for the statistics.
"""

import warnings
from typing import Any

from keras_effort._version import __version__
from keras_effort.ledger import Attempt, Ledger

__all__ = ["Attempt", "Ledger", "__version__"]


def __getattr__(name: str) -> Any:
    # Deprecated: the package root imports only what needs no Keras; the finder is a callback.
    if name == "find_learning_rate":
        warnings.warn(
            "`keras_effort.find_learning_rate` is deprecated: import it from "
            "`keras_effort.callbacks`",
            DeprecationWarning,
            stacklevel=2,
        )
        from keras_effort.callbacks import find_learning_rate

        return find_learning_rate
    raise AttributeError(f"module 'keras_effort' has no attribute {name!r}")
