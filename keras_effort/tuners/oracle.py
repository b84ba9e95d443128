"""`EffortOracle`: a KerasTuner oracle that ranks trials by expected effort to a target."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras_tuner
import numpy as np
from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort.effort import (
    MEASURES,
    RuntimeDistribution,
    Target,
    check_measure,
    measure_effort,
)
from keras_effort.ledger import OUTCOMES, Attempt
from keras_effort.tuners import designs

STRATEGIES = ("staged", "random")
# What budgets and scores count: gradient steps, or wall-clock seconds of training.
BUDGET_UNITS = ("steps", "seconds")

# The objective every trial reports; its value is the trial's effort, lower is better.
OBJECTIVE = "effort"

# Hyperparameters the oracle sets on every trial, as Hyperband sets `tuner/epochs`.
STAGE = "effort/stage"
MAX_STEPS = "effort/max_steps"
EXECUTIONS = "effort/executions"
SEED = "effort/seed"
DESIGN_ROW = "effort/design_row"
MAX_SECONDS = "effort/max_seconds"

SCREEN, ANCHOR, BRIDGE, REFINE, CONFIRM, RANDOM = (
    "screen",
    "anchor",
    "bridge",
    "refine",
    "confirm",
    "random",
)

# Bootstrap resamples behind each anchor's confidence interval in the promotion rule.
_PROMOTION_RESAMPLES = 500
# Standard deviation, on a hyperparameter's own [0, 1] scale, of a refinement step.
_REFINE_SCALE = 0.1
# Chance that a refinement step moves a Choice or Boolean to another value.
_REFINE_SWITCH = 0.25
# `keras_effort.effort` counts whole units: seconds enter it as milliseconds.
_MILLISECONDS = 1000


# The fields of an attempt that cross gRPC to the oracle as numeric metrics, per execution.
_ATTEMPT_METRICS = ("steps", "reached", "budget", "best", "seconds", "outcome")


def attempt_metrics(index: int, attempt: Attempt) -> dict[str, float]:
    """The numeric metrics that carry execution `index`'s attempt to the oracle.

    A distributed oracle sees only numbers: `None` travels as NaN, the outcome as its index
    in `keras_effort.ledger.OUTCOMES`.
    """
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
        for name, value in zip(_ATTEMPT_METRICS, values, strict=True)
    }


def as_target(target: Target | tuple[Any, ...]) -> Target:
    """Normalise `("val_accuracy", 0.9)` or `("val_loss", 0.2, "min")` to a `Target`.

    Raises:
        ValueError: for anything else, or a target `Target` refuses.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, (tuple, list)) and len(target) in (2, 3):
        return Target(*target)
    raise ValueError(
        f"`target` must be a Target or a (metric, value[, mode]) tuple, got {target!r}"
    )


