"""Fuzzing `RuntimeDistribution`, `Attempt` and `keras-effort report` with arbitrary input: the
answer is a named `ValueError` (exit 2 for the command) or a finite or infinite number, never
another exception."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.effort import RuntimeDistribution

pytestmark = pytest.mark.reliability

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
)
steps_like = st.one_of(st.integers(min_value=-5, max_value=10**6), anything)


@FUZZ
@given(
    steps=st.lists(st.one_of(st.none(), steps_like), max_size=12),
    budgets=st.one_of(steps_like, st.lists(steps_like, max_size=12)),
    z=st.one_of(st.floats(0.01, 0.999), anything),
)
def test_runtime_distribution_answers_a_number_or_a_named_value_error(steps, budgets, z):
    try:
        distribution = RuntimeDistribution(steps=steps, budgets=budgets)
    except ValueError as error:
        assert "`" in str(error)  # names the argument
        return
    for value in (distribution.expected_steps(), distribution.success_rate):
        assert not math.isnan(value)
    try:
        effort = distribution.koza_effort(z)
    except ValueError as error:
        assert "`z`" in str(error)
    else:
        assert not math.isnan(effort.steps) and effort.steps >= 0


attempt_fields = {
    "experiment": st.one_of(st.text(max_size=12), anything),
    "target_metric": st.one_of(st.just("val_accuracy"), anything),
    "target_value": st.one_of(st.floats(-2, 2), anything),
    "steps": st.one_of(st.integers(0, 10**6), anything),
    "reached": st.one_of(st.booleans(), anything),
    "budget": st.one_of(st.none(), st.integers(0, 10**6), anything),
    "outcome": st.one_of(st.none(), st.sampled_from(["reached", "cutoff", "diverged"]), anything),
    "config": st.one_of(
        st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5))),
        anything,
    ),
    "seed": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), anything),
    "run": st.one_of(st.text(min_size=1, max_size=12), anything),
    "attempt": st.one_of(st.integers(0, 50), anything),
    "seconds": st.one_of(st.none(), st.floats(0, 1e6), anything),
    "best_value": st.one_of(st.none(), st.floats(), anything),
    "curve": st.one_of(
        st.none(),
        st.lists(st.tuples(st.integers(0, 10**9), st.floats()), max_size=5),
        anything,
        st.lists(anything, max_size=3),
    ),
}


@FUZZ
@given(st.fixed_dictionaries({}, optional=attempt_fields))
def test_an_attempt_is_refused_by_name_or_stored_and_read_back_unchanged(values):
    values = {"experiment": "e", "target_metric": "m", "target_value": 0.5, "steps": 1,
              "reached": False, **values}  # fmt: skip
    try:
        attempt = Attempt(**values)
    except ValueError as error:
        assert "`" in str(error)
        return
    assert isinstance(attempt.reached, bool)
    ledger = Ledger()
    ledger.add(attempt)
    (read,) = ledger.attempts()
    written, stored = asdict(attempt), asdict(read)
    assert read.writer == (attempt.writer or ledger.writer)  # set by the ledger when None
    for name in ("id", "created_at", "writer"):
        del written[name], stored[name]
    assert json.dumps(stored, sort_keys=True) == json.dumps(written, sort_keys=True)


@FUZZ
@given(content=st.binary(max_size=2048))
def test_report_on_arbitrary_bytes_exits_2_with_one_line(content, tmp_path, capsys):
    path = tmp_path / "fuzzed.sqlite"
    path.write_bytes(content)
    assert main(["report", str(path), "--bootstrap", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert path.read_bytes() == content


names = st.text(min_size=1, max_size=16).filter(lambda name: "\x00" not in name)


@FUZZ
@given(
    experiments=st.lists(names, min_size=1, max_size=3, unique=True),
    metric=names,
    z=st.one_of(st.floats(allow_nan=True), st.just(0.99)),
    bootstrap=st.integers(-5, 20),
    only=st.one_of(st.none(), names),
)
def test_report_on_arbitrary_names_and_options_prints_them_as_data_or_exits_2(
    experiments, metric, z, bootstrap, only, tmp_path, capsys
):
    path = tmp_path / "names.sqlite"
    path.unlink(missing_ok=True)
    ledger = Ledger(path)
    for name in experiments:
        for steps in (10, 30):
            ledger.record(
                experiment=name, target_metric=metric, target_value=0.9, steps=steps, reached=True
            )
    ledger.close()
    # `--option=value`: argparse would read a value starting with "-" as an option.
    argv = ["report", str(path), f"--z={z!r}", f"--bootstrap={bootstrap}", "--json"]
    status = main([*argv, *([f"--experiment={only}"] if only is not None else [])])
    captured = capsys.readouterr()
    if not 0 < z < 1 or (only is not None and only not in experiments):
        assert status == 2 and captured.out == "" and captured.err.strip()
        return
    assert status == 0
    records = json.loads(captured.out)
    shown = [only] if only is not None else experiments
    assert [(r["experiment"], r["metric"]) for r in records] == [(e, metric) for e in shown]
    assert main(argv[:-1]) == 0  # the rich table renders the same names without error
    capsys.readouterr()


def test_markup_and_emoji_codes_in_names_print_as_they_are(tmp_path, capsys):
    path = tmp_path / "markup.sqlite"
    ledger = Ledger(path)
    for name in ("[/bold]", "adam[lr=3e-3]", ":smile:"):
        ledger.record(experiment=name, target_metric="val_accuracy", target_value=0.9,
                      steps=10, reached=True)  # fmt: skip
    assert main(["report", str(path), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "[/bold]" in out and "adam[lr=3e-3]" in out and ":smile:" in out


def test_a_report_never_changes_its_input(tmp_path):
    path = tmp_path / "watched.sqlite"
    ledger = Ledger(path)
    ledger.record(experiment="a", target_metric="m", target_value=0.5, steps=3, reached=True)
    ledger.close()
    before = path.read_bytes()
    assert main(["report", str(path), "--bootstrap", "0"]) == 0
    assert path.read_bytes() == before
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    connection.close()
    assert mode == "wal"  # the ledger's own journal mode, untouched
