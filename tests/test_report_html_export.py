"""The HTML report, the IOHprofiler export (read back by iohinspector), `plot`, honest tables
and the demo's reproducibility."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.effort import RuntimeDistribution
from keras_effort.report import effort_rich_table, ledger_report
from keras_effort.report.tables import effort_table_cells

pytest.importorskip("matplotlib")

BUDGET = 1000
# Per experiment and target: the steps at which its runs reached it (None: never, censored).
RUNS = {
    ("adam", 0.5): [50, 75, 100, 125, 150, 200],
    ("adam", 0.7): [300, 450, 900, None, None, None],
    ("sgd", 0.5): [100, 150, 250, 400, 600, 800],
    ("sgd", 0.7): [700, None, None, None, None, None],
}


def _curve(reached_at, target):
    """A monitored curve on a 25-step grid that first meets `target` at `reached_at`."""
    steps = list(range(25, BUDGET + 1, 25))
    if reached_at is None:
        return [(s, round(target - 0.1 + s * 1e-5, 6)) for s in steps]
    return [(s, round(target + (0.05 if s >= reached_at else -0.2), 6)) for s in steps]


@pytest.fixture
def study(tmp_path):
    ledger = Ledger(tmp_path / "study.sqlite")
    for (experiment, target), runs in RUNS.items():
        for seed, steps in enumerate(runs):
            ledger.add(
                Attempt(
                    experiment,
                    "val_accuracy",
                    target,
                    steps=steps or BUDGET,
                    reached=steps is not None,
                    budget=BUDGET,
                    outcome="reached" if steps else "cutoff",
                    seed=seed,
                    curve=_curve(steps, target),
                )
            )
    return ledger


def _distribution(experiment, target):
    return RuntimeDistribution(RUNS[experiment, target], budgets=BUDGET)


# --------------------------------------------------------------------------- html


def test_html_report_holds_every_experiments_table_and_figures(study, tmp_path):
    out = tmp_path / "report" / "effort.html"
    assert main(["report", str(study.path), "--html", str(out), "--bootstrap", "20"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    sections = re.findall(r'<section class="experiment".*?</section>', page, re.S)
    assert len(sections) == 2
    for section, name in zip(sections, ("adam", "sgd"), strict=True):
        assert f"<h2>{name}, val_accuracy</h2>" in section
        rows = re.findall(r"<tr>(.*?)</tr>", section, re.S)
        assert len(rows) == 1 + 2  # header and one row per target
        assert "Koza E(0.99)" in rows[0]
        alts = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', section)
        assert [alt for alt, _ in alts] == [
            f"{name}, val_accuracy: effort against target",
            f"{name}, val_accuracy: success curves",
            f"{name}, val_accuracy: restart cost at target 0.7",
        ]
        for _, data in alts:
            assert base64.b64decode(data).startswith(b"\x89PNG")
    # sgd reached 0.7 once: its row is marked, and the footnote explains the mark.
    assert "1 success*" in sections[1] and "fewer than 5 attempts reached" in sections[1]
    comparison = re.search(r'<section class="comparison".*?</section>', page, re.S).group()
    assert comparison.count("data:image/png;base64,") == 2
    assert "performance profile over 2 shared targets" in comparison


def test_html_report_escapes_names(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add(Attempt("<b>x</b>", "val_accuracy", 0.5, steps=10, reached=True, budget=20))
    out = tmp_path / "r.html"
    assert main(["report", str(ledger.path), "--html", str(out), "--bootstrap", "0"]) == 0
    page = out.read_text()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


# ------------------------------------------------------------------------ export


def test_ioh_export_round_trips_through_iohinspector(study, tmp_path, capsys):
    """iohinspector's expected running time and ECDF of our export equal ours."""
    ih = pytest.importorskip("iohinspector")
    from iohinspector.metrics.ecdf import get_data_ecdf
    from iohinspector.metrics.fixed_target import aggregate_running_time

    folder = tmp_path / "ioh"
    assert main(["export", str(study.path), "--format", "ioh", str(folder)]) == 0
    assert "24 attempts written" in capsys.readouterr().out
    manager = ih.DataManager()
    manager.add_folder(str(folder))
    data = manager.load(monotonic=True, include_meta_data=True)
    assert manager.overview.height == 24
    evaluations = np.array([1, 50, 60, 100, 299, 300, 450, 700, 899, 900, 1000])
    for (experiment, target), runs in RUNS.items():
        ours = _distribution(experiment, target)
        function = "val_accuracy_" + f"{target:g}"
        rows = data.filter(
            (data["algorithm_name"] == experiment) & (data["function_name"] == function)
        ).select("data_id", "run_id", "algorithm_name", "evaluations", "raw_y")
        assert rows["run_id"].n_unique() == len(runs)
        ert = aggregate_running_time(
            rows,
            f_min=target,
            f_max=target,
            scale_f_log=False,
            eval_max=BUDGET,
            maximization=True,
        )
        assert ert["success_count"].item() == ours.successes
        assert ert["ERT"].item() == pytest.approx(ours.expected_steps(BUDGET), rel=1e-12)
        # Normalised so that a value at the target counts 1 and below it 0: the mean over
        # runs at each evaluation is the fraction of runs that reached the target by then.
        ecdf = get_data_ecdf(
            rows,
            f_min=target - 1e-9,
            f_max=target,
            scale_f_log=False,
            eval_values=evaluations,
            maximization=True,
        )
        np.testing.assert_array_equal(ecdf["evaluations"], evaluations)
        np.testing.assert_allclose(
            ecdf["eaf"], ours.success_probability(evaluations), rtol=0, atol=1e-12
        )


