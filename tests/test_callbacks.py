"""TargetStopping, Restarts and EffortTensorBoard on tiny models, checked independently."""

from __future__ import annotations

import copy
import dataclasses

import keras
import numpy as np
import pytest

from keras_effort import Ledger
from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
from keras_effort.effort import RuntimeDistribution
from keras_effort.report.tensorboard_plugin import summary
from keras_effort.restarts import FixedCutoff, Luby
from keras_effort.schedules import OneCycle

# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=8)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x @ weights > 0).astype("int64")
    x_val = rng.normal(size=(256, 8)).astype("float32")
    y_val = (x_val @ weights > 0).astype("int64")
    return x, y, x_val, y_val


def make_model(seed=0, learning_rate=0.05, optimizer=None, steps_per_execution=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


class BatchLog(keras.callbacks.Callback):
    """Records (optimizer step, batch logs) independently of the callbacks under test."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.rows.append((step, {k: float(v) for k, v in logs.items()}))


# ------------------------------------------------------------ TargetStopping


def test_stops_at_the_first_step_the_training_loss_meets_the_target(data):
    x, y, _, _ = data
    log = BatchLog()
    stop = TargetStopping("loss", 0.45, check_every=1, batch_size=32)
    make_model().fit(x, y, epochs=20, batch_size=32, verbose=0, callbacks=[log, stop])
    first = next(step for step, logs in log.rows if logs["loss"] <= 0.45)
    assert stop.reached and stop.outcome == "reached"
    assert stop.steps_to_target == first
    assert log.rows[-1][0] == first  # training stopped right there
    assert stop.samples_to_target == first * 32
    assert stop.seconds_to_target > 0
    assert [s for s, _ in stop.curve] == list(range(1, first + 1))


def test_validation_checks_every_k_steps_without_disturbing_training_metrics(data):
    x, y, x_val, y_val = data
    histories = []
    for callbacks in (
        [],
        [
            TargetStopping(
                "val_loss",  # a loss of 0 is out of reach: every check is made, none reaches
                0.0,
                check_every=5,
                validation_data=(x_val, y_val),
                stop_training=False,
            )
        ],
    ):
        model = make_model()
        history = model.fit(
            x, y, epochs=3, batch_size=32, shuffle=False, verbose=0, callbacks=callbacks
        )
        histories.append(history.history)
    assert histories[0]["accuracy"] == histories[1]["accuracy"]
    assert histories[0]["loss"] == histories[1]["loss"]
    stop = callbacks[0]
    # Every 5 steps, and at the end of fit (48 steps), where the attempt is judged too.
    assert [s for s, _ in stop.curve] == [*range(5, 49, 5), 48]
    assert not stop.reached and stop.outcome == "cutoff"


def test_without_stopping_the_curve_goes_on_after_the_target(data):
    x, y, x_val, y_val = data
    stop = TargetStopping(
        "val_accuracy", 0.6, check_every=4, validation_data=(x_val, y_val), stop_training=False
    )
    make_model().fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[stop])
    first = next(step for step, value in stop.curve if value >= 0.6)
    assert stop.reached and stop.steps_to_target == first and stop.outcome == "reached"
    assert stop.curve[-1][0] == 64 and stop.best_value == max(v for _, v in stop.curve)


def test_the_recorded_value_is_the_validation_metric_at_that_step(data):
    x, y, x_val, y_val = data
    model = make_model()
    stop = TargetStopping("val_accuracy", 0.8, check_every=3, validation_data=(x_val, y_val))
    model.fit(x, y, epochs=20, batch_size=32, verbose=0, callbacks=[stop])
    assert stop.reached
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == stop.steps_to_target
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert stop.curve[-1] == (stop.steps_to_target, pytest.approx(accuracy, abs=1e-7))
    assert stop.curve[-1][1] >= 0.8 and all(v < 0.8 for _, v in stop.curve[:-1])


def test_epoch_checks_use_epoch_logs(data):
    x, y, x_val, y_val = data
    stop = TargetStopping("val_accuracy", 0.8)
    history = make_model().fit(
        x, y, epochs=30, batch_size=64, validation_data=(x_val, y_val), verbose=0, callbacks=[stop]
    )
    epochs = len(history.history["val_accuracy"])
    assert stop.reached and stop.steps_to_target == epochs * 8
    assert [v for _, v in stop.curve] == pytest.approx(history.history["val_accuracy"])


def test_steps_per_execution_sets_the_granularity(data):
    x, y, _, _ = data
    stop = TargetStopping("accuracy", 1.0, check_every=6, stop_training=False)
    make_model(steps_per_execution=4).fit(
        x, y, epochs=1, batch_size=16, verbose=0, callbacks=[stop]
    )
    # Hooks fire every 4 steps; a check happens at the first hook at or after each due step.
    assert [s for s, _ in stop.curve] == [8, 12, 20, 24, 32]


def test_mode_is_inferred_from_the_metric(data):
    x, y, _, _ = data
    model = make_model()
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="top")],
    )
    stop = TargetStopping("top", 0.5, check_every=2, stop_training=False)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[stop])
    assert stop.target.direction == "up"
    assert TargetStopping("val_loss", 0.3).target.direction == "down"
    assert TargetStopping("val_auc", 0.9).target.direction == "up"
    assert TargetStopping("mystery", 3.0, mode="min").target.direction == "down"


def test_unknown_monitor_fails_at_the_first_check_listing_the_metrics(data):
    x, y, _, _ = data
    stop = TargetStopping("val_acc", 0.9)
    with pytest.raises(ValueError, match=r"'val_acc' is not in the logs; available: .*accuracy"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[stop])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"monitor": "val_accuracy", "target": 1.5}, "outside \\[0, 1\\]"),
        ({"monitor": "val_accuracy", "target": 0.5, "mode": "up"}, "`mode` must be one of"),
        ({"monitor": "loss", "target": 0.5, "check_every": 0}, "`check_every`"),
        ({"monitor": "val_accuracy", "target": 0.5, "check_every": 10}, "needs `validation_data`"),
        ({"monitor": "val_accuracy"}, "`target` is required"),
        ({"monitor": "loss", "target": float("nan")}, "`target` must be a finite number"),
        ({"monitor": "loss", "target": 1.0, "batch_size": 0}, "`batch_size`"),
        ({"monitor": "loss", "target": 1.0, "experiment": ""}, "`experiment`"),
        ({"monitor": "loss", "target": 1.0, "config": {"f": print}}, "`config` must be a JSON"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TargetStopping(**kwargs)


def test_unclear_direction_without_mode_is_an_error(data):
    x, y, _, _ = data
    model = make_model()
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        metrics=[keras.metrics.MeanMetricWrapper(lambda t, p: p[:, 0], name="odd")],
    )
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[TargetStopping("odd", 0.5)])


def test_a_diverging_run_is_a_recorded_failure_not_a_crash(data):
    x, y, x_val, y_val = data
    ledger = Ledger()
    stop = TargetStopping(
        "val_accuracy",
        0.99,
        check_every=2,
        validation_data=(x_val, y_val),
        ledger=ledger,
        experiment="explode",
    )
    model = make_model(optimizer=keras.optimizers.SGD(1e12))
    model.fit(x * 1e3, y, epochs=5, batch_size=32, verbose=0, callbacks=[stop])
    assert stop.outcome == "diverged" and not stop.reached
    (row,) = ledger.attempts("explode")
    assert row.outcome == "diverged" and row.budget == 5 * 16 and row.steps < 5 * 16


def test_ledger_row_of_a_fit(data):
    x, y, x_val, y_val = data
    ledger = Ledger()
    stop = TargetStopping(
        "val_accuracy",
        0.8,
        check_every=4,
        validation_data=(x_val, y_val),
        ledger=ledger,
        experiment="e",
        config={"lr": 0.05},
        seed=3,
        batch_size=32,
    )
    make_model().fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[stop])
    (row,) = ledger.attempts()
    assert (row.reached, row.steps, row.budget, row.seed) == (True, stop.steps_to_target, 160, 3)
    assert row.config == {"lr": 0.05} and row.samples == row.steps * 32
    assert row.curve == stop.curve and row.best_value == max(v for _, v in stop.curve)


def test_under_mirrored_strategy(data, mirrored_strategy):
    x, y, x_val, y_val = data
    with mirrored_strategy.scope():
        model = make_model()
    reference = make_model()
    plain = reference.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    stop = TargetStopping(
        "val_accuracy", 1.0, check_every=4, validation_data=(x_val, y_val), stop_training=False
    )
    mirrored = model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=[stop])
    # Same updates as on one device, and the mid-epoch evaluations left the metrics alone.
    assert mirrored.history["accuracy"] == pytest.approx(plain.history["accuracy"], abs=1e-6)
    assert [s for s, _ in stop.curve] == list(range(4, 33, 4))
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert stop.curve[-1][1] == pytest.approx(accuracy, abs=1e-6)


# ------------------------------------------------------------------ Restarts


class AttemptStarts(keras.callbacks.Callback):
    """Captures weights and optimizer state before the first step of every attempt."""

    def __init__(self):
        super().__init__()
        self.weights, self.slots, self.rates = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0:
            self.weights.append([w.copy() for w in self.model.get_weights()])
            slots = optimizer.variables[2:]
            self.slots.append([keras.ops.convert_to_numpy(v).copy() for v in slots])
            self.rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))


def _restart_run(data, seed, max_steps=60, policy=None, ledger=None, optimizer=None):
    x, y, x_val, y_val = data
    target = TargetStopping("val_accuracy", 1.0, check_every=5, validation_data=(x_val, y_val))
    restarts = Restarts(
        target, policy or FixedCutoff(20), max_total_steps=max_steps, seed=seed, ledger=ledger
    )
    starts = AttemptStarts()
    model = make_model(optimizer=optimizer)
    model.fit(x, y, epochs=50, batch_size=32, verbose=0, callbacks=[restarts, starts])
    return restarts, starts, model


def test_attempts_start_from_fresh_weights_and_a_reset_optimizer(data):
    ledger = Ledger()
    restarts, starts, _ = _restart_run(data, seed=7, ledger=ledger)
    assert len(restarts.attempts) == 3 and restarts.total_steps == 60
    assert len(starts.weights) == 3
    first, second, third = starts.weights
    for a, b in ((first, second), (second, third), (first, third)):
        assert not np.allclose(a[0], b[0])  # independent initial kernels
    for slots in starts.slots:  # Adam's moments are zero at every attempt start
        assert all(np.all(s == 0) for s in slots)
    # Reproducible from the seed.
    again, starts_again, _ = _restart_run(data, seed=7)
    for a, b in zip(starts.weights, starts_again.weights, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    assert [a.seed for a in again.attempts] == [a.seed for a in restarts.attempts]
    # One ledger row per attempt, each censored at its cutoff.
    rows = ledger.attempts()
    assert [(r.attempt, r.steps, r.budget, r.outcome) for r in rows] == [
        (0, 20, 20, "cutoff"),
        (1, 20, 20, "cutoff"),
        (2, 20, 20, "cutoff"),
    ]


def test_restarts_stop_at_the_first_success(data):
    x, y, x_val, y_val = data
    target = TargetStopping("val_accuracy", 0.85, check_every=2, validation_data=(x_val, y_val))
    restarts = Restarts(target, Luby(4), max_total_steps=2000, seed=1)
    model = make_model(learning_rate=0.02)
    model.fit(x, y, epochs=200, batch_size=32, verbose=0, callbacks=[restarts])
    *failures, success = restarts.attempts
    assert success.reached and all(not a.reached for a in failures)
    cutoffs = [4, 4, 8, 4, 4, 8, 16, 4, 4, 8, 4, 4, 8, 16, 32, 4, 4, 8]
    assert [a.steps for a in failures] == cutoffs[: len(failures)]
    assert restarts.total_steps == sum(a.steps for a in restarts.attempts)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == success.steps


def test_learning_rate_and_schedules_restart_with_each_attempt(data):
    for schedule in (
        keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5),
        OneCycle(2.5, total_steps=20),  # starts at 2.5 / 25
    ):
        _, starts, _ = _restart_run(data, seed=0, optimizer=keras.optimizers.SGD(schedule))
        assert starts.rates == [pytest.approx(0.1)] * 3

    class HalveRate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.optimizer.learning_rate.assign(self.model.optimizer.learning_rate * 0.5)

    x, y, x_val, y_val = data
    target = TargetStopping("val_accuracy", 1.0, check_every=5, validation_data=(x_val, y_val))
    restarts, starts = Restarts(target, 10, max_total_steps=30, seed=0), AttemptStarts()
    make_model(learning_rate=0.05).fit(
        x, y, epochs=10, batch_size=32, verbose=0, callbacks=[HalveRate(), restarts, starts]
    )
    assert starts.rates == [pytest.approx(0.05)] * 3


def test_max_total_steps_bounds_the_last_attempt(data):
    restarts, _, _ = _restart_run(data, seed=0, max_steps=50, policy=FixedCutoff(20))
    assert [a.steps for a in restarts.attempts] == [20, 20, 10]
    assert restarts.total_steps == 50 and not restarts.reached


def test_keras_callbacks_in_the_same_list(data, tmp_path):
    x, y, x_val, y_val = data
    target = TargetStopping("val_accuracy", 1.0, check_every=5, validation_data=(x_val, y_val))
    restarts = Restarts(target, 16, max_total_steps=200, seed=0)
    checkpoint = keras.callbacks.ModelCheckpoint(tmp_path / "best.keras")
    early = keras.callbacks.EarlyStopping(monitor="loss", patience=100)
    board = keras.callbacks.TensorBoard(tmp_path / "tb")
    make_model().fit(
        x,
        y,
        epochs=15,
        batch_size=32,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[restarts, checkpoint, early, board],
    )
    assert (tmp_path / "best.keras").exists()
    assert restarts.total_steps == 200 and len(restarts.attempts) == 13


def test_restarts_bad_arguments():
    target = TargetStopping("loss", 0.1)
    with pytest.raises(TypeError, match="`stopping` must be a TargetStopping"):
        Restarts("loss", 10, max_total_steps=10)
    with pytest.raises(ValueError, match="`max_total_steps` must be an integer >= 1, got 0"):
        Restarts(target, 10, max_total_steps=0)
    with pytest.raises(ValueError, match="`policy`"):
        Restarts(target, 3.5, max_total_steps=10)
    with pytest.raises(ValueError, match="`seed`"):
        Restarts(target, 10, max_total_steps=10, seed="x")


def test_max_steps_still_names_max_total_steps_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="`max_steps` is deprecated: its new name is `max_"):
        restarts = Restarts(TargetStopping("loss", 0.1), 10, max_steps=30)
    assert restarts.max_total_steps == 30
    with pytest.warns(DeprecationWarning, match="`max_steps` is deprecated"):
        assert restarts.max_steps == 30
    with pytest.raises(TypeError, match="got both `max_steps` and `max_total_steps`"):
        Restarts(TargetStopping("loss", 0.1), 10, max_steps=30, max_total_steps=30)


# --------------------------------------------------------- EffortTensorBoard


def _read(log_dir):
    from tbparse import SummaryReader

    reader = SummaryReader(str(log_dir))
    return reader.tensors, reader.hparams


class LearnsRates(keras.optimizers.SGD):
    """An SGD that exposes a scalar and a per-element 'learned' value, like our optimizers."""

    @property
    def learned_hyperparameters(self):
        return {"rate": self.learning_rate, "multiplier": keras.ops.arange(4.0)}


def test_effort_curves_on_the_total_step_axis(data, tmp_path):
    x, y, x_val, y_val = data
    target = TargetStopping("val_accuracy", 0.85, check_every=2, validation_data=(x_val, y_val))
    restarts = Restarts(target, Luby(4), max_total_steps=2000, seed=1)
    board = EffortTensorBoard(tmp_path / "run", restarts, hparams={"lr": 0.02, "opt": "sgd"})
    checks = []
    target.add_listener(
        type(
            "Spy",
            (),
            {
                "on_check": lambda self, source, value: checks.append(
                    (restarts.total_steps, value)
                ),
                "on_attempt_end": lambda self, source, attempt: None,
            },
        )()
    )
    make_model(optimizer=LearnsRates(0.3)).fit(
        x, y, epochs=200, batch_size=32, verbose=0, callbacks=[board, restarts]
    )
    tensors, hparams = _read(tmp_path / "run")

    def series(tag):
        rows = tensors[tensors.tag == tag]
        return list(zip(rows.step.tolist(), rows.value.tolist(), strict=True))

    assert series("effort/val_accuracy") == [(s, pytest.approx(v)) for s, v in checks]
    steps = [s for s, _ in checks]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # runs on across restarts
    # The attempts, for the Effort dashboard, at each attempt's end on the total-step axis.
    ends = np.cumsum([a.steps for a in restarts.attempts]).tolist()
    records = sorted(
        (step, text) for tag in set(tensors.tag) if tag.startswith(f"{summary.ATTEMPTS_TAG}/")
        for step, text in series(tag)
    )  # fmt: skip
    assert [s for s, _ in records] == ends
    final = summary.parse(records[-1][1])  # fewer than 32 attempts: all in the first chunk
    assert [timed.attempt for timed in final.attempts] == [
        dataclasses.replace(a, curve=None) for a in restarts.attempts
    ]
    assert [(t.start, t.end) for t in final.attempts] == list(
        zip([0, *ends[:-1]], ends, strict=True)
    )
    assert (final.monitor, final.target) == ("val_accuracy", 0.85)
    # The effort by cutoff and the results are those of keras_effort.effort on the attempts.
    distribution = RuntimeDistribution(
        [a.steps if a.reached else None for a in restarts.attempts],
        [a.budget for a in restarts.attempts],
    )
    expected = series("effort_by_cutoff/expected_steps")
    assert len(expected) >= 1
    for cutoff, value in expected:
        assert value == pytest.approx(distribution.expected_steps(cutoff))
    for cutoff, value in series("effort_by_cutoff/success_probability"):
        assert value == pytest.approx(distribution.success_probability(cutoff))
    assert series("result/expected_steps") == [(0, pytest.approx(distribution.expected_steps()))]
    assert series("result/koza") == [(0, pytest.approx(distribution.koza_effort().steps))]
    assert series("result/total_steps") == [(0, restarts.total_steps)]
    assert series("result/reached") == [(0, 1.0)]
    assert series("result/steps_to_target") == [(0, restarts.total_steps)]
    assert series("learned/rate")[0][1] == pytest.approx(0.3)
    assert series("learned/multiplier/max")[0][1] == 3.0
    assert series("rates/learning_rate")[0][1] == pytest.approx(0.3)
    assert set(hparams.tag) == {"lr", "opt"}
    assert "custom_scalars__config__" in set(tensors.tag)
    # No counter is a scalar that smoothing would turn into a ramp or fractions.
    assert not {tag for tag in set(tensors.tag) if tag.startswith("effort_attempts/")} - {
        summary.attempts_tag(0),
        summary.attempts_tag(0, summary.ATTEMPTS_TABLE_TAG),
    }


def test_tags_sort_the_monitored_metric_and_target_first(data, tmp_path):
    x, y, x_val, y_val = data
    stop = TargetStopping("val_accuracy", 0.8, check_every=4, validation_data=(x_val, y_val))
    board = EffortTensorBoard(tmp_path / "sorted", stop)
    make_model().fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[stop, board])
    tensors, _ = _read(tmp_path / "sorted")
    groups = sorted({tag.split("/")[0] for tag in set(tensors.tag) if "/" in tag})
    assert groups[0] == "effort"
    assert sorted(t for t in set(tensors.tag) if t.startswith("effort/")) == [
        "effort/target",
        "effort/val_accuracy",
    ]


def test_hparams_metrics_are_the_results(data, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata as hparams_metadata

    x, y, x_val, y_val = data
    stop = TargetStopping("val_accuracy", 0.8, check_every=4, validation_data=(x_val, y_val))
    board = EffortTensorBoard(tmp_path / "hp", stop, hparams={"lr": 0.05})
    make_model().fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[stop, board])
    accumulator = event_accumulator.EventAccumulator(str(tmp_path / "hp"))
    accumulator.Reload()
    content = accumulator.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    experiment = hparams_metadata.parse_experiment_plugin_data(
        content[hparams_metadata.EXPERIMENT_TAG]
    )
    assert [m.name.tag for m in experiment.metric_infos] == [
        "result/total_steps",
        "result/reached",
        "result/steps_to_target",
        "result/expected_steps",
        "result/koza",
    ]
    assert [m.display_name for m in experiment.metric_infos][3] == "l(c*)"
    assert [h.name for h in experiment.hparam_infos] == ["lr"]


def test_board_and_source_survive_deepcopy_like_keras_tuner(data, tmp_path):
    x, y, x_val, y_val = data
    stop = TargetStopping("val_accuracy", 0.8, check_every=4, validation_data=(x_val, y_val))
    board = EffortTensorBoard(tmp_path / "original", stop)
    for execution in range(2):
        copied_stop, copied_board = copy.deepcopy([stop, board])
        copied_board.log_dir = str(tmp_path / f"execution{execution}")
        make_model(seed=execution).fit(
            x, y, epochs=10, batch_size=32, verbose=0, callbacks=[copied_stop, copied_board]
        )
        assert copied_board.attempts and copied_board._writer is None
        tensors, _ = _read(tmp_path / f"execution{execution}")
        checks = tensors[tensors.tag == "effort/val_accuracy"]
        assert checks.value.tolist() == pytest.approx([v for _, v in copied_stop.curve])
    assert board.attempts == [] and not stop.curve  # the originals were not used


def test_board_bad_arguments(tmp_path):
    stop = TargetStopping("loss", 0.1)
    with pytest.raises(TypeError, match="`source`"):
        EffortTensorBoard(tmp_path, source="loss")
    with pytest.raises(ValueError, match="hparams\\['layers'\\]"):
        EffortTensorBoard(tmp_path, stop, hparams={"layers": [1, 2]})
    with pytest.raises(ValueError, match="`z`"):
        EffortTensorBoard(tmp_path, stop, z=1.0)
    with pytest.raises(ValueError, match="`z`"):
        EffortTensorBoard(tmp_path, stop, z="a")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"`log_dir`.*is a file"):
        EffortTensorBoard(tmp_path / "file" / "run", stop)


def test_single_fit_board_writes_the_attempt(data, tmp_path):
    x, y, x_val, y_val = data
    stop = TargetStopping("val_accuracy", 0.8, check_every=4, validation_data=(x_val, y_val))
    board = EffortTensorBoard(tmp_path / "single", stop)
    # The board may come first: it closes only when its source says training ended.
    make_model().fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[board, stop])
    tensors, _ = _read(tmp_path / "single")
    ((step, text),) = tensors[tensors.tag == summary.attempts_tag(0)][["step", "value"]].values
    (timed,) = summary.parse(text).attempts
    assert step == timed.end == timed.attempt.steps == stop.steps_to_target
    assert tensors[tensors.tag == "result/reached"].value.tolist() == [1.0]
    assert tensors[tensors.tag == "result/steps_to_target"].value.tolist() == [stop.steps_to_target]
    # One success: l(c) is a curve from that step to the horizon, not a single point.
    probability = tensors[tensors.tag == "effort_by_cutoff/success_probability"]
    assert probability.value.tolist()[-1] == 1.0 and len(probability) >= 2


def test_restarts_under_mirrored_strategy(data, mirrored_strategy):
    x, y, _, _ = data
    with mirrored_strategy.scope():
        model = make_model()
    # A training-metric target: what is under test is re-initialisation, not evaluation.
    target = TargetStopping("accuracy", 1.0, check_every=5)
    restarts = Restarts(target, FixedCutoff(10), max_total_steps=30, seed=3)
    starts = AttemptStarts()
    model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[restarts, starts])
    assert [a.steps for a in restarts.attempts] == [10, 10, 10]
    assert len(starts.weights) == 3 and not np.allclose(starts.weights[0][0], starts.weights[1][0])
    for slots in starts.slots:
        assert all(np.all(s == 0) for s in slots)
    # Each replica holds the same re-initialised weights.
    kernel = model.layers[0].kernel.value
    replicas = [np.asarray(v) for v in mirrored_strategy.experimental_local_results(kernel)]
    np.testing.assert_array_equal(replicas[0], replicas[1])
    # The same seed gives the same attempts as on one device.
    single = Restarts(
        TargetStopping("accuracy", 1.0, check_every=5), 10, max_total_steps=30, seed=3
    )
    single_starts = AttemptStarts()
    make_model().fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[single, single_starts])
    for mirrored_weights, single_weights in zip(starts.weights, single_starts.weights, strict=True):
        np.testing.assert_allclose(mirrored_weights[0], single_weights[0])


class LearnedAtStarts(keras.callbacks.Callback):
    """Records an optimizer's learned hyperparameters before the first step of every attempt."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0:
            learned = optimizer.learned_hyperparameters
            self.values.append(
                {k: keras.ops.convert_to_numpy(v).copy() for k, v in learned.items()}
            )


@pytest.mark.parametrize("kind", ["hypergradient", "activelr"])
def test_restarts_reset_the_learned_state_of_our_optimizers(data, tmp_path, kind):
    from keras_effort.optimizers import ActiveLR, HypergradientAdam

    x, y, x_val, y_val = data
    if kind == "hypergradient":
        optimizer = HypergradientAdam(0.01, hypergradient_lr=1e-3, scope="variable")
    else:
        optimizer = ActiveLR(keras.optimizers.SGD(0.05, momentum=0.9), period=4, increase=0.5)
    target = TargetStopping("val_accuracy", 1.0, check_every=5, validation_data=(x_val, y_val))
    restarts = Restarts(target, FixedCutoff(20), max_total_steps=60, seed=0)
    board = EffortTensorBoard(tmp_path / kind, restarts)
    starts = LearnedAtStarts()
    model = make_model(optimizer=optimizer)
    model.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[restarts, board, starts])
    assert len(starts.values) == 3
    initial = 0.01 if kind == "hypergradient" else 1.0
    for values in starts.values:  # every attempt starts from the initial learned values
        for value in values.values():
            np.testing.assert_allclose(value, initial, rtol=1e-6)
    final = {k: keras.ops.convert_to_numpy(v) for k, v in optimizer.learned_hyperparameters.items()}
    assert any(not np.allclose(v, initial) for v in final.values())  # and they did move
    tensors, _ = _read(tmp_path / kind)
    learned_tags = {tag for tag in set(tensors.tag) if tag.startswith("learned/")}
    if kind == "hypergradient":  # one scalar rate per weight tensor
        assert len(learned_tags) == len(model.trainable_variables)
    else:  # one multiplier per element: logged as its spread and a histogram per variable
        suffixes = {tag.rsplit("/", 1)[1] for tag in learned_tags}
        assert suffixes == {"mean", "min", "max", "kernel", "bias"}


def test_epoch_checks_leave_the_batch_hook_default():
    # Keras dispatches batch ends asynchronously (on thread-safe backends) only when no
    # callback overrides the batch hook; epoch checks must not.
    from keras.src.utils.python_utils import is_default

    assert is_default(TargetStopping("val_accuracy", 0.9).on_train_batch_end)
    assert is_default(copy.deepcopy(TargetStopping("val_accuracy", 0.9)).on_train_batch_end)
    assert not is_default(TargetStopping("accuracy", 0.9, check_every=5).on_train_batch_end)
