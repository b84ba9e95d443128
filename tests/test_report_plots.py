"""Effort figures: the arrays each figure draws equal the effort functions' results.

The new arithmetic behind the figures (the success curve's confidence band, performance
profiles) is checked against independent computations: SciPy's Kaplan-Meier interval and a
loop over the definition.
"""

from __future__ import annotations

import math
import re
import sys

import numpy as np
import pytest
from scipy import stats

from keras_effort import Attempt
from keras_effort.effort import (
    RuntimeDistribution,
    performance_profile,
    performance_ratios,
    summarize,
)
from keras_effort.report.plots import (
    ledger_figure,
    plot_ecdf_comparison,
    plot_effort_against_target,
    plot_performance_profile,
    plot_restart_cost,
    plot_success_curve,
)

pytest.importorskip("matplotlib")


def _artist(figure, gid):
    (ax,) = figure.axes
    found = [a for a in [*ax.lines, *ax.patches, *ax.collections] if a.get_gid() == gid]
    assert len(found) == 1, f"{gid}: {len(found)} artists"
    return found[0]


def _attempts(experiment, target, steps, budget=1000, metric="val_accuracy"):
    return [
        Attempt(
            experiment,
            metric,
            target,
            steps=s if s is not None else budget,
            reached=s is not None,
            budget=budget,
            outcome="reached" if s is not None else "cutoff",
        )
        for s in steps
    ]


CENSORED = RuntimeDistribution(
    [100, 200, 300, 300, None, None, 650], budgets=[1000, 1000, 1000, 1000, 250, 1000, 1000]
)


# ------------------------------------------------------------------ new arithmetic


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_success_interval_equals_scipy_log_log_interval(level):
    low, high = CENSORED.success_interval(level)
    data = stats.CensoredData(uncensored=[100, 200, 300, 300, 650], right=[250, 1000])
    interval = stats.ecdf(data).cdf.confidence_interval(level, method="log-log")
    steps = CENSORED.success_curve().steps
    np.testing.assert_allclose(low, interval.low.evaluate(steps), rtol=1e-12)
    np.testing.assert_allclose(high, interval.high.evaluate(steps), rtol=1e-12)


def test_success_interval_is_undefined_where_every_run_succeeded():
    low, high = RuntimeDistribution([10, 20, 30], budgets=50).success_interval()
    assert np.isnan(low[-1]) and np.isnan(high[-1])
    assert np.all((low[:-1] < [1 / 3, 2 / 3]) & (high[:-1] > [1 / 3, 2 / 3]))


def test_performance_ratios_and_profile_follow_their_definition():
    efforts = {"a": [100.0, 50.0, math.inf, math.inf], "b": [200.0, 25.0, 10.0, math.inf]}
    taus = [1.0, 1.5, 2.0, 2.5, 100.0]
    ratios = performance_ratios(efforts)
    profile = performance_profile(efforts, taus)
    for name, row in efforts.items():
        for t, effort in enumerate(row):
            best = min(other[t] for other in efforts.values())
            expected = math.inf if math.isinf(effort) else effort / best
            assert ratios[name][t] == expected
        for k, tau in enumerate(taus):
            within = sum(1 for t in range(4) if ratios[name][t] <= tau)
            assert profile[name][k] == within / 4
    np.testing.assert_array_equal(profile["a"], [0.25, 0.25, 0.5, 0.5, 0.5])


# ------------------------------------------------------------------------- figures


def test_success_curve_draws_kaplan_meier_band_and_censoring():
    figure = plot_success_curve(CENSORED, level=0.9)
    curve = CENSORED.success_curve()
    line = _artist(figure, "success")
    np.testing.assert_array_equal(line.get_xdata(), [0, *curve.steps, 1000])
    np.testing.assert_array_equal(
        line.get_ydata(), [0, *CENSORED.success_probability(curve.steps), curve.probability[-1]]
    )
    low, high = CENSORED.success_interval(0.9)
    np.testing.assert_array_equal(_artist(figure, "band-low").get_ydata()[1:-1], low)
    np.testing.assert_array_equal(_artist(figure, "band-high").get_ydata()[1:-1], high)
    marks = _artist(figure, "censored")
    np.testing.assert_array_equal(marks.get_xdata(), [250, 1000])
    np.testing.assert_array_equal(marks.get_ydata(), CENSORED.success_probability([250, 1000]))
    assert "7 attempts, 5 reached" in figure.axes[0].get_title()


