"""Effort statistics: steps-to-target distributions, Koza's effort, restart cutoffs, intervals.

Pure NumPy; nothing here imports Keras. Every effort figure keras-effort shows (callbacks,
TensorBoard, reports, the tuner oracle) is computed here.
"""

from keras_effort.effort.distribution import (
    EffortEstimate,
    RuntimeDistribution,
    SuccessCurve,
)
from keras_effort.effort.profile import performance_profile, performance_ratios
from keras_effort.effort.table import (
    SINGLE_RUN_TOLERANCE,
    EffortSummary,
    effort_table,
    runtime_distributions,
    steps_to_target,
    summarize,
)

__all__ = [
    "SINGLE_RUN_TOLERANCE",
    "EffortEstimate",
    "EffortSummary",
    "RuntimeDistribution",
    "SuccessCurve",
    "effort_table",
    "performance_profile",
    "performance_ratios",
    "runtime_distributions",
    "steps_to_target",
    "summarize",
]
