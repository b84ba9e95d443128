"""EffortOracle driven by hand (no training): stages, budgets, ranking, IDLE, state, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import keras_tuner
import numpy as np
import pytest
from distributed_search import build_toy, toy_data
from keras_tuner.engine.trial import TrialStatus

from keras_effort.callbacks import EffortTensorBoard, TargetStopping
from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import Attempt
from keras_effort.tuners import EffortOracle, EffortSearch, EffortTuner, Target, designs
from keras_effort.tuners.plan import (
    EXECUTIONS,
    MAX_STEPS,
    SEED,
    STAGE,
)
from keras_effort.tuners.space import neighbours

LR_LOW, LR_HIGH = 1e-4, 1e-1


def space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", LR_LOW, LR_HIGH, sampling="log")
    hp.Int("width", 8, 64)
    hp.Choice("optimizer", ["adam", "sgd"])
    return hp


def make_oracle(tmp_path, **kwargs) -> EffortOracle:
    arguments = {
        "target": ("val_accuracy", 0.9),
        "max_trials": 16,
        "max_steps": 800,
        "executions_per_trial": 3,
        "hyperparameters": space(),
        "seed": 3,
    }
    arguments.update(kwargs)
    oracle = EffortOracle(**arguments)
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "project")
    return oracle


def toy_attempt(steps: int, reached: bool, budget: int, best: float) -> Attempt:
    return Attempt(
        "toy",
        "val_accuracy",
        0.9,
        steps=steps,
        reached=reached,
        budget=budget,
        outcome=None if reached else "cutoff",
        best_value=best,
    )


def toy_outcome(values: dict, budget: int, seed: int) -> Attempt:
    """Steps to target fall with the learning rate; adam helps; width is irrelevant."""
    steps = 200 * (LR_HIGH / values["lr"]) ** 0.5 * (0.5 if values["optimizer"] == "adam" else 1.0)
    steps = int(steps * (1.0 + 0.1 * (seed % 3)))
    reached = steps <= budget
    best = 0.95 if reached else 0.9 * min(1.0, budget / steps)
    return toy_attempt(steps if reached else budget, reached, budget, best)


def run_trial(oracle, tuner_id: str = "tuner0", outcome: Callable = toy_outcome):
    """Create one trial and complete it with simulated executions, as EffortTuner reports them."""
    trial = oracle.create_trial(tuner_id)
    if trial.status != TrialStatus.RUNNING:
        return trial
    report(oracle, trial, outcome)
    return trial


def report(oracle, trial, outcome: Callable = toy_outcome) -> None:
    values = trial.hyperparameters.values
    attempts = [
        outcome(values, values[MAX_STEPS], values[SEED] + i) for i in range(values[EXECUTIONS])
    ]
    metrics = oracle.trial_results(attempts)
    oracle.update_trial(trial.trial_id, metrics)
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


def stages(oracle) -> list[str]:
    return [oracle.trials[t].hyperparameters.values[STAGE] for t in oracle.start_order]


def run_recording_incumbents(oracle, trials: int) -> list:
    """Run `trials` trials; return the incumbent's score when each was created (None if none)."""
    before = []
    for _ in range(trials):
        incumbent = oracle.incumbent()
        before.append(None if incumbent is None else incumbent.score)
        run_trial(oracle)
    return before


