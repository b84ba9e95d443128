"""Bad inputs to EffortTensorBoard and to the Effort dashboard's reader: named errors.

Each row: (callable, keyword arguments, exception type, substring the message must hold).
"""

from __future__ import annotations

import json

import pytest

from keras_effort.callbacks import EffortTensorBoard, TargetStopping
from keras_effort.report.tensorboard_plugin import summary

pytestmark = pytest.mark.reliability


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "not-a-directory"
    path.write_text("")
    return path


def board(**kwargs):
    arguments = {"log_dir": "logs/run", "source": TargetStopping("loss", 0.1), **kwargs}
    return EffortTensorBoard(**arguments)


def board_whose_log_dir_changes(log_dir):
    """As KerasTuner does: the log dir is set after construction, checked at train begin."""
    callback = board()
    callback.log_dir = str(log_dir)
    callback.on_train_begin()


def payload(**changes):
    """A valid one-attempt payload with `changes` applied (None deletes a key)."""
    attempt = {
        "experiment": "e", "target_metric": "loss", "target_value": 0.1,
        "steps": 10, "reached": True, "budget": 20, "outcome": "reached",
    }  # fmt: skip
    entry = {"start": 0, "end": 10, "ended_at": 1.7e9, "attempt": attempt}
    document = {"version": summary.FORMAT_VERSION, "monitor": "loss", "target": 0.1}
    document["attempts"] = [entry]
    for key, value in changes.items():
        scope, _, name = key.rpartition("__")
        where = {"": document, "entry": entry, "attempt": attempt}[scope]
        if value is None:
            del where[name]
        else:
            where[name] = value
    return json.dumps(document)


def parse(**changes):
    return summary.parse(payload(**changes))


BOARD_ROWS = [
    (board, {"log_dir": 42}, TypeError, "`log_dir`"),
    (board, {"log_dir": ""}, TypeError, "`log_dir`"),
    (board, {"log_dir": None}, TypeError, "`log_dir`"),
    (board, {"source": "loss"}, TypeError, "`source`"),
    (board, {"source": None}, TypeError, "`source`"),
    (board, {"hparams": [("lr", 0.1)]}, TypeError, "`hparams`"),
    (board, {"hparams": {"layers": [1, 2]}}, ValueError, "hparams['layers']"),
    (board, {"hparams": {"lr": None}}, ValueError, "hparams['lr']"),
    (board, {"hparams": {1: 0.1}}, TypeError, "`hparams` keys"),
    (board, {"z": "a"}, ValueError, "`z`"),
    (board, {"z": float("nan")}, ValueError, "`z`"),
    (board, {"z": True}, ValueError, "`z`"),
    (board, {"z": 0.0}, ValueError, "`z`"),
    (board, {"z": 1.0}, ValueError, "`z`"),
    (board, {"z": -0.5}, ValueError, "`z`"),
    (board, {"histograms": "yes"}, TypeError, "`histograms`"),
]

READER_ROWS = [
    (summary.parse, {"text": "not json"}, ValueError, "not JSON"),
    (summary.parse, {"text": "[]"}, ValueError, "JSON object"),
    (summary.parse, {"text": b"\xff\xfe"}, ValueError, "not JSON"),
    (parse, {"version": 99}, ValueError, "`version`"),
    (parse, {"version": None}, ValueError, "`version`"),
    (parse, {"monitor": None}, ValueError, "`monitor`"),
    (parse, {"target": "high"}, ValueError, "`target`"),
    (parse, {"attempts": {}}, ValueError, "`attempts`"),
    (parse, {"entry__start": 11}, ValueError, "attempt 0"),
    (parse, {"entry__end": -1}, ValueError, "attempt 0"),
    (parse, {"entry__start": "0"}, ValueError, "attempt 0"),
    (parse, {"entry__attempt": None}, ValueError, "attempt 0"),
    (parse, {"entry__ended_at": "noon"}, ValueError, "`ended_at`"),
    (parse, {"entry__ended_at": None}, ValueError, "attempt 0"),
    (parse, {"entry__attempt": "x"}, ValueError, "attempt 0"),
    (parse, {"attempt__steps": -1}, ValueError, "`steps`"),
    (parse, {"attempt__outcome": "won"}, ValueError, "`outcome`"),
    (parse, {"attempt__experiment": None}, ValueError, "attempt 0"),
]


@pytest.mark.parametrize(("function", "kwargs", "error", "names"), BOARD_ROWS + READER_ROWS)
def test_bad_input_is_refused_by_name(function, kwargs, error, names):
    with pytest.raises(error) as raised:
        function(**kwargs)
    assert names in str(raised.value)


def test_a_log_dir_under_a_file_is_refused_at_construction(a_file):
    with pytest.raises(ValueError, match="`log_dir`") as raised:
        board(log_dir=a_file / "run")
    assert str(a_file) in str(raised.value)
    with pytest.raises(ValueError, match="is a file"):
        board(log_dir=a_file)


def test_a_log_dir_set_later_under_a_file_is_refused_at_train_begin(a_file):
    with pytest.raises(ValueError, match="`log_dir`") as raised:
        board_whose_log_dir_changes(a_file / "trial_0" / "execution0")
    assert str(a_file) in str(raised.value)
