"""Reports, the `keras-effort` command and the demo, on real (tiny) training runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.datasets import load_digits, load_mnist1d
from keras_effort.demo import run_demo
from keras_effort.report import effort_rich_table, ledger_report, report_as_json


@pytest.fixture
def worked_ledger(tmp_path):
    ledger = Ledger(tmp_path / "worked.sqlite")
    for steps in (100, 200, 300, None, None):
        ledger.add(
            Attempt(
                "adam",
                "val_accuracy",
                0.9,
                steps=steps or 1000,
                reached=steps is not None,
                budget=1000,
                outcome="reached" if steps else "cutoff",
            )
        )
    ledger.add(
        Attempt("sgd", "val_accuracy", 0.9, steps=500, reached=False, budget=500, outcome="cutoff")
    )
    return ledger


def test_ledger_report_summarises_each_experiment(worked_ledger):
    adam, sgd = ledger_report(worked_ledger, n_boot=200)
    assert (adam.experiment, adam.metric) == ("adam", "val_accuracy")
    assert adam.summary.koza_effort == 1800.0 and adam.summary.optimal_cutoff == 300
    low, high = adam.interval
    assert low <= adam.summary.expected_steps_optimal <= high
    assert sgd.summary.regime == "unreached"


def test_json_report_writes_infinite_effort_as_null(worked_ledger):
    records = json.loads(report_as_json(ledger_report(worked_ledger, n_boot=0)))
    assert records[0]["koza_effort"] == 1800.0
    assert records[1]["expected_steps_optimal"] is None
    assert records[1]["regime"] == "unreached"


def test_report_command_prints_the_table(worked_ledger, capsys):
    assert main(["report", str(worked_ledger.path), "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "adam" in out and "1,800" in out and "tie" in out and "unreached" in out
    # Without resamples the regime is the point estimate's.
    assert main(["report", str(worked_ledger.path), "--bootstrap", "0"]) == 0
    assert "restarts" in capsys.readouterr().out


def test_report_command_json_and_filter(worked_ledger, capsys):
    assert main(["report", str(worked_ledger.path), "--json", "--experiment", "sgd"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["experiment"] == "sgd"


def test_report_command_rejects_missing_ledger_and_bad_z(tmp_path, worked_ledger, capsys):
    assert main(["report", str(tmp_path / "nope.sqlite")]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite").exists()
    assert main(["report", str(worked_ledger.path), "--z", "1.5"]) == 2


def test_rich_table_renders_every_row(worked_ledger):
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(effort_rich_table(ledger_report(worked_ledger, n_boot=0), title="t"))
    text = console.export_text()
    assert text.count("val_accuracy") == 2 and "inf" in text


def test_demo_measures_real_runs_and_records_them(tmp_path):
    ledger = Ledger(tmp_path / "demo.sqlite")
    result = run_demo(
        runs=2,
        targets=(0.3, 0.99),
        epochs=2,
        batch_size=128,
        check_every=8,
        learning_rate=3e-3,
        ledger=ledger,
    )
    assert result.budget == 2 * 32
    easy, impossible = result.rows
    assert impossible.regime == "unreached" and math.isinf(impossible.koza_effort)
    for steps, values in result.curves:
        assert steps[0] == 8 and np.all(np.diff(steps) == 8)
        assert np.all((values >= 0) & (values <= 1))
    # The ledger holds one attempt per run and target, and reproduces the demo's table.
    assert len(ledger.attempts()) == 4
    reported = [row.summary for row in ledger_report(ledger)]
    assert reported == result.rows
    assert easy.runs == 2


def test_demo_command_prints_a_table(capsys, tmp_path):
    path = tmp_path / "d.sqlite"
    assert (
        main(["demo", "--runs", "1", "--epochs", "1", "--targets", "0.2", "--ledger", str(path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "MNIST-1D" in out and "0.2" in out and f"keras-effort report {path}" in out
    assert len(Ledger(path).attempts()) == 1


def test_demo_command_rejects_bad_targets(capsys):
    assert main(["demo", "--targets", "1.5"]) == 2
    with pytest.raises(SystemExit):
        main(["demo", "--runs", "0"])


def test_mnist1d_is_generated_offline_and_leaves_global_rngs_alone():
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    (x, y), (x_test, _) = load_mnist1d()
    assert np.random.rand() == expected_next
    assert x.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x.dtype == np.float32 and set(np.unique(y)) == set(range(10))
    x[0, 0] = 1e9  # a copy: the cache is not corrupted
    assert load_mnist1d()[0][0][0, 0] != 1e9
    with pytest.raises(ValueError, match="`seed`"):
        load_mnist1d(seed="1")


def test_digits_split():
    (x, _), (x_test, _) = load_digits(test_fraction=0.25, seed=1)
    assert len(x) + len(x_test) == 1797 and x.shape[1] == 64
    assert x.min() >= 0.0 and x.max() <= 1.0
    with pytest.raises(ValueError, match="`test_fraction`"):
        load_digits(test_fraction=1.0)


def test_report_reads_either_backend_in_a_read_only_session(ledger_location, capsys):
    from keras_effort.ledger import LedgerError

    ledger = Ledger(ledger_location)
    for steps in (100, 200, 300):
        ledger.record(
            experiment="adam[lr=3e-3]",
            target_metric="val_accuracy",
            target_value=0.9,
            steps=steps,
            reached=True,
        )
    assert main(["report", ledger_location, "--json", "--bootstrap", "0"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["experiment"] == "adam[lr=3e-3]" and record["median_steps"] == 200
    reader = Ledger(ledger_location, read_only=True)
    with pytest.raises(LedgerError, match="opened read-only"):
        reader.add(Attempt("a", "val_accuracy", 0.9, steps=1, reached=True))
    # Below the API too, the session itself refuses to write.
    with pytest.raises(LedgerError, match=r"read-only|readonly"):
        reader._store.run(lambda cursor: cursor.execute("DELETE FROM attempts"), write=True)
    assert len(Ledger(ledger_location).attempts()) == 3


def test_export_counts_one_attempt_and_one_file_in_the_singular(tmp_path, capsys):
    ledger = Ledger(tmp_path / "one.sqlite")
    ledger.add(Attempt("adam", "val_accuracy", 0.9, steps=10, reached=True, budget=100))
    assert main(["export", str(ledger.path), "--format", "ioh", str(tmp_path / "ioh")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 attempt written as IOHprofiler data in ") and "1 file of" in out


def test_export_takes_the_direction_as_a_targets_mode_and_the_old_flags_still(tmp_path, capsys):
    ledger = Ledger(tmp_path / "scores.sqlite")
    ledger.add(Attempt("adam", "score", 0.5, steps=10, reached=True, budget=100))

    def maximization(*flags: str) -> bool:
        folder = tmp_path / "-".join(flags)
        assert main(["export", str(ledger.path), "--format", "ioh", *flags, str(folder)]) == 0
        (metadata,) = folder.rglob("*.json")
        return json.loads(metadata.read_text())["maximization"]

    assert maximization("--mode", "max") is True
    assert maximization("--mode", "min") is False
    with pytest.warns(DeprecationWarning, match="--minimize is deprecated: use --mode min"):
        assert maximization("--minimize") is False
    assert "--minimize is deprecated, use --mode min" in capsys.readouterr().err
    with pytest.warns(DeprecationWarning, match="--maximize is deprecated: use --mode max"):
        assert maximization("--maximize") is True