def test_staged_search_runs_screens_anchors_then_probes_and_confirmations(tmp_path) -> None:
    oracle = make_oracle(tmp_path, seed=0)  # a seed whose refinement improves on the anchors
    oracle.check_search_space()
    incumbents = run_recording_incumbents(oracle, 16)
    trials = [oracle.trials[t] for t in oracle.start_order]
    assert len(trials) == 16  # a lone tuner is never answered IDLE
    names = stages(oracle)
    screens = [t for t, s in zip(trials, names, strict=True) if s == "screen"]
    # 3 factors: the 2^(3-1) design, 4 screens, first; then the best screen as the anchor at the
    # full budget, no bridge, then refinement.
    assert len(screens) == 4 and names[:5] == ["screen"] * 4 + ["anchor"]
    assert set(names[5:]) <= {"refine", "confirm"} and "refine" in names

    # Screens: one execution at 1/8 of the budget, at the quartiles of each range on its scale.
    quartiles = {float(LR_LOW * 1000**0.25), float(LR_LOW * 1000**0.75)}
    for trial in screens:
        values = trial.hyperparameters.values
        assert (values[MAX_STEPS], values[EXECUTIONS]) == (100, 1)
        assert any(math.isclose(values["lr"], q) for q in quartiles)
        assert values["width"] in (22, 50)
    levels = np.array(
        [
            [
                1 if v["lr"] > 1e-3 else -1,
                1 if v["width"] > 30 else -1,
                1 if v["optimizer"] == "sgd" else -1,
            ]
            for v in (t.hyperparameters.values for t in screens)
        ]
    )
    assert {tuple(r) for r in levels} == {tuple(r) for r in designs.fractional_factorial(3, 1)}

    # Main effects on ranks: a high learning rate and adam lower the rank. Width does not matter
    # to the toy, but in this half fraction it is aliased with lr x optimizer: not asserted.
    assert oracle.main_effects["lr"] < 0
    assert oracle.main_effects["optimizer"] > 0
    # The best screen is the anchor; the configuration the main effects predict is the first
    # probe, unless it is the anchor already.
    anchors = [t for t, s in zip(trials, names, strict=True) if s == "anchor"]
    assert len(anchors) == 1
    best_screen = min(screens, key=oracle.ranking_key)
    assert oracle._compute_values_hash(anchors[0].hyperparameters.values) == (
        oracle._compute_values_hash(best_screen.hyperparameters.values)
    )
    predicted = {"lr": max(quartiles), "optimizer": "adam"}
    first_probe = trials[names.index("refine")]
    assert any(
        all(
            np.isclose(t.hyperparameters.values[k], v)
            if k == "lr"
            else t.hyperparameters.values[k] == v
            for k, v in predicted.items()
        )
        for t in (anchors[0], first_probe)
    )

    # Budgets: the first anchor has the full budget; every later anchor and confirmation is cut
    # at 1.5x the incumbent's effort at its creation, every probe at that effort (adaptive
    # capping).
    assert incumbents[4] is None and anchors[0].hyperparameters.values[MAX_STEPS] == 800
    for trial, stage, incumbent in zip(trials[5:], names[5:], incumbents[5:], strict=True):
        # (the toy's anchors all reach the target, so an incumbent exists from the first on)
        values = trial.hyperparameters.values
        assert incumbent is not None and math.isfinite(incumbent)
        factor = 1.0 if stage == "refine" else 1.5
        assert values[MAX_STEPS] == min(800, math.ceil(factor * incumbent))
        assert values[EXECUTIONS] == (1 if stage == "refine" else 3)

    # A probe is confirmed when its one execution beat the incumbent of that moment, once.
    probes = {
        oracle._compute_values_hash(t.hyperparameters.values): t
        for t, s in zip(trials, names, strict=True)
        if s == "refine"
    }
    for index, (trial, stage) in enumerate(zip(trials, names, strict=True)):
        if stage == "confirm":
            probe = probes[oracle._compute_values_hash(trial.hyperparameters.values)]
            assert trials.index(probe) < index
            assert oracle.attempts_of(probe)[0].reached
            assert oracle.attempts_of(probe)[0].steps < incumbents[index]
    confirmations = [t for t, s in zip(trials, names, strict=True) if s == "confirm"]
    assert confirmations, "the toy's neighbours should beat the anchors at least once"
    hashes = [oracle._compute_values_hash(t.hyperparameters.values) for t in confirmations]
    assert len(set(hashes)) == len(hashes)
    refine = [t for t, s in zip(trials, names, strict=True) if s == "refine"]
    configs = [oracle._compute_values_hash(t.hyperparameters.values) for t in refine]
    assert len(set(configs)) == len(configs)
    for trial in refine:
        assert LR_LOW <= trial.hyperparameters.values["lr"] <= LR_HIGH

    # The incumbent is the best trial measured with every execution; probes never are it.
    incumbent = oracle.incumbent()
    assert len(oracle.attempts_of(incumbent)) == 3
    assert oracle.get_best_trials(1)[0] is incumbent

    # Every execution of the search gets its own seed.
    seeds = [
        t.hyperparameters.values[SEED] + i
        for t in trials
        for i in range(t.hyperparameters.values[EXECUTIONS])
    ]
    assert len(seeds) == len(set(seeds))
    assert oracle.create_trial("tuner0").status == TrialStatus.STOPPED
    assert oracle.total_steps() == sum(a.steps for t in trials for a in oracle.attempts_of(t))


