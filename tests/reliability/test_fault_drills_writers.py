"""Drills of issue 24 for the ledger's keys and errors: two writers under one run, two searches
of one project name, attempts pending when a fit is interrupted, an older ledger migrated, a
refused PostgreSQL connection."""

from __future__ import annotations

import collections
import re
import sqlite3
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from keras_effort import Ledger
from keras_effort.ledger import Attempt, LedgerError

pytestmark = pytest.mark.reliability

SECRET = "pw-never-printed"  # the test server's password (tests/conftest.py)

# Writes attempts 0..count-1 of one run, as fast as it can.
_SAME_RUN_WRITER = textwrap.dedent(
    """
    import sys
    from keras_effort.ledger import Attempt, Ledger
    ledger = Ledger(sys.argv[1])
    for number in range(int(sys.argv[2])):
        ledger.add(Attempt("drill", "val_accuracy", 0.9, steps=number, reached=True,
                           run="same-run", attempt=number, seed=int(sys.argv[3])))
    """
)


def test_two_processes_writing_one_run_keep_every_row(ledger_location):
    Ledger(ledger_location)
    count = 60
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _SAME_RUN_WRITER, ledger_location, str(count), str(seed)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    rows = Ledger(ledger_location, read_only=True).attempts()
    assert len(rows) == 2 * count  # none overwritten by the other process
    by_writer = collections.defaultdict(list)
    for row in rows:
        by_writer[row.writer].append((row.attempt, row.seed))
    assert len(by_writer) == 2
    assert sorted(sorted(numbers) for numbers in by_writer.values()) == [
        [(n, 1) for n in range(count)],
        [(n, 2) for n in range(count)],
    ]


