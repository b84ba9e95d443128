"""keras_effort.Ledger: round trips, censoring, concurrency and crash safety."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import POSTGRES_PASSWORD

from keras_effort import Attempt, Ledger
from keras_effort.effort import EffortEstimate
from keras_effort.ledger import SCHEMA_VERSION, LedgerError


def _attempt(**overrides):
    values = {
        "experiment": "adam",
        "target_metric": "val_accuracy",
        "target_value": 0.9,
        "steps": 100,
        "reached": True,
    }
    return Attempt(**{**values, **overrides})


def test_round_trip_keeps_every_field(ledger_location):
    ledger = Ledger(ledger_location)
    written = _attempt(
        budget=500,
        config={"lr": 0.01, "layers": [64, 64]},
        seed=7,
        attempt=2,
        samples=3200,
        seconds=1.5,
        best_value=0.93,
        curve=[(10, 0.5), (100, 0.93)],
    )
    row_id = ledger.add(written)
    (read,) = Ledger(ledger_location).attempts()
    assert read.id == row_id and read.created_at is not None and read.run == written.run
    assert read.config == {"lr": 0.01, "layers": [64, 64]}
    assert read.curve == [(10, 0.5), (100, 0.93)]
    for name in ("experiment", "steps", "budget", "seed", "attempt", "samples", "seconds"):
        assert getattr(read, name) == getattr(written, name)
    assert read.outcome == "reached" and read.reached is True


def test_runtime_distribution_reproduces_the_worked_example():
    ledger = Ledger()
    for steps in (100, 200, 300):
        ledger.record(
            experiment="e",
            target_metric="val_accuracy",
            target_value=0.9,
            steps=steps,
            reached=True,
            budget=1000,
        )
    for _ in range(2):
        ledger.record(
            experiment="e",
            target_metric="val_accuracy",
            target_value=0.9,
            steps=1000,
            reached=False,
            budget=1000,
            outcome="cutoff",
        )
    rd = ledger.runtime_distribution("e")
    assert rd.koza_effort() == EffortEstimate(1800.0, 300, 6)
    assert rd.expected_steps() == pytest.approx(400.0)


def test_failed_attempts_are_censored_at_their_budget():
    ledger = Ledger()
    ledger.add(_attempt(steps=50, reached=True))
    # Diverged after 20 steps of a 400-step budget: it would never have succeeded.
    ledger.add(_attempt(steps=20, reached=False, budget=400, outcome="diverged"))
    # Stopped after 30 steps with no budget recorded: only T > 30 is known.
    ledger.add(_attempt(steps=30, reached=False))
    rd = ledger.runtime_distribution("adam")
    assert rd.horizon == 400
    # Censored at 30 (< 50): Kaplan-Meier, not the plain fraction 1/3.
    assert rd.success_probability(50) == pytest.approx(1 - 1 * (1 - 1 / 2))


def test_filters_groups_and_exports(ledger_location):
    ledger = Ledger(ledger_location)
    ledger.add(_attempt(experiment="a", target_value=0.8))
    ledger.add(_attempt(experiment="b", target_value=0.8))
    ledger.add(_attempt(experiment="a", target_value=0.9, steps=300))
    assert ledger.experiments() == ["a", "b"]
    assert ledger.targets() == [
        ("a", "val_accuracy", 0.8),
        ("b", "val_accuracy", 0.8),
        ("a", "val_accuracy", 0.9),
    ]
    assert [a.steps for a in ledger.attempts("a", target_value=0.9)] == [300]
    with pytest.raises(ValueError, match="several targets"):
        ledger.runtime_distribution("a")
    with pytest.raises(ValueError, match="no attempts recorded"):
        ledger.runtime_distribution("missing")
    dicts = ledger.to_dicts("a")
    assert [d["target_value"] for d in dicts] == [0.8, 0.9]
    frame = ledger.to_dataframe()
    assert len(frame) == 3 and list(frame["experiment"]) == ["a", "b", "a"]


def test_numpy_scalars_are_stored_as_python_numbers():
    np = pytest.importorskip("numpy")
    ledger = Ledger()
    ledger.add(
        _attempt(
            steps=np.int64(12),
            seed=np.int32(3),
            target_value=np.float32(0.5),
            best_value=float("nan"),
        )
    )
    (read,) = ledger.attempts()
    assert (read.steps, read.seed, read.best_value) == (12, 3, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"experiment": ""}, "`experiment`"),
        ({"target_value": float("nan")}, "`target_value`"),
        ({"steps": -1}, r"`steps` must be an integer in \[0, 9223372036854775807\]"),
        ({"steps": 1.5}, "`steps`"),
        ({"budget": 50}, "beyond `budget`"),
        ({"outcome": "exploded"}, "`outcome` must be one of"),
        ({"outcome": "cutoff"}, "contradicts"),
        ({"seconds": -2.0}, "`seconds`"),
        ({"config": {"f": object()}}, "`config` must be a JSON"),
    ],
)
def test_bad_attempts_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        _attempt(**overrides)


def test_copies_share_the_ledger_and_pickles_send_the_location(ledger_location):
    memory = Ledger()
    assert copy.deepcopy(memory) is memory  # KerasTuner deep-copies callbacks
    with pytest.raises(TypeError, match="in-memory Ledger cannot be pickled"):
        pickle.dumps(memory)
    stored = Ledger(ledger_location)
    stored.add(_attempt())
    clone = pickle.loads(pickle.dumps(stored))
    assert (clone.path, clone.url) == (stored.path, stored.url) and len(clone.attempts()) == 1


_WRITER = textwrap.dedent(
    """
    import sys, time
    from keras_effort import Attempt, Ledger
    ledger = Ledger(sys.argv[1])
    worker, count = int(sys.argv[2]), int(sys.argv[3])
    for i in range(count):
        ledger.add(Attempt("w%d" % worker, "val_accuracy", 0.9, steps=i, reached=True))
        print(i, flush=True)
    """
)


def test_several_processes_append_to_one_ledger(ledger_location):
    path = ledger_location
    Ledger(path)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(w), "60"], stdout=subprocess.DEVNULL
        )
        for w in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    ledger = Ledger(path)
    assert len(ledger.attempts()) == 240
    for worker in range(4):
        assert [a.steps for a in ledger.attempts(f"w{worker}")] == list(range(60))


def test_a_killed_writer_loses_nothing_it_committed(ledger_location):
    path = ledger_location
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), "0", "100000"], stdout=subprocess.PIPE, text=True
    )
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 50 and time.monotonic() < deadline:
        committed = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    if not path.startswith("postgresql://"):
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    steps = [a.steps for a in Ledger(path).attempts()]
    assert len(steps) >= committed + 1  # every printed row was committed before the print
    assert steps == list(range(len(steps)))


# ------------------------------------------------------------------ the key and the schema


def test_a_rewritten_attempt_keeps_its_row_and_a_changed_one_is_refused(ledger_location):
    ledger = Ledger(ledger_location)
    first = _attempt(run="fit-1", attempt=0, steps=40)
    row_id = ledger.add(first)
    (stored,) = ledger.attempts()
    assert stored.writer == ledger.writer and len(ledger.writer) == 32
    assert ledger.add(first) == row_id  # a retried write (same key, same content)
    # The same writer writing other values under the key: a mistake, refused, row unchanged.
    refused = r"attempt 0 of run 'fit-1' of experiment 'adam' is already in the ledger .* steps"
    with pytest.raises(LedgerError, match=refused):
        ledger.add(_attempt(run="fit-1", attempt=0, steps=70))
    ledger.add(_attempt(run="fit-1", attempt=1))
    ledger.add(_attempt(run="fit-2", attempt=0))
    ledger.add(_attempt(experiment="other", run="fit-1", attempt=0))
    rows = Ledger(ledger_location).attempts()
    assert [(a.experiment, a.run, a.attempt) for a in rows] == [
        ("adam", "fit-1", 0),
        ("adam", "fit-1", 1),
        ("adam", "fit-2", 0),
        ("other", "fit-1", 0),
    ]
    assert rows[0] == stored


def test_a_named_writer_replaces_its_own_rows_and_no_other(ledger_location):
    search = Ledger(ledger_location, writer="search-a")
    row_id = search.add(_attempt(run="trial_0/execution_0", steps=40))
    (stored,) = search.attempts()
    # A later process under the same name (a resumed search) replaces its row in place.
    resumed = Ledger(ledger_location).as_writer("search-a")
    assert resumed.add(_attempt(run="trial_0/execution_0", steps=70)) == row_id
    (replaced,) = resumed.attempts()
    assert (replaced.id, replaced.steps, replaced.created_at) == (row_id, 70, stored.created_at)
    # Another writer's row of the same key is its own row.
    other = Ledger(ledger_location, writer="search-b")
    other.add(_attempt(run="trial_0/execution_0", steps=90))
    assert [(a.writer, a.steps) for a in Ledger(ledger_location).attempts()] == [
        ("search-a", 70),
        ("search-b", 90),
    ]
    with pytest.raises(ValueError, match="`writer` must be a non-empty string"):
        Ledger(ledger_location, writer="")


def test_each_attempt_gets_a_fresh_run_by_default():
    first, second = _attempt(), _attempt()
    assert first.run != second.run and len(first.run) == 32
    ledger = Ledger()
    ledger.add(first)
    ledger.add(second)
    assert len(ledger.attempts()) == 2


def test_the_schema_version_is_recorded(ledger_location):
    assert Ledger(ledger_location).schema_version == SCHEMA_VERSION == 3
    assert Ledger(ledger_location, read_only=True).schema_version == 3


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    Ledger(path).add(_attempt())
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE keras_effort_meta SET value = '4'")
    for read_only in (False, True):
        with pytest.raises(LedgerError, match=f"{path} has schema version 4, newer"):
            Ledger(path, read_only=read_only)


# The ledger layout of keras-effort 0.1, before versions: what `migrate` starts from.
_V1_SCHEMA = """
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, experiment TEXT NOT NULL, config TEXT NOT NULL,
    seed INTEGER, attempt INTEGER NOT NULL, target_metric TEXT NOT NULL,
    target_value REAL NOT NULL, steps INTEGER NOT NULL, budget INTEGER, samples INTEGER,
    seconds REAL, reached INTEGER NOT NULL, outcome TEXT NOT NULL, best_value REAL, curve TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX attempts_by_experiment ON attempts (experiment, target_metric, target_value);
