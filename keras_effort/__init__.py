"""keras-effort: measure, cut, show and choose by training effort.

Effort is the number of gradient steps needed to reach a target metric value with high
probability, counting restarts. See `keras_effort.effort` for the statistics.
"""

from keras_effort.ledger import Attempt, Ledger

__version__ = "0.1.0"

__all__ = ["Attempt", "Ledger", "__version__"]