@pytest.mark.parametrize("max_steps", [800, 500])
def test_bridge_reruns_only_promoted_anchors_that_were_cut_at_their_budget(
    tmp_path, max_steps
) -> None:
    # The toy's best anchor needs 237 to 284 steps: at an anchor budget of 400 (of 800) every
    # execution reaches the target and it is measured already; at 250 (of 500) some are cut.
    oracle = make_oracle(
        tmp_path, max_steps=max_steps, anchor_share=0.5, anchors=2, capping=math.inf
    )
    for _ in range(16):
        run_trial(oracle)
    trials = [oracle.trials[t] for t in oracle.start_order]
    names = stages(oracle)
    order = {"screen": 0, "anchor": 1, "bridge": 2, "refine": 3, "confirm": 3}
    assert [order[s] for s in names] == sorted(order[s] for s in names)
    anchors = [t for t, s in zip(trials, names, strict=True) if s == "anchor"]
    assert len(anchors) == 2  # the best two screens
    assert all(
        t.hyperparameters.values[MAX_STEPS] == max_steps // 2
        and t.hyperparameters.values[EXECUTIONS] == 3
        for t in anchors
    )
    bridge = [t for t, s in zip(trials, names, strict=True) if s == "bridge"]
    assert all(t.hyperparameters.values[MAX_STEPS] == max_steps for t in bridge)
    promoted = {p["trial_id"] for p in oracle.promotions if p["promoted"]}
    best = min(anchors, key=lambda t: t.score)
    assert best.trial_id in promoted
    cut = {
        oracle._compute_values_hash(t.hyperparameters.values)
        for t in anchors
        if t.trial_id in promoted and not all(a.reached for a in oracle.attempts_of(t))
    }
    assert {oracle._compute_values_hash(t.hyperparameters.values) for t in bridge} == cut
    best_complete = all(a.reached for a in oracle.attempts_of(best))
    assert best_complete == (max_steps == 800)
    assert bool(bridge) == (max_steps == 500)
    # Without capping every probe runs at the full budget.
    assert all(
        t.hyperparameters.values[MAX_STEPS] == max_steps
        for t, s in zip(trials, names, strict=True)
        if s in ("refine", "confirm")
    )


def test_refinement_steps_come_in_mirrored_pairs_and_ordered_choices_move_beside(
    tmp_path,
) -> None:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", LR_LOW, LR_HIGH, sampling="log")
    hp.Choice("width", [16, 32, 64, 128])
    hp.Choice("optimizer", ["adam", "sgd", "rmsprop"])
    oracle = make_oracle(tmp_path, hyperparameters=hp)
    (lr_hp,) = [h for h in oracle.hyperparameters.space if h.name == "lr"]
    rng = np.random.default_rng(0)
    start = {"lr": 1e-2, "width": 32, "optimizer": "adam"}
    widths, optimizers = set(), set()
    for _ in range(300):
        moved, mirrored = neighbours(oracle.hyperparameters, start, rng)
        assert moved != start
        widths.add(moved["width"])
        optimizers.add(moved["optimizer"])
        # The mirror takes the opposite step: on the log scale for the rate, one place the
        # other way for the width; an unordered choice switches alike in both.
        centre = lr_hp.value_to_prob(start["lr"])
        up, down = lr_hp.value_to_prob(moved["lr"]), lr_hp.value_to_prob(mirrored["lr"])
        if 0.0 < up < 1.0 and 0.0 < down < 1.0:
            assert up - centre == pytest.approx(centre - down, abs=1e-9)
        position = [16, 32, 64, 128].index
        assert position(moved["width"]) - 1 == 1 - position(mirrored["width"])
        assert mirrored["optimizer"] == moved["optimizer"]
    # Widths are ordered: 32 moves to 16 or 64, never to 128. Names are not: any other one.
    assert widths == {16, 32, 64}
    assert optimizers == {"adam", "sgd", "rmsprop"}
    # At an end of the list the step goes inwards, and its mirror stays at the end.
    for _ in range(50):
        moved, mirrored = neighbours(oracle.hyperparameters, {**start, "width": 128}, rng)
        assert moved["width"] in (64, 128) and mirrored["width"] == 128