def test_ioh_export_is_repeatable(study, tmp_path):
    folder = tmp_path / "ioh"
    assert main(["export", str(study.path), "--format", "ioh", str(folder)]) == 0
    first = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert main(["export", str(study.path), "--format", "ioh", str(folder)]) == 0
    again = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert first == again and len(first) == 8  # per experiment and target: json and data


# -------------------------------------------------------------------------- plot


@pytest.mark.parametrize(
    ("arguments", "suffix"),
    [
        (["--kind", "effort", "--experiment", "adam"], ".png"),
        (["--kind", "success", "--experiment", "sgd", "--target", "0.7"], ".svg"),
        (["--kind", "restart", "--experiment", "adam", "--target", "0.7"], ".pdf"),
        (["--kind", "ecdf", "--target", "0.5"], ".png"),
        (["--kind", "profile"], ".svg"),
    ],
)
def test_plot_command_writes_each_kind(study, tmp_path, arguments, suffix):
    out = tmp_path / f"figure{suffix}"
    assert main(["plot", str(study.path), *arguments, "--bootstrap", "10", "-o", str(out)]) == 0
    head = out.read_bytes()[:8]
    assert {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[suffix] in head


# ------------------------------------------------------------------------ honesty


def test_table_names_z_and_flags_estimates_on_few_successes(study, capsys):
    rows = ledger_report(study, z=0.95, n_boot=0)
    cells = effort_table_cells(rows)
    assert "Koza E(0.95)" in cells.headers and "note" in cells.headers
    notes = [row[cells.headers.index("note")] for row in cells.rows]
    assert notes == ["", "3 successes*", "", "1 success*"]
    assert cells.footnotes[0].startswith("* fewer than 5 attempts reached the target")
    assert main(["report", str(study.path), "--z", "0.95", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "Koza E(0.95)" in out and "E(0.99)" not in out and "1 success*" in out


def test_table_without_thin_rows_has_no_note_column():
    summary = ledger_report(_single_ledger([10, 20, 30, 40, 50]), n_boot=0)
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(effort_rich_table(summary))
    text = console.export_text()
    assert "note" not in text and "fewer than" not in text


def _single_ledger(steps):
    ledger = Ledger()
    for s in steps:
        ledger.add(Attempt("a", "val_accuracy", 0.5, steps=s, reached=True, budget=100))
    return ledger


# --------------------------------------------------------------------------- demo


def _demo_table(capsys, *extra):
    arguments = ["demo", "--runs", "2", "--epochs", "1", "--check-every", "10"]
    assert main([*arguments, "--targets", "0.3", "0.4", "0.5", *extra]) == 0
    out = capsys.readouterr().out
    return out, out[out.index("Effort to") : out.index("steps are gradient steps")]


def test_demo_prints_the_same_table_twice_and_a_line_per_run(capsys, tmp_path):
    figure = tmp_path / "effort.png"
    first_out, first = _demo_table(capsys, "--plot", str(figure))
    _, second = _demo_table(capsys)
    assert first == second
    assert "0.3" in first and "0.5" in first
    runs = re.findall(r"^run (\d)/2: best val_accuracy ", first_out, re.M)
    assert runs == ["1", "2"]  # captured output is no terminal: one line per finished run
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_demo_mutes_native_log_lines_but_not_python_messages():
    """What C++ code writes to descriptor 2 is dropped; `sys.stderr` still reaches the user."""
    script = (
        "import os, sys\n"
        "from keras_effort.cli import _native_stderr_muted\n"
        "with _native_stderr_muted():\n"
        "    os.write(2, b'native line\\n')\n"
        "    print('python line', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr == "python line\nafter\n"
