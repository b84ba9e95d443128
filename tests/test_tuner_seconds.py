"""Budgets and scores in wall-clock seconds: EffortOracle/EffortSearch `budget_unit="seconds"`."""

from __future__ import annotations

import math

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

from keras_effort.ledger import Attempt
from keras_effort.tuners import EffortOracle, EffortSearch
from keras_effort.tuners.plan import EXECUTIONS, MAX_SECONDS, MAX_STEPS, STAGE


def space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Choice("batch_size", [16, 256])
    return hp


def make_oracle(tmp_path, **kwargs) -> EffortOracle:
    arguments = {
        "target": ("val_accuracy", 0.9),
        "max_trials": 12,
        "max_steps": 800,
        "executions_per_trial": 3,
        "hyperparameters": space(),
        "seed": 3,
        "budget_unit": "seconds",
        "max_seconds": 40.0,
    }
    arguments.update(kwargs)
    oracle = EffortOracle(**arguments)
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "project")
    return oracle


def run(steps: int, seconds: float, outcome: str = "reached", budget: int = 800) -> Attempt:
    """An execution's attempt: its steps and seconds to the target, or run before it ended."""
    reached = outcome == "reached"
    return Attempt(
        experiment="toy",
        target_metric="val_accuracy",
        target_value=0.9,
        steps=steps,
        reached=reached,
        budget=None if outcome == "stopped" else budget,
        outcome=outcome,
        seconds=seconds,
        best_value=0.95 if reached else 0.85,
    )


def complete(oracle: EffortOracle, trial, attempts: list[Attempt]) -> None:
    oracle.update_trial(trial.trial_id, oracle.trial_results(attempts))
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


def expected_cost(costs: list[float], reached: list[bool], censored_at: list[float]) -> float:
    """l(c*) transcribed from its definition for runs without censoring before a success.

    With successes at sorted costs t_1 <= ... <= t_k among n runs (failures censored at or after
    t_k), P(T <= t_j) = j / n and E[min(T, t_j)] = sum over i < j of t_i / n + t_j (n - j + 1) / n;
    l(c*) = min over j of E[min(T, t_j)] / P(T <= t_j).
    """
    n = len(costs)
    successes = sorted(c for c, r in zip(costs, reached, strict=True) if r)
    assert all(b >= successes[-1] for b, r in zip(censored_at, reached, strict=True) if not r)
    best = math.inf
    for j, t_j in enumerate(successes, start=1):
        area = sum(successes[: j - 1]) / n + t_j * (n - j + 1) / n
        best = min(best, area / (j / n))
    return best


def test_each_stage_gets_its_share_of_the_budget_in_seconds(tmp_path) -> None:
    oracle = make_oracle(
        tmp_path, screen_share=0.25, anchor_share=0.5, anchors=1, capping=math.inf
    )
    shares = {"screen": 0.25, "anchor": 0.5, "bridge": 1.0, "refine": 1.0, "confirm": 1.0}
    seen = set()
    for index in range(10):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        seen.add(values[STAGE])
        assert values[MAX_SECONDS] == pytest.approx(40.0 * shares[values[STAGE]])
        assert values[MAX_STEPS] == {"screen": 200, "anchor": 400}.get(values[STAGE], 800)
        # One execution in three is cut at its budget, so anchors go on to the bridge.
        runs = [run(50, 1.0 + index), run(400, 20.0, "cutoff", 400), run(50, 2.0 + index)]
        complete(oracle, trial, runs[: values[EXECUTIONS]])
    assert {"screen", "anchor", "bridge", "refine"} <= seen


def test_capping_in_seconds_cuts_at_the_incumbents_expected_seconds(tmp_path) -> None:
    oracle = make_oracle(tmp_path, anchors=2)  # two anchors at least: the second one is capped
    checked = set()
    for index in range(12):
        incumbent = oracle.incumbent()
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        stage = values[STAGE]
        if incumbent is not None and stage != "screen":
            factor = 1.0 if stage == "refine" else 1.5
            assert values[MAX_SECONDS] == pytest.approx(min(40.0, factor * incumbent.score))
            checked.add(stage)
        # Faster and faster configurations: each probe beats the incumbent and is confirmed.
        seconds = 30.0 / (1 + index)
        complete(oracle, trial, [run(50, seconds)] * values[EXECUTIONS])
    assert {"anchor", "refine", "confirm"} <= checked


