"""`EffortOracle`: a KerasTuner oracle that ranks trials by expected effort to a target.

The algorithm is `populate_space`; `plan` holds the stages and their budgets, `scoring` the
scores and ranking, `space` the design rows and neighbours, `metrics` the attempts' codec.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
import numpy as np
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort import arguments as check
from keras_effort.effort import MEASURES, Target
from keras_effort.ledger import Attempt
from keras_effort.tuners import checks, designs, metrics, space
from keras_effort.tuners.display import SearchDisplay
from keras_effort.tuners.plan import (
    ANCHOR,
    BRIDGE,
    CONFIRM,
    DESIGN_ROW,
    EXECUTIONS,
    RANDOM,
    REFINE,
    SCREEN,
    SEED,
    STAGE,
    Budgets,
    PlanState,
    check_plan,
    shuffled_design,
)
from keras_effort.tuners.scoring import Scoring

# The objective every trial reports; its value is the trial's effort, lower is better.
OBJECTIVE = "effort"


class EffortOracle(keras_tuner.Oracle):
    """Ranks configurations by their expected gradient steps to a target; screens cheaply first.

    A trial's score is its effort over its executions (independent seeds), from
    `keras_effort.effort`: `l(c*)` (`measure="expected"`) or Koza's effort at confidence `z`
    (`measure="koza"`), with executions that missed the target censored at their budget.
    Lower is better; trials that never reached the target rank after all that did, by how close
    they came, and a trial measured with fewer than `executions_per_trial` executions (a screen,
    a probe) after every trial measured with all of them.

    With `strategy="staged"` (the steps in `populate_space`; each trial's stage and budget are
    its `effort/*` hyperparameters, per `plan.STAGES`): *screens*, a two-level
    fractional-factorial design at `screen_share * max_steps`, one execution each, whose main
    effects predict a configuration; *anchors*, the `anchors` best screens with every seed at
    `anchor_share * max_steps`; a *bridge* (when `anchor_share < 1`), the anchors
    `designs.promote` keeps, re-run at `max_steps` if one of their executions was cut; then
    *probes*, one execution each, of the predicted configuration and then of mirrored pairs of
    neighbours of the incumbent (the best trial measured with every seed), a probe faster than
    the incumbent's effort being *confirmed* with every seed. Once there is an incumbent,
    probes are cut at its effort and anchors and confirmations at `capping` times it (adaptive
    capping, as SMAC does for runtimes). With `strategy="random"` every trial is a random
    configuration at `max_steps`.

    With `budget_unit="seconds"` budgets and scores are wall-clock seconds of training: each
    execution is cut at its stage's share of `max_seconds` (and at `max_steps`, which stays a
    cap), and trials rank by their expected seconds to the target (docs/tuner.md says when).

    Args:
        target: the metric value to reach: `("val_accuracy", 0.9)`, `("val_loss", 0.3, "min")`
            or a `Target`.
        max_trials: the number of trials.
        max_steps: the full step budget of one execution (in seconds, a cap on top), >= 1.
        executions_per_trial: independent seeds per trial (screens run one), at least 1.
        z: the confidence of Koza's effort, in (0, 1).
        measure: the effort measure, `"expected"` or `"koza"` (`keras_effort.effort.MEASURES`).
        strategy: `"staged"` or `"random"`.
        screen_runs: the minimum number of screens; by default the smallest design in which
            every main effect is estimable.
        screen_share: the screens' share of `max_steps`, in (0, 1].
        anchor_share: the anchors' share of `max_steps`, in (0, 1].
        anchors: how many of the best screens become anchors, at least 1.
        bridge_size: the most anchors promoted to the bridge, at least 1.
        capping: the factor of the incumbent's effort at which anchors and confirmations are
            cut, a number >= 1; `inf` turns capping off, for probes too.
        promotion_level: the confidence level of the intervals compared by the promotion rule.
        budget_unit: `"steps"` (default) or `"seconds"`: what budgets and scores count.
        max_seconds: the full budget of one execution in wall-clock seconds, a number > 0;
            required with `budget_unit="seconds"`, not allowed with `"steps"`.
        hyperparameters: a `HyperParameters` to override or pre-register the search space.
        allow_new_entries: whether the hypermodel may request unlisted hyperparameters.
        tune_new_entries: whether those new hyperparameters are tuned.
        seed: the seed of the design order, the refinement steps and every execution's seed.
        max_retries_per_trial: retries of a trial that crashed.
        max_consecutive_failed_trials: failed trials in a row that stop the search.

    The old names `criterion`, `screen_budget` and `anchor_budget` (a `budget` is in steps, as
    an `Attempt`'s) still work, with a `DeprecationWarning`.

    Raises:
        ValueError: for a bad argument, naming it.
    """

    criterion = check.renamed_attribute("measure")

    @check.renamed(**checks.RENAMED)
    def __init__(
        self,
        target: Target | tuple[Any, ...],
        max_trials: int = 20,
        max_steps: int = 1000,
        executions_per_trial: int = 3,
        z: float = 0.99,
        measure: str = "expected",
        strategy: str = "staged",
        screen_runs: int | None = None,
        screen_share: float = 0.125,
        anchor_share: float = 1.0,
        anchors: int = 1,
        bridge_size: int = 2,
        capping: float = 1.5,
        promotion_level: float = 0.9,
        budget_unit: str = "steps",
        max_seconds: float | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        seed: int | None = None,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
    ) -> None:
        self.target = checks.as_target(target)
        self.direction = self.target.direction
        self.max_steps = check.positive_int("max_steps", max_steps)
        self.executions_per_trial = check.positive_int("executions_per_trial", executions_per_trial)
        inside = {"low_open": True, "high_open": True}  # (0, 1)
        self.z = check.real_in("z", z, 0.0, 1.0, **inside)
        self.measure = check.one_of("measure", measure, MEASURES)
        self.strategy = check.one_of("strategy", strategy, checks.STRATEGIES)
        self.screen_runs = check.optional(check.positive_int, "screen_runs", screen_runs)
        self.anchors = check.positive_int("anchors", anchors)
        self.bridge_size = check.positive_int("bridge_size", bridge_size)
        self.capping = check.real_in("capping", capping, 1.0, finite=False)
        self.promotion_level = check.real_in("promotion_level", promotion_level, 0.0, 1.0, **inside)
        shares = {"screen_share": screen_share, "anchor_share": anchor_share}
        self._shares = {k: check.real_in(k, v, 0.0, 1.0, low_open=True) for k, v in shares.items()}
        super().__init__(
            objective=keras_tuner.Objective(OBJECTIVE, direction="min"),
            max_trials=check.positive_int("max_trials", max_trials),
            hyperparameters=checks.hyperparameters(hyperparameters),
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=check.optional(check.integer, "seed", seed),
            max_retries_per_trial=check.non_negative_int(
                "max_retries_per_trial", max_retries_per_trial
            ),
            max_consecutive_failed_trials=check.positive_int(
                "max_consecutive_failed_trials", max_consecutive_failed_trials
            ),
        )
        self._display = SearchDisplay(self)  # one line per trial, not KerasTuner's tables
        if seed is not None:
            # KerasTuner replaces a seed of 0 by a random one; 0 is a seed like any other here.
            self.seed = self._seed_state = seed
        self._set_unit(budget_unit, max_seconds)
        stage = RANDOM if strategy == "random" else SCREEN
        self.plan = PlanState(stage=stage, next_seed=(self.seed * 10_000) % 2**31)

    def _set_unit(self, unit: str, max_seconds: float | None) -> None:
        self.budget_unit, self.max_seconds = unit, seconds = checks.budget_unit(unit, max_seconds)
        runs = self.executions_per_trial
        self.budgets = Budgets(self.max_steps, runs, self._shares, self.capping, seconds)
        search = f"{getattr(self, '_project_name', '')}-{getattr(self, 'search_id', '')}"
        self.scoring = Scoring(self.target, self.measure, self.z, runs, unit, seconds, search)

    def _set_project_dir(self, directory: str, project_name: str) -> None:
        super()._set_project_dir(directory, project_name)  # names the attempts' experiment:
        self.search_id = metrics.search_id(os.path.join(str(directory), project_name))
        self._set_unit(self.budget_unit, self.max_seconds)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next configuration of the current stage, with its budget as hyperparameters.

        Returns:
            `{"status": "RUNNING", "values": ...}`; `"IDLE"` while a stage waits for trials
            still running on other workers; `"STOPPED"` when the space is exhausted.
        """
        plan = self.plan
        if plan.stage == RANDOM:
            return self._trial(self._random_values(), RANDOM)
        self._ensure_design()
        if plan.stage == SCREEN:
            # 1. Screens: the design's rows, one execution each at a small budget.
            if plan.next_row < len(plan.design):
                row, plan.next_row = plan.next_row, plan.next_row + 1
                levels = plan.design[row]
                values = space.values_at_levels(self.hyperparameters, plan.factors, levels)
                return self._trial(values, SCREEN, row=row)
            if self._waiting_for(SCREEN):
                return {"status": TrialStatus.IDLE}
            plan.anchor_queue = self._choose_anchors()
            plan.stage = ANCHOR
        if plan.stage == ANCHOR:
            # 2. Anchors: the best screens, with every seed.
            if plan.anchor_queue:
                return self._trial(plan.anchor_queue.pop(0), ANCHOR, self.incumbent())
            if self._waiting_for(ANCHOR):
                return {"status": TrialStatus.IDLE}
            plan.bridge_queue = self._choose_bridge()
            plan.stage = BRIDGE
        if plan.stage == BRIDGE:
            # 3. Bridge: promoted anchors that were cut at their budget, at the full budget.
            if plan.bridge_queue:
                return self._trial(plan.bridge_queue.pop(0), BRIDGE)
            if self._waiting_for(BRIDGE):
                return {"status": TrialStatus.IDLE}
            plan.stage = REFINE
        # 4. Refinement: confirm a probe that beat the incumbent, else probe a neighbour of it.
        incumbent = self.incumbent()
        confirmation = self._probe_to_confirm(incumbent)
        if confirmation is not None:
            return self._trial(confirmation, CONFIRM, incumbent)
        queued = plan.probe_queue.pop(0) if plan.probe_queue else None
        return self._trial(queued or self._refined_values(incumbent), REFINE, incumbent)

    def check_search_space(self) -> None:
        """Check the search space and the plan once the hypermodel has declared its space.

        Raises:
            ValueError: when the search space has nothing to tune, has more factors than the
                screening designs cover, or `max_trials` cannot hold the staged plan.
        """
        factors = len(space.tunable(self.hyperparameters))
        bridge = self.bridge_size if self.budgets.steps(ANCHOR) < self.max_steps else 0
        check_plan(self.strategy, self.max_trials, factors, self.screen_runs, self.anchors, bridge)

    def _ensure_design(self) -> None:
        if self.plan.design:
            return
        self.check_search_space()
        self.plan.factors = [hp.name for hp in space.tunable(self.hyperparameters)]
        self.plan.design = shuffled_design(len(self.plan.factors), self.screen_runs, self.seed)

    def _trial(
        self, values: Mapping[str, Any] | None, stage: str, incumbent: Trial | None = None, row=-1
    ) -> dict[str, Any]:
        """A trial of `values` at `stage`'s budget (capped by the incumbent's effort)."""
        if values is None:
            # Nothing new to try; wait if others may still change the picture.
            status = TrialStatus.IDLE if self.ongoing_trials else TrialStatus.STOPPED
            return {"status": status, "values": None}
        values = dict(values)
        values.update(self.budgets.of(stage, None if incumbent is None else incumbent.score))
        values.update({STAGE: stage, SEED: int(self.plan.next_seed), DESIGN_ROW: int(row)})
        self.plan.next_seed = (self.plan.next_seed + values[EXECUTIONS]) % 2**31
        return {"status": TrialStatus.RUNNING, "values": values}

    def _waiting_for(self, stage: str) -> bool:
        """Whether trials of `stage` are still running elsewhere (only then is IDLE useful)."""
        if not self.ongoing_trials:
            return False  # nothing can change by waiting: never answer IDLE to a lone tuner
        return any(
            _stage_of(trial) == stage
            and (trial.status == TrialStatus.RUNNING or trial.trial_id in self._retry_queue)
            for trial in self.trials.values()
        )

    def _choose_anchors(self) -> list[dict[str, Any]]:
        """The best screens; the configuration the main effects predict becomes the first probe."""
        screens = self._completed(SCREEN)
        if not screens:
            return []
        coded = [self.plan.design[int(t.hyperparameters.values[DESIGN_ROW])] for t in screens]
        order, effects, levels = designs.analyse_screens(coded, map(self.ranking_key, screens))
        self.plan.main_effects = dict(zip(self.plan.factors, effects, strict=True))
        anchors = [_configuration(screens[i]) for i in order[: self.anchors]]
        predicted = space.values_at_levels(self.hyperparameters, self.plan.factors, levels)
        if self._compute_values_hash(predicted) not in map(self._compute_values_hash, anchors):
            self.plan.probe_queue = [predicted]
        return anchors

    def _choose_bridge(self) -> list[dict[str, Any]]:
        """Promote anchors by the rule fixed in advance (`designs.promote`)."""
        if self.budgets.steps(ANCHOR) >= self.max_steps:
            return []  # the anchors ran at the full budget: nothing to bridge
        anchors = self._completed(ANCHOR)
        if not anchors:
            best = [t for t in self.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
            return [_configuration(best[0])] if best else []
        keys = [self.ranking_key(trial) for trial in anchors]
        intervals = [
            self.scoring.interval(self.attempts_of(t), self.promotion_level, self.seed)
            for t in anchors
        ]
        chosen = designs.promote(keys, intervals, self.bridge_size)
        self.plan.promotions = [
            {"trial_id": t.trial_id, "effort": t.score, "interval": [*ci], "promoted": i in chosen}
            for i, (t, ci) in enumerate(zip(anchors, intervals, strict=True))
        ]
        # An anchor whose every execution reached the target is measured in full already: a
        # longer budget would not change its effort.
        return [
            _configuration(anchors[i])
            for i in chosen
            if not all(a.reached for a in self.attempts_of(anchors[i]))
        ]

    def incumbent(self) -> Trial | None:
        """The best completed trial measured with `executions_per_trial` executions, if any."""
        best = self._best_completed()
        if best is None or len(self.attempts_of(best)) < self.executions_per_trial:
            return None  # trials measured in full rank first: there is none
        return best

    def _best_completed(self) -> Trial | None:
        completed = (t for t in self.trials.values() if t.status == TrialStatus.COMPLETED)
        return min(completed, key=self.scoring.sort_key, default=None)

    def _probe_to_confirm(self, incumbent: Trial | None) -> dict[str, Any] | None:
        """The oldest probe that beat the incumbent's effort and has no confirmation yet."""
        bar = math.inf if incumbent is None else incumbent.score
        confirmed = {
            self._compute_values_hash(trial.hyperparameters.values)
            for trial in self.trials.values()
            if _stage_of(trial) == CONFIRM
        }
        for probe in self._completed(REFINE):
            attempts = self.attempts_of(probe)
            if (
                self._compute_values_hash(probe.hyperparameters.values) not in confirmed
                and any(a.reached for a in attempts)
                and self.score(attempts) < bar
            ):
                return _configuration(probe)
        return None

    def _refined_values(self, incumbent: Trial | None) -> dict[str, Any] | None:
        """A neighbour of the incumbent (else of the best trial) not tried before.

        Neighbours come in mirrored pairs (`space.neighbours`): after a probe, the next one is
        its mirror image around the same incumbent, unless a confirmation has replaced the
        incumbent in between. A step in the wrong direction is followed by one in the other.
        """
        incumbent = incumbent or self._best_completed()
        if incumbent is None:
            return self._random_values()
        values, self.plan.mirror = space.next_probe(
            self.hyperparameters,
            (incumbent.trial_id, _configuration(incumbent)),
            self.plan.mirror,
            np.random.default_rng([self.seed, len(self.trials)]),
            self._duplicate,
            self._max_collisions,
        )
        return values or self._random_values()

    @property
    def stage(self) -> str:
        """The current stage: `screen`, `anchor`, `bridge`, `refine` (probes and confirmations)."""
        return self.plan.stage

    @property
    def main_effects(self) -> dict[str, float]:
        """Each screened factor's main effect on the screens' ranks (`PlanState`)."""
        return self.plan.main_effects

    @property
    def promotions(self) -> list[dict[str, Any]]:
        """Each anchor's effort, interval and promotion (`PlanState`)."""
        return self.plan.promotions

    def attempts_of(self, trial: Trial) -> list[Attempt]:
        """The attempts a trial's executions reported (`metrics.trial_metrics`), in order."""
        return self.scoring.attempts(trial)

    def score(self, attempts: Sequence[Attempt]) -> float:
        """A trial's score: the effort (`measure`, `z`, `budget_unit`) of its attempts."""
        return self.scoring.score(attempts)

    def trial_results(self, attempts: Sequence[Attempt]) -> dict[str, float]:
        """What a tuner reports for a trial: its score (`effort`) and every attempt's metrics."""
        return {OBJECTIVE: self.score(attempts), **metrics.trial_metrics(attempts)}

    def ranking_key(self, trial: Trial) -> tuple[float, float]:
        """The trial's place in the ranking (`designs.ranking_key`), smaller is better."""
        return self.scoring.ranking_key(trial)

    def get_best_trials(self, num_trials: int = 1) -> list[Trial]:
        """The completed trials ranked by effort, then unreached ones by their best value.

        Trials measured with `executions_per_trial` executions come first; a configuration
        is ranked by its latest trial (`Scoring.ranked`).
        """
        trials = [self.trials[trial_id] for trial_id in self.start_order]
        hashed = lambda trial: self._compute_values_hash(trial.hyperparameters.values)  # noqa: E731
        return self.scoring.ranked(trials, hashed)[:num_trials]

    def total_seconds(self) -> float:
        """Wall-clock seconds of training of every execution reported so far."""
        return self.scoring.total_seconds(self.trials.values())

    def total_steps(self) -> int:
        """Gradient steps run by every execution reported so far, over the whole search."""
        return self.scoring.total_steps(self.trials.values())

    def _completed(self, stage: str) -> list[Trial]:
        trials = (self.trials[trial_id] for trial_id in self.start_order)
        return [t for t in trials if _stage_of(t) == stage and t.status == TrialStatus.COMPLETED]

    def _compute_values_hash(self, values: Mapping[str, Any]) -> str:
        # A configuration is the same whatever its stage, budget and seeds.
        return super()._compute_values_hash(space.configuration(values))

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def update_trial(self, trial_id: str, metrics: Mapping[str, float], step: int = 0) -> Trial:
        return super().update_trial(trial_id, metrics, step)

    @keras_tuner.synchronized
    def end_trial(self, trial: Trial) -> None:
        super().end_trial(trial)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state.update(self.plan.to_state())
        state.update(effort_budget_unit=self.budget_unit, effort_max_seconds=self.max_seconds)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.plan = PlanState.from_state(state)
        # States saved before budgets in seconds existed were in steps.
        budget_unit = state.get("effort_budget_unit", "steps")
        max_seconds = state.get("effort_max_seconds")
        self._set_unit(budget_unit, max_seconds)


def _configuration(trial: Trial) -> dict[str, Any]:
    return space.configuration(trial.hyperparameters.values)


def _stage_of(trial: Trial) -> str | None:
    return trial.hyperparameters.values.get(STAGE)