def _search(directory, ledger):
    from keras_effort.tuners import EffortSearch

    def build(hp):
        hp.Float("learning_rate", 1e-2, 1e-1, sampling="log")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(
            optimizer="sgd",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    return EffortSearch(
        build, target=("accuracy", 0.99), max_trials=1, max_steps=4, executions_per_trial=2,
        strategy="random", seed=0, check_every=2, ledger=ledger, directory=directory,
        project_name="mlp",
    )  # fmt: skip


def test_two_searches_of_one_project_name_sharing_a_ledger_keep_their_rows(tmp_path):
    ledger = Ledger(tmp_path / "shared.sqlite")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    first, second = _search(tmp_path / "a", ledger), _search(tmp_path / "b", ledger)
    for search in (first, second):
        search.search(x, y, batch_size=16, verbose=0)
    rows = Ledger(tmp_path / "shared.sqlite", read_only=True).attempts()
    assert first.search_id != second.search_id
    experiments = collections.Counter(row.experiment for row in rows)
    assert experiments == {
        f"mlp-{first.search_id}/trial_0": 2,
        f"mlp-{second.search_id}/trial_0": 2,
    }
    assert {row.writer for row in rows} == {f"search-{s.search_id}" for s in (first, second)}
    # A search reopened in its folder (a resumed one) keeps its id, so its re-runs replace
    # its own rows.
    assert _search(tmp_path / "a", ledger).search_id == first.search_id


# A fit interrupted (Ctrl-C) while its ledger writes fail: every ended attempt must be written
# or saved, and the loss reported, never dropped in silence.
_INTERRUPTED_FIT = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from keras_effort import Ledger
    from keras_effort.callbacks import Restarts, TargetStopping

    ledger = Ledger(sys.argv[1])
    connection = ledger._store._connect()  # the page limit is per connection: the ledger's own

    class Printed:  # listeners hear of an attempt after its write was tried
        def on_check(self, source, value): pass
        def on_attempt_end(self, source, attempt): print("ended", attempt.attempt, flush=True)
        def on_training_end(self, source): pass

    class Faults(keras.callbacks.Callback):
        steps = 0
        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == 9:  # the disk is full from now on
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                connection.execute(f"PRAGMA max_page_count = {pages}")
            if self.steps == 21:
                raise KeyboardInterrupt

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(1e-6), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    target = TargetStopping("accuracy", 0.999, check_every=1, experiment="interrupted",
                            config={"pad": "x" * 6000})  # a row needs new pages
    restarts = Restarts(target, 4, max_total_steps=100, seed=0, ledger=ledger, verbose=0)
    restarts.add_listener(Printed())
    model.fit(x, y, batch_size=16, epochs=100, verbose=0, callbacks=[restarts, Faults()])
    """
)


def test_attempts_pending_when_a_fit_is_interrupted_are_saved_and_reported(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path)
    result = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_FIT, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "KeyboardInterrupt" in result.stderr
    ended = [int(n) for n in re.findall(r"^ended (\d+)$", result.stdout, re.MULTILINE)]
    written = [a.attempt for a in Ledger(path, read_only=True).attempts()]
    assert written == [0, 1] and ended[:2] == [0, 1] and len(ended) >= 5
    # One loud error at exit: how many, where they went instead, how to write them back.
    match = re.search(
        rf"(\d+) attempt\(s\) were never written to the ledger {re.escape(str(path))} and are "
        r"saved in (\S+) instead; write them back with `Ledger\(\.\.\.\)\.add_saved",
        result.stderr,
    )
    assert match, result.stderr
    assert int(match[1]) == len(ended) - 2
    saved = match[2]
    assert saved.startswith(str(tmp_path)) and saved.endswith(".jsonl")
    # Once the disk has room, the saved attempts go back, each once however often.
    ledger = Ledger(path)
    assert ledger.add_saved(saved) == len(ended) - 2
    assert ledger.add_saved(saved) == len(ended) - 2
    assert [a.attempt for a in ledger.attempts()] == ended


# The ledger layout of schema version 2 (keras-effort before writers), for both databases.
_V2_TABLE = """CREATE TABLE attempts (
    id {id}, experiment TEXT NOT NULL, run TEXT NOT NULL, attempt {int} NOT NULL,
    config TEXT NOT NULL, seed {int}, target_metric TEXT NOT NULL,
    target_value {real} NOT NULL, steps {int} NOT NULL, budget {int}, samples {int},
    seconds {real}, reached {int} NOT NULL CHECK (reached IN (0, 1)), outcome TEXT NOT NULL,
    best_value {real}, curve TEXT, created_at {real} NOT NULL, UNIQUE (experiment, run, attempt)
)"""


def _v2_statements(types):
    rows = [
        "INSERT INTO attempts (experiment, run, attempt, config, target_metric, target_value, "
        f"steps, reached, outcome, created_at) VALUES ('adam', 'fit-1', {n}, '{{}}', "
        f"'val_accuracy', 0.9, {10 * (n + 1)}, 1, 'reached', 1.0)"
        for n in range(2)
    ]
    return [
        "CREATE TABLE keras_effort_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO keras_effort_meta (key, value) VALUES ('schema_version', '2')",
        _V2_TABLE.format(**types),
        "CREATE INDEX attempts_by_target ON attempts (experiment, target_metric, target_value)",
        *rows,
    ]


def _v2_ledger(location):
    if location.startswith("postgresql://"):
        import psycopg

        types = {"id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "int": "BIGINT",
                 "real": "DOUBLE PRECISION"}  # fmt: skip
        with psycopg.connect(location, autocommit=True) as connection:
            for statement in _v2_statements(types):
                connection.execute(statement)
        return
    types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "int": "INTEGER", "real": "REAL"}
    with sqlite3.connect(location) as connection:
        for statement in _v2_statements(types):
            connection.execute(statement)
    connection.close()


def test_a_version_2_ledger_is_migrated_keeping_its_rows_and_ids(ledger_location):
    _v2_ledger(ledger_location)
    reader = Ledger(ledger_location, read_only=True)
    assert reader.schema_version == 2
    old = reader.attempts()
    assert [(a.id, a.run, a.attempt, a.steps, a.writer) for a in old] == [
        (1, "fit-1", 0, 10, None),
        (2, "fit-1", 1, 20, None),
    ]
    ledger = Ledger(ledger_location)
    assert ledger.schema_version == 3
    assert ledger.attempts() == old
    # New rows follow the copied ids, and another writer's rows of one run are kept beside.
    assert ledger.add(Attempt("adam", "val_accuracy", 0.9, 30, True, run="fit-1")) == 3
    assert [(a.id, a.steps) for a in Ledger(ledger_location).attempts()] == [
        (1, 10),
        (2, 20),
        (3, 30),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ((f":{SECRET}@", ":wrong-password@"), 'password authentication failed for user "keras"'),
        ((f":{SECRET}@", "@"), "password"),  # no password given at all
        ("/postgres", '"no_such_database" does not exist'),
    ],
)
def test_a_refused_connection_fails_at_once_with_the_default_timeout(
    postgres_server, change, reason
):
    url = postgres_server.url()
    url = url.replace(*change) if isinstance(change, tuple) else url.replace(
        change, "/no_such_database"
    )
    started = time.monotonic()
    with pytest.raises(LedgerError) as raised:
        Ledger(url)  # timeout 60 s: waiting would not help
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith("cannot open the ledger PostgreSQL database") and reason in message
    assert SECRET not in message and "wrong-password" not in message
