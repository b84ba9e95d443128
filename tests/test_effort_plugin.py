"""The Effort dashboard's server side on log dirs written by real fits (no browser needed).

TensorBoard's own reader (`EventMultiplexer`, with its default sampling) feeds the plugin, as
`tensorboard --load_fast=false` does; the browser test covers the default fast loader.
"""

from __future__ import annotations

import json
import os
from importlib import metadata

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from keras_effort import Ledger
from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
from keras_effort.report import ledger_report, report_as_json
from keras_effort.report.tensorboard_plugin.plugin import EffortPlugin
from keras_effort.restarts import FixedCutoff


def _fit(log_dir, ledger, experiment, target_value, cutoff, max_steps, seed):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=8)
    x = rng.normal(size=(256, 8)).astype("float32")
    x_val = rng.normal(size=(128, 8)).astype("float32")
    y, y_val = (x @ weights > 0).astype("int64"), (x_val @ weights > 0).astype("int64")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    target = TargetStopping(
        "val_accuracy", target_value, check_every=2, validation_data=(x_val, y_val),
        ledger=ledger, experiment=experiment,
    )  # fmt: skip
    restarts = Restarts(target, FixedCutoff(cutoff), max_total_steps=max_steps, seed=seed)
    board = EffortTensorBoard(log_dir / experiment, restarts)
    model.fit(x, y, epochs=40, batch_size=32, verbose=0, callbacks=[restarts, board])
    return restarts


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    ledger = Ledger(root / "ledger.sqlite")
    # Never reaches 1.0: 15 attempts, more than the 10 samples TensorBoard keeps of a tensor.
    many = _fit(root / "logs", ledger, "unreachable", 1.0, cutoff=4, max_steps=60, seed=0)
    reached = _fit(root / "logs", ledger, "reachable", 0.8, cutoff=6, max_steps=200, seed=1)
    assert len(many.attempts) == 15 and reached.reached
    return root, ledger


def _data(root, query=""):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(root / "logs"))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(root / "logs")),
        multiplexer=multiplexer,
        logdir=str(root / "logs"),
    )
    plugin = EffortPlugin(context)
    response = Client(plugin.get_plugin_apps()["/data"]).get(f"/data{query}")
    assert response.status_code == 200
    return response.json


def _report(ledger, experiment=None):
    return json.loads(report_as_json(ledger_report(ledger, experiment)))


def test_each_run_has_every_attempt_and_the_report_of_its_ledger_rows(runs):
    root, ledger = runs
    data = _data(root)
    assert [run["name"] for run in data["runs"]] == ["reachable", "unreachable"]
    for run in data["runs"]:
        attempts = ledger.attempts(run["name"])
        ends = np.cumsum([a.steps for a in attempts]).tolist()
        assert run["attempts"] == [
            {"attempt": a.attempt, "start": end - a.steps, "end": end, "steps": a.steps,
             "reached": a.reached, "outcome": a.outcome}
            for a, end in zip(attempts, ends, strict=True)
        ]  # fmt: skip
        assert run["report"] == _report(ledger, run["name"])
        assert [step for step, _ in run["metric"]] == sorted({s for s, _ in run["metric"]})
        assert "rates/learning_rate" in run["rates"]
    assert data["pooled"]["report"] == _report(ledger)


def test_the_success_curve_is_the_kaplan_meier_of_the_attempts_with_censoring(runs):
    root, ledger = runs
    (run,) = [run for run in _data(root)["runs"] if run["name"] == "unreachable"]
    (curve,) = run["curves"]
    # No attempt succeeded: P stays 0, and all 15 are censored at their budget of 4 steps.
    assert curve["steps"] == [] and curve["horizon"] == 4
    assert curve["censored"] == [[4, 0.0]] * 15
    (run,) = [run for run in _data(root)["runs"] if run["name"] == "reachable"]
    (curve,) = run["curves"]
    attempts = ledger.attempts("reachable")
    failed = [a.budget for a in attempts if not a.reached]  # each cut off at its cutoff
    assert {a.outcome for a in attempts if not a.reached} <= {"cutoff"}
    success = [a.steps for a in attempts if a.reached]
    assert curve["steps"] == success and curve["probability"] == [1 / len(attempts)]
    assert [step for step, _ in curve["censored"]] == sorted(failed)


def test_pooling_follows_the_runs_asked_for(runs):
    root, ledger = runs
    data = _data(root, "?run=unreachable")
    assert data["pooled"]["report"] == _report(ledger, "unreachable")


def test_a_malformed_payload_is_reported_for_its_run_not_raised(runs, tmp_path):
    import tensorflow as tf

    from keras_effort.report.tensorboard_plugin import summary

    root, _ = runs
    bad = root / "logs" / "zz-bad"
    with tf.summary.create_file_writer(str(bad)).as_default():
        tf.summary.write(
            summary.ATTEMPTS_TAG, tf.constant('{"version": 99}'), step=1,
            metadata=summary.summary_metadata(),
        )  # fmt: skip
    try:
        runs_by_name = {run["name"]: run for run in _data(root)["runs"]}
    finally:
        for file in bad.iterdir():
            file.unlink()
        bad.rmdir()
    assert "`version` 99" in runs_by_name["zz-bad"]["error"]
    assert runs_by_name["reachable"]["report"]  # the others still show


def test_the_front_end_is_served_from_the_package():
    plugin = EffortPlugin(base_plugin.TBContext())
    apps = plugin.get_plugin_apps()
    assert plugin.frontend_metadata().es_module_path in apps
    for name, kind in (("index.js", "javascript"), ("style.css", "text/css")):
        response = Client(apps[f"/{name}"]).get(f"/data/plugin/keras_effort/{name}")
        assert response.status_code == 200 and kind in response.content_type
        # Nothing is fetched from elsewhere at run time.
        assert b"http://" not in response.data.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in response.data


def test_the_entry_point_names_the_plugin():
    found = [
        ep for ep in metadata.entry_points(group="tensorboard_plugins") if ep.name == "keras_effort"
    ]
    if not found:
        message = "keras-effort is installed without its entry points: pip install -e ."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert found[0].load() is EffortPlugin
