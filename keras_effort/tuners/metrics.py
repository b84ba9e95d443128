"""The codec between attempts and a trial's metrics: what crosses gRPC to a distributed oracle.

A KerasTuner oracle sees only a trial's numeric metrics, so every execution's attempt travels
as `execution_<i>_<field>` numbers: `None` as NaN, the outcome as its index in
`keras_effort.ledger.OUTCOMES`.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence

from keras_tuner.engine.trial import Trial

from keras_effort.effort import Target
from keras_effort.ledger import OUTCOMES, Attempt

# The fields of an attempt that travel, per execution.
ATTEMPT_METRICS = ("steps", "reached", "budget", "best", "seconds", "outcome")


def search_id(project_dir: str) -> str:
    """8 hex digits of a hash of the project folder's absolute path: searches in other folders
    never share a ledger row."""
    return hashlib.sha256(os.path.abspath(project_dir).encode()).hexdigest()[:8]


def experiment_of(search: str, trial_id: str) -> str:
    """The ledger experiment of a trial's executions: `<project_name>-<search_id>/trial_<id>`."""
    return f"{search}/trial_{trial_id}"


def run_of(trial_id: str, execution: int) -> str:
    """The ledger run of one execution of a trial."""
    return f"trial_{trial_id}/execution_{execution}"


def attempt_metrics(index: int, attempt: Attempt) -> dict[str, float]:
    """The numeric metrics that carry execution `index`'s attempt to the oracle."""
    values = (
        attempt.steps,
        attempt.reached,
        attempt.budget,
        attempt.best_value,
        attempt.seconds,
        OUTCOMES.index(attempt.outcome),
    )
    return {
        f"execution_{index}_{name}": math.nan if value is None else float(value)
        for name, value in zip(ATTEMPT_METRICS, values, strict=True)
    }


def trial_metrics(attempts: Sequence[Attempt]) -> dict[str, float]:
    """Every attempt's metrics, and how many executions there were."""
    results = {"executions": float(len(attempts))}
    for index, attempt in enumerate(attempts):
        results.update(attempt_metrics(index, attempt))
    return results


def attempts_of(trial: Trial, target: Target, search: str) -> list[Attempt]:
    """The attempts a trial's metrics carry (`trial_metrics`), in execution order.

    Args:
        trial: a trial, as the oracle or its gRPC client holds it.
        target: the search's target, which every attempt was run towards.
        search: `<project_name>-<search_id>`, which names the attempts' experiment.
    """
    metrics, trial_id = trial.metrics, trial.trial_id
    if not metrics.exists("executions"):
        return []

    def value(index: int, name: str) -> float | None:
        number = float(metrics.get_last_value(f"execution_{index}_{name}"))
        return None if math.isnan(number) else number

    attempts = []
    for index in range(int(metrics.get_last_value("executions"))):
        # The record is rebuilt from the run it tells of, by the one outcome rule; the
        # outcome sent decides what the steps were (to the target, or run).
        budget, outcome = value(index, "budget"), OUTCOMES[int(value(index, "outcome"))]
        steps = int(value(index, "steps"))
        attempts.append(
            Attempt.from_run(
                target,
                steps_run=steps,
                reached_at=steps if outcome == "reached" else None,
                budget=None if budget is None else int(budget),
                diverged=outcome == "diverged",
                bad_data=outcome == "bad_data",
                experiment=experiment_of(search, trial_id),
                attempt=0,
                run=run_of(trial_id, index),
                seconds=value(index, "seconds"),
                best_value=value(index, "best"),
            )
        )
    return attempts
