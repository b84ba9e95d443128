"""DivergenceGuard: rollbacks on NaN batches and huge rates, exact restores, with Restarts."""

from __future__ import annotations

import keras
import numpy as np

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
    restarts = Restarts(stopping, 24, max_steps=64, seed=0)
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
