"""What a search prints: one plain line per trial, in place of KerasTuner's tables.

KerasTuner's oracle prints a table of every hyperparameter (the oracle's own `effort/*` ones
among them) before each trial and its objective after; an effort search shows, per trial, its
stage, configuration, outcome, what it spent of its budget, and the incumbent.
"""

from __future__ import annotations

import time
from typing import Any

from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort.tuners.plan import EXECUTIONS, MAX_SECONDS, MAX_STEPS, REFINE, STAGE
from keras_effort.tuners.space import configuration

# How a stage reads in the line; a refinement trial is a probe.
_STAGE_NAMES = {REFINE: "probe"}
_MEASURES = {"expected": "l(c*)", "koza": "Koza effort"}


class SearchDisplay:
    """The oracle's display (KerasTuner's `Display` interface): one line per finished trial.

    Args:
        oracle: the `EffortOracle` whose trials it shows.
        verbose: `0` prints nothing.
    """

    def __init__(self, oracle: Any, verbose: int = 1) -> None:
        self.oracle = oracle
        self.verbose = verbose
        self._started: dict[str, float] = {}

    def on_trial_begin(self, trial: Trial) -> None:
        self._started[trial.trial_id] = time.perf_counter()

    def on_trial_end(self, trial: Trial) -> None:
        if self.verbose:
            print(self.line(trial), flush=True)

    def line(self, trial: Trial) -> str:
        """The trial's line: its `summary`, the search's totals, the incumbent, its duration."""
        oracle = self.oracle
        incumbent = oracle.incumbent()
        best = "none yet"
        if incumbent is not None:
            best = f"trial {incumbent.trial_id}, {self._effort(incumbent.score)}"
        seconds = time.perf_counter() - self._started.pop(trial.trial_id, time.perf_counter())
        number = f"({oracle.start_order.index(trial.trial_id) + 1} of {oracle.max_trials})"
        return (
            f"{self.summary(trial, incumbent, number)} | search {oracle.total_steps():,} steps, "
            f"{oracle.total_seconds():.0f} s | incumbent {best} [{seconds:.1f} s]"
        )

    def summary(self, trial: Trial, incumbent: Trial | None = None, number: str = "") -> str:
        """The trial's id, stage, configuration, outcome and what it spent of its budget.

        A screen or probe that reached the target faster than `incumbent` (any, when `None`)
        says that it ranks after the trials measured with every seed all the same.

        Args:
            trial: the trial.
            incumbent: the incumbent, or `None`.
            number: written after the trial's id, e.g. `"(3 of 20)"`.
        """
        oracle, values = self.oracle, trial.hyperparameters.values
        stage = values.get(STAGE, "")
        head = " ".join(filter(None, (f"Trial {trial.trial_id}", number)))
        head = f"{head} {_STAGE_NAMES.get(stage, stage):<7}"
        config = ", ".join(f"{k}={_format(v)}" for k, v in configuration(values).items())
        if trial.status != TrialStatus.COMPLETED:
            return f"{head} {config} | {str(trial.status).lower()}"
        attempts = oracle.attempts_of(trial)
        reached = sum(a.reached for a in attempts)
        executions = int(values.get(EXECUTIONS, len(attempts)))
        outcome = f"reached {reached}/{len(attempts)}"
        if reached:
            outcome += f", {self._effort(trial.score)}"
        else:
            best = [a.best_value for a in attempts if a.best_value is not None]
            if best:
                closest = max(best) if oracle.direction == "up" else min(best)
                outcome += f", best {oracle.target.metric} {closest:.4g}"
        if (
            len(attempts) < oracle.executions_per_trial
            and reached
            and (incumbent is None or trial.score < incumbent.score)
        ):
            outcome += (
                f" ({_STAGE_NAMES.get(stage, stage)}: ranks after trials measured with all "
                f"{oracle.executions_per_trial} seeds)"
            )
        return f"{head} {config} | {outcome} | {self._spent(attempts, executions, values)}"

    def _spent(self, attempts: list[Any], executions: int, values: dict[str, Any]) -> str:
        noun = "execution" if executions == 1 else "executions"
        if self.oracle.budget_unit == "seconds" and MAX_SECONDS in values:
            used = sum(a.seconds or 0.0 for a in attempts)
            return f"{used:.1f} s of {executions} {noun} x {values[MAX_SECONDS]:.1f} s"
        used = sum(a.steps for a in attempts)
        return f"{used:,} of {executions} {noun} x {values.get(MAX_STEPS, 0):,} steps"

    def _effort(self, score: float | None) -> str:
        measure = _MEASURES[self.oracle.measure]
        if score is None:
            return f"{measure} ?"
        if self.oracle.budget_unit == "seconds":
            return f"{measure} {score:.1f} s"
        return f"{measure} {score:,.0f} steps"

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore (a state KerasTuner's display saved is ignored)."""


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