def test_a_probe_is_followed_by_its_mirror_unless_the_incumbent_changed(tmp_path) -> None:
    oracle = make_oracle(tmp_path, seed=0, max_trials=24)
    (lr_hp,) = [h for h in oracle.hyperparameters.space if h.name == "lr"]
    probes = []  # (lr on its [0, 1] scale, the incumbent's trial and lr when it was created)
    for _ in range(24):
        incumbent = oracle.incumbent()
        trial = run_trial(oracle)
        if trial.hyperparameters.values[STAGE] == "refine":
            centre = incumbent.hyperparameters.values["lr"]
            probes.append(
                (
                    lr_hp.value_to_prob(trial.hyperparameters.values["lr"]),
                    incumbent.trial_id,
                    lr_hp.value_to_prob(centre),
                )
            )
    # Fresh neighbours and their mirrors alternate while the incumbent stays; a new incumbent
    # starts a fresh pair. (The configuration the main effects predict, probed first unless it
    # is the anchor, sits on the screened quartiles: it is no neighbour.)
    mirrors, pending = 0, None
    for lr, around, centre in probes:
        if lr in (0.25, 0.75):
            continue
        if pending is not None and pending[1] == around:
            step, mirrored_step = lr - centre, centre - pending[0]
            if 0.0 < lr < 1.0 and 0.0 < pending[0] < 1.0:
                assert step == pytest.approx(mirrored_step, abs=1e-9)
            else:  # clipped at an end of the range: still the other way
                assert step * mirrored_step >= 0.0
            mirrors, pending = mirrors + 1, None
        else:
            pending = (lr, around)
    assert mirrors >= 3


def test_best_trials_rank_by_effort_then_closeness_and_latest_evidence(tmp_path) -> None:
    oracle = make_oracle(tmp_path)
    for _ in range(16):
        run_trial(oracle)
    best = oracle.get_best_trials(16)
    assert len(best) == 16
    keys = [oracle.ranking_key(t) for t in best]
    hashes = [oracle._compute_values_hash(t.hyperparameters.values) for t in best]
    current = len(set(hashes))
    # Each configuration appears once among the leaders, by its latest (best-supported) trial.
    assert len(set(hashes[:current])) == current
    assert keys[:current] == sorted(keys[:current])
    assert best[0].score == min(t.score for t in best[:current] if math.isfinite(t.score))
    reached = [math.isfinite(t.score) for t in best[:current]]
    assert reached == sorted(reached, reverse=True)
    # The score is the effort module's expected steps over the trial's executions.
    top = oracle.attempts_of(best[0])
    assert best[0].score == RuntimeDistribution.from_attempts(top).expected_steps()


def test_unreached_trials_rank_by_best_value(tmp_path) -> None:
    oracle = make_oracle(tmp_path, strategy="random", max_trials=3)

    def never(best: float) -> Callable:
        return lambda values, budget, seed: toy_attempt(budget, False, budget, best)

    for best in (0.5, 0.8, 0.6):
        run_trial(oracle, outcome=never(best))
    ranked = oracle.get_best_trials(3)
    assert [max(a.best_value for a in oracle.attempts_of(t)) for t in ranked] == [0.8, 0.6, 0.5]
    assert all(t.score == math.inf for t in ranked)


def test_koza_measure_scores_by_koza_effort(tmp_path) -> None:
    oracle = make_oracle(tmp_path, strategy="random", max_trials=1, measure="koza", z=0.9)
    trial = run_trial(oracle)
    distribution = RuntimeDistribution.from_attempts(
        oracle.attempts_of(oracle.trials[trial.trial_id])
    )
    assert oracle.trials[trial.trial_id].score == distribution.koza_effort(0.9).steps


def test_random_strategy_runs_every_trial_at_the_full_budget(tmp_path) -> None:
    oracle = make_oracle(tmp_path, strategy="random", max_trials=5, executions_per_trial=2)
    for _ in range(5):
        run_trial(oracle)
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        assert (values[STAGE], values[MAX_STEPS], values[EXECUTIONS]) == ("random", 800, 2)


def test_a_stage_waits_idle_for_other_workers_and_never_idles_a_lone_tuner(tmp_path) -> None:
    oracle = make_oracle(tmp_path)
    # Two workers: the second screen of worker "b" is still running when "a" asks for more.
    for _ in range(3):
        run_trial(oracle, "a")
    running = oracle.create_trial("b")
    assert running.hyperparameters.values[STAGE] == "screen"
    assert oracle.create_trial("a").status == TrialStatus.IDLE
    report(oracle, running)
    anchor = oracle.create_trial("a")
    assert anchor.status == TrialStatus.RUNNING
    assert anchor.hyperparameters.values[STAGE] == "anchor"