def test_success_curve_from_attempts_names_the_target():
    attempts = _attempts("adam", 0.9, [100, 200, 300, None, None])
    figure = plot_success_curve(attempts)
    assert figure.axes[0].get_title().startswith("val_accuracy target 0.9: 5 attempts, 3 reached")
    np.testing.assert_array_equal(_artist(figure, "success").get_ydata(), [0, 0.2, 0.4, 0.6, 0.6])


def test_effort_against_target_draws_each_measure_interval_and_regime():
    distributions = {
        0.5: RuntimeDistribution([10, 12, 15, 20], budgets=1000),
        0.6: RuntimeDistribution([100, 200, 300, None, None], budgets=1000),
        0.7: RuntimeDistribution([None, None], budgets=1000),
    }
    figure = plot_effort_against_target(distributions, z=0.9, n_boot=50, seed=3)
    targets = [0.5, 0.6, 0.7]
    rows = [summarize(distributions[t], t, 0.9, 50, 3) for t in targets]
    for gid, field in [
        ("expected", "expected_steps_optimal"),
        ("single", "expected_steps_single_run"),
        ("koza", "koza_effort"),
    ]:
        line = _artist(figure, gid)
        np.testing.assert_array_equal(line.get_xdata(), targets)
        expected = [getattr(r, field) for r in rows]
        np.testing.assert_array_equal(
            line.get_ydata(), [v if math.isfinite(v) else np.nan for v in expected]
        )
    ceiling = figure.axes[0].get_ylim()[1]
    for measure in ("expected", "koza"):
        bounds = [distributions[t].confidence_interval(measure, 0.95, 50, 3, 0.9) for t in targets]
        low, high = np.array(bounds).T
        np.testing.assert_array_equal(
            _artist(figure, f"{measure}-low").get_ydata(), np.where(np.isfinite(low), low, np.nan)
        )
        np.testing.assert_array_equal(
            _artist(figure, f"{measure}-high").get_ydata(), np.minimum(high, ceiling)
        )
    spans = [p for p in figure.axes[0].patches if str(p.get_gid()).startswith("regime:")]
    assert [p.get_gid() for p in spans] == [f"regime:{r.regime}" for r in rows]
    # 3 successes in 5 runs cannot tell restarts from one long run: a tie.
    assert [r.regime for r in rows] == ["single run", "tie", "unreached"]


def test_effort_against_target_groups_ledger_attempts_by_target():
    attempts = _attempts("adam", 0.6, [100, 200, None]) + _attempts("adam", 0.5, [10, 20, 30])
    figure = plot_effort_against_target(attempts, n_boot=0)
    line = _artist(figure, "expected")
    np.testing.assert_array_equal(line.get_xdata(), [0.5, 0.6])
    expected = [
        RuntimeDistribution([10, 20, 30], 1000).expected_steps(),
        RuntimeDistribution([100, 200, None], 1000).expected_steps(),
    ]
    np.testing.assert_array_equal(line.get_ydata(), expected)
    assert figure.axes[0].get_xlabel() == "target val_accuracy"


def test_restart_cost_draws_l_of_c_and_marks_its_minimum():
    figure = plot_restart_cost(CENSORED, points=50)
    line = _artist(figure, "cost")
    cutoffs = line.get_xdata()
    assert (
        cutoffs[0] == 100
        and cutoffs[-1] == 1000
        and set(CENSORED.success_curve().steps) <= set(cutoffs)
    )
    np.testing.assert_array_equal(line.get_ydata(), [CENSORED.expected_steps(c) for c in cutoffs])
    optimum = _artist(figure, "optimum")
    assert optimum.get_xdata()[0] == CENSORED.optimal_cutoff()
    assert optimum.get_ydata()[0] == CENSORED.expected_steps()
    assert min(line.get_ydata()) == CENSORED.expected_steps()
    assert _artist(figure, "budget").get_ydata()[0] == CENSORED.expected_steps(1000)


