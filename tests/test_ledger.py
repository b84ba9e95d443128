"""keras_effort.Ledger: round trips, censoring, concurrency and crash safety."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from keras_effort import Attempt, Ledger
from keras_effort.effort import EffortEstimate


def _attempt(**overrides):
    values = {
        "experiment": "adam",
        "target_metric": "val_accuracy",
        "target_value": 0.9,
        "steps": 100,
        "reached": True,
    }
    return Attempt(**{**values, **overrides})


def test_round_trip_keeps_every_field(tmp_path):
    ledger = Ledger(tmp_path / "runs.sqlite")
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
    (read,) = Ledger(tmp_path / "runs.sqlite").attempts()
    assert read.id == row_id and read.created_at is not None
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


def test_filters_groups_and_exports():
    ledger = Ledger()
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
        ({"steps": -1}, "`steps` must be a non-negative int"),
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


def test_copies_share_the_ledger_and_pickles_send_the_path(tmp_path):
    memory = Ledger()
    assert copy.deepcopy(memory) is memory  # KerasTuner deep-copies callbacks
    with pytest.raises(TypeError, match="in-memory Ledger cannot be pickled"):
        pickle.dumps(memory)
    on_disk = Ledger(tmp_path / "l.sqlite")
    on_disk.add(_attempt())
    clone = pickle.loads(pickle.dumps(on_disk))
    assert clone.path == on_disk.path and len(clone.attempts()) == 1


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


def test_several_processes_append_to_one_file(tmp_path):
    path = tmp_path / "shared.sqlite"
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


def test_a_killed_writer_loses_nothing_it_committed(tmp_path):
    path = tmp_path / "crash.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), "0", "100000"], stdout=subprocess.PIPE, text=True
    )
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 50 and time.monotonic() < deadline:
        committed = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    steps = [a.steps for a in Ledger(path).attempts()]
    assert len(steps) >= committed + 1  # every printed row was committed before the print
    assert steps == list(range(len(steps)))
