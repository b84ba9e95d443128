"""The effort suite: small workloads of different architectures, each with a target.

`WORKLOADS` maps a name to a `Workload` (see `keras_effort.workloads.workload`), and
`keras-effort bench` trains an optimizer on each of them to its target, in steps and seconds.
Importing this package imports Keras.
"""

from keras_effort.workloads.catalogue import WORKLOADS, load_targets, targets_provenance
from keras_effort.workloads.workload import Workload

__all__ = ["WORKLOADS", "Workload", "load_targets", "targets_provenance"]
