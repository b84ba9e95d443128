"""`keras-effort demo`: the effort of training a small MLP on MNIST-1D, from real runs.

Each run trains a fresh MLP with Adam, checking validation accuracy every few gradient steps,
until it reaches the hardest target or spends its budget. The runs' accuracy curves give the
steps to every target, and `keras_effort.effort` turns them into the effort table.

The demo is reproducible: run `i` seeds its weights and data order with `seed + i`, and on
TensorFlow ops run deterministically, so the same command prints the same table. Across
machines, TensorFlow's oneDNN kernels round by the processor's instruction set; the
`keras-effort demo` command caps it at AVX2 (`ONEDNN_MAX_CPU_ISA`) for that reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from keras_effort.arguments import positive_int, positive_real
from keras_effort.effort import EffortSummary, effort_table
from keras_effort.ledger import Attempt, Ledger

DEFAULT_TARGETS = (0.5, 0.6, 0.65, 0.7)


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured.

    Attributes:
        rows: one effort summary per target.
        curves: per run, the `(steps, validation accuracies)` seen at each check.
        budget: the gradient steps each run was allowed.
        seconds: wall-clock time of all runs.
    """

    rows: list[EffortSummary]
    curves: list[tuple[np.ndarray, np.ndarray]]
    budget: int
    seconds: float


def build_mlp(
    width: int = 256,
    depth: int = 2,
    learning_rate: float = 3e-3,
    seed: int = 0,
    steps_per_execution: int = 1,
):
    """A small MLP for MNIST-1D, compiled with Adam and sparse categorical accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((40,))]
    layers += [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def run_demo(
    runs: int = 8,
    targets: Sequence[float] = DEFAULT_TARGETS,
    epochs: int = 40,
    batch_size: int = 64,
    check_every: int = 25,
    learning_rate: float = 3e-3,
    seed: int = 0,
    ledger: Ledger | None = None,
    experiment: str = "demo",
    on_run_end: Callable[[int, tuple[np.ndarray, np.ndarray]], None] | None = None,
) -> DemoResult:
    """Train `runs` MLPs on MNIST-1D and summarise the effort to each target.

    Args:
        runs: independent runs (seeds `seed`, `seed + 1`, ...).
        targets: validation-accuracy targets, each in [0, 1].
        epochs: the epochs each run may train (its budget is epochs x steps per epoch).
        batch_size: training batch size.
        check_every: gradient steps between validation checks.
        learning_rate: Adam's learning rate.
        seed: seed of the first run.
        ledger: if given, every run's attempt at every target is recorded in it.
        experiment: the experiment name of the ledger's rows.
        on_run_end: called after each run with its index and its `(steps, values)` curve
            (for progress reports).

    On TensorFlow this enables op determinism for the rest of the process
    (`tf.config.experimental.enable_op_determinism`), so that equal seeds give equal runs.
    """
    from keras_effort.callbacks import TargetStopping
    from keras_effort.datasets import load_mnist1d

    for name, value in (
        ("runs", runs),
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("check_every", check_every),
    ):
        positive_int(name, value)
    positive_real("learning_rate", learning_rate)
    if not targets or any(not 0.0 <= t <= 1.0 for t in targets):
        raise ValueError(f"`targets` must be accuracies in [0, 1], got {targets!r}")
    _enable_op_determinism()
    (x, y), (x_val, y_val) = load_mnist1d()
    budget = epochs * math.ceil(len(x) / batch_size)
    curves = []
    ends: list[tuple[int, bool]] = []  # per run: the steps it ran, whether it diverged
    started = time.perf_counter()
    import keras

    # Batch hooks are only needed at checks: run the steps between them in one call (Keras'
    # PyTorch backend runs one step per call).
    per_call = 1 if keras.backend.backend() == "torch" else check_every
    for run in range(runs):
        model = build_mlp(
            learning_rate=learning_rate, seed=seed + run, steps_per_execution=per_call
        )
        stop = TargetStopping(
            "val_accuracy",
            max(targets),
            check_every=check_every,
            validation_data=(x_val, y_val),
        )
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[stop])
        steps, values = zip(*stop.curve, strict=True) if stop.curve else ((0,), (0.0,))
        curves.append((np.asarray(steps), np.asarray(values)))
        ends.append((stop.total_steps, stop.diverged))
        if on_run_end is not None:
            on_run_end(run, curves[-1])
    rows = effort_table(curves, sorted(targets), budgets=budget)
    if ledger is not None:
        _record(
            ledger,
            experiment,
            curves,
            ends,
            sorted(targets),
            budget,
            seed,
            learning_rate,
            batch_size,
        )
    return DemoResult(rows, curves, budget, time.perf_counter() - started)


def _enable_op_determinism() -> None:
    import keras

    # Seeds fix weights and data order; TensorFlow may still sum in a varying order.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _record(
    ledger: Ledger,
    experiment: str,
    curves: list[tuple[np.ndarray, np.ndarray]],
    ends: list[tuple[int, bool]],
    targets: Sequence[float],
    budget: int,
    seed: int,
    learning_rate: float,
    batch_size: int,
) -> None:
    from keras_effort.effort import Target, steps_to_target

    config = {"model": "mlp-256x2", "optimizer": "adam", "learning_rate": learning_rate}
    for run, ((steps, values), (steps_run, diverged)) in enumerate(zip(curves, ends, strict=True)):
        for target in targets:
            # One run measures every target: an easier one is reached at its curve's step.
            ledger.add(
                Attempt.from_run(
                    Target("val_accuracy", target),
                    steps_run=steps_run,
                    reached_at=steps_to_target(steps, values, target),
                    budget=budget,
                    diverged=diverged,
                    batch_size=batch_size,
                    experiment=experiment,
                    config=config,
                    seed=seed + run,
                    best_value=float(np.max(values)),
                    curve=list(zip(steps.tolist(), values.tolist(), strict=True)),
                )
            )
