"""Training a workload to its target, and the benchmark: every (workload, rate, seed) once.

One run seeds Keras (`keras.utils.set_random_seed(seed)`: weights and data order), builds the
workload's model, compiles it with the optimizer at the rate, and fits it for the budget with a
`TargetStopping` that checks the target every `check_every` steps on the validation data. Its
record (steps, samples and wall seconds to the target, best value, outcome) goes to a ledger
under the experiment `bench:<optimizer>:<workload>` and the run `rate=<rate>:seed=<seed>`, so
that a second benchmark finds it there and does not train it again.

Seconds are wall-clock from the start of `fit` to the check that met the target: they include
tracing and compilation and the checks' evaluations, as a user waits for them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from keras_effort.callbacks import TargetStopping
from keras_effort.ledger import Attempt, Ledger
from keras_effort.optimizers import ActiveLREpochEnd
from keras_effort.workloads.optimizers import make_optimizer, needs_epoch_end
from keras_effort.workloads.workload import Workload

RATES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
EXPERIMENT_PREFIX = "bench:"
SMOKE_WORKLOADS = ("mnist1d_mlp", "digits_conv_gap", "friedman_mlp")
SMOKE_STEPS = 20


def experiment_name(optimizer: str, workload: Workload) -> str:
    """The ledger experiment of `optimizer` on `workload`: `bench:<optimizer>:<workload>`."""
    return f"{EXPERIMENT_PREFIX}{optimizer}:{workload.name}"


def run_name(rate: float, seed: int) -> str:
    """The ledger run of one (rate, seed): `rate=<rate>:seed=<seed>`."""
    return f"rate={rate!r}:seed={seed}"


@dataclass(frozen=True)
class Job:
    """One run of the benchmark: an optimizer at a rate on a workload, from a seed."""

    workload: Workload
    optimizer: str
    rate: float
    seed: int

    @property
    def experiment(self) -> str:
        return experiment_name(self.optimizer, self.workload)

    @property
    def run(self) -> str:
        return run_name(self.rate, self.seed)


class _Progress(keras.callbacks.Callback):
    """Tells `report(steps)` the optimizer's step count after each (compiled) batch."""

    def __init__(self, report: Callable[[int], None]) -> None:
        super().__init__()
        self.report = report

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.report(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))


def train(
    workload: Workload,
    optimizer: str,
    rate: float,
    seed: int,
    *,
    budget: int | None = None,
    stop_training: bool = True,
    on_steps: Callable[[int], None] | None = None,
    experiment: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Attempt:
    """Train `workload` with `optimizer` at `rate` from `seed` until its target or budget.

    Args:
        workload: the workload.
        optimizer: a name of `NAMED_OPTIMIZERS` or an importable `package.module:function`.
        rate: the learning rate given to the optimizer's factory.
        seed: the seed of weights and data order.
        budget: gradient steps allowed (default: the workload's), rounded up to whole epochs.
        stop_training: `False` trains the whole budget, checking all along (to set targets).
        on_steps: called with the step count as training goes (for a progress display).
        experiment: the record's experiment (default: `experiment_name(optimizer, workload)`).
        config: more facts stored in the record's config (e.g. the step's seconds).

    Returns:
        The run's record, its experiment and run named as in `experiment_name`/`run_name`.
    """
    job = Job(workload, optimizer, rate, seed)
    (x, y), validation = workload.data()
    keras.utils.set_random_seed(seed)
    model = workload.build_model()
    instance = make_optimizer(optimizer, rate)
    # One compiled call per check: the same steps with far less Python per step.
    per_call = 1 if keras.backend.backend() == "torch" else workload.check_every
    workload.compile(model, instance, steps_per_execution=per_call)
    budget = budget or workload.budget
    epochs = math.ceil(budget / workload.epoch_steps)
    stop = TargetStopping(
        workload.target.metric,
        workload.target.value,
        mode=workload.target.mode,
        check_every=workload.check_every,
        validation_data=validation,
        experiment=experiment or job.experiment,
        config={
            **(config or {}),
            "optimizer": optimizer,
            "rate": rate,
            "workload": workload.name,
            "mode": "max" if workload.target.direction == "up" else "min",
            "batch_size": workload.batch_size,
            "backend": keras.backend.backend(),
        },
        seed=seed,
        batch_size=workload.batch_size,
        stop_training=stop_training,
    )
    callbacks: list[Any] = [stop]
    if needs_epoch_end(instance):
        callbacks.append(ActiveLREpochEnd())
    if on_steps is not None:
        callbacks.append(_Progress(on_steps))
    model.fit(
        x,
        y,
        batch_size=workload.batch_size,
        epochs=epochs,
        # A budget under one epoch (the smoke mode's) is one short epoch.
        steps_per_epoch=budget if budget < workload.epoch_steps else None,
        callbacks=callbacks,
        verbose=0,
    )
    return dataclasses.replace(stop.record, run=job.run)


def jobs(
    workloads: Iterable[Workload], optimizer: str, rates: Sequence[float], seeds: int
) -> list[Job]:
    """Every (workload, rate, seed), workload by workload."""
    return [
        Job(workload, optimizer, float(rate), seed)
        for workload in workloads
        for rate in rates
        for seed in range(seeds)
    ]


def finished(ledger: Ledger, job: Job, prefix: str = EXPERIMENT_PREFIX) -> Attempt | None:
    """The ledger's record of `job` at the workload's current target, or `None`.

    Args:
        ledger: the ledger.
        job: the run.
        prefix: the experiment's prefix (`"bench-smoke:"` for the smoke mode's runs).
    """
    target = job.workload.target
    experiment = prefix + job.experiment.removeprefix(EXPERIMENT_PREFIX)
    for attempt in ledger.attempts(experiment, target.metric, target.value):
        if attempt.run == job.run:
            return attempt
    return None
