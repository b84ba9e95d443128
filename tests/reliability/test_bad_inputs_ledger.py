"""Bad inputs to `Ledger`, `Attempt` and `keras-effort report`: each refused with a clear error
that names the argument or the path, and nothing changed on disk."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3

import pytest

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.ledger import LedgerError

pytestmark = pytest.mark.reliability

GOOD = {
    "experiment": "adam",
    "target_metric": "val_accuracy",
    "target_value": 0.9,
    "steps": 100,
    "reached": True,
}


def attempt(**overrides):
    return Attempt(**{**GOOD, **overrides})


# -------------------------------------------------------------------- files to refuse


@pytest.fixture
def files(tmp_path):
    """Paths of every kind of thing that is not a ledger, by name."""
    made = {"missing": tmp_path / "missing.sqlite", "folder": tmp_path}
    made["text"] = tmp_path / "notes.txt"
    made["text"].write_text("not a database\n" * 100)
    made["empty"] = tmp_path / "empty.sqlite"
    made["empty"].touch()
    made["foreign"] = tmp_path / "app.db"
    with sqlite3.connect(made["foreign"]) as connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    connection.close()
    made["other attempts"] = tmp_path / "other.db"
    with sqlite3.connect(made["other attempts"]) as connection:
        connection.execute("CREATE TABLE attempts (who TEXT, score REAL)")
    connection.close()
    made["newer"] = tmp_path / "newer.sqlite"
    _closed_ledger_with_a_row(made["newer"])
    with sqlite3.connect(made["newer"]) as connection:
        connection.execute("UPDATE keras_effort_meta SET value = '99'")
    connection.close()
    made["bad row"] = tmp_path / "bad-row.sqlite"
    _closed_ledger_with_a_row(made["bad row"])
    with sqlite3.connect(made["bad row"]) as connection:
        connection.execute("UPDATE attempts SET curve = '[[1, \"high\"]]'")
    connection.close()
    # The report reads, in bulk, only the columns the censoring rule needs: a bad one of them.
    made["bad steps"] = tmp_path / "bad-steps.sqlite"
    _closed_ledger_with_a_row(made["bad steps"])
    with sqlite3.connect(made["bad steps"]) as connection:
        connection.execute("UPDATE attempts SET steps = 'high'")
    connection.close()
    made["under a file"] = made["text"] / "ledger.sqlite"
    return made


def _closed_ledger_with_a_row(path):
    ledger = Ledger(path)
    ledger.add(attempt())
    ledger.close()  # checkpoints the write-ahead log: the file no longer changes


def _digests(paths):
    return {
        name: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in paths.items()
        if path.is_file()
    }


# (callable, kwargs, exception type, substring naming the argument or path). A kwarg given as
# ("file", name) is replaced by that path of the `files` fixture; the substring "{path}" by it.
LEDGER_ROWS = [
    (Ledger, {"path": ""}, ValueError, "`path`"),
    (Ledger, {"path": 5}, TypeError, "`path`"),
    (Ledger, {"path": b"runs.sqlite"}, TypeError, "`path`"),
    (Ledger, {"path": ["runs.sqlite"]}, TypeError, "`path`"),
    (Ledger, {"path": "mysql://u:p@host/db"}, ValueError, "`path`"),
    (Ledger, {"path": "sqlite:///runs.sqlite"}, ValueError, "`path`"),
    (Ledger, {"path": None, "read_only": True}, ValueError, "`read_only`"),
    (Ledger, {"read_only": "yes"}, TypeError, "`read_only`"),
    (Ledger, {"timeout": 0}, ValueError, "`timeout`"),
    (Ledger, {"timeout": -1.0}, ValueError, "`timeout`"),
    (Ledger, {"timeout": math.nan}, ValueError, "`timeout`"),
    (Ledger, {"timeout": math.inf}, ValueError, "`timeout`"),
    (Ledger, {"timeout": "5"}, ValueError, "`timeout`"),
    (Ledger, {"timeout": True}, ValueError, "`timeout`"),
    (Ledger, {"path": ("file", "folder")}, LedgerError, "{path} is a directory"),
    (Ledger, {"path": ("file", "text")}, LedgerError, "{path} is not an SQLite database"),
    (Ledger, {"path": ("file", "foreign")}, LedgerError, "{path} is not a keras-effort ledger"),
    (Ledger, {"path": ("file", "other attempts")}, LedgerError, "{path} is not a keras-effort"),
    (Ledger, {"path": ("file", "newer")}, LedgerError, "{path} has schema version 99"),
    (Ledger, {"path": ("file", "under a file")}, LedgerError, "{path}"),
    (
        Ledger,
        {"path": ("file", "missing"), "read_only": True},
        LedgerError,
        "no ledger at {path}",
    ),
    (Ledger, {"path": ("file", "empty"), "read_only": True}, LedgerError, "{path} is not a"),
    (
        Ledger,
        {"path": ("file", "foreign"), "read_only": True},
        LedgerError,
        "{path} is not a keras-effort ledger",
    ),
    (
        Ledger,
        {"path": ("file", "text"), "read_only": True},
        LedgerError,
        "{path} is not an SQLite database",
    ),
    (lambda path: Ledger(path).attempts(), {"path": ("file", "bad row")}, LedgerError, "row 1"),
    (lambda: Ledger().add({"steps": 1}), {}, TypeError, "`attempt`"),
    (lambda: Ledger().record(steps=1), {}, TypeError, "experiment"),
    (lambda: Ledger().runtime_distribution("nope"), {}, ValueError, "'nope'"),
    (
        lambda path: Ledger(path, read_only=True).add(attempt()),
        {"path": ("file", "newer")},
        LedgerError,
        "newer",
    ),
]

ATTEMPT_ROWS = [
    (attempt, {name: value}, ValueError, f"`{name}`")
    for name, values in {
        "experiment": ["", 5, None, "a\x00b", b"adam"],
        "target_metric": ["", 3.0, None],
        "target_value": [math.nan, math.inf, -math.inf, "0.9", True, None, 1j],
        "steps": [-1, 1.5, "10", True, None, 2**63, math.nan],
        "reached": ["no", "yes", 1, 0, None, 0.0],
        "budget": [-5, 2.5, "100", False],
        "outcome": ["exploded", "", 3],
        "seed": [2**64, -(2**64), 1.5, "0"],
        "run": ["", 5, None, "r\x00"],
        "attempt": [-1, 0.5, "0"],
        "samples": [-1, 2.0],
        "seconds": [-1.0, math.nan, math.inf, "1"],
        "best_value": ["high", [0.5], True],
        "config": ["lr=3e-3", ["lr"], {"f": object()}, {"x": math.nan}],
        "curve": [
            "garbage",
            5,
            {1: 0.5},
            [(1,)],
            [("a", 0.5)],
            [(-1, 0.5)],
            [(1.5, 0.5)],
            [(1, "x")],
            [(True, 0.5)],
            [(1, 0.5, 2)],
            [None],
        ],
    }.items()
    for value in values
] + [
    (attempt, {"outcome": "cutoff"}, ValueError, "`outcome`"),
    (attempt, {"reached": False, "outcome": "reached"}, ValueError, "`outcome`"),
    (attempt, {"budget": 50}, ValueError, "`budget`"),
]


def _resolve(kwargs, files):
    resolved, path = {}, None
    for name, value in kwargs.items():
        if isinstance(value, tuple) and value[:1] == ("file",):
            value = path = files[value[1]]
        resolved[name] = value
    return resolved, path


def _stable_id(value: object) -> str:
    """A test id without memory addresses, so every xdist worker collects the same ids."""
    name = getattr(value, "__qualname__", None)
    return name if name is not None else re.sub(r" at 0x[0-9a-f]+", "", repr(value))


@pytest.mark.parametrize(
    ("function", "kwargs", "error", "names"), LEDGER_ROWS + ATTEMPT_ROWS, ids=_stable_id
)
def test_bad_input_is_refused_naming_it(function, kwargs, error, names, files):
    before = _digests(files)
    resolved, path = _resolve(kwargs, files)
    with pytest.raises(error) as raised:
        function(**resolved)
    assert names.replace("{path}", str(path)) in str(raised.value)
    assert _digests(files) == before  # a refused file is left exactly as it was


def test_the_table_is_large_enough():
    assert len(LEDGER_ROWS) + len(ATTEMPT_ROWS) + len(REPORT_ROWS) >= 40


# ------------------------------------------------------------------ the report command

# (arguments, with ("file", name) for a path; substring of the one line on stderr)
REPORT_ROWS = [
    ([("file", "missing")], "no ledger at {path}"),
    ([("file", "folder")], "{path} is a directory"),
    ([("file", "text")], "{path} is not an SQLite database"),
    ([("file", "empty")], "{path} is not a keras-effort ledger"),
    ([("file", "foreign")], "{path} is not a keras-effort ledger"),
    ([("file", "other attempts")], "{path} is not a keras-effort ledger"),
    ([("file", "newer")], "{path} has schema version 99"),
    ([("file", "bad steps")], "row 1 of the ledger {path} is not a valid attempt"),
    ([("file", "newer"), "--experiment", "x"], "newer"),
    (["mysql://u:p@h/db"], "`path` must be a file path or a postgresql:// URL"),
    ([""], "`path`"),
    ([("file", "bad row"), "--experiment", "nope"], "no experiment 'nope'"),
    ([("file", "bad row"), "--z", "1.5"], "--z must be in (0, 1), got 1.5"),
    ([("file", "bad row"), "--z", "nan"], "--z must be in (0, 1), got nan"),
    ([("file", "bad row"), "--z", "0"], "--z must be in (0, 1)"),
]


@pytest.mark.parametrize(("arguments", "message"), REPORT_ROWS, ids=_stable_id)
def test_report_refuses_with_one_line_and_exit_2(arguments, message, files, capsys):
    before = _digests(files)
    path = None
    argv = ["report"]
    for argument in arguments:
        if isinstance(argument, tuple):
            argument = path = files[argument[1]]
        argv.append(str(argument))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines() or [""]
    assert message.replace("{path}", str(path)) in " ".join(captured.err.split())
    assert "Traceback" not in captured.err and line
    assert _digests(files) == before
