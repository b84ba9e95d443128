"""Fault drills for the ledger: killed writers, a killed `fit`, a full disk, a removed file,
a restarted server, a ledger the reader cannot write. Every drill runs on SQLite and, where it
applies, on PostgreSQL (`ledger_location`).
"""

from __future__ import annotations

import collections
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pytest

from keras_effort import Ledger
from keras_effort.callbacks import Restarts, TargetStopping
from keras_effort.ledger import LedgerError, LedgerWriteWarning

pytestmark = pytest.mark.reliability

# A writer that prints each attempt's number only after its row is committed, until the file
# the file `stop` named by the parent appears (checked before each row).
_WRITER = textwrap.dedent(
    """
    import os, sys
    from keras_effort.ledger import Attempt, Ledger
    location, name, stop, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    ledger = Ledger(location, timeout=timeout)
    number = 0
    while not os.path.exists(stop):
        ledger.add(Attempt("drill", "val_accuracy", 0.9, steps=number, reached=True,
                           run=name, attempt=number, curve=[(1, 0.5), (number, 0.9)]))
        print(number, flush=True)
        number += 1
    """
)


def _spawn_writer(location, name, stop, timeout=60.0):
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, location, name, str(stop), str(timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _printed(writer, first_line):
    """The numbers a writer printed, once it has ended (stdout read through one buffer)."""
    out = first_line + writer.stdout.read()
    err = writer.stderr.read()
    writer.wait(timeout=120)
    return [int(line) for line in out.split()], err


def _check_integrity(location):
    if location.startswith("postgresql://"):
        return
    with sqlite3.connect(location) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()


def _keys(location):
    rows = Ledger(location, read_only=True).attempts()
    keys = [(a.experiment, a.run, a.attempt) for a in rows]
    assert len(keys) == len(set(keys)), "a duplicated row"
    by_run = collections.defaultdict(list)
    for _, run, attempt in keys:
        by_run[run].append(attempt)
    return {run: sorted(numbers) for run, numbers in by_run.items()}


def test_concurrent_writers_two_killed_lose_nothing_they_committed(ledger_location, tmp_path):
    """8 writers for about 10 s (the issue's 20 s, halved for CI), 2 killed with SIGKILL midway."""
    Ledger(ledger_location)
    stop = tmp_path / "stop"
    writers = {f"w{i}": _spawn_writer(ledger_location, f"w{i}", stop) for i in range(8)}
    first = {name: writer.stdout.readline() for name, writer in writers.items()}  # all started
    time.sleep(5.0)
    for name in ("w0", "w1"):
        os.kill(writers[name].pid, signal.SIGKILL)
    time.sleep(5.0)
    stop.touch()
    printed = {}
    for name, writer in writers.items():
        printed[name], err = _printed(writer, first[name])
        assert writer.returncode == (-signal.SIGKILL if name in ("w0", "w1") else 0), err
    _check_integrity(ledger_location)
    found = _keys(ledger_location)
    for name, numbers in printed.items():
        assert numbers == list(range(len(numbers))) and len(numbers) > 0
        if name in ("w0", "w1"):
            # Killed between its commit and its print, a writer has one row more than printed.
            assert found[name] in (numbers, [*numbers, len(numbers)])
        else:
            assert found[name] == numbers
    print(
        f"\n{ledger_location.split(':')[0]}: rows printed {sum(map(len, printed.values()))}, "
        f"found {sum(map(len, found.values()))}"
    )


@pytest.mark.postgres
def test_writers_wait_for_a_restarted_server_and_fail_clearly_when_it_stays_down(
    postgres_server, postgres_url, tmp_path
):
    Ledger(postgres_url)
    stop = tmp_path / "stop"
    patient = [_spawn_writer(postgres_url, f"p{i}", stop, timeout=30.0) for i in range(4)]
    impatient = _spawn_writer(postgres_url, "impatient", stop, timeout=2.0)
    first = [writer.stdout.readline() for writer in [*patient, impatient]]  # all writing
    time.sleep(1.0)
    postgres_server.stop("fast")  # disconnects every client mid-write
    try:
        impatient_printed, err = _printed(impatient, first[-1])
    finally:
        postgres_server.start()
    # The impatient writer retried for its 2 s, then failed with one clear line.
    assert impatient.returncode == 1
    last_line = err.strip().splitlines()[-1]
    assert "cannot reach the ledger PostgreSQL database" in last_line, err
    assert "on 127.0.0.1:" in last_line and "tries over 2 s" in last_line
    assert "pw-never-printed" not in err
    time.sleep(2.0)  # the patient writers go on
    stop.touch()
    printed = {}
    for number, writer in enumerate(patient):
        printed[f"p{number}"], err = _printed(writer, first[number])
        assert writer.returncode == 0, err
    found = _keys(postgres_url)
    for name, numbers in printed.items():
        assert numbers == list(range(len(numbers))) and found[name] == numbers
    # What the impatient writer printed is there; the row it was writing may be too.
    assert found["impatient"] in (impatient_printed, [*impatient_printed, len(impatient_printed)])
    print(f"\nserver restart: rows printed {sum(map(len, printed.values()))}, found the same")


# -------------------------------------------------------------------- a killed fit

_FIT = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from keras_effort import Ledger
    from keras_effort.callbacks import Restarts, TargetStopping

    class PrintCommitted:  # listeners hear of an attempt after its row is written
        def on_check(self, source, value): pass
        def on_attempt_end(self, source, attempt): print(attempt.attempt, flush=True)
        def on_training_end(self, source): pass

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(1e-6),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    target = TargetStopping("accuracy", 0.999, check_every=1, experiment="killed")
    restarts = Restarts(
        target, 3, max_total_steps=10**9, seed=0, ledger=Ledger(sys.argv[1]), verbose=0
    )
    restarts.add_listener(PrintCommitted())
    model.fit(x, y, batch_size=16, epochs=10**6, verbose=0, callbacks=[restarts])
    """
)


def test_kill_9_mid_fit_loses_no_committed_attempt(ledger_location):
    Ledger(ledger_location)
    fit = subprocess.Popen(
        [sys.executable, "-c", _FIT, ledger_location],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3"),
    )
    printed = []
    deadline = time.monotonic() + 300  # a loaded machine: TensorFlow alone takes seconds
    while len(printed) < 10 and time.monotonic() < deadline:
        line = fit.stdout.readline()
        assert line, "the fit ended before it was killed"
        printed.append(int(line))
    os.kill(fit.pid, signal.SIGKILL)
    fit.communicate()
    assert printed == list(range(10)), "the fit was too slow to reach 10 attempts"
    _check_integrity(ledger_location)
    found = sorted(number for numbers in _keys(ledger_location).values() for number in numbers)
    assert found in (printed, [*printed, 10])  # killed between a commit and its print


# --------------------------------------------------- a full disk, a removed file


def _fit_with_restarts(ledger, on_step=None, at_step=0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.SGD(1e-6),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # Rows with a large config need new pages, so a full disk fails every write after it.
    target = TargetStopping(
        "accuracy", 0.999, check_every=1, experiment="faulty", config={"pad": "x" * 6000}
    )
    restarts = Restarts(target, 4, max_total_steps=24, seed=0, ledger=ledger)

    class Fault(keras.callbacks.Callback):
        steps = 0  # counted here: each attempt restarts the optimizer's own count

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == at_step:
                on_step()

    return (
        model,
        restarts,
        lambda: model.fit(x, y, batch_size=16, epochs=6, verbose=0, callbacks=[restarts, Fault()]),
    )


def test_a_full_disk_mid_fit_keeps_training_and_every_attempt(tmp_path):
    path = tmp_path / "full.sqlite"
    ledger = Ledger(path)
    # The page limit is per connection: set it on the ledger's own.
    connection = ledger._store._connect()

    def disk_full():
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    _, restarts, fit = _fit_with_restarts(ledger, disk_full, at_step=9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(LedgerError) as raised:
            fit()
    # Training went on to its budget; the failure is one clear error at the end, naming the path.
    assert restarts.total_steps == 24 and len(restarts.attempts) == 6
    assert f"4 attempt(s) could not be written: the ledger {path} failed" in str(raised.value)
    assert "full" in str(raised.value)
    assert any(issubclass(w.category, LedgerWriteWarning) for w in caught)
    assert [a.attempt for a in Ledger(path, read_only=True).attempts()] == [0, 1]
    assert [a.attempt for a in ledger.pending] == [2, 3, 4, 5]
    connection.execute("PRAGMA max_page_count = 1000000")  # space freed
    ledger.flush()
    assert Ledger(path).attempts() == ledger.attempts() and len(ledger.attempts()) == 6
    assert [(a.attempt, a.steps) for a in ledger.attempts()] == [
        (a.attempt, a.steps) for a in restarts.attempts
    ]
    _check_integrity(str(path))


def test_a_ledger_file_removed_mid_fit_is_reported_at_the_end_with_the_attempts_kept(tmp_path):
    path = tmp_path / "removed.sqlite"
    ledger = Ledger(path)

    def remove():
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")

    _, restarts, fit = _fit_with_restarts(ledger, remove, at_step=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWriteWarning)
        with pytest.raises(LedgerError, match=f"the ledger file {path} was removed while in use"):
            fit()
    assert restarts.total_steps == 24 and len(restarts.attempts) == 6
    assert not path.exists()  # never silently recreated
    assert [a.attempt for a in ledger.pending] == [2, 3, 4, 5]
    # Saved elsewhere, nothing is lost.
    elsewhere = Ledger(tmp_path / "elsewhere.sqlite")
    for attempt in ledger.pending:
        elsewhere.add(attempt)
    assert len(elsewhere.attempts()) == 4
    # A new ledger put at the path takes them too (else they would be saved to a file at exit).
    Ledger(path)
    ledger.flush()
    assert ledger.pending == () and len(Ledger(path).attempts()) == 4


# ------------------------------------------------------ a ledger the reader cannot write


def _as_unprivileged(command):
    """Run `command` without root's power to write others' files (or as it is, when not root)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv cannot drop its write permissions")
    drop = "-dac_override,-dac_read_search,-fowner,-linux_immutable"
    return ["setpriv", f"--bounding-set={drop}", *command]


def test_report_reads_a_ledger_it_cannot_write_and_changes_nothing(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "runs.sqlite"
    ledger = Ledger(path)
    for steps in (100, 200):
        ledger.record(
            experiment="adam[lr=3e-3]",
            target_metric="val_accuracy",
            target_value=0.9,
            steps=steps,
            reached=True,
        )
    ledger.close()  # the last writer closes: the WAL is checkpointed into the file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        result = subprocess.run(
            _as_unprivileged(
                [sys.executable, "-m", "keras_effort.cli", "report", str(path), "--bootstrap", "0"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "adam[lr=3e-3]" in result.stdout and "200" in result.stdout
    assert sorted(os.listdir(folder)) == ["runs.sqlite"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_ledger_in_a_folder_the_user_cannot_write_is_refused_naming_it(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    path = folder / "runs.sqlite"
    code = "import sys; from keras_effort import Ledger; Ledger(sys.argv[1])"
    try:
        result = subprocess.run(
            _as_unprivileged([sys.executable, "-c", code, str(path)]),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("keras_effort.ledger.errors.LedgerError: cannot open or create")
    assert str(path) in last_line and "writable" in last_line
    assert os.listdir(folder) == []


def test_a_ledger_file_the_user_cannot_write_is_refused_at_construction(tmp_path):
    path = tmp_path / "runs.sqlite"
    Ledger(path).record(
        experiment="adam", target_metric="val_accuracy", target_value=0.9, steps=5, reached=True
    )
    path.chmod(0o444)
    code = textwrap.dedent(
        """
        import sys
        from keras_effort import Ledger
        from keras_effort.ledger import LedgerError
        print(len(Ledger(sys.argv[1], read_only=True).attempts()))  # reading is fine
        try:
            Ledger(sys.argv[1])
        except LedgerError as error:
            print(error)
        """
    )
    result = subprocess.run(
        _as_unprivileged([sys.executable, "-c", code, str(path)]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    count, message = result.stdout.strip().splitlines()
    assert count == "1"
    assert message == (
        f"the ledger {path} is not writable (Permission denied); open it with `read_only=True` "
        "to read it"
    )


def test_a_write_ahead_log_left_in_a_folder_the_reader_cannot_write_is_explained(tmp_path):
    """A writer killed before closing leaves `-wal`; `-shm` gone, a reader cannot rebuild it."""
    source = tmp_path / "source.sqlite"
    ledger = Ledger(source)
    ledger.record(
        experiment="adam", target_metric="val_accuracy", target_value=0.9, steps=5, reached=True
    )
    folder = tmp_path / "shared"
    folder.mkdir()
    # Copied while the writer is open: the row is only in the log, as after a kill.
    shutil.copy(source, folder / "runs.sqlite")
    shutil.copy(f"{source}-wal", folder / "runs.sqlite-wal")
    ledger.close()
    path = folder / "runs.sqlite"
    folder.chmod(0o555)
    try:
        result = subprocess.run(
            _as_unprivileged(
                [sys.executable, "-m", "keras_effort.cli", "report", str(path), "--bootstrap", "0"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"cannot read the ledger {path}: a writer that did not close" in message
    assert f"{path}-wal" in message and f"{path}-shm" in message
    assert "open the ledger for writing once" in message
    assert sorted(os.listdir(folder)) == ["runs.sqlite", "runs.sqlite-wal"]  # nothing changed
    # As advised: one writer opens and closes it; then the reader sees every row.
    Ledger(path).close()
    assert len(Ledger(path, read_only=True).attempts()) == 1