def test_ecdf_comparison_overlays_each_experiment():
    sources = {
        "adam": _attempts("adam", 0.9, [100, 200, None]),
        "sgd": RuntimeDistribution([300, 400, 500, 600], budgets=2000),
    }
    figure = plot_ecdf_comparison(sources)
    adam, sgd = _artist(figure, "adam"), _artist(figure, "sgd")
    np.testing.assert_array_equal(adam.get_xdata(), [0, 100, 200, 1000])
    np.testing.assert_array_equal(adam.get_ydata(), [0, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(sgd.get_ydata(), [0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert "adam (2/3 reached)" in [t.get_text() for t in figure.axes[0].get_legend().texts]


def test_ecdf_comparison_of_a_dozen_experiments_draws_no_two_curves_alike():
    # Twelve curves: tab10 alone would repeat a color, and with five dash patterns the 1st
    # and 11th curves would have looked the same.
    sources = {f"run {i}": RuntimeDistribution([100 * (i + 1)], budgets=2000) for i in range(12)}
    figure = plot_ecdf_comparison(sources)
    looks = [
        (_artist(figure, name).get_color(), str(_artist(figure, name).get_linestyle()))
        for name in sources
    ]
    assert len(set(looks)) == len(looks)
    widths = [_artist(figure, name).get_linewidth() for name in sources]
    assert widths == sorted(widths, reverse=True) and widths[-1] >= 1.2

@pytest.mark.parametrize("measure", ["expected", "koza"])
def test_performance_profile_draws_the_profile_of_shared_targets(measure):
    attempts = (
        _attempts("adam", 0.5, [10, 20, 30])
        + _attempts("adam", 0.6, [100, 200, None])
        + _attempts("adam", 0.7, [None, None])
        + _attempts("sgd", 0.5, [40, 50])
        + _attempts("sgd", 0.6, [50, 60, 70])
    )
    figure = plot_performance_profile(attempts, measure=measure, z=0.95, taus=[1, 2, 4, 8])
    efforts = {}
    for name in ("adam", "sgd"):
        efforts[name] = []
        for target in (0.5, 0.6):  # 0.7: only adam was run there
            steps = [
                a.steps if a.reached else None
                for a in attempts
                if a.experiment == name and a.target_value == target
            ]
            d = RuntimeDistribution(steps, 1000)
            efforts[name].append(
                d.expected_steps() if measure == "expected" else d.koza_effort(0.95).steps
            )
    expected = performance_profile(efforts, [1, 2, 4, 8])
    for name in ("adam", "sgd"):
        line = _artist(figure, name)
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 4, 8])
        np.testing.assert_array_equal(line.get_ydata(), expected[name])
    assert figure.axes[0].get_ylabel() == "share of the 2 targets"


def test_ledger_figure_picks_experiment_and_target():
    attempts = _attempts("adam", 0.5, [10, 20]) + _attempts("sgd", 0.5, [30, None])
    figure = ledger_figure(attempts, "success", experiments=["sgd"])
    np.testing.assert_array_equal(_artist(figure, "success").get_ydata(), [0, 0.5, 0.5])
    figure = ledger_figure(attempts, "ecdf", target=0.5)
    assert {line.get_gid() for line in figure.axes[0].lines} == {"adam", "sgd"}
    with pytest.raises(ValueError, match="`experiment`"):
        ledger_figure(attempts, "effort")


def test_without_matplotlib_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    from keras_effort import Ledger
    from keras_effort.cli import main

    for module in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(ImportError, match=re.escape('pip install "keras-effort[plot]"')):
        plot_success_curve(CENSORED)
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add(_attempts("adam", 0.5, [10])[0])
    assert main(["plot", str(ledger.path), "-o", str(tmp_path / "f.png")]) == 2
    assert 'plot needs matplotlib: pip install "keras-effort[plot]"' in capsys.readouterr().out
    assert not (tmp_path / "f.png").exists()
