"""`keras-effort bench`: the profile score, the suite's summaries, and a smoke run that resumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_effort.cli import main
from keras_effort.effort import performance_profile, profile_score
from keras_effort.ledger import Attempt, Ledger
from keras_effort.report.suite import suite_efforts, suite_grid, suite_rows
from keras_effort.workloads import bench as bench_module
from keras_effort.workloads.optimizers import make_optimizer, resolve_optimizer

INF = math.inf


def test_profile_score_matches_a_hand_computed_example():
    # Ratios: a = [1, 2, inf]; b = [2, 1, 1] (at the third target only b reached).
    # Area under rho over [1, 4]: a: (4 - 1) + (4 - 2) + 0 = 5; b: 2 + 3 + 3 = 8;
    # normalised by 3 targets and the width 3 of [1, 4]: 5/9 and 8/9.
    efforts = {"a": [10.0, 40.0, INF], "b": [20.0, 20.0, 7.0]}
    scores = profile_score(efforts)
    assert scores["a"] == pytest.approx(5 / 9, abs=1e-12)
    assert scores["b"] == pytest.approx(8 / 9, abs=1e-12)
    # The same area by numerical integration of the profile itself.
    taus = np.linspace(1.0, 4.0, 300_001)
    for name, rho in performance_profile(efforts, taus).items():
        assert np.trapezoid(rho, taus) / 3.0 == pytest.approx(scores[name], abs=1e-4)


def test_profile_score_rejects_a_bad_tau_max():
    with pytest.raises(ValueError, match="tau_max"):
        profile_score({"a": [1.0]}, tau_max=1.0)


def bench_attempt(optimizer, workload, rate, seed, steps, reached, seconds=1.0, best=0.9):
    return Attempt(
        experiment=f"bench:{optimizer}:{workload}",
        target_metric="val_accuracy",
        target_value=0.9,
        steps=steps,
        reached=reached,
        budget=100,
        outcome="reached" if reached else "cutoff",
        config={
            "optimizer": optimizer,
            "rate": rate,
            "workload": workload,
            "mode": "max",
            "step_ratio": 1.5,
        },
        seed=seed,
        run=f"rate={rate!r}:seed={seed}",
        seconds=seconds,
        best_value=best,
    )


def test_suite_summaries_take_medians_and_each_optimizer_at_its_best_rate():
    attempts = [
        bench_attempt("x", "w1", 0.1, 0, 10, True, seconds=2.0),
        bench_attempt("x", "w1", 0.1, 1, 30, True, seconds=4.0),
        bench_attempt("x", "w1", 0.1, 2, 100, False, best=0.8),
        bench_attempt("x", "w1", 0.01, 0, 40, True, seconds=1.0),
        bench_attempt("x", "w1", 0.01, 1, 50, True, seconds=1.0),
        bench_attempt("x", "w1", 0.01, 2, 60, True, seconds=1.0, best=0.95),
        bench_attempt("y", "w1", 0.1, 0, 20, True, seconds=8.0),
    ]
    (row_x, _row_y) = suite_rows(attempts)
    assert (row_x.optimizer, row_x.reached, row_x.runs) == ("x", 5, 6)
    assert (row_x.rates_reached, row_x.rates) == (2, 2)
    assert row_x.median_steps == 40  # of 10, 30, 40, 50, 60
    assert row_x.best_value == 0.95 and row_x.step_ratio == 1.5
    workloads, steps = suite_efforts(attempts, "steps", per_rate="x")
    assert workloads == ["w1"]
    # x at 0.1: median of 10, 30, inf = 30; at 0.01: 50; its best rate gives 30.
    assert steps == {"x": [30.0], "y": [20.0], "x @ 0.01": [50.0], "x @ 0.1": [30.0]}
    _, seconds = suite_efforts(attempts, "seconds")
    assert seconds == {"x": [1.0], "y": [8.0]}


def test_suite_grid_counts_each_optimizer_and_rate_cell():
    attempts = [
        bench_attempt("x", "w1", 0.1, 0, 10, True),
        bench_attempt("x", "w1", 0.1, 1, 30, True),
        bench_attempt("x", "w1", 0.1, 2, 100, False),
        bench_attempt("x", "w1", 0.01, 0, 100, False),
        bench_attempt("y", "w1", 0.01, 0, 20, True, seconds=8.0),
        bench_attempt("y", "w2", 1.0, 0, 5, True),
    ]
    optimizers, rates, cells = suite_grid(attempts, "w1")
    assert optimizers == ["x", "y"] and rates == [0.01, 0.1]
    assert cells[0][1] == (3, 2, 20.0)  # x at 0.1: 2 of 3 reached, median of 10 and 30
    assert cells[0][0][:2] == (1, 0) and math.isnan(cells[0][0][2])
    assert cells[1][0] == (1, 1, 20.0)
    assert cells[1][1][:2] == (0, 0)  # y never ran 0.1 on w1
    _, _, seconds = suite_grid(attempts, "w1", "seconds")
    assert seconds[1][0] == (1, 1, 8.0)
    # Rows and columns can be fixed, so that every workload's map has the same ones.
    _, rates, cells = suite_grid(attempts, "w2", optimizers=["x", "y"], rates=[0.1, 1.0])
    assert rates == [0.1, 1.0] and cells[0][0][:2] == (0, 0) and cells[1][1] == (1, 1, 5.0)


def test_profile_figure_tells_twelve_optimizers_apart_in_one_legend():
    pytest.importorskip("matplotlib")
    from keras_effort.report.suite import plot_suite_profile

    names = [f"opt{index}" for index in range(12)]
    attempts = [
        bench_attempt(name, "w1", 0.1, 0, 10 + index, True, seconds=1.0 + index)
        for index, name in reversed(list(enumerate(names)))  # the slowest first in the ledger
    ]
    figure = plot_suite_profile(attempts)
    (legend,) = figure.legends  # one, for both panels
    labels = [text.get_text() for text in legend.get_texts()]
    assert len(labels) == 12
    # Ordered by score in steps: opt0 is the fastest in both units; opt11 takes 21/10 the
    # steps and 12x the seconds.
    assert labels[0] == "opt0 (score 1.00 in steps, 1.00 in seconds)"
    assert labels[11] == "opt11 (score 0.63 in steps, 0.00 in seconds)"
    assert [label.split()[0] for label in labels] == names
    first, *rest = figure.axes[0].get_lines()
    assert first.get_label().startswith("opt0") and all(
        first.get_linewidth() > line.get_linewidth() for line in rest
    )
    for ax in figure.axes:
        styles = {(line.get_color(), str(line.get_linestyle())) for line in ax.get_lines()}
        assert len(styles) == 12, "two profiles share a color and a dash pattern"
        assert ax.get_legend() is None  # no legend over the curves


def test_optimizers_resolve_by_name_or_import_path():
    import keras

    assert isinstance(make_optimizer("sgd_momentum", 0.1), keras.optimizers.SGD)
    assert make_optimizer("sgd_momentum", 0.1).momentum == 0.9
    assert resolve_optimizer("keras.optimizers:Adam") is keras.optimizers.Adam
    with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
        resolve_optimizer("nope")
    with pytest.raises(ValueError, match="cannot import"):
        resolve_optimizer("no_such_module_here:make")
    with pytest.raises(ValueError, match=r"not a keras\.optimizers\.Optimizer"):
        make_optimizer("math:sqrt", 4.0)


def test_smoke_bench_runs_into_a_ledger_and_resumes_without_repeating(
    tmp_path, monkeypatch, capsys
):
    ledger = tmp_path / "bench.sqlite"
    figure = tmp_path / "profile.png"
    arguments = ["bench", "adam", "--smoke", "--workloads", "friedman_mlp", "digits_conv_gap"]
    arguments += ["--ledger", str(ledger), "--plot", str(figure), "--quiet"]
    assert main(arguments) == 0
    first = Ledger(ledger, read_only=True).attempts()
    assert sorted(a.experiment for a in first) == [
        "bench-smoke:adam:digits_conv_gap",
        "bench-smoke:adam:friedman_mlp",
    ]
    for attempt in first:
        assert attempt.run == "rate=0.001:seed=0"
        assert attempt.steps == 20 and attempt.budget == 20
        assert attempt.config["optimizer"] == "adam" and attempt.config["step_ratio"] > 0
        assert attempt.config["load_average"] >= 0
        assert attempt.samples == 20 * attempt.config["batch_size"]
    assert figure.stat().st_size > 0
    assert (tmp_path / "profile_rates.png").stat().st_size > 0
    output = capsys.readouterr().out
    assert "friedman_mlp" in output and "score in seconds" in output
    assert "load average" in output and "{" not in output.splitlines()[0]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(bench_module, "train", no_training)
    assert main(arguments) == 0
    assert "2 already in" in capsys.readouterr().out
    again = Ledger(ledger, read_only=True).attempts()
    assert [(a.id, a.created_at) for a in again] == [(a.id, a.created_at) for a in first]


def test_bench_refuses_unknown_workloads_and_lists_the_suite(tmp_path, capsys):
    ledger = str(tmp_path / "bench.sqlite")
    assert main(["bench", "adam", "--workloads", "imagenet", "--ledger", ledger]) == 2
    assert "unknown workload(s) imagenet" in capsys.readouterr().err
    assert main(["bench", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in ("mnist1d_mlp", "stdlib_transformer", "friedman_mlp", "val_loss", "autorate_adam"):
        assert name in listing


def test_html_report_has_the_suite_section(tmp_path):
    pytest.importorskip("matplotlib")
    from keras_effort.report.html import html_report

    ledger = Ledger(tmp_path / "suite.sqlite")
    for attempt in [
        bench_attempt("x", "w1", 0.1, 0, 30, True, seconds=3.0),
        bench_attempt("y", "w1", 0.1, 0, 20, True, seconds=6.0),
    ]:
        ledger.add(attempt)
    page = html_report(ledger, n_boot=0)
    section = page[page.index('<section class="suite"') :]
    assert "The effort suite" in section and "data:image/png;base64," in section
    # In steps x is 1.5 times y: (4 - 1.5) / 3; in seconds y is 2 times x: (4 - 2) / 3.
    assert "<td>x</td><td class=\"number\">0.833</td><td class=\"number\">1.000</td>" in section
    assert "<td>y</td><td class=\"number\">1.000</td><td class=\"number\">0.667</td>" in section
