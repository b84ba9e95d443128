"""Judging attempts: a target met exactly, bad data, checks at the cutoff, interrupts, resume.

Each test here failed before its fix (issue 24): a float32 accuracy of exactly the target was
a miss; NaN in the validation data was a divergence (or, for an accuracy, a success); an
attempt cut between two checks was never judged; an interrupted `fit` lost its running
attempt; and resuming a run from a checkpoint re-initialised the loaded weights and wrote over
the run's rows.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_effort import Ledger
from keras_effort.callbacks import Restarts, TargetStopping
from keras_effort.cli import main
from keras_effort.effort import RuntimeDistribution, Target, steps_to_target

pytestmark = pytest.mark.reliability


def data(samples: int = 64, nan_row: int | None = None):
    """A linearly separable two-class problem; `nan_row` puts a NaN into that row."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    if nan_row is not None:
        x[nan_row, 1] = np.nan
    return x, y


def classifier(optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer or keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Listener:
    """A `TargetStopping` listener that records what it is told."""

    def __init__(self) -> None:
        self.attempts, self.training_ended = [], 0

    def on_check(self, source, value):
        pass

    def on_attempt_end(self, source, attempt):
        self.attempts.append(attempt)

    def on_training_end(self, source):
        self.training_ended += 1


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt (Ctrl-C) at the end of batch number `batch` (from 1)."""

    def __init__(self, batch: int, save_to=None) -> None:
        super().__init__()
        self.batch, self.seen, self.save_to = batch, 0, save_to

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batch:
            if self.save_to is not None:
                self.model.save(self.save_to)  # the checkpoint a resume starts from
            raise KeyboardInterrupt


# -------------------------------------------------------- a target met exactly


def test_exact_fractions_computed_in_float32_meet_a_target_of_that_fraction():
    # Keras' accuracy is a float32 count divided by a float32 count: 342/360 is 0.949999988,
    # which missed the target 0.95 when compared in float64.
    assert Target("val_accuracy", 0.95).reached(float(np.float32(342) / np.float32(360)))
    misjudged = []
    for n in range(1, 201):
        for k in range(n + 1):
            exact = float(np.float32(k) / np.float32(n))
            up, down = Target("val_accuracy", k / n), Target("val_error", k / n)
            if not up.reached(exact) or not down.reached(exact):
                misjudged.append((k, n))
            # One sample fewer (more errors) is a real miss, in both directions.
            if k > 0 and up.reached(float(np.float32(k - 1) / np.float32(n))):
                misjudged.append((k - 1, n, "up"))
            if k < n and down.reached(float(np.float32(k + 1) / np.float32(n))):
                misjudged.append((k + 1, n, "down"))
    assert misjudged == []
    # The effort tables (and the demo, which uses them) judge a curve the same way.
    assert steps_to_target([10, 20], [0.9, float(np.float32(342) / np.float32(360))], 0.95) == 20


@pytest.mark.parametrize("check_every", ["epoch", 1])
def test_an_accuracy_of_exactly_the_target_is_reached_in_fit(check_every, tmp_path):
    # A fixed classifier (identity kernel, learning rate 0) right on 342 of 360 samples.
    x = np.tile(np.eye(2, dtype="float32"), (180, 1))
    y = x.argmax(axis=1)
    y[:18] = 1 - y[:18]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, use_bias=False, kernel_initializer="identity")]
    )
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    ledger = Ledger(tmp_path / "ledger.sqlite")
    stop = TargetStopping("val_accuracy", 0.95, check_every=check_every, ledger=ledger,
                          validation_data=None if check_every == "epoch" else (x, y))
    model.fit(x, y, epochs=2, batch_size=360, verbose=0, callbacks=[stop],
              validation_data=(x, y) if check_every == "epoch" else None)
    assert stop.best_value == pytest.approx(0.95, rel=1e-7)
    [row] = ledger.attempts()
    assert (row.outcome, row.reached, row.steps) == ("reached", True, 1)


# ------------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    ("monitor", "target", "as_dataset"),
    [("val_loss", 0.01, False), ("val_accuracy", 0.05, False), ("val_loss", 0.01, True)],
)
def test_nan_in_the_validation_data_is_bad_data_not_divergence_nor_success(
    monitor, target, as_dataset, tmp_path, capsys
):
    x, y = data()
    validation = data(nan_row=3)
    if as_dataset:
        validation = tf.data.Dataset.from_tensor_slices(validation).batch(16)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    stopping = TargetStopping(monitor, target, check_every=5, validation_data=validation,
                              ledger=ledger)
    restarts = Restarts(stopping, policy=10, max_total_steps=100, seed=0)
    with pytest.warns(RuntimeWarning, match=f"val_loss = nan at step 5 .*monitoring '{monitor}'"
                                            r"\): the validation data holds NaN"):
        classifier().fit(x, y, epochs=50, batch_size=8, verbose=0, callbacks=[restarts])
    # One attempt, not judged; restarting cannot fix the data, so training stops and says so.
    [row] = ledger.attempts()
    assert (row.outcome, row.reached, row.steps, row.budget) == ("bad_data", False, 5, None)
    assert not restarts.reached and restarts.total_steps == 5
    out = capsys.readouterr().out
    assert "restarting cannot fix the data: training stops" in out
    # ... and the fit's summary line sends the user to the data, not to the rate or cutoffs.
    assert "(1 bad_data)" in out and "Fix the validation data" in out
    # Not a success, censored where it stopped (like "stopped"), and the report takes it.
    distribution = RuntimeDistribution.from_attempts(ledger.attempts())
    assert (distribution.runs, distribution.successes, distribution.horizon) == (1, 0, 5)
    assert main(["report", str(ledger.path), "--bootstrap", "0"]) == 0


def test_nan_weights_beside_a_finite_training_loss_are_still_a_divergence(tmp_path):
    # The weights turn NaN on the check's own step, after the step's (finite) loss was logged:
    # the validation loss is NaN because the run diverged, not because of the data.
    class PoisonAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                kernel = self.model.layers[0].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    x, y = data()
    stopping = TargetStopping("val_loss", 0.01, check_every=5, validation_data=(x, y))
    restarts = Restarts(stopping, policy=10, max_total_steps=10, seed=0, verbose=0)
    classifier().fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[PoisonAt(), restarts])
    first = restarts.attempts[0]
    assert (first.outcome, first.steps) == ("diverged", 5)


# ------------------------------------------------------- judged at the cutoff


@pytest.mark.parametrize("monitor", ["val_loss", "loss"])
@pytest.mark.parametrize(("policy", "max_total_steps"), [(30, 90), (100, 30)])
def test_an_attempt_is_judged_at_its_cutoff_between_two_checks(monitor, policy, max_total_steps):
    # Checks every 50 steps, attempts cut at 30 (by the policy, or by the step budget): before,
    # every attempt was a "cutoff" with no check and no best value.
    x, y = data()
    stopping = TargetStopping(monitor, 1e6, mode="min", check_every=50,
                              validation_data=(x, y) if monitor.startswith("val_") else None)
    restarts = Restarts(stopping, policy=policy, max_total_steps=max_total_steps, seed=0, verbose=0)
    classifier().fit(x, y, epochs=30, batch_size=8, verbose=0, callbacks=[restarts])
    [attempt] = restarts.attempts
    assert (attempt.outcome, attempt.steps) == ("reached", 30)
    assert [step for step, _ in attempt.curve] == [30]


def test_a_target_stopping_alone_is_judged_at_the_end_of_fit():
    x, y = data(samples=240)  # 30 steps of 8
    stop = TargetStopping("val_loss", 1e6, check_every=50, validation_data=(x, y))
    classifier().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[stop])
    assert (stop.outcome, stop.steps_to_target, [s for s, _ in stop.curve]) == ("reached", 30, [30])


# ------------------------------------------------------------- interrupted fit


def test_an_interrupted_fit_records_the_running_attempt_as_stopped(tmp_path):
    x, y = data()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    stopping = TargetStopping("loss", 1e-9, mode="min", check_every=2, ledger=ledger)
    restarts = Restarts(stopping, policy=5, max_total_steps=100, seed=0, verbose=0)
    listener = Listener()
    restarts.add_listener(listener)
    with pytest.raises(KeyboardInterrupt), restarts:
        classifier().fit(x, y, epochs=20, batch_size=8, verbose=0,
                         callbacks=[restarts, InterruptAt(batch=7)])
    rows = ledger.attempts()
    assert [(r.attempt, r.outcome, r.steps) for r in rows] == [(0, "cutoff", 5), (1, "stopped", 2)]
    assert [a.outcome for a in restarts.attempts] == ["cutoff", "stopped"]
    assert listener.training_ended == 1 and len(listener.attempts) == 2


def test_an_interrupted_target_stopping_records_its_attempt_and_tells_its_listeners(tmp_path):
    x, y = data()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    stop = TargetStopping("loss", 1e-9, mode="min", check_every=2, ledger=ledger)
    listener = Listener()
    stop.add_listener(listener)
    with pytest.raises(KeyboardInterrupt), stop:
        classifier().fit(x, y, epochs=20, batch_size=8, verbose=0,
                         callbacks=[stop, InterruptAt(batch=7)])
    [row] = ledger.attempts()
    assert (row.outcome, row.steps, row.budget) == ("stopped", 7, None)
    assert listener.training_ended == 1
    # A finished `fit` inside `with` is recorded once, by `on_train_end` only.
    with stop:
        classifier().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[stop])
    assert len(ledger.attempts()) == 2 and listener.training_ended == 2


# --------------------------------------------------------------------- resume


class Probe(keras.callbacks.Callback):
    """Records the weights when training begins, and the optimizer after every batch."""

    def on_train_begin(self, logs=None):
        self.weights, self.iterations, self.fresh_slots = self.model.get_weights(), [], []

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self.model.optimizer
        self.iterations.append(int(keras.ops.convert_to_numpy(optimizer.iterations)))
        slots = [v for v in optimizer.variables if v.name not in ("iteration", "learning_rate")]
        self.fresh_slots.append(all(not keras.ops.convert_to_numpy(v).any() for v in slots))


def test_a_run_resumed_from_a_checkpoint_goes_on_with_its_weights_and_numbering(tmp_path):
    x, y = data()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    checkpoint = tmp_path / "checkpoint.keras"

    def restarts(**kwargs):
        stopping = TargetStopping("loss", 1e-9, mode="min", check_every=2, ledger=ledger)
        return Restarts(stopping, policy=10, seed=3, run="r1", verbose=0, **kwargs)

    # Killed 5 steps into attempt 2, after a checkpoint: attempts 0 and 1 are in the ledger.
    with pytest.raises(KeyboardInterrupt):
        classifier().fit(x, y, epochs=20, batch_size=8, verbose=0,
                         callbacks=[restarts(max_total_steps=1000), InterruptAt(25, checkpoint)])
    before = ledger.attempts()
    assert [(r.attempt, r.outcome, r.steps) for r in before] == [
        (0, "cutoff", 10), (1, "cutoff", 10)
    ]

    model = keras.models.load_model(checkpoint)
    loaded = model.get_weights()
    resumed, probe = restarts(max_total_steps=15, resume=True), Probe()
    model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[resumed, probe])
    # The loaded weights were trained on, not re-initialised; attempt 2 ran 5 + 5 steps, then
    # attempt 3 began from a fresh optimizer (iterations 0, Adam's moments zero).
    assert all(np.array_equal(a, b) for a, b in zip(probe.weights, loaded, strict=True))
    assert probe.iterations == [6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert probe.fresh_slots[4] and not probe.fresh_slots[3]
    rows = ledger.attempts()
    assert [(r.attempt, r.outcome, r.steps) for r in rows] == [
        (0, "cutoff", 10), (1, "cutoff", 10), (2, "cutoff", 10), (3, "cutoff", 10)
    ]
    # The earlier rows are untouched, and the seeds go on from the run's seed.
    assert [(r.id, r.created_at, r.curve) for r in rows[:2]] == [
        (r.id, r.created_at, r.curve) for r in before
    ]
    assert [r.seed for r in rows] == [resumed.attempt_seed(i) for i in range(4)]
    assert resumed.total_steps == 40 and len(resumed.attempts) == 4


def test_resume_is_refused_without_a_run_or_a_ledger_or_for_a_run_that_reached(tmp_path):
    stopping = TargetStopping("loss", 10.0, mode="min", check_every=2)
    with pytest.raises(ValueError, match="`resume=True` needs `run`"):
        Restarts(stopping, policy=10, max_total_steps=20, resume=True)
    with pytest.raises(ValueError, match="`resume=True` needs a `ledger`"):
        Restarts(stopping, policy=10, max_total_steps=20, run="r", resume=True)
    with pytest.raises(ValueError, match="`resume` must be True or False"):
        Restarts(stopping, policy=10, max_total_steps=20, resume="yes")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    x, y = data()
    done = Restarts(TargetStopping("loss", 10.0, mode="min", check_every=2, ledger=ledger),
                    policy=10, max_total_steps=20, run="r", verbose=0)
    classifier().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[done])
    assert done.reached
    again = Restarts(TargetStopping("loss", 10.0, mode="min", check_every=2, ledger=ledger),
                     policy=10, max_total_steps=20, run="r", resume=True)
    with pytest.raises(ValueError, match="run 'r' of experiment 'default' reached the target"):
        classifier().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[again])
