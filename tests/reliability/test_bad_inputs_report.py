"""Bad inputs to the figures, the HTML report, the IOHprofiler export and their commands.

Each row: (callable, kwargs, exception type, substring naming the argument or option).
"""

from __future__ import annotations

import io
import math
import os
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.effort import (
    RuntimeDistribution,
    performance_profile,
    performance_ratios,
    summarize,
)
from keras_effort.report.ioh import export_ioh
from keras_effort.report.plots import (
    ledger_figure,
    plot_ecdf_comparison,
    plot_effort_against_target,
    plot_performance_profile,
    plot_restart_cost,
    plot_success_curve,
)
from keras_effort.report.tables import effort_table_cells

pytestmark = pytest.mark.reliability

DISTRIBUTION = RuntimeDistribution([10, 20, None], budgets=50)
UNREACHED = RuntimeDistribution([None, None], budgets=50)


def _attempt(experiment="adam", target=0.5, metric="val_accuracy", steps=10):
    return Attempt(experiment, metric, target, steps=steps, reached=True, budget=50)


TWO_TARGETS = [_attempt(target=0.5), _attempt(target=0.6)]
TWO_EXPERIMENTS = [_attempt("adam"), _attempt("sgd")]

API_ROWS = [
    (plot_success_curve, {"source": "runs.sqlite"}, TypeError, "`source`"),
    (plot_success_curve, {"source": []}, ValueError, "`source` holds no attempts"),
    (plot_success_curve, {"source": [1, 2]}, TypeError, "`source` must hold only"),
    (plot_success_curve, {"source": TWO_TARGETS}, ValueError, "`source` mixes"),
    (plot_success_curve, {"source": DISTRIBUTION, "level": 1.5}, ValueError, "`level`"),
    (plot_effort_against_target, {"sources": {}}, ValueError, "`sources` is empty"),
    (
        plot_effort_against_target,
        {"sources": {math.nan: DISTRIBUTION}},
        ValueError,
        "`sources` must be keyed",
    ),
    (plot_effort_against_target, {"sources": TWO_EXPERIMENTS}, ValueError, "`sources` mixes"),
    (plot_effort_against_target, {"sources": {0.5: DISTRIBUTION}, "z": 1.0}, ValueError, "`z`"),
    (
        plot_effort_against_target,
        {"sources": {0.5: "x"}},
        TypeError,
        "`sources[0.5]`",
    ),
    (plot_restart_cost, {"source": UNREACHED}, ValueError, "`source` has no run"),
    (plot_ecdf_comparison, {"sources": {}}, ValueError, "`sources`"),
    (plot_ecdf_comparison, {"sources": [DISTRIBUTION]}, ValueError, "`sources`"),
    (
        plot_performance_profile,
        {"sources": TWO_EXPERIMENTS, "measure": "median"},
        ValueError,
        "`measure`",
    ),
    (
        plot_performance_profile,
        {"sources": [_attempt("adam", 0.5), _attempt("sgd", 0.6)]},
        ValueError,
        "share no target",
    ),
    (plot_performance_profile, {"sources": TWO_EXPERIMENTS, "taus": [0.5]}, ValueError, "`taus`"),
    (performance_profile, {"efforts": {}, "taus": [1.0]}, ValueError, "`efforts`"),
    (
        performance_profile,
        {"efforts": {"a": [1.0, 2.0], "b": [1.0]}, "taus": [1.0]},
        ValueError,
        "`efforts`",
    ),
    (performance_ratios, {"efforts": {"a": [math.nan]}}, ValueError, "`efforts`"),
    (DISTRIBUTION.success_interval, {"level": 0.0}, ValueError, "`level`"),
    (ledger_figure, {"attempts": TWO_TARGETS, "kind": "pie"}, ValueError, "`kind`"),
    (ledger_figure, {"attempts": TWO_TARGETS, "experiments": ["x"]}, ValueError, "`experiment`"),
    (
        ledger_figure,
        {"attempts": TWO_TARGETS, "kind": "success", "target": 0.99},
        ValueError,
        "`target` 0.99",
    ),
    (ledger_figure, {"attempts": TWO_TARGETS, "kind": "success"}, ValueError, "`target`"),
    (ledger_figure, {"attempts": TWO_TARGETS, "metric": "loss"}, ValueError, "`metric`"),
    (ledger_figure, {"attempts": TWO_EXPERIMENTS, "kind": "restart"}, ValueError, "`experiment`"),
    (export_ioh, {"attempts": [], "directory": "unused"}, ValueError, "`attempts`"),
    (export_ioh, {"attempts": ["x"], "directory": "unused"}, ValueError, "`attempts`"),
    (
        export_ioh,
        {"attempts": TWO_TARGETS, "directory": "unused", "maximize": "yes"},
        ValueError,
        "`maximize`",
    ),
    (
        export_ioh,
        {"attempts": [_attempt(metric="score")], "directory": "unused"},
        ValueError,
        "`maximize`: the name 'score' does not say",
    ),
    (
        effort_table_cells,
        {"summaries": [summarize(DISTRIBUTION, 0.5, 0.9), summarize(DISTRIBUTION, 0.5, 0.99)]},
        ValueError,
        "Koza confidences z",
    ),
]


