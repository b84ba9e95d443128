"""The staged plan of `EffortOracle`: its stages, what each stage's trials are allowed, its state.

A trial carries its budget as hyperparameters, as Hyperband's trials carry `tuner/epochs`:
its stage, its steps, its executions, the seed of its first execution, its design row, and with
budgets in seconds its seconds. `STAGES` is the one table of what each stage's trials get; a
new stage is a row there and a branch of `EffortOracle.populate_space`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from keras_effort.tuners import designs

# Hyperparameters the oracle sets on every trial.
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


@dataclass(frozen=True)
class Stage:
    """What the trials of one stage are allowed.

    Attributes:
        share: the `EffortOracle` argument holding the stage's share of the full budget
            (`max_steps`, `max_seconds`); `None` for the full budget.
        one_execution: whether its trials run one execution, else `executions_per_trial`.
        cap: where its budget is cut once there is an incumbent (adaptive capping):
            `"capping"` at `capping` times the incumbent's effort, `"incumbent"` at that effort
            itself (uncut when capping is off), `None` never.
    """

    share: str | None = None
    one_execution: bool = False
    cap: str | None = None


STAGES = {
    SCREEN: Stage(share="screen_share", one_execution=True),
    ANCHOR: Stage(share="anchor_share", cap="capping"),
    BRIDGE: Stage(),
    # A probe is confirmed only if it reaches the target within the incumbent's effort:
    # running it any longer could not change that.
    REFINE: Stage(one_execution=True, cap="incumbent"),
    CONFIRM: Stage(cap="capping"),
    RANDOM: Stage(),
}


@dataclass(frozen=True)
class Budgets:
    """The budgets of one search's trials, stage by stage (`STAGES`).

    Attributes:
        max_steps: the full budget of one execution in steps.
        executions: `executions_per_trial`.
        shares: each `Stage.share` argument's value, e.g. `{"screen_share": 0.125}`.
        capping: the factor of the incumbent's effort at which capped stages are cut.
        max_seconds: the full budget of one execution in seconds, `None` when in steps.
    """

    max_steps: int
    executions: int
    shares: dict[str, float]
    capping: float
    max_seconds: float | None = None

    def steps(self, stage: str) -> int:
        """The uncapped step budget of one execution of a `stage` trial."""
        share = STAGES[stage].share
        if share is None:
            return self.max_steps
        return max(1, round(self.max_steps * self.shares[share]))

    def executions_of(self, stage: str) -> int:
        """How many executions a `stage` trial runs."""
        return 1 if STAGES[stage].one_execution else self.executions

    def of(self, stage: str, incumbent_effort: float | None) -> dict[str, Any]:
        """A `stage` trial's budget hyperparameters (`MAX_STEPS`, `EXECUTIONS`, `MAX_SECONDS`).

        Args:
            stage: one of `STAGES`.
            incumbent_effort: the incumbent's score, in the budget's unit; `None` if none.
        """
        rule = STAGES[stage]
        factor = {None: math.inf, "capping": self.capping}.get(
            rule.cap, 1.0 if math.isfinite(self.capping) else math.inf
        )
        cap = math.inf if incumbent_effort is None else factor * incumbent_effort
        steps = self.steps(stage)
        values: dict[str, Any] = {EXECUTIONS: self.executions_of(stage)}
        if self.max_seconds is not None:
            share = 1.0 if rule.share is None else self.shares[rule.share]
            values[MAX_SECONDS] = min(self.max_seconds * share, cap)
        elif math.isfinite(cap):
            steps = min(steps, max(1, math.ceil(cap)))
        values[MAX_STEPS] = int(steps)
        return values


@dataclass
class PlanState:
    """Where the staged plan stands; saved whole in the oracle's state, as `effort_<field>`.

    Attributes:
        stage: the current stage (`SCREEN`, `ANCHOR`, `BRIDGE`, `REFINE`, or `RANDOM`).
        factors: the names of the screened hyperparameters, in design column order.
        design: the screening design's coded rows, in their shuffled run order.
        next_row: the next design row to screen.
        anchor_queue: configurations waiting to be anchors.
        bridge_queue: configurations waiting for the bridge.
        probe_queue: configurations waiting to be probed before any neighbour.
        mirror: the next probe, `{"around": trial_id, "values": ...}`: the mirror image of the
            last one around the same incumbent.
        next_seed: the seed of the next execution.
        main_effects: each factor's main effect on the screens' ranks.
        promotions: each anchor's effort, interval and whether the bridge took it.
    """

    stage: str
    next_seed: int
    factors: list[str] = field(default_factory=list)
    design: list[list[int]] = field(default_factory=list)
    next_row: int = 0
    anchor_queue: list[dict[str, Any]] = field(default_factory=list)
    bridge_queue: list[dict[str, Any]] = field(default_factory=list)
    probe_queue: list[dict[str, Any]] = field(default_factory=list)
    mirror: dict[str, Any] | None = None
    main_effects: dict[str, float] = field(default_factory=dict)
    promotions: list[dict[str, Any]] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """The fields as oracle state entries, `effort_<field>`."""
        return {f"effort_{name}": value for name, value in asdict(self).items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PlanState:
        """The plan saved by `to_state`; a field a state saved before it existed is its default."""
        saved = {f.name: f"effort_{f.name}" for f in fields(cls)}
        return cls(**{name: state[key] for name, key in saved.items() if key in state})


def shuffled_design(factors: int, runs: int | None, seed: int) -> list[list[int]]:
    """The screening design (`designs.screening_design`) in a random run order.

    The run order is shuffled, as a designed experiment's should be, so that drift cannot pose
    as an effect.
    """
    design = designs.screening_design(factors, runs)
    return design[np.random.default_rng(seed).permutation(len(design))].tolist()


def check_plan(
    strategy: str,
    max_trials: int,
    factors: int,
    screen_runs: int | None,
    anchors: int,
    bridge: int,
) -> None:
    """Raise `ValueError` unless there are `factors` to tune and the plan fits `max_trials`.

    The staged plan needs its screens (`designs.screening_design`), its anchors, the predicted
    configuration's probe and its bridge.
    """
    if not factors:
        raise ValueError(
            "the search space is empty: the hypermodel (or `hyperparameters`) declares no "
            "hyperparameter to tune"
        )
    if strategy != "staged":
        return
    if factors > designs.MAX_FACTORS:
        raise ValueError(
            f"staged screening covers at most {designs.MAX_FACTORS} hyperparameters, the "
            f"search space has {factors}; fix some or use strategy='random'"
        )
    screens = len(designs.screening_design(factors, screen_runs))
    needed = screens + anchors + 1 + bridge
    if max_trials < needed:
        raise ValueError(
            f"`max_trials` = {max_trials} is too small for the staged plan: {screens} screens, "
            f"{anchors} anchors, the predicted configuration's probe and {bridge} bridge trials "
            f"need at least {needed}"
        )
