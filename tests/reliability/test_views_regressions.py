"""Regressions of the views (report, HTML, figures, TensorBoard, the Effort dashboard).

Each test holds a case a reviewer found broken: a report titled "in-memory ledger" on
PostgreSQL, names cut at 80 columns, a default figure refused, mathtext in names, a dashboard
taken down by one bad run or slowed by a long one, quadratic TensorBoard event files.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from keras_effort import Attempt, Ledger
from keras_effort.cli import main
from keras_effort.report import effort_rich_table, effort_table_cells, ledger_report

pytestmark = pytest.mark.reliability


def _attempts(experiment, target, outcomes, metric="val_accuracy", run=None):
    """Attempts from `(steps, budget)` pairs: a pair with steps < budget reached the target."""
    return [
        Attempt(experiment, metric, target, steps=steps, reached=steps < budget, budget=budget,
                outcome="reached" if steps < budget else "cutoff", attempt=i,
                run=run or f"{metric}-{target}")
        for i, (steps, budget) in enumerate(outcomes)
    ]  # fmt: skip


def _ledger(path, *groups):
    ledger = Ledger(path)
    for group in groups:
        for attempt in group:
            ledger.add(attempt)
    return ledger


# Short Luby-like attempts: most cut off at 32 or 64, a few long ones reach the target.
LUBY = [(32, 32), (32, 32), (64, 64), (32, 32), (32, 32), (64, 64), (100, 128), (32, 32)]


@pytest.mark.postgres
def test_the_html_report_on_postgresql_names_the_database_without_its_password(
    postgres_url, tmp_path, capsys
):
    from conftest import POSTGRES_PASSWORD

    _ledger(postgres_url, _attempts("adam", 0.9, LUBY))
    out = tmp_path / "report.html"
    assert main(["report", postgres_url, "--html", str(out), "--bootstrap", "0"]) == 0
    page = out.read_text(encoding="utf-8")
    (title,) = re.findall(r"<title>(.*?)</title>", page)
    assert "in-memory" not in title
    database = postgres_url.rsplit("/", 1)[1]
    assert "127.0.0.1" in title and database in title
    assert POSTGRES_PASSWORD not in page and POSTGRES_PASSWORD not in capsys.readouterr().out


LONG_NAMES = ["conv-adam-0.001-tensorflow-batch128-seed0", "conv-sgd-momentum-0.9-tensorflow"]


@pytest.mark.parametrize("width", [80, 120])
def test_report_never_cuts_experiment_names(tmp_path, width):
    ledger = _ledger(
        tmp_path / "l.sqlite",
        *(_attempts(name, target, LUBY) for name in LONG_NAMES for target in (0.8, 0.9)),
    )
    rows = ledger_report(ledger, n_boot=20)
    text = io.StringIO()
    Console(file=text, width=width).print(effort_rich_table(rows, title="t", width=width))
    printed = text.getvalue()
    assert all(len(line) <= width for line in printed.splitlines())
    assert "…" not in printed
    for name in LONG_NAMES:
        # Whole, on one line, once per target.
        assert sum(name in line for line in printed.splitlines()) == 2
    assert "100 to inf" in " ".join(printed.split())  # cells of several words whole too


def test_piped_report_prints_long_names_whole(tmp_path, capsys):
    name = "conv-adam-0.001-tensorflow-" + "x" * 60
    ledger = _ledger(tmp_path / "l.sqlite", _attempts(name, 0.9, LUBY))
    assert main(["report", str(ledger.path), "--bootstrap", "0"]) == 0
    assert name in capsys.readouterr().out


def test_attempts_are_named_attempts_and_their_censoring_is_shown_and_explained(tmp_path):
    ledger = _ledger(tmp_path / "l.sqlite", _attempts("luby", 0.9, LUBY))
    (row,) = ledger_report(ledger, n_boot=0)
    cells = effort_table_cells([row])
    values = dict(zip(cells.headers, cells.rows[0], strict=True))
    assert "runs" not in cells.headers
    assert values["attempts"] == "8" and values["success"] == "12%"
    # Seven attempts cut off, at 32 and 64 steps, all before the longest budget (128).
    assert values["censored"] == "7 at 32-64"
    assert values["note"] == "1 success*, 7/8 cut early**"
    assert any(
        note.startswith("** most attempts were cut off") and "Kaplan-Meier" in note
        for note in cells.footnotes
    )
    # The JSON carries the same facts.
    from keras_effort.report import report_as_json

    (record,) = json.loads(report_as_json([row]))
    assert record["censored_steps"] == [32, 64] and record["censored_early"] == 7


MATH_NAMES = ["cost $x^$", "a$b$c"]


def _math_ledger(path):
    return _ledger(path, *(_attempts(name, 0.9, LUBY) for name in MATH_NAMES))


def _drawn_texts(figure):
    """What each text of a figure draws, and whether matplotlib would read it as mathtext."""
    figure.canvas.draw()  # a mathtext parse error would raise here
    texts = figure.findobj(lambda artist: hasattr(artist, "_preprocess_math"))
    return [text._preprocess_math(text.get_text()) for text in texts if text.get_text()]


def test_names_with_dollars_are_drawn_as_written(tmp_path):
    from keras_effort.report.plots import ledger_figure

    attempts = _math_ledger(tmp_path / "l.sqlite").attempts()
    for kind in ("ecdf", "profile"):
        drawn = _drawn_texts(ledger_figure(attempts, kind, n_boot=0))
        assert not any(is_math for _, is_math in drawn)
        shown = " ".join(text for text, _ in drawn)
        assert all(name in shown for name in MATH_NAMES)
    for kind in ("effort", "success", "restart"):
        one = [a for a in attempts if a.experiment == "a$b$c"]
        one = [
            Attempt(**{**a.__dict__, "target_metric": "val_$acc$", "id": None}) for a in one
        ]
        drawn = _drawn_texts(ledger_figure(one, kind, n_boot=0))
        assert not any(is_math for _, is_math in drawn) and "val_$acc$" in str(drawn)


def test_report_html_and_plot_take_names_with_dollars(tmp_path, capsys):
    ledger = _math_ledger(tmp_path / "l.sqlite")
    out = tmp_path / "r.html"
    assert main(["report", str(ledger.path), "--html", str(out), "--bootstrap", "0"]) == 0
    assert "cost $x^$" in out.read_text(encoding="utf-8")
    figure = tmp_path / "f.png"
    assert main(["plot", str(ledger.path), "--kind", "ecdf", "-o", str(figure)]) == 0
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_the_default_plot_of_two_experiments_compares_them(tmp_path, capsys):
    from matplotlib.image import imread

    easy = [(10, 128)] * 6 + [(32, 32)] * 2
    ledger = _ledger(
        tmp_path / "l.sqlite",
        *(_attempts(name, t, easy) for name in ("adam", "sgd") for t in (0.8, 0.9)),
        _attempts("adam", 0.95, LUBY),
        _attempts("sgd", 0.95, [*LUBY[:4], (50, 64)]),
    )
    figure = tmp_path / "fig.png"
    assert main(["plot", str(ledger.path), "-o", str(figure)]) == 0
    assert imread(figure).shape[0] > 100
    from keras_effort.report.plots import ledger_figure

    drawn = ledger_figure(ledger.attempts())
    (ax,) = drawn.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    # One curve per experiment, at the hardest target both reached (fewest successes: 0.95).
    assert [label.split(" ")[0] for label in labels] == ["adam", "sgd"]
    assert "0.95" in ax.get_title() and "1/8 reached" in labels[0] and "1/5" in labels[1]


# ------------------------------------------------------------------ TensorBoard


def _write_payloads(log_dir, payloads):
    """Summaries as `EffortTensorBoard` writes them: `(tag, step, text)` per summary."""
    import tensorflow as tf

    from keras_effort.report.tensorboard_plugin import summary

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        for tag, step, text in payloads:
            tf.summary.write(tag, tf.constant(text), step=step, metadata=summary.summary_metadata())
        tf.summary.flush()


def _run_payloads(name, count, cutoff=4):
    """A run of `count` attempts cut at `cutoff` (every 7th reached), in one summary.

    Written as version 1 of the payload (every attempt under `ATTEMPTS_TAG`), which every
    keras-effort reads: the dashboard's reading, not the writer's chunks, is under test.
    """
    from keras_effort.report.tensorboard_plugin import summary

    timeline = []
    for index in range(count):
        reached = index % 7 == 6
        outcome = "reached" if reached else "cutoff"
        steps = cutoff - 1 if reached else cutoff
        attempt = Attempt(name, "val_accuracy", 0.9, steps=steps, reached=reached, budget=cutoff,
                          outcome=outcome, attempt=index, run=name)  # fmt: skip
        start = timeline[-1].end if timeline else 0
        timeline.append(summary.TimedAttempt(attempt, start, start + attempt.steps, 1.7e9 + index))
    document = json.loads(summary.payload("val_accuracy", 0.9, timeline))
    text = json.dumps({**document, "version": 1})
    return [(summary.ATTEMPTS_TAG, timeline[-1].end, text)]


def _plugin(logs):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin

    from keras_effort.report.tensorboard_plugin.plugin import EffortPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logs))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(logs)),
        multiplexer=multiplexer,
        logdir=str(logs),
    )
    return EffortPlugin(context)


def _get(plugin, query=""):
    from werkzeug.test import Client

    response = Client(plugin.get_plugin_apps()["/data"]).get(f"/data{query}")
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # nested deeper than Python's stack
        '{"version": 1, "monitor": "m", "target": NaN, "attempts": []}',
        '{"version": 1, "monitor": "m", "target": 1e400, "attempts": []}',
    ],
    ids=["deeply-nested", "nan-target", "1e400-target"],
)
def test_one_malformed_run_leaves_the_dashboard_serving_the_others(tmp_path, text):
    from keras_effort.report.tensorboard_plugin import summary

    _write_payloads(tmp_path / "good", _run_payloads("good", 10))
    _write_payloads(tmp_path / "zz-bad", [(summary.ATTEMPTS_TAG, 1, text)])
    status, body = _get(_plugin(tmp_path))
    assert status == 200
    runs = {run["name"]: run for run in json.loads(body)["runs"]}
    assert len(runs["good"]["attempts"]) == 10 and runs["good"]["report"]
    assert runs["zz-bad"]["error"]


def test_the_dashboard_reads_a_long_run_once_not_at_every_request(tmp_path, monkeypatch):
    from keras_effort.report.tensorboard_plugin import summary

    _write_payloads(tmp_path / "long", _run_payloads("long", 2_000))
    plugin = _plugin(tmp_path)
    status, first = _get(plugin)
    assert status == 200
    run = json.loads(first)["runs"][0]
    assert len(run["attempts"]) == 2_000 and run["report"][0]["runs"] == 2_000
    parsed = []
    original = summary.parse
    monkeypatch.setattr(summary, "parse", lambda text: parsed.append(1) or original(text))
    # The page refreshes every 5 s: nothing changed, nothing is parsed or computed again.
    for _ in range(3):
        assert _get(plugin) == (200, first)
    assert parsed == []


def test_effort_tensorboard_writes_each_attempt_a_bounded_number_of_times(tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
    from keras_effort.report.tensorboard_plugin import summary
    from keras_effort.restarts import FixedCutoff

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Unreachable: 40 attempts of 1 step each (two chunks), checked at each step.
    stopping = TargetStopping("loss", 1e-12, check_every=1, mode="min")
    restarts = Restarts(stopping, FixedCutoff(1), max_total_steps=40)
    board = EffortTensorBoard(tmp_path / "run", restarts, histograms=False)
    model.fit(x, y, epochs=40, batch_size=32, verbose=0, callbacks=[restarts, board])
    assert len(board.attempts) == 40
    held = []  # attempts held by each attempts summary written
    for file in (tmp_path / "run").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(file)):
            for value in event.summary.value:
                if value.tag.startswith(summary.ATTEMPTS_TAG):
                    text = tf.make_ndarray(value.tensor).item()
                    held.append(len(summary.parse(text).attempts))
    chunk = 32  # summary.CHUNK_SIZE
    assert len(held) == 40 and max(held) <= chunk
    # Each attempt is written at most `chunk` times: linear, not 40 * 41 / 2 records.
    assert sum(held) <= 40 * chunk / 2 + chunk and chunk == summary.CHUNK_SIZE


def test_the_bulk_read_report_equals_the_report_of_the_attempts(tmp_path):
    from keras_effort.report import report_rows

    ledger = _ledger(
        tmp_path / "l.sqlite",
        *(_attempts(name, t, LUBY[: 3 + i]) for i, name in enumerate("abc") for t in (0.8, 0.9)),
    )
    assert ledger_report(ledger, n_boot=30) == report_rows(ledger.attempts(), n_boot=30)
    assert ledger_report(ledger, "b", n_boot=0) == report_rows(ledger.attempts("b"), n_boot=0)
    assert [row.experiment for row in ledger_report(ledger, n_boot=0)] == list("aabbcc")