def test_steps_budget_passes_no_seconds(tmp_path) -> None:
    oracle = make_oracle(tmp_path, budget_unit="steps", max_seconds=None)
    trial = oracle.create_trial("tuner0")
    assert MAX_SECONDS not in trial.hyperparameters.values


def test_trials_are_scored_and_ranked_by_expected_seconds(tmp_path) -> None:
    # Small batches: few seconds per step, many steps. Large batches: few steps, slow ones.
    # The failure ran all its 800 steps in 5 s: censored there in both units.
    small_batches = [run(400, 2.0), run(600, 3.5), run(800, 5.0, "cutoff")]
    large_batches = [run(100, 8.0), run(150, 12.0), run(120, 9.5)]
    rankings = {}
    for unit, seconds in (("seconds", 40.0), ("steps", None)):
        oracle = make_oracle(
            tmp_path / unit, strategy="random", budget_unit=unit, max_seconds=seconds
        )
        for executions in (small_batches, large_batches):
            complete(oracle, oracle.create_trial("tuner0"), executions)
        first, second = (oracle.trials[t] for t in oracle.start_order)
        rankings[unit] = [t.trial_id for t in oracle.get_best_trials(2)]
        if unit == "seconds":
            assert first.score == pytest.approx(
                expected_cost([2.0, 3.5, 5.0], [1, 1, 0], [5.0] * 3)
            )
            assert second.score == pytest.approx(expected_cost([8.0, 12.0, 9.5], [1] * 3, [40] * 3))
            assert oracle.total_seconds() == pytest.approx(2.0 + 3.5 + 5.0 + 8.0 + 12.0 + 9.5)
        else:
            assert first.score == pytest.approx(
                expected_cost([400, 600, 800], [1, 1, 0], [800] * 3)
            )
            assert second.score == pytest.approx(expected_cost([100, 150, 120], [1] * 3, [800] * 3))
    # The same two trials rank one way in steps and the other way in seconds.
    assert rankings["steps"] == list(reversed(rankings["seconds"]))


def test_a_diverged_run_is_censored_at_the_full_budget_in_seconds(tmp_path) -> None:
    # Two runs diverged after 0.2 s: they would never have succeeded, so they count as failures
    # within all of `max_seconds`, not as runs known to fail only up to 0.2 s.
    oracle = make_oracle(tmp_path, strategy="random")
    trial = oracle.create_trial("tuner0")
    complete(oracle, trial, [run(300, 5.0), run(20, 0.2, "diverged"), run(20, 0.2, "diverged")])
    assert oracle.trials[trial.trial_id].score == pytest.approx(
        expected_cost([5.0, 0.2, 0.2], [True, False, False], [40.0] * 3)
    )


def test_budget_unit_survives_save_and_reload(tmp_path) -> None:
    oracle = make_oracle(tmp_path, max_seconds=12.5)
    state = oracle.get_state()
    assert (state["effort_budget_unit"], state["effort_max_seconds"]) == ("seconds", 12.5)
    reloaded = make_oracle(tmp_path, budget_unit="steps", max_seconds=None)
    reloaded.set_state(state)
    assert (reloaded.budget_unit, reloaded.max_seconds) == ("seconds", 12.5)
    # A state saved before budgets in seconds existed was in steps.
    del state["effort_budget_unit"], state["effort_max_seconds"]
    reloaded.set_state(state)
    assert (reloaded.budget_unit, reloaded.max_seconds) == ("steps", None)


def test_a_saved_state_with_a_bad_budget_unit_is_rejected(tmp_path) -> None:
    state = make_oracle(tmp_path).get_state()
    state["effort_budget_unit"] = "minutes"
    with pytest.raises(ValueError, match="`budget_unit`"):
        make_oracle(tmp_path).set_state(state)