class EffortOracle(keras_tuner.Oracle):
    """Ranks configurations by their expected gradient steps to a target; screens cheaply first.

    A trial's score is its effort to the target over its executions (independent seeds), from
    `keras_effort.effort`: `l(c*)`, the expected steps when restarting at the best cutoff
    (`criterion="expected"`), or Koza's effort at confidence `z` (`criterion="koza"`).
    Executions that miss the target within the trial's step budget are censored there. Lower is
    better; trials that never reached the target rank after all that did, by how close they
    came (their best monitored value).

    With `strategy="staged"` the search runs in four stages, each trial's budget passed to it as
    hyperparameters (`effort/max_steps`, `effort/executions`, `effort/seed`, `effort/stage`):

    1. *screens*: a two-level fractional-factorial design over the search space, one execution
       each at `screen_budget * max_steps` steps; main effects are estimated on the screens'
       ranks;
    2. *anchors*: the `anchors` best screens, each with `executions_per_trial` seeds at
       `anchor_budget * max_steps` steps;
    3. *bridge* (only when `anchor_budget < 1`): the anchors promoted by `designs.promote` (the
       best one, and those whose effort interval overlaps its interval), at most
       `bridge_size`, re-run at `max_steps` if one of their executions was cut at the anchors'
       budget (an anchor whose every execution reached the target is measured already);
    4. *refinement*: the trials left *probe* configurations with one execution each: first
       the configuration the main effects predict, then neighbours of the incumbent (the best
       trial measured with `executions_per_trial` executions). A probe that reached the target
       faster than the incumbent's effort is *confirmed* by a trial of
       `executions_per_trial` executions at `max_steps`, which may become the incumbent.

    Once an incumbent exists, probes are cut at its effort, and anchors and confirmations at
    `capping` times its effort (adaptive capping, as SMAC does for runtimes): an execution that
    has not reached the target by then can hardly make its configuration beat the incumbent,
    and the steps saved buy more probes. `capping=inf` turns capping off. A trial measured with
    fewer than `executions_per_trial` executions (a screen, a probe) ranks after every trial
    measured with all of them.

    With `strategy="random"` every trial is a random configuration at `max_steps`.

    With `budget_unit="seconds"` budgets and scores are in wall-clock seconds of training
    instead: each execution is cut at its stage's share of `max_seconds` (as well as at
    `max_steps`, which stays a cap), and trials are ranked by their expected seconds to the
    target. Steps suit comparisons that should hold on any hardware; seconds suit spaces whose
    configurations differ in the cost of a step (batch size, width, depth).

    Args:
        target: the metric value to reach: `("val_accuracy", 0.9)`, `("val_loss", 0.3, "min")`
            or a `Target`.
        max_trials: the number of trials.
        max_steps: the full step budget of one execution, at least 1 (with
            `budget_unit="seconds"`, a cap in steps on top of the budget in seconds).
        executions_per_trial: independent seeds per trial (screens run one), at least 1.
        z: the confidence of Koza's effort, in (0, 1).
        criterion: `"expected"` or `"koza"`.
        strategy: `"staged"` or `"random"`.
        screen_runs: the minimum number of screens; by default the smallest design in which
            every main effect is estimable.
        screen_budget: the screens' share of `max_steps`, in (0, 1].
        anchor_budget: the anchors' share of `max_steps`, in (0, 1].
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

    Raises:
        ValueError: for a bad argument, naming it.
    """

    def __init__(
        self,
        target: Target | tuple[Any, ...],
        max_trials: int = 20,
        max_steps: int = 1000,
        executions_per_trial: int = 3,
        z: float = 0.99,
        criterion: str = "expected",
        strategy: str = "staged",
        screen_runs: int | None = None,
        screen_budget: float = 0.125,
        anchor_budget: float = 1.0,
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
        self.target = as_target(target)
        if self.target.direction is None:
            raise ValueError(
                f"cannot infer whether {self.target.metric!r} should go up or down; pass "
                "`target=(metric, value, 'max')` or `'min'`"
            )
        self.direction = self.target.direction
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"`seed` must be an int or None, got {seed!r}")
        if hyperparameters is not None and not isinstance(
            hyperparameters, keras_tuner.HyperParameters
        ):
            raise ValueError(
                "`hyperparameters` must be a keras_tuner.HyperParameters or None, got "
                f"{type(hyperparameters).__name__}"
            )
        for name, value in (
            ("max_trials", max_trials),
            ("max_steps", max_steps),
            ("executions_per_trial", executions_per_trial),
            ("anchors", anchors),
            ("bridge_size", bridge_size),
            ("max_consecutive_failed_trials", max_consecutive_failed_trials),
        ):
            _check_positive_int(name, value)
        if (
            isinstance(max_retries_per_trial, bool)
            or not isinstance(max_retries_per_trial, numbers.Integral)
            or max_retries_per_trial < 0
        ):
            raise ValueError(
                f"`max_retries_per_trial` must be an int >= 0, got {max_retries_per_trial!r}"
            )
        for name, value in (
            ("z", z),
            ("promotion_level", promotion_level),
        ):
            if not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
                raise ValueError(f"`{name}` must be a number in (0, 1), got {value!r}")
        for name, value in (("screen_budget", screen_budget), ("anchor_budget", anchor_budget)):
            if not isinstance(value, numbers.Real) or not 0.0 < float(value) <= 1.0:
                raise ValueError(f"`{name}` must be a number in (0, 1], got {value!r}")
        if (
            isinstance(capping, bool)
            or not isinstance(capping, numbers.Real)
            or math.isnan(capping)
            or capping < 1.0
        ):
            raise ValueError(f"`capping` must be a number >= 1 (or inf), got {capping!r}")
        try:
            check_measure(criterion)
        except ValueError:
            raise ValueError(f"`criterion` must be one of {MEASURES}, got {criterion!r}") from None
        if strategy not in STRATEGIES:
            raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {strategy!r}")
        if screen_runs is not None:
            _check_positive_int("screen_runs", screen_runs)
        _check_budget_unit(budget_unit, max_seconds)
        super().__init__(
            objective=keras_tuner.Objective(OBJECTIVE, direction="min"),
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        if seed is not None:
            # KerasTuner replaces a seed of 0 by a random one; 0 is a seed like any other here.
            self.seed = self._seed_state = seed
        self.max_steps = max_steps
        self.executions_per_trial = executions_per_trial
        self.z = float(z)
        self.criterion = criterion
        self.strategy = strategy
        self.screen_runs = screen_runs
        self.screen_steps = max(1, round(max_steps * screen_budget))
        self.anchor_steps = max(1, round(max_steps * anchor_budget))
        self.anchors = anchors
        self.bridge_size = bridge_size
        self.capping = float(capping)
        self.promotion_level = float(promotion_level)
        self.budget_unit = budget_unit
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self._budget_shares = {SCREEN: float(screen_budget), ANCHOR: float(anchor_budget)}

        self._stage = RANDOM if strategy == "random" else SCREEN
        self._factors: list[str] = []
        self._design: list[list[int]] = []
        self._next_row = 0
        self._anchor_queue: list[dict[str, Any]] = []
        self._bridge_queue: list[dict[str, Any]] = []
        self._probe_queue: list[dict[str, Any]] = []
        self._mirror: dict[str, Any] | None = None  # the next probe, around a given incumbent
        self._next_seed = (self.seed * 10_000) % 2**31
        self.main_effects: dict[str, float] = {}
        self.promotions: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ the plan

    def check_search_space(self) -> None:
        """Check the search space and the plan once the hypermodel has declared its space.

        Raises:
            ValueError: when the search space has nothing to tune, has more factors than the
                screening designs cover, or `max_trials` cannot hold the staged plan.
        """
        factors = self._tunable()
        if not factors:
            raise ValueError(
                "the search space is empty: the hypermodel (or `hyperparameters`) declares no "
                "hyperparameter to tune"
            )
        if self.strategy != "staged":
            return
        if len(factors) > designs.MAX_FACTORS:
            raise ValueError(
                f"staged screening covers at most {designs.MAX_FACTORS} hyperparameters, the "
                f"search space has {len(factors)}; fix some or use strategy='random'"
            )
        screens = len(designs.screening_design(len(factors), self.screen_runs))
        bridge = self.bridge_size if self.anchor_steps < self.max_steps else 0
        needed = screens + self.anchors + 1 + bridge
        if self.max_trials < needed:
            raise ValueError(
                f"`max_trials` = {self.max_trials} is too small for the staged plan: "
                f"{screens} screens, {self.anchors} anchors, the predicted configuration's "
                f"probe and {bridge} bridge trials need at least {needed}"
            )

    def _tunable(self) -> list[Any]:
        return [
            hp
            for hp in self.hyperparameters.space
            if not isinstance(hp, Fixed) and not hp.name.startswith("effort/")
        ]

    def _ensure_design(self) -> None:
        if self._design:
            return
        self.check_search_space()
        factors = self._tunable()
        self._factors = [hp.name for hp in factors]
        design = designs.screening_design(len(factors), self.screen_runs)
        # Shuffle the run order, as a designed experiment should, so drift cannot pose as effect.
        order = np.random.default_rng(self.seed).permutation(len(design))
        self._design = design[order].tolist()

    # ------------------------------------------------------------- populating

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next configuration of the current stage, with its budget as hyperparameters.

        Returns:
            `{"status": "RUNNING", "values": ...}`; `"IDLE"` while a stage waits for trials
            still running on other workers; `"STOPPED"` when the space is exhausted.
        """
        if self._stage == RANDOM:
            return self._running(self._random_values(), RANDOM, self.max_steps)
        self._ensure_design()
        if self._stage == SCREEN:
            if self._next_row < len(self._design):
                row = self._next_row
                self._next_row += 1
                values = self._values_at_levels(self._design[row])
                return self._running(values, SCREEN, self.screen_steps, executions=1, row=row)
            if self._waiting_for(SCREEN):
                return {"status": TrialStatus.IDLE}
            self._anchor_queue = self._choose_anchors()
            self._stage = ANCHOR
        if self._stage == ANCHOR:
            if self._anchor_queue:
                anchor = self._anchor_queue.pop(0)
                incumbent = self.incumbent()
                return self._capped(anchor, ANCHOR, self.anchor_steps, self.capping, incumbent)
            if self._waiting_for(ANCHOR):
                return {"status": TrialStatus.IDLE}
            self._bridge_queue = self._choose_bridge()
            self._stage = BRIDGE
        if self._stage == BRIDGE:
            if self._bridge_queue:
                return self._running(self._bridge_queue.pop(0), BRIDGE, self.max_steps)
            if self._waiting_for(BRIDGE):
                return {"status": TrialStatus.IDLE}
            self._stage = REFINE
        incumbent = self.incumbent()
        confirmation = self._probe_to_confirm(incumbent)
        if confirmation is not None:
            return self._capped(confirmation, CONFIRM, self.max_steps, self.capping, incumbent)
        # A probe is confirmed only if it reaches the target within the incumbent's effort
        # (`_probe_to_confirm`): running it any longer could not change that.
        factor = 1.0 if math.isfinite(self.capping) else math.inf
        queued = self._probe_queue.pop(0) if self._probe_queue else None
        probe = queued or self._refined_values(incumbent)
        return self._capped(probe, REFINE, self.max_steps, factor, incumbent, executions=1)

    def _capped(
        self,
        values: Mapping[str, Any] | None,
        stage: str,
        steps: int,
        factor: float,
        incumbent: Trial | None,
        executions: int | None = None,
    ) -> dict[str, Any]:
        """`_running`, with the budget cut at `factor` times the incumbent's effort."""
        cap = math.inf if incumbent is None else factor * incumbent.score
        if self.budget_unit == "seconds":
            return self._running(values, stage, steps, executions, seconds_cap=cap)
        if math.isfinite(cap):
            steps = min(steps, max(1, math.ceil(cap)))
        return self._running(values, stage, steps, executions)

    def _running(
        self,
        values: Mapping[str, Any] | None,
        stage: str,
        steps: int,
        executions: int | None = None,
        row: int = -1,
        seconds_cap: float = math.inf,
    ) -> dict[str, Any]:
        if values is None:
            # Nothing new to try; wait if others may still change the picture.
            status = TrialStatus.IDLE if self.ongoing_trials else TrialStatus.STOPPED
            return {"status": status, "values": None}
        executions = self.executions_per_trial if executions is None else executions
        values = dict(values)
        values.update(
            {
                STAGE: stage,
                MAX_STEPS: int(steps),
                EXECUTIONS: int(executions),
                SEED: int(self._next_seed),
                DESIGN_ROW: int(row),
            }
        )
        if self.max_seconds is not None:
            share = self.max_seconds * self._budget_shares.get(stage, 1.0)
            values[MAX_SECONDS] = min(share, seconds_cap)
        self._next_seed = (self._next_seed + executions) % 2**31
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

    def _values_at_levels(self, codes: list[int]) -> dict[str, Any]:
        levels = dict(zip(self._factors, codes, strict=True))
        hps = keras_tuner.HyperParameters()
        for hp in self.hyperparameters.space:
            hps.merge([hp])
            if hps.is_active(hp) and not hp.name.startswith("effort/"):
                if hp.name in levels:
                    low, high = two_levels(hp)
                    hps.values[hp.name] = high if levels[hp.name] > 0 else low
                else:
                    hps.values[hp.name] = hp.default
        return dict(hps.values)

    def _choose_anchors(self) -> list[dict[str, Any]]:
        """The best screens; the configuration the main effects predict becomes the first probe."""
        screens = self._completed(SCREEN)
        if not screens:
            return []
        keys = [self.ranking_key(trial) for trial in screens]
        coded = np.array([self._design[_row_of(trial)] for trial in screens])
        order = sorted(range(len(screens)), key=lambda i: keys[i])
        effects = designs.main_effects(coded, designs.ranks(keys))
        self.main_effects = {
            name: float(effect) for name, effect in zip(self._factors, effects, strict=True)
        }
        predicted = designs.predicted_best_levels(effects, fallback=coded[order[0]])
        anchors = [_configuration(screens[i]) for i in order[: self.anchors]]
        predicted_values = self._values_at_levels(predicted.tolist())
        if self._compute_values_hash(predicted_values) not in {
            self._compute_values_hash(values) for values in anchors
        }:
            self._probe_queue = [predicted_values]
        return anchors

    def _choose_bridge(self) -> list[dict[str, Any]]:
        """Promote anchors by the rule fixed in advance (`designs.promote`)."""
        if self.anchor_steps >= self.max_steps:
            return []  # the anchors ran at the full budget: nothing to bridge
        anchors = self._completed(ANCHOR)
        if not anchors:
            best = [t for t in self.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
            return [_configuration(best[0])] if best else []
        keys = [self.ranking_key(trial) for trial in anchors]
        intervals = []
        for trial in anchors:
            distribution, unit = self.distribution(self.attempts_of(trial))
            low, high = distribution.confidence_interval(
                self.criterion,
                level=self.promotion_level,
                n_boot=_PROMOTION_RESAMPLES,
                seed=self.seed,
                z=self.z,
            )
            intervals.append((low / unit, high / unit))
        promoted = designs.promote(keys, intervals, self.bridge_size)
        self.promotions = [
            {
                "trial_id": trial.trial_id,
                "effort": trial.score,
                "interval": list(interval),
                "promoted": index in promoted,
            }
            for index, (trial, interval) in enumerate(zip(anchors, intervals, strict=True))
        ]
        # An anchor whose every execution reached the target is measured in full already: a
        # longer budget would not change its effort.
        return [
            _configuration(anchors[i])
            for i in promoted
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
        return min(completed, key=self._sort_key, default=None)

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

        Neighbours come in mirrored pairs (`_neighbours`): after a probe, the next one is its
        mirror image around the same incumbent, unless a confirmation has replaced the
        incumbent in between. A step in the wrong direction is followed by one in the other.
        """
        incumbent = incumbent or self._best_completed()
        if incumbent is None:
            return self._random_values()
        mirror, self._mirror = self._mirror, None
        if (
            mirror is not None
            and mirror["around"] == incumbent.trial_id
            and not self._duplicate(mirror["values"])
        ):
            return mirror["values"]
        rng = np.random.default_rng([self.seed, len(self.trials)])
        for _ in range(self._max_collisions):
            values, mirrored = self._neighbours(_configuration(incumbent), rng)
            if not self._duplicate(values):
                self._mirror = {"around": incumbent.trial_id, "values": mirrored}
                return values
        return self._random_values()

    def _neighbours(
        self, values: dict[str, Any], rng: np.random.Generator
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A random neighbour of `values` and its mirror image.

        Numeric values move by a normal step on their own `[0, 1]` scale, an ordered `Choice`
        (numbers, e.g. widths) to a value beside the current one; the mirror takes the opposite
        steps (mirrored sampling, Brockhoff et al., PPSN 2010). An unordered `Choice` or a
        `Boolean` switches to another value alike in both. At least one factor moves.
        """
        tunable = [hp for hp in self._tunable() if hp.name in values]
        moved, mirrored = dict(values), dict(values)
        must_move = tunable[int(rng.integers(len(tunable)))].name if tunable else None
        for hp in tunable:
            current = values[hp.name]
            if isinstance(hp, (Choice, Boolean)):
                if hp.name != must_move and rng.random() >= _REFINE_SWITCH:
                    continue
                options = [False, True] if isinstance(hp, Boolean) else list(hp.values)
                last = len(options) - 1
                if isinstance(hp, Choice) and hp.ordered and current in options and last > 0:
                    index = options.index(current)
                    if index in (0, last):  # at an end: inwards, and the mirror stays
                        step = 1 if index == 0 else -1
                    else:
                        step = 1 if rng.random() < 0.5 else -1
                    moved[hp.name] = options[index + step]
                    mirrored[hp.name] = options[min(max(index - step, 0), last)]
                else:
                    others = [value for value in options if value != current]
                    if others:
                        moved[hp.name] = mirrored[hp.name] = others[int(rng.integers(len(others)))]
            else:
                probability = hp.value_to_prob(current)
                step = rng.normal(0.0, _REFINE_SCALE)
                for target, sign in ((moved, 1.0), (mirrored, -1.0)):
                    shifted = float(np.clip(probability + sign * step, 0.0, 1.0))
                    target[hp.name] = _native(hp.prob_to_value(shifted))
        return moved, mirrored

    # ---------------------------------------------------------------- scoring

    def attempts_of(self, trial: Trial) -> list[Attempt]:
        """The attempts a trial's executions reported (see `attempt_metrics`), in order."""
        metrics = trial.metrics
        if not metrics.exists("executions"):
            return []

        def value(index: int, name: str) -> float | None:
            number = float(metrics.get_last_value(f"execution_{index}_{name}"))
            return None if math.isnan(number) else number

        attempts = []
        for index in range(int(metrics.get_last_value("executions"))):
            budget = value(index, "budget")
            attempts.append(
                Attempt(
                    experiment=f"trial_{trial.trial_id}",
                    target_metric=self.target.metric,
                    target_value=self.target.value,
                    steps=int(value(index, "steps")),
                    reached=value(index, "reached") == 1.0,
                    budget=None if budget is None else int(budget),
                    outcome=OUTCOMES[int(value(index, "outcome"))],
                    attempt=0,
                    run=f"trial_{trial.trial_id}/execution_{index}",
                    seconds=value(index, "seconds"),
                    best_value=value(index, "best"),
                )
            )
        return attempts

    def score(self, attempts: list[Attempt]) -> float:
        """A trial's score: the effort (`criterion`, `z`) of its executions' attempts.

        In steps or seconds (`budget_unit`); executions that missed the target are censored
        as `distribution` says. `inf` when none reached the target; lower is better.
        """
        distribution, unit = self.distribution(attempts)
        return measure_effort(distribution, self.criterion, self.z) / unit

    def distribution(self, attempts: list[Attempt]) -> tuple[RuntimeDistribution, int]:
        """The attempts' runtime distribution in `budget_unit`, and the unit's scale.

        In steps, `RuntimeDistribution.from_attempts`. In seconds, counted in whole
        milliseconds (scale 1000), since `keras_effort.effort` counts whole units: an attempt
        that reached the target is observed at its seconds to it; one that missed is censored
        at the seconds it ran (cut at its budget, or stopped earlier), except one that
        diverged, which would not have succeeded later: it is censored at `max_seconds`.
        """
        if self.budget_unit == "steps":
            return RuntimeDistribution.from_attempts(attempts), 1
        milliseconds = [
            _Timed(
                steps=round(_MILLISECONDS * (attempt.seconds or 0.0)),
                reached=attempt.reached,
                budget=(
                    round(_MILLISECONDS * self.max_seconds)
                    if attempt.outcome == "diverged" and self.max_seconds is not None
                    else None
                ),
            )
            for attempt in attempts
        ]
        return RuntimeDistribution.from_attempts(milliseconds), _MILLISECONDS

    def trial_results(self, attempts: list[Attempt]) -> dict[str, float]:
        """What a tuner reports for a trial: its score (`effort`) and every attempt's metrics."""
        results = {OBJECTIVE: self.score(attempts), "executions": float(len(attempts))}
        for index, attempt in enumerate(attempts):
            results.update(attempt_metrics(index, attempt))
        return results

    def ranking_key(self, trial: Trial) -> tuple[float, float]:
        """The trial's place in the ranking (`designs.ranking_key`), smaller is better."""
        values = [a.best_value for a in self.attempts_of(trial) if a.best_value is not None]
        best = None if not values else (max(values) if self.direction == "up" else min(values))
        return designs.ranking_key(
            math.inf if trial.score is None else trial.score, best, self.direction
        )

    def _sort_key(self, trial: Trial) -> tuple[bool, tuple[float, float], int]:
        # A trial with fewer executions than asked (a screen, a probe) may owe its place to one
        # lucky seed: it ranks after every trial measured in full. Among equal keys, the trial
        # with more executions is the better-supported one.
        executions = len(self.attempts_of(trial))
        return executions < self.executions_per_trial, self.ranking_key(trial), -executions

    def get_best_trials(self, num_trials: int = 1) -> list[Trial]:
        """The completed trials ranked by effort, then unreached ones by their best value.

        Trials measured with `executions_per_trial` executions come first. A configuration
        re-run later with more evidence (an anchor re-running a screen, a confirmation
        re-running a probe) is ranked by its latest trial: its earlier trials, which a lucky
        seed at a small budget could otherwise put first, follow all the others.
        """
        latest: dict[str, Trial] = {}
        for trial_id in self.start_order:
            trial = self.trials[trial_id]
            if trial.status == TrialStatus.COMPLETED:
                latest[self._compute_values_hash(trial.hyperparameters.values)] = trial
        current = sorted(latest.values(), key=self._sort_key)
        superseded = sorted(
            (
                t
                for t in self.trials.values()
                if t.status == TrialStatus.COMPLETED and t not in current
            ),
            key=self._sort_key,
        )
        ranked = current + superseded
        if len(ranked) < num_trials:
            ranked += [t for t in self.trials.values() if t.status != TrialStatus.COMPLETED]
        return ranked[:num_trials]

    def total_seconds(self) -> float:
        """Wall-clock seconds of training of every execution reported so far."""
        return sum(
            attempt.seconds or 0.0
            for trial in self.trials.values()
            for attempt in self.attempts_of(trial)
        )

    def total_steps(self) -> int:
        """Gradient steps run by every execution reported so far, over the whole search."""
        return sum(a.steps for trial in self.trials.values() for a in self.attempts_of(trial))

    @property
    def stage(self) -> str:
        """The current stage: `screen`, `anchor`, `bridge`, `refine` (or `random`).

        During `refine` a trial is a probe (`refine`) or a confirmation (`confirm`).
        """
        return self._stage

    def _completed(self, stage: str) -> list[Trial]:
        return [
            self.trials[trial_id]
            for trial_id in self.start_order
            if _stage_of(self.trials[trial_id]) == stage
            and self.trials[trial_id].status == TrialStatus.COMPLETED
        ]

    def _compute_values_hash(self, values: Mapping[str, Any]) -> str:
        # A configuration is the same whatever its stage, budget and seeds.
        return super()._compute_values_hash(_strip_effort(values))

    # -------------------------------------------------------------- KerasTuner

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
        state.update(
            {
                "effort_stage": self._stage,
                "effort_factors": self._factors,
                "effort_design": self._design,
                "effort_next_row": self._next_row,
                "effort_anchor_queue": self._anchor_queue,
                "effort_bridge_queue": self._bridge_queue,
                "effort_probe_queue": self._probe_queue,
                "effort_mirror": self._mirror,
                "effort_next_seed": self._next_seed,
                "effort_main_effects": self.main_effects,
                "effort_promotions": self.promotions,
                "effort_budget_unit": self.budget_unit,
                "effort_max_seconds": self.max_seconds,
            }
        )
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._stage = state["effort_stage"]
        self._factors = state["effort_factors"]
        self._design = state["effort_design"]
        self._next_row = state["effort_next_row"]
        self._anchor_queue = state["effort_anchor_queue"]
        self._bridge_queue = state["effort_bridge_queue"]
        self._probe_queue = state.get("effort_probe_queue", [])
        self._mirror = state.get("effort_mirror")
        self._next_seed = state["effort_next_seed"]
        self.main_effects = state["effort_main_effects"]
        self.promotions = state["effort_promotions"]
        # States saved before budgets in seconds existed were in steps.
        budget_unit = state.get("effort_budget_unit", "steps")
        max_seconds = state.get("effort_max_seconds")
        _check_budget_unit(budget_unit, max_seconds)
        self.budget_unit = budget_unit
        self.max_seconds = max_seconds


@dataclass(frozen=True)
class _Timed:
    """An attempt counted in milliseconds, for `RuntimeDistribution.from_attempts`."""

    steps: int
    reached: bool
    budget: int | None


def _check_budget_unit(budget_unit: object, max_seconds: object) -> None:
    if budget_unit not in BUDGET_UNITS:
        raise ValueError(f"`budget_unit` must be one of {BUDGET_UNITS}, got {budget_unit!r}")
    if budget_unit == "steps":
        if max_seconds is not None:
            raise ValueError(
                "`max_seconds` is the budget of budget_unit='seconds'; with budget_unit='steps' "
                f"the budget is `max_steps` and `max_seconds` must be None, got {max_seconds!r}"
            )
        return
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, numbers.Real)
        or not 0.0 < float(max_seconds) < math.inf
    ):
        raise ValueError(
            "`max_seconds` must be a finite number > 0 with budget_unit='seconds', "
            f"got {max_seconds!r}"
        )


def two_levels(hp: Any) -> tuple[Any, Any]:
    """The low and high screening levels of a hyperparameter.

    A numeric range (`Int`, `Float`) is screened at its lower and upper quartile on its own
    sampling scale (log for log ranges), so neither level sits on an edge; a `Boolean` at
    `False`/`True`; a `Choice` at its first and last values (with more than two values, the
    ones between are reached by the refinement stage).
    """
    if isinstance(hp, Boolean):
        return False, True
    if isinstance(hp, Choice):
        return hp.values[0], hp.values[-1]
    return _native(hp.prob_to_value(0.25)), _native(hp.prob_to_value(0.75))


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _strip_effort(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("effort/")}


def _configuration(trial: Trial) -> dict[str, Any]:
    return _strip_effort(trial.hyperparameters.values)


def _stage_of(trial: Trial) -> str | None:
    return trial.hyperparameters.values.get(STAGE)


def _row_of(trial: Trial) -> int:
    return int(trial.hyperparameters.values[DESIGN_ROW])


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1, got {value!r}")
