"""Choose by effort: a KerasTuner oracle and tuner that rank configurations by expected steps.

`EffortSearch` is the one-line swap for `keras_tuner.RandomSearch`; `EffortOracle` and
`EffortTuner` are its two halves; `keras_effort.tuners.designs` holds the pure rules (two-level
designs, main effects, ranking, promotion).
"""

from keras_effort.tuners.oracle import EffortOracle, Target
from keras_effort.tuners.tuner import EffortSearch, EffortTuner

__all__ = ["EffortOracle", "EffortSearch", "EffortTuner", "Target"]