def test_search_cuts_executions_at_the_wall_clock_budget(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = rng.integers(0, 2, 256)  # noise: the target is never reached

    def build(hp) -> keras.Model:
        hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(
            optimizer="sgd",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    tuner = EffortSearch(
        build,
        target=("accuracy", 0.99),
        max_trials=1,
        max_steps=10**7,  # far beyond what runs in the time: the clock ends every execution
        executions_per_trial=2,
        strategy="random",
        budget_unit="seconds",
        max_seconds=0.5,
        check_every=5,
        seed=0,
        directory=str(tmp_path),
        project_name="seconds",
    )
    tuner.oracle.verbose = 0
    tuner.search(x, y, batch_size=32, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    attempts = tuner.oracle.attempts_of(trial)
    assert len(attempts) == 2
    for attempt in attempts:
        assert not attempt.reached
        # Cut by the clock, long before the cap in steps, and not before its 0.5 s.
        assert 0 < attempt.steps < 10**7
        assert attempt.outcome == "stopped"
        assert attempt.seconds >= 0.5
    assert trial.score == math.inf
    assert tuner.total_seconds == pytest.approx(sum(a.seconds for a in attempts))


# PyTorch's trainer runs one step per call.
_STEPS_PER_EXECUTION = 1 if keras.backend.backend() == "torch" else 5


class _CountingHyperModel(keras_tuner.HyperModel):
    """A small learnable task's model; records each `fit`: its steps, whether the optimizer
    started it fresh (Adam's moments all zero), and the weights it ended on."""

    def __init__(self) -> None:
        super().__init__()
        self.fits: list[int] = []
        self.fresh_optimizer: list[bool] = []
        self.weights: list[list[np.ndarray]] = []

    def build(self, hp) -> keras.Model:
        hp.Float("learning_rate", 0.05, 0.1, sampling="log")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(
            optimizer=keras.optimizers.Adam(hp.get("learning_rate")),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=_STEPS_PER_EXECUTION,
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        optimizer = model.optimizer
        moments = [
            keras.ops.convert_to_numpy(v)
            for v in optimizer.variables
            if not v.path.endswith(("iteration", "iterations", "learning_rate"))
        ]
        self.fresh_optimizer.append(bool(moments) and all(not m.any() for m in moments))
        before = int(keras.ops.convert_to_numpy(optimizer.iterations))
        history = model.fit(*args, **kwargs)
        self.fits.append(int(keras.ops.convert_to_numpy(optimizer.iterations)) - before)
        self.weights.append(model.get_weights())
        return history


def _search(tmp_path, budget_unit: str, name: str) -> tuple[list[Attempt], _CountingHyperModel]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    hypermodel = _CountingHyperModel()
    tuner = EffortSearch(
        hypermodel,
        target=("val_accuracy", 0.9),
        max_trials=1,
        max_steps=400,
        executions_per_trial=2,
        strategy="random",
        budget_unit=budget_unit,
        max_seconds=600.0 if budget_unit == "seconds" else None,
        check_every=5,
        seed=0,
        directory=str(tmp_path / name),
        project_name="warm",
    )
    tuner.oracle.verbose = 0
    tuner.search(x, y, validation_data=(x[:128], y[:128]), batch_size=32, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    return tuner.oracle.attempts_of(trial), hypermodel


def test_in_seconds_a_new_configuration_is_traced_before_its_clock_and_trains_alike(
    tmp_path,
) -> None:
    in_steps, steps_model = _search(tmp_path, "steps", "steps")
    in_seconds, seconds_model = _search(tmp_path, "seconds", "seconds")
    again, again_model = _search(tmp_path, "seconds", "again")
    # One uncounted call of the train function before the first execution, in seconds only.
    assert steps_model.fits == [a.steps for a in in_steps]
    assert seconds_model.fits[0] == _STEPS_PER_EXECUTION
    assert seconds_model.fits[1:] == [a.steps for a in in_seconds]
    # Every execution starts from the optimizer's initial state: the warm-up's is undone.
    assert seconds_model.fresh_optimizer == [True, True, True]
    assert all(a.reached for a in [*in_steps, *in_seconds])
    # A search in seconds is as reproducible as one in steps: the same seed, the same weights.
    assert [(a.steps, a.best_value) for a in again] == [(a.steps, a.best_value) for a in in_seconds]
    for first, second in zip(seconds_model.weights, again_model.weights, strict=True):
        for w, v in zip(first, second, strict=True):
            np.testing.assert_array_equal(w, v)
