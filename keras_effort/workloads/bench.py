"""`keras-effort bench`: an optimizer on every workload, rate and seed, into a ledger.

Runs already in the ledger (same experiment, run and target) are not trained again, so an
interrupted benchmark resumes where it stopped and a finished one only prints its results.
Before a workload's first new run, the optimizer step alone is timed against Keras Adam's on
that workload's weights (in this process, interleaved; see `step_time`) and the ratio is
stored with each run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras

from keras_effort.arguments import positive_int
from keras_effort.ledger import Attempt, Ledger
from keras_effort.workloads.catalogue import WORKLOADS
from keras_effort.workloads.optimizers import make_optimizer, resolve_optimizer
from keras_effort.workloads.runner import (
    RATES,
    SMOKE_STEPS,
    SMOKE_WORKLOADS,
    Job,
    finished,
    jobs,
    train,
)
from keras_effort.workloads.step_time import fastest_steps
from keras_effort.workloads.workload import Workload

SMOKE_PREFIX = "bench-smoke:"


@dataclass(frozen=True)
class BenchPlan:
    """What a benchmark runs: the jobs, and which of them the ledger already holds."""

    optimizer: str
    workloads: tuple[Workload, ...]
    rates: tuple[float, ...]
    seeds: int
    smoke: bool
    jobs: tuple[Job, ...]
    done: tuple[Job, ...]

    @property
    def pending(self) -> tuple[Job, ...]:
        return tuple(job for job in self.jobs if job not in self.done)


def plan_bench(
    optimizer: str,
    ledger: Ledger,
    workloads: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
    seeds: int = 3,
    smoke: bool = False,
) -> BenchPlan:
    """The runs of a benchmark, and those the ledger already holds.

    Args:
        optimizer: a named optimizer or `package.module:function`.
        ledger: where runs are recorded.
        workloads: names of `WORKLOADS` (default: all; in smoke mode, three small ones).
        rates: the learning rates (default: 1e-5 to 1, six decades; in smoke mode 1e-3).
        seeds: seeds per rate (smoke mode: 1).
        smoke: a few steps per run, for CI: experiments are named `bench-smoke:...`.

    Raises:
        ValueError: for an unknown optimizer or workload, a rate that is not a finite
            positive number, or fewer than one seed.
    """
    resolve_optimizer(optimizer)
    names = list(workloads or (SMOKE_WORKLOADS if smoke else WORKLOADS))
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(
            f"unknown workload(s) {', '.join(unknown)}: the suite has {', '.join(WORKLOADS)}"
        )
    rates = tuple(float(r) for r in (rates or ((1e-3,) if smoke else RATES)))
    if any(not 0.0 < r < float("inf") for r in rates):
        raise ValueError(f"rates must be finite numbers > 0, got {rates}")
    positive_int("seeds", seeds)
    chosen = [WORKLOADS[name] for name in names]
    if smoke:
        seeds = 1
        chosen = [
            dataclasses.replace(w, budget=SMOKE_STEPS, check_every=SMOKE_STEPS // 2)
            for w in chosen
        ]
    planned = jobs(chosen, optimizer, rates, seeds)
    done = tuple(job for job in planned if finished(ledger, job, _prefix(smoke)) is not None)
    return BenchPlan(optimizer, tuple(chosen), rates, seeds, smoke, tuple(planned), done)


def run_bench(
    plan: BenchPlan,
    ledger: Ledger,
    on_run_start: Callable[[Job, int], None] | None = None,
    on_steps: Callable[[int], None] | None = None,
    on_run_end: Callable[[Job, Attempt], None] | None = None,
) -> list[Attempt]:
    """Train the plan's pending runs, writing each to the ledger as it ends.

    Args:
        plan: from `plan_bench`.
        ledger: the ledger the plan was made against.
        on_run_start: called with each job and its budget before it trains.
        on_steps: called with the step count during a run.
        on_run_end: called with each job and its record once written.

    Returns:
        The new records.
    """
    records = []
    ratios: dict[str, float] = {}
    for job in plan.pending:
        workload = job.workload
        if workload.name not in ratios:
            ratios[workload.name] = step_ratio(plan.optimizer, workload, job.rate)
        if on_run_start is not None:
            on_run_start(job, workload.budget)
        record = train(
            workload,
            plan.optimizer,
            job.rate,
            job.seed,
            on_steps=on_steps,
            experiment=_prefix(plan.smoke) + job.experiment.removeprefix("bench:"),
            # The load as the run starts: seconds move with it on a shared machine.
            config={"step_ratio": ratios[workload.name], "load_average": _load_average()},
        )
        ledger.add(record)
        records.append(record)
        if on_run_end is not None:
            on_run_end(job, record)
    return records


def step_ratio(optimizer: str, workload: Workload, rate: float) -> float:
    """The optimizer step's fastest seconds over Keras Adam's, on `workload`'s weights."""
    keras.utils.set_random_seed(0)
    shapes = [tuple(v.shape) for v in workload.build_model().trainable_variables]
    best = fastest_steps(
        {
            "optimizer": lambda: make_optimizer(optimizer, rate),
            "adam": lambda: keras.optimizers.Adam(rate),
        },
        shapes,
        rounds=5,
        repeats=10,
    )
    return best["optimizer"] / best["adam"]


def machine_load() -> str:
    """The machine and its load, under which seconds were measured (printed with results)."""
    load = (
        "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
        if hasattr(os, "getloadavg")
        else "load unknown"
    )
    return f"{os.cpu_count()} CPUs, {load}, Keras backend {keras.backend.backend()}"


def _load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _prefix(smoke: bool) -> str:
    return SMOKE_PREFIX if smoke else "bench:"