def test_failed_screens_do_not_stall_a_lone_tuner(tmp_path) -> None:
    oracle = make_oracle(tmp_path, max_consecutive_failed_trials=5)
    for _ in range(4):
        trial = oracle.create_trial("tuner0")
        trial.status = TrialStatus.FAILED
        oracle.end_trial(trial)
    nxt = oracle.create_trial("tuner0")
    assert nxt.status == TrialStatus.RUNNING
    assert nxt.hyperparameters.values[STAGE] != "screen"


def test_reloaded_oracle_continues_the_plan_exactly(tmp_path) -> None:
    uninterrupted = make_oracle(tmp_path / "a")
    for _ in range(12):
        run_trial(uninterrupted)

    first = make_oracle(tmp_path / "b")
    for _ in range(7):  # into the anchors
        run_trial(first)
    first.save()
    resumed = make_oracle(tmp_path / "b", seed=99)  # the saved seed wins over a new one
    resumed.reload()
    assert resumed.stage == first.stage
    for _ in range(5):
        run_trial(resumed)
    assert [resumed.trials[t].hyperparameters.values for t in resumed.start_order] == [
        uninterrupted.trials[t].hyperparameters.values for t in uninterrupted.start_order
    ]
    assert resumed.promotions == uninterrupted.promotions


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"executions_per_trial": 0}, "executions_per_trial"),
        ({"z": 1.0}, "z"),
        ({"z": 0.0}, "z"),
        ({"measure": "mean"}, "measure"),
        ({"strategy": "grid"}, "strategy"),
        ({"target": "val_accuracy"}, "target"),
        ({"target": ("val_accuracy", 1.5)}, "target"),
        ({"screen_share": 0.0}, "screen_share"),
        ({"anchors": 0}, "anchors"),
        ({"capping": 0.5}, "capping"),
        ({"capping": math.nan}, "capping"),
        ({"capping": True}, "capping"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(tmp_path, arguments, name) -> None:
    with pytest.raises(ValueError, match=name):
        make_oracle(tmp_path, **arguments)


def test_the_old_argument_names_still_work_with_a_deprecation_warning(tmp_path) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        oracle = make_oracle(tmp_path, criterion="koza", screen_budget=0.25, anchor_budget=0.5)
    assert sorted(str(w.message).split("`")[1] for w in caught) == [
        "anchor_budget",
        "criterion",
        "screen_budget",
    ]
    assert oracle.measure == "koza"
    assert oracle.budgets.steps("screen") == 200 and oracle.budgets.steps("anchor") == 400
    with pytest.warns(DeprecationWarning, match="`criterion` is deprecated"):
        assert oracle.criterion == "koza"
    with pytest.warns(DeprecationWarning, match="`oracle_options` is deprecated"):
        search = EffortSearch(
            build_toy,
            target=("val_accuracy", 0.9),
            oracle_options={"anchors": 2},
            directory=str(tmp_path),
            project_name="old",
        )
    assert search.oracle.anchors == 2
    with pytest.warns(DeprecationWarning, match="`criterion` is deprecated"):
        search = EffortSearch(
            build_toy,
            target=("val_accuracy", 0.9),
            criterion="koza",
            directory=str(tmp_path),
            project_name="older",
        )
    assert search.oracle.measure == "koza"


def test_metric_of_unknown_direction_needs_a_mode(tmp_path) -> None:
    with pytest.raises(ValueError, match="up or down"):
        make_oracle(tmp_path, target=("val_custom", 3.0))
    assert make_oracle(tmp_path, target=Target("val_custom", 3.0, "min")).direction == "down"


def test_empty_search_space_and_too_few_trials_are_rejected(tmp_path) -> None:
    empty = keras_tuner.HyperParameters()
    empty.Fixed("units", 8)
    with pytest.raises(ValueError, match="search space is empty"):
        make_oracle(tmp_path, hyperparameters=empty).check_search_space()
    # 4 screens, 2 anchors, and with anchors at half the budget 2 bridge trials.
    with pytest.raises(ValueError, match=r"`max_trials` = 5 .* at least 6"):
        make_oracle(tmp_path, max_trials=5).check_search_space()
    make_oracle(tmp_path, max_trials=6).check_search_space()
    with pytest.raises(ValueError, match=r"`max_trials` = 7 .* at least 8"):
        make_oracle(tmp_path, max_trials=7, anchor_share=0.5).check_search_space()


# ------------------------------------------------------------------ EffortTuner on real training


def toy_search(tmp_path, **kwargs) -> EffortSearch:
    arguments = {
        "target": ("val_accuracy", 0.9),
        "max_trials": 5,
        "max_steps": 40,
        "executions_per_trial": 2,
        "seed": 1,
        "check_every": 10,
        "screen_share": 0.25,
        "anchors": 1,
        "bridge_size": 1,
        "directory": str(tmp_path),
        "project_name": "toy",
        "overwrite": True,
    }
    arguments.update(kwargs)
    tuner = EffortSearch(arguments.pop("hypermodel", build_toy), **arguments)
    tuner.oracle.verbose = 0
    return tuner


@pytest.mark.slow
def test_search_obeys_budgets_records_every_execution_and_reports_total_steps(
    tmp_path, capsys
) -> None:
    (x, y), validation = toy_data()
    tuner = toy_search(tmp_path)
    tuner.search(x, y, validation_data=validation, batch_size=32, epochs=1, verbose=0)
    oracle = tuner.oracle
    trials = [oracle.trials[t] for t in oracle.start_order]
    assert len(trials) == 5
    assert all(t.status == TrialStatus.COMPLETED for t in trials)
    assert [t.hyperparameters.values[STAGE] for t in trials][:2] == ["screen", "screen"]

    attempts = tuner.ledger.attempts()
    assert len(attempts) == sum(t.hyperparameters.values[EXECUTIONS] for t in trials)
    for trial in trials:
        # The tuner rounds a budget up to a whole number of checks (every 10 steps here).
        budget = math.ceil(trial.hyperparameters.values[MAX_STEPS] / 10) * 10
        for attempt in oracle.attempts_of(trial):
            # `epochs=1` was overridden: the step budget alone decides when training ends.
            assert attempt.budget == budget
            assert attempt.steps <= budget
            assert attempt.reached or attempt.steps == budget
    assert tuner.total_steps == sum(a.steps for a in attempts) == oracle.total_steps()

    # The oracle's records are the ledger's rows: one record type, nothing re-derived.
    def fields(a: Attempt) -> tuple:
        return a.steps, a.reached, a.budget, a.outcome

    reported = [fields(a) for t in trials for a in oracle.attempts_of(t)]
    assert sorted(reported) == sorted(fields(a) for a in attempts)

    best = oracle.get_best_trials(1)[0]
    # The best configuration, without the oracle's `effort/*` budget values.
    assert tuner.get_best_hyperparameters()[0].values == {
        k: v for k, v in best.hyperparameters.values.items() if not k.startswith("effort/")
    }
    assert math.isfinite(best.score)
    # The saved model of the best trial is its best execution, stopped at the target.
    model = tuner.get_best_models(1)[0]
    accuracy = model.evaluate(*validation, verbose=0, return_dict=True)["accuracy"]
    assert accuracy >= 0.9

    tuner.results_summary(2)
    printed = capsys.readouterr().out
    assert f"Total gradient steps of the search: {tuner.total_steps}" in printed
    assert f"Trial {best.trial_id}" in printed


def test_an_unreachable_target_runs_every_execution_to_its_budget(tmp_path) -> None:
    (x, y), (x_val, y_val) = toy_data()
    noise = np.random.default_rng(1).integers(0, 2, len(y_val))
    tuner = toy_search(tmp_path, strategy="random", max_trials=1, executions_per_trial=2)
    tuner.search(x, y, validation_data=(x_val, noise), batch_size=32, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    attempts = tuner.oracle.attempts_of(trial)
    assert [(a.reached, a.steps, a.budget) for a in attempts] == [(False, 40, 40)] * 2
    assert trial.score == math.inf
    assert [a.outcome for a in tuner.ledger.attempts()] == ["cutoff", "cutoff"]
    # Executions are independent restarts: new seeds, recorded as such.
    assert len({a.seed for a in tuner.ledger.attempts()}) == 2
    # The oracle's attempts and the ledger's rows name one experiment and run the same way.
    expected = [(f"toy-{tuner.search_id}/trial_{trial.trial_id}", f"trial_{trial.trial_id}/"
                 f"execution_{i}") for i in range(2)]  # fmt: skip
    assert [(a.experiment, a.run) for a in tuner.ledger.attempts()] == expected
    assert [(a.experiment, a.run) for a in attempts] == expected


class LargeBatches(keras_tuner.HyperModel):
    """Trains with batches of 128 and epochs of 2 steps, whatever `search` was given."""

    def build(self, hp) -> keras.Model:
        return build_toy(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **dict(kwargs, batch_size=128, steps_per_epoch=2))


def test_every_execution_gets_its_whole_budget_whatever_the_hypermodel_fits_with(
    tmp_path,
) -> None:
    # Unreachable target: every execution must run to its 40 steps, though the hypermodel's
    # epochs are far shorter than those of the data and batch size given to `search`.
    (x, y), (x_val, y_val) = toy_data()
    noise = np.random.default_rng(1).integers(0, 2, len(y_val))
    tuner = toy_search(tmp_path, hypermodel=LargeBatches(), strategy="random", max_trials=1)
    tuner.search(x, y, validation_data=(x_val, noise), batch_size=8, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert [(a.steps, a.budget) for a in tuner.oracle.attempts_of(trial)] == [(40, 40)] * 2


def test_a_metric_the_model_does_not_produce_fails_before_any_training(tmp_path) -> None:
    (x, y), validation = toy_data()
    tuner = toy_search(tmp_path, target=("val_auc", 0.9))
    with pytest.raises(keras_tuner.errors.FatalValueError, match="`target` metric 'val_auc'"):
        tuner.search(x, y, validation_data=validation, verbose=0)
    assert tuner.ledger.attempts() == []
    tuner = toy_search(tmp_path)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="validation_data"):
        tuner.search(x, y, verbose=0)


def test_search_rejects_an_empty_search_space_and_a_missing_target(tmp_path) -> None:
    def fixed(hp) -> keras.Model:
        hp.Fixed("units", 8)
        return build_toy(keras_tuner.HyperParameters())

    with pytest.raises(ValueError, match="search space is empty"):
        toy_search(tmp_path, hypermodel=fixed)
    with pytest.raises(ValueError, match="`target` is required"):
        toy_search(tmp_path, target=None)


@pytest.mark.slow
def test_effort_tensorboard_logs_every_trial_and_execution(tmp_path) -> None:
    from tbparse import SummaryReader

    (x, y), validation = toy_data()
    log_dir = tmp_path / "logs"
    board = EffortTensorBoard(log_dir, source=TargetStopping("val_accuracy", 0.9))
    tuner = toy_search(tmp_path, strategy="random", max_trials=2, executions_per_trial=2)
    tuner.search(x, y, validation_data=validation, callbacks=[board], verbose=0)
    for trial_id in tuner.oracle.trials:
        for execution in range(2):
            run = log_dir / trial_id / f"execution{execution}"
            tensors = SummaryReader(str(run)).tensors
            assert "effort/val_accuracy" in set(tensors["tag"])
            assert any(tag.startswith("effort_attempts/records/") for tag in tensors["tag"])
    # The user's own callback object is untouched: KerasTuner works on deep copies.
    assert board.log_dir == str(log_dir)


def test_seed_zero_is_kept_so_searches_repeat(tmp_path) -> None:
    first, second = make_oracle(tmp_path / "a", seed=0), make_oracle(tmp_path / "b", seed=0)
    assert first.seed == 0
    for _ in range(6):
        run_trial(first)
        run_trial(second)
    assert [first.trials[t].hyperparameters.values for t in first.start_order] == [
        second.trials[t].hyperparameters.values for t in second.start_order
    ]


def test_effort_tuner_takes_only_an_effort_oracle(tmp_path) -> None:
    other = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1)
    with pytest.raises(TypeError, match="EffortOracle"):
        EffortTuner(build_toy, other, directory=str(tmp_path))
    oracle = make_oracle(tmp_path, hyperparameters=None, strategy="random", max_trials=1)
    tuner = EffortTuner(build_toy, oracle, directory=str(tmp_path), project_name="direct")
    assert tuner.target == Target("val_accuracy", 0.9)
    assert "learning_rate" in [hp.name for hp in oracle.hyperparameters.space]
