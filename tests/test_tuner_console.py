"""What a search shows: one plain line per trial, best hyperparameters and models without noise."""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import keras_tuner
import pytest
from distributed_search import build_toy as build
from distributed_search import toy_data
from keras_tuner.engine.trial import TrialStatus

from keras_effort.ledger import Attempt
from keras_effort.tuners import EffortOracle, EffortSearch
from keras_effort.tuners.display import SearchDisplay

MAX_TRIALS = 5


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A small staged search run with `verbose=1`, its output captured as a pipe would be."""
    (x, y), (x_val, y_val) = toy_data()
    tuner = EffortSearch(
        build,
        target=("val_accuracy", 0.9),
        max_trials=MAX_TRIALS,
        max_steps=40,
        executions_per_trial=2,
        seed=1,
        check_every=10,
        screen_share=0.25,
        anchors=1,
        bridge_size=1,
        directory=str(tmp_path_factory.mktemp("console")),
        project_name="console",
    )
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        tuner.search(x, y, validation_data=(x_val, y_val), batch_size=32)
    return tuner, output.getvalue()


def test_a_search_prints_one_plain_line_per_trial(searched) -> None:
    tuner, output = searched
    lines = output.splitlines()
    trials = [tuner.oracle.trials[t] for t in tuner.oracle.start_order]
    assert len(trials) == MAX_TRIALS
    assert len(lines) == MAX_TRIALS
    stages = {"screen": "screen", "anchor": "anchor", "refine": "probe", "confirm": "confirm"}
    for number, (line, trial) in enumerate(zip(lines, trials, strict=True), start=1):
        # The trial's id (as its directory and ledger rows name it), its place in the search.
        assert line.startswith(f"Trial {trial.trial_id} ({number} of {MAX_TRIALS}) ")
        stage = stages[trial.hyperparameters.values["effort/stage"]]
        assert re.match(rf"Trial \S+ \(\d+ of \d+\) {stage}\b", line)
        assert "learning_rate=" in line and "| reached " in line and "| incumbent " in line
        steps = sum(a.steps for a in tuner.oracle.attempts_of(trial))
        assert f"| {steps:,} of " in line
    # Keras' epoch bars, their ANSI codes, the Restarts lines and the oracle's own `effort/*`
    # hyperparameters are not shown; counts agree with their nouns.
    assert "\x1b[" not in output and "Epoch" not in output and "Restarts:" not in output
    assert "effort/" not in output and "Best effort So Far" not in output
    assert "1 executions" not in output and "1 execution x" in output
    assert lines[-1].endswith(" s]")


def test_best_hyperparameters_hold_only_the_configuration(searched) -> None:
    tuner, _ = searched
    best = tuner.get_best_hyperparameters()[0].values
    assert set(best) == {"learning_rate"}
    trial = tuner.oracle.get_best_trials(1)[0]
    assert best["learning_rate"] == trial.hyperparameters.values["learning_rate"]


def test_best_models_load_their_optimizer_state_without_a_warning(searched) -> None:
    tuner, _ = searched
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (model,) = tuner.get_best_models(1)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    # The optimizer's trained state came back with the weights: it took steps.
    assert int(model.optimizer.iterations) > 0


def test_results_summary_states_the_ranking_rule(searched, capsys) -> None:
    tuner, _ = searched
    tuner.results_summary(2)
    printed = capsys.readouterr().out
    assert "rank after those measured with all" in printed
    assert "Showing the 2 best trials" in printed
    assert "effort/" not in printed and "\x1b[" not in printed


def _attempt(steps: int) -> Attempt:
    return Attempt(
        "toy", "val_accuracy", 0.9, steps=steps, reached=True, budget=800, outcome="reached"
    )


def test_a_trial_measured_with_fewer_seeds_says_why_it_ranks_below_a_slower_one(tmp_path) -> None:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    oracle = EffortOracle(
        ("val_accuracy", 0.9),
        max_trials=2,
        max_steps=800,
        executions_per_trial=3,
        strategy="random",
        hyperparameters=hp,
        seed=0,
    )
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "project")
    display = SearchDisplay(oracle)
    lines = []
    for attempts in ([_attempt(300)] * 3, [_attempt(100)]):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, oracle.trial_results(attempts))
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
        lines.append(display.line(trial))
    full = oracle.trials[oracle.start_order[0]]
    # The one-seed trial's l(c*) (100) beats the full one's (300), yet the full one leads.
    assert oracle.get_best_trials(1)[0] is full
    assert "l(c*) 300 steps" in lines[0] and "ranks after" not in lines[0]
    assert "l(c*) 100 steps" in lines[1]
    assert "ranks after trials measured with all 3 seeds" in lines[1]
    assert f"incumbent trial {full.trial_id}, l(c*) 300 steps" in lines[1]