"""


def _v1_ledger(path):
    with sqlite3.connect(path) as connection:
        connection.executescript(_V1_SCHEMA)
        for steps in (10, 20):  # two rows with one (experiment, attempt): no key in version 1
            connection.execute(
                "INSERT INTO attempts (experiment, config, seed, attempt, target_metric, "
                "target_value, steps, reached, outcome, curve, created_at) VALUES "
                "('adam', '{\"lr\": 0.1}', 3, 0, 'val_accuracy', 0.9, ?, 1, 'reached', "
                "'[[5, 0.5]]', 1.0)",
                (steps,),
            )
    connection.close()


def test_a_version_1_ledger_is_read_as_it_is_and_migrated_when_written(tmp_path):
    path = tmp_path / "v1.sqlite"
    _v1_ledger(path)
    before = path.read_bytes()
    reader = Ledger(path, read_only=True)
    assert reader.schema_version == 1
    old = reader.attempts()
    assert [(a.run, a.steps, a.config, a.curve) for a in old] == [
        ("legacy-1", 10, {"lr": 0.1}, [(5, 0.5)]),
        ("legacy-2", 20, {"lr": 0.1}, [(5, 0.5)]),
    ]
    assert path.read_bytes() == before  # reading never migrates
    writer = Ledger(path)
    assert writer.schema_version == 3
    assert writer.attempts() == old  # every row, id and field kept
    writer.add(_attempt(run="legacy-1", attempt=0, steps=11))  # another writer's row
    assert [a.steps for a in writer.attempts()] == [10, 20, 11]
    assert [a.id for a in writer.attempts()] == [1, 2, 3]  # new ids follow the copied ones
    with sqlite3.connect(path) as connection:
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "attempts_v1" not in indexes and "attempts_by_experiment" not in indexes


def test_migrations_are_steps_from_each_version_to_the_next(tmp_path):
    from keras_effort.ledger import schema
    from keras_effort.ledger.sqlite import SQLiteStore

    path = tmp_path / "v1.sqlite"
    _v1_ledger(path)
    # The first step alone gives a version 2 ledger: `run` and a key, no `writer` yet.
    with sqlite3.connect(path) as connection:
        for statement in schema.migration_statements(1, SQLiteStore.types, None):
            connection.execute(statement)
        columns = [row[1] for row in connection.execute("PRAGMA table_info(attempts)")]
    connection.close()
    assert columns == [c for c, _ in schema.COLUMN_TYPES if c != "writer"]
    reader = Ledger(path, read_only=True)
    assert reader.schema_version == 2
    assert [(a.id, a.run, a.steps, a.writer) for a in reader.attempts()] == [
        (1, "legacy-1", 10, None),
        (2, "legacy-2", 20, None),
    ]
    # Every version but the current one has its step, and the steps end at the current key.
    assert sorted(schema.MIGRATIONS) == list(range(1, schema.SCHEMA_VERSION))
    assert schema.MIGRATIONS[schema.SCHEMA_VERSION - 1].key == schema.KEY
    assert schema.columns_of(schema.SCHEMA_VERSION) == schema.COLUMNS


# ------------------------------------------------------------------------------ PostgreSQL


def test_a_ledger_url_needs_the_postgres_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(ImportError, match=r"keras-effort\[postgres\]"):
        Ledger("postgresql://u:p@127.0.0.1:1/effort")


def test_an_unreachable_server_fails_within_the_timeout_naming_host_and_database():
    pytest.importorskip("psycopg")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(LedgerError) as raised:
        Ledger(f"postgresql://keras:s3cret@127.0.0.1:{port}/effort", timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 10  # retried for the timeout, then gave up
    message = str(raised.value)
    assert f"'effort' on 127.0.0.1:{port}" in message and "tries over 1.5 s" in message
    assert "s3cret" not in message


@pytest.mark.postgres
def test_a_wrong_password_is_named_without_the_password(postgres_server):
    url = postgres_server.url().replace(POSTGRES_PASSWORD, "wrong-pw")
    with pytest.raises(LedgerError, match="password authentication failed") as raised:
        Ledger(url, timeout=1)
    assert "wrong-pw" not in str(raised.value) and "'postgres' on 127.0.0.1" in str(raised.value)


@pytest.mark.postgres
def test_a_postgres_ledger_hides_its_password_and_refuses_a_foreign_attempts_table(postgres_url):
    ledger = Ledger(postgres_url)
    assert POSTGRES_PASSWORD not in repr(ledger) and ":***@" in repr(ledger)
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE keras_effort_meta")
        connection.execute("ALTER TABLE attempts DROP COLUMN run")
        connection.execute("ALTER TABLE attempts ADD COLUMN owner TEXT")
    with pytest.raises(LedgerError, match="not a keras-effort ledger: it has an `attempts` table"):
        Ledger(postgres_url)


def test_runtime_distribution_of_is_a_deprecated_alias_of_from_attempts() -> None:
    from keras_effort.effort import RuntimeDistribution
    from keras_effort.ledger import runtime_distribution_of

    attempts = [Attempt("e", "val_accuracy", 0.9, steps=s, reached=True, budget=400)
                for s in (100, 300)]
    attempts.append(Attempt("e", "val_accuracy", 0.9, steps=400, reached=False, budget=400,
                            outcome="cutoff"))
    with pytest.warns(DeprecationWarning, match="RuntimeDistribution.from_attempts"):
        alias = runtime_distribution_of(attempts)
    reference = RuntimeDistribution.from_attempts(attempts)
    # By hand: P(100) = 1/3, so l(100) = 100 / (1/3) = 300; l(300) = (100 + 200 * 2/3) / (2/3)
    # = 350: the optimal cutoff is 100.
    assert alias.expected_steps() == reference.expected_steps() == pytest.approx(300.0)


def test_the_version_has_one_home_that_the_build_reads() -> None:
    from pathlib import Path

    import keras_effort
    from keras_effort import _version

    assert keras_effort.__version__ is _version.__version__
    # tomllib is not in Python 3.10: read the two lines hatchling reads.
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert '[tool.hatch.version]\n' in pyproject
    assert 'path = "keras_effort/_version.py"' in pyproject
