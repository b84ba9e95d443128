"""The **Effort** dashboard: a TensorBoard plugin for the runs `EffortTensorBoard` writes.

Installing keras-effort registers it with TensorBoard through the `tensorboard_plugins`
entry point; `tensorboard --logdir LOGS` then shows an "Effort" tab. Its front end is plain
HTML, SVG and JavaScript served from this package: it needs no network.
"""
