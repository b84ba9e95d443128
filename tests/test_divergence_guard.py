"""DivergenceGuard: rollbacks on NaN batches and huge rates, exact restores, with Restarts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_effort.callbacks import DivergenceGuard, Restarts, TargetStopping
from keras_effort.optimizers import AutoRate


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5, 1.0], dtype="float32"))[:, None]


def _model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_nan_batch_restores_the_snapshot_exactly_and_cuts_the_rate() -> None:
    x, y = _data(64)
    x[32:48] = np.nan  # batch 2 of 4 (batch size 16)
    model = _model(keras.optimizers.SGD(0.05))
    initial = model.get_weights()
    guard = DivergenceGuard(every=1000, factor=0.25)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[guard])

    assert len(guard.events) == 1
    event = guard.events[0]
    assert (event.step, event.restored_step) == (3, 0) and not np.isfinite(event.loss)
    assert event.learning_rate == np.float32(0.05)
    assert event.new_learning_rate == np.float32(0.05) * 0.25
    # After the rollback to the initial weights, batch 3 took one SGD step at the cut rate.
    expected = _model(keras.optimizers.SGD(event.new_learning_rate))
    expected.set_weights(initial)
    expected.train_on_batch(x[48:64], y[48:64])
    for a, b in zip(model.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert int(model.optimizer.iterations) == 4  # the wasted steps still count as work


def test_huge_rate_is_tamed_where_plain_training_diverges() -> None:
    x, y = _data(256)
    plain = _model(keras.optimizers.SGD(3.0))
    plain.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert not np.all(np.isfinite(plain.get_weights()[0]))

    model = _model(keras.optimizers.SGD(3.0))
    first = model.evaluate(x, y, verbose=0)
    guard = DivergenceGuard(every=4)
    model.fit(x, y, batch_size=16, epochs=6, verbose=0, callbacks=[guard])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.evaluate(x, y, verbose=0) < 0.1 * first
    rates = [event.new_learning_rate for event in guard.events]
    assert len(rates) >= 2 and rates == sorted(rates, reverse=True)
    assert float(model.optimizer.learning_rate) == np.float32(rates[-1])


def test_rollbacks_in_a_row_cut_the_rate_by_growing_powers_of_the_factor() -> None:
    x, y = _data(64)
    x[:] = np.nan  # every look diverges: no healthy look between the rollbacks
    guard = DivergenceGuard(every=2, factor=0.5, max_events=4, verbose=0)
    model = _model(keras.optimizers.SGD(1.0))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[guard])
    # 1 * 0.5, then * 0.25, * 0.125, * 0.0625: 2**-1, 2**-3, 2**-6, 2**-10.
    rates = [event.new_learning_rate for event in guard.events]
    np.testing.assert_allclose(rates, [2.0**-1, 2.0**-3, 2.0**-6, 2.0**-10], rtol=1e-6)


def test_a_healthy_look_between_rollbacks_restores_the_plain_factor() -> None:
    x, y = _data(128)
    x[32:48] = np.nan  # batches 2 and 6 of 8 (batch size 16); healthy batches between
    x[96:112] = np.nan
    guard = DivergenceGuard(every=1000, factor=0.25, verbose=0)
    model = _model(keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    rates = [event.new_learning_rate for event in guard.events]
    np.testing.assert_allclose(rates, [0.05 * 0.25, 0.05 * 0.25**2], rtol=1e-6)


def test_listeners_and_max_events_stop_training() -> None:
    x, y = _data(64)
    x[:] = np.nan
    heard = []

    class Listener:
        def on_divergence(self, guard, event):
            heard.append((guard, event))

    guard = DivergenceGuard(every=2, max_events=3)
    guard.add_listener(Listener())
    model = _model(keras.optimizers.Adam(0.01))
    model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[guard])
    assert len(guard.events) == 3 and [e for _, e in heard] == guard.events
    assert int(model.optimizer.iterations) == 3


def test_restores_autorate_state_and_works_with_restarts() -> None:
    x, y = _data(256)
    x[96:112] = np.nan  # a poisoned batch in every epoch
    model = _model(AutoRate(keras.optimizers.Adam(0.01)))
    stopping = TargetStopping(monitor="loss", target=1e-12, check_every=8)
    guard = DivergenceGuard(every=4)
    restarts = Restarts(stopping, 24, max_total_steps=64, seed=0)
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[guard, restarts],
    )
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert len(restarts.attempts) >= 2
    assert all(a.outcome != "diverged" for a in restarts.attempts)
    # Every rollback restored a snapshot of its own attempt: never a step after the event,
    # and (steps restart at 0 with each attempt) never from before the attempt began.
    assert guard.events and all(0 <= e.restored_step < e.step for e in guard.events)
    assert np.isfinite(float(model.optimizer.scale))


# Classification: the chance level of cross-entropy is known, ln(3) for three classes.
CHANCE = float(np.log(3.0))


def _classes(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A separable three-class problem that a small MLP learns in a few dozen steps."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, np.argmax(x @ rng.normal(size=(6, 3)), axis=1)


def _classifier(optimizer: keras.optimizers.Optimizer, steps_per_execution: int = 1):
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    return model


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras' PyTorch backend runs one step per call (steps_per_execution=1)",
)
def test_first_step_blow_up_inside_a_multi_step_execution_is_rolled_back(capsys) -> None:
    # With steps_per_execution=4 the first look is the mean of four steps, the first of them
    # the only one taken from the initial weights: the blown-up mean is all the guard sees.
    x, y = _classes()
    guard = DivergenceGuard(every=4)
    model = _classifier(keras.optimizers.SGD(300.0), steps_per_execution=4)
    model.fit(x, y, batch_size=8, epochs=8, shuffle=False, verbose=0, callbacks=[guard])

    first = guard.events[0]
    assert first.reason == "exploded" and first.restored_step == 0
    assert first.step == 4 and first.loss > 10 * CHANCE
    assert np.isfinite(model.evaluate(x, y, verbose=0))  # unguarded: NaN
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(guard.events)
    assert lines[0] == (
        f"DivergenceGuard: step {first.step}: loss {first.loss:.4g} above 10 x its reference "
        f"{CHANCE:.4g}; restored step 0, learning rate 300 -> 150."
    )


class _Kill(keras.callbacks.Callback):
    """At step `at`, leave the state a huge step leaves: every ReLU of the hidden layer dead.

    The output then predicts `softmax(bias)` for every input: the uniform distribution for a
    zero bias, one confident (mostly wrong) class for `bias=(5, 0, 0)`.
    """

    def __init__(self, at: int, bias: tuple[float, ...] = (0.0, 0.0, 0.0)) -> None:
        super().__init__()
        self.at = at
        self.bias = np.array(bias, "float32")

    def on_train_batch_begin(self, batch, logs=None) -> None:
        if int(self.model.optimizer.iterations) == self.at:
            hidden, output = self.model.layers
            hidden.bias.assign(np.full(hidden.bias.shape, -100.0, "float32"))
            output.bias.assign(self.bias)


def test_dead_network_after_a_huge_step_is_rolled_back() -> None:
    x, y = _classes()
    guard = DivergenceGuard(every=4, verbose=0)
    model = _classifier(keras.optimizers.SGD(0.3))
    callbacks = [_Kill(at=40), guard]
    model.fit(x, y, batch_size=8, epochs=8, shuffle=False, verbose=0, callbacks=callbacks)

    # The dead network's loss sits at ln(3), well under 10 x the reference: only the dead
    # rule sees it, after 2 * every steps at chance, and restores a state from before step 40.
    assert [event.reason for event in guard.events] == ["dead"]
    event = guard.events[0]
    assert 40 + 8 <= event.step <= 40 + 16 and event.restored_step < 40
    # No better than chance (the rule), and near it: the look's mean includes the steps the
    # output bias drifted after the kill.
    assert 0.95 * CHANCE <= event.loss < 1.1 * CHANCE
    assert model.evaluate(x, y, verbose=0) < 0.5 * CHANCE


def test_dead_network_stuck_on_a_wrong_answer_above_chance_is_rolled_back() -> None:
    # Dead ReLUs and a confident output bias: the loss sits well above ln(3) (about 3 for
    # the two thirds of samples of the other classes), yet under 10 x the reference.
    # The rate is large enough that the loss is clearly below chance before the kill on
    # every backend (their initial weights differ: at 0.01 it is still at chance on JAX and
    # PyTorch), and small enough that the output bias stays confident for the 8 steps.
    x, y = _classes()
    guard = DivergenceGuard(every=4, explosion=100.0, verbose=0)
    model = _classifier(keras.optimizers.SGD(0.03))
    callbacks = [_Kill(at=40, bias=(5.0, 0.0, 0.0)), guard]
    model.fit(x, y, batch_size=8, epochs=8, shuffle=False, verbose=0, callbacks=callbacks)
    assert [event.reason for event in guard.events][:1] == ["dead"]
    event = guard.events[0]
    assert 40 + 8 <= event.step <= 40 + 16 and event.restored_step < 40
    assert event.loss > 1.5 * CHANCE


def test_a_network_slow_to_leave_the_chance_level_is_not_dead() -> None:
    # A NaN-weighted batch makes a rollback (a spike); at a tiny rate the loss then stays at chance,
    # but the weights stay near the snapshot: no dead-network rollback.
    x, y = _classes(384)
    x *= 0.1  # small logits: the initial loss is at the chance level
    weights = np.ones(len(x), "float32")
    weights[32:64] = np.nan  # batch 2 (NaN inputs would not do: ReLU turns NaN into 0)
    guard = DivergenceGuard(every=2, verbose=0)
    model = _classifier(keras.optimizers.SGD(1e-5))
    model.fit(
        x, y, sample_weight=weights, batch_size=32, epochs=1, shuffle=False, verbose=0,
        callbacks=[guard],
    )
    assert [event.reason for event in guard.events] == ["not finite"]
    # It sat at the chance level for the 10 steps after the rollback, over 2 * every.
    assert abs(model.evaluate(x, y, verbose=0) - CHANCE) < 0.05 * CHANCE


def test_rollbacks_recurring_on_the_same_data_warn_once(capsys) -> None:
    x, y = _data(128)
    y[37] = np.nan  # one bad label: a non-finite loss once per epoch, whatever the rate
    guard = DivergenceGuard(every=2)
    model = _model(keras.optimizers.SGD(0.01))
    with pytest.warns(UserWarning, match="Check the data") as caught:
        model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[guard])
    assert len([w for w in caught if "Check the data" in str(w.message)]) == 1
    assert len(guard.events) == 4 and all(e.reason == "not finite" for e in guard.events)
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_verbose_0_prints_nothing(capsys) -> None:
    x, y = _data(64)
    x[32:48] = np.nan
    guard = DivergenceGuard(every=1000, verbose=0)
    model = _model(keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    assert len(guard.events) == 1 and capsys.readouterr().out == ""