@pytest.mark.parametrize(("function", "kwargs", "error", "names"), API_ROWS)
def test_api_rejects_bad_input(function, kwargs, error, names, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)  # an export that went ahead would write here, not in the repo
    with pytest.raises(error, match=re.escape(names)):
        function(**kwargs)
    assert not any(tmp_path.iterdir())


class CommandFailed(Exception):
    """The command exited non-zero; the message is what it printed."""


def _command(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    if code != 0:
        raise CommandFailed(" ".join((out.getvalue() + err.getvalue()).split()))


# {ledger}: two experiments at two targets; {empty}: a ledger with no attempts; {scores}: a
# metric whose name says no direction; {file}: a file.
COMMAND_ROWS = [
    (["plot", "{missing}", "-o", "{out}.png"], "no ledger at"),
    (["plot", "{ledger}", "-o", "{out}.jpg"], "the figure file must end in .png, .svg, .pdf"),
    (["plot", "{ledger}", "--kind", "pie", "-o", "{out}.png"], "--kind: invalid choice"),
    (["plot", "{ledger}", "--experiment", "nope", "-o", "{out}.png"], "--experiment 'nope'"),
    (["plot", "{ledger}", "--kind", "effort", "-o", "{out}.png"], "--experiment: the 'effort'"),
    (
        ["plot", "{ledger}", "--kind", "success", "--experiment", "adam", "-o", "{out}.png"],
        "--target: the attempts have several",
    ),
    (
        ["plot", "{ledger}", "--kind", "ecdf", "--target", "0.99", "-o", "{out}.png"],
        "--target 0.99",
    ),
    (["plot", "{ledger}", "--z", "2", "-o", "{out}.png"], "--z must be in (0, 1)"),
    (["plot", "{empty}", "-o", "{out}.png"], "has no attempts to draw"),
    (["plot", "{ledger}"], "-o/--output"),
    (["report", "{missing}", "--html", "{out}.html"], "no ledger at"),
    (["export", "{ledger}", "--format", "csv", "{out}"], "--format: invalid choice"),
    (["export", "{ledger}", "{out}"], "--format"),
    (["export", "{missing}", "--format", "ioh", "{out}"], "no ledger at"),
    (["export", "{ledger}", "--format", "ioh", "{file}"], "exists and is not a folder"),
    (["export", "{ledger}", "--format", "ioh", "--experiment", "x", "{out}"], "for 'x'"),
    (["demo", "--plot", "{out}.jpg"], "the figure file must end in"),
    (["export", "{scores}", "--format", "ioh", "{out}"], "--mode: the name 'score' does not say"),
    (
        ["export", "{ledger}", "--format", "ioh", "--maximize", "--minimize", "{out}"],
        "not allowed with argument",
    ),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_report_inputs")
    ledger = Ledger(root / "study.sqlite")
    for experiment in ("adam", "sgd"):
        for target in (0.5, 0.6):
            ledger.add(_attempt(experiment, target))
    Ledger(root / "empty.sqlite")
    Ledger(root / "scores.sqlite").add(_attempt(metric="score"))
    (root / "file.txt").write_text("not a folder")
    return {
        "ledger": str(root / "study.sqlite"),
        "empty": str(root / "empty.sqlite"),
        "scores": str(root / "scores.sqlite"),
        "missing": str(root / "missing.sqlite"),
        "file": str(root / "file.txt"),
        "out": str(root / "out" / "result"),
    }


@pytest.mark.parametrize(("argv", "names"), COMMAND_ROWS)
def test_commands_reject_bad_input(argv, names, paths):
    pytest.importorskip("matplotlib")
    with pytest.raises(CommandFailed, match=re.escape(names)):
        _command([part.format(**paths) for part in argv])
    # Nothing was created: neither the missing ledger nor the output.
    assert not os.path.exists(paths["missing"])
    assert not os.path.exists(os.path.dirname(paths["out"]))


def test_command_errors_print_bracketed_names_as_they_are(tmp_path):
    """A path or name with brackets is printed as given, not read as rich markup."""
    missing = str(tmp_path / "[red]runs[/red].sqlite")
    with pytest.raises(CommandFailed, match=re.escape(f"no ledger at {missing}")):
        _command(["plot", missing, "-o", str(tmp_path / "f.png")])
