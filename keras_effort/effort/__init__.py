"""Effort statistics: steps-to-target distributions, Koza's effort, restart cutoffs, intervals.

Pure NumPy; nothing here imports Keras. Every effort figure keras-effort shows (callbacks,
TensorBoard, reports, the tuner oracle) is computed here.
"""

from keras_effort.effort.distribution import (
    MEASURES,
    UNITS,
    EffortEstimate,
    RuntimeDistribution,
    SuccessCurve,
    check_measure,
    measure_effort,
    observed_until,
)
from keras_effort.effort.profile import performance_profile, performance_ratios, profile_score
from keras_effort.effort.table import (
    REGIME_LEVEL,
    SINGLE_RUN_TOLERANCE,
    EffortSummary,
    effort_table,
    restart_gain,
    runtime_distributions,
    steps_to_target,
    summarize,
)
from keras_effort.effort.target import Target, infer_direction

__all__ = [
    "MEASURES",
    "REGIME_LEVEL",
    "SINGLE_RUN_TOLERANCE",
    "UNITS",
    "EffortEstimate",
    "EffortSummary",
    "RuntimeDistribution",
    "SuccessCurve",
    "Target",
    "check_measure",
    "effort_table",
    "infer_direction",
    "measure_effort",
    "observed_until",
    "performance_profile",
    "performance_ratios",
    "profile_score",
    "restart_gain",
    "runtime_distributions",
    "steps_to_target",
    "summarize",
]
