"""The learning-rate range test: its arithmetic, its restoring of state, and its suggestions."""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_effort.callbacks.lr_finder import (
    LearningRateFinder,
    LearningRateFinderResult,
    find_learning_rate,
    smooth_losses,
    suggest_learning_rates,
)

# --- pure functions ---------------------------------------------------------------------------


def test_smooth_losses_is_the_bias_corrected_weighted_mean():
    losses = np.random.default_rng(0).uniform(0.5, 3.0, size=60)
    beta = 0.9
    # Closed form: weights (1 - beta) * beta**(i - j) over j <= i, normalised by their sum.
    expected = [
        np.sum((1 - beta) * beta ** (i - np.arange(i + 1)) * losses[: i + 1])
        / (1 - beta ** (i + 1))
        for i in range(losses.size)
    ]
    np.testing.assert_allclose(smooth_losses(losses, beta), expected, rtol=1e-12)
    assert smooth_losses([2.0, 2.0, 2.0], beta=0.98) == pytest.approx([2.0, 2.0, 2.0], rel=1e-12)
    np.testing.assert_array_equal(smooth_losses([1.0, 3.0], beta=0.0), [1.0, 3.0])


def synthetic_curve() -> tuple[np.ndarray, np.ndarray]:
    """Loss against log10(rate): flat, gentle descent, steep descent, gentle, then blow-up."""
    log_rates = np.round(np.linspace(-6.0, 1.0, 71), 10)  # steps of 0.1 decade
    slopes = np.select(
        [log_rates < -4, log_rates < -3, log_rates < -2, log_rates < -1],
        [0.0, -0.3, -1.0, -0.2],
        default=3.0,
    )
    losses = 3.0 + np.concatenate([[0.0], np.cumsum(slopes[:-1] * 0.1)])
    return 10.0**log_rates, losses


def test_suggestions_on_a_synthetic_curve():
    rates, losses = synthetic_curve()
    steepest, edge = suggest_learning_rates(rates, losses)
    # The steepest segment spans 1e-3 .. 1e-2; the lowest loss is at 1e-1.
    assert 1e-3 * (1 - 1e-9) <= steepest < 1e-2
    assert edge == pytest.approx(1e-1 / 10, rel=1e-9)
    assert suggest_learning_rates(rates, losses, safety_factor=4.0)[1] == pytest.approx(0.025)


def test_suggestions_ignore_everything_after_a_non_finite_loss():
    rates, losses = synthetic_curve()
    losses = losses.copy()
    losses[50] = np.nan  # at 1e-1, the minimum
    losses[51:] = -100.0  # lower, but after the NaN
    steepest, edge = suggest_learning_rates(rates, losses)
    assert edge == pytest.approx(rates[49] / 10, rel=1e-12)
    assert 1e-3 * (1 - 1e-9) <= steepest < 1e-2


def test_suggestions_without_descent_or_finite_loss():
    rates = np.geomspace(1e-5, 1.0, 30)
    steepest, edge = suggest_learning_rates(rates, np.linspace(1.0, 2.0, 30))
    assert steepest is None
    assert edge == pytest.approx(1e-6)
    assert suggest_learning_rates(rates, np.full(30, np.nan)) == (None, None)


def test_suggestions_skip_the_first_tenth_of_the_curve():
    rates = np.geomspace(1e-5, 1.0, 50)
    losses = np.linspace(2.0, 1.0, 50)
    losses[1] = 1.5  # a dip of noise at the start, far steeper than the real descent
    steepest, edge = suggest_learning_rates(rates, losses)
    assert steepest >= rates[5]  # without the skip the dip at rates[0] would win
    assert edge == pytest.approx(rates[49] / 10, rel=1e-12)


def test_result_from_losses_is_frozen_and_read_only():
    rates, losses = synthetic_curve()
    result = LearningRateFinderResult.from_losses(rates, losses, beta=0.0, safety_factor=10.0)
    assert result.edge_of_stability == pytest.approx(1e-2)
    with pytest.raises(ValueError):
        result.losses[0] = 1.0
    with pytest.raises(AttributeError):
        result.steepest = 1.0


def test_plot_and_atomic_save(tmp_path):
    rates, losses = synthetic_curve()
    result = LearningRateFinderResult.from_losses(rates, losses)
    ax = result.plot()
    assert ax.get_xscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("steepest") for label in labels)
    assert any(label.startswith("edge of stability") for label in labels)
    path = result.save_plot(tmp_path / "finder.png")
    assert path == str(tmp_path / "finder.png")
    with open(path, "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["finder.png"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": 1.0, "max_lr": 1.0}, "max_lr"),
        ({"max_lr": float("inf")}, "max_lr"),
        ({"num_steps": 1}, "num_steps"),
        ({"num_steps": 10.0}, "num_steps"),
        ({"beta": 1.0}, "beta"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
        ({"safety_factor": 0.5}, "safety_factor"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        LearningRateFinder(**kwargs)


# --- the callback (its JAX check shares the JAX subprocess of test_schedules.py) ------------------


def data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


def small_model(optimizer) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class RateRecorder(keras.callbacks.Callback):
    """Reads the optimizer's rate at each batch start, after the finder has set it."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def snapshot(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]


@pytest.mark.parametrize("wrapped", [False, True])
def test_finder_restores_every_variable_exactly(wrapped):
    optimizer = keras.optimizers.Adam(learning_rate=0.003)
    if wrapped:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model = small_model(optimizer)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 4 steps: non-zero moments and seeds
    before = snapshot(model)

    result = find_learning_rate(model, x, y, batch_size=16, min_lr=1e-4, max_lr=1e4, num_steps=40)

    after = snapshot(model)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
    assert int(model.optimizer.iterations) == 4
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003, rel=1e-7)
    assert result.diverged
    assert 2 <= len(result.losses) < 40
    finite = result.smoothed_losses[np.isfinite(result.smoothed_losses)]
    assert not np.isfinite(result.smoothed_losses[-1]) or finite[-1] > 4 * finite.min()


def test_finder_sweeps_and_restores_the_learned_rate_of_a_hypergradient_optimizer():
    from keras_effort.optimizers import HypergradientAdam

    x, y = data()
    curves = []
    # In float64: Keras' PyTorch backend replaces Adam by a fused version whose float32
    # rounding differs from the hypergradient optimizer's by 1e-5 over this sweep to rate 1.
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # the global policy once read no longer follows floatx
    try:
        for optimizer in (
            keras.optimizers.Adam(0.003),
            HypergradientAdam(0.003, hypergradient_lr=0.0),
        ):
            model = small_model(optimizer)
            model.layers[2].rate = 0.0  # deterministic losses
            model.fit(x.astype("float64"), y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            before = snapshot(model)
            finder = LearningRateFinder(min_lr=1e-4, max_lr=1.0, num_steps=12)
            model.fit(x.astype("float64"), y, batch_size=16, epochs=12, shuffle=False,
                      callbacks=[finder], verbose=0)  # fmt: skip
            for old, new in zip(before, snapshot(model), strict=True):
                np.testing.assert_array_equal(new, old)
            curves.append(finder.result.losses)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    # With a zero hyper-step the hypergradient optimizer is Adam, so its range test must sweep
    # its learned rate exactly as Adam's is swept.
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-5)


def test_finder_sets_the_exponential_rates_and_records_batch_losses():
    model = small_model(keras.optimizers.SGD(learning_rate=0.1))
    x, y = data(64)
    finder = LearningRateFinder(min_lr=1e-12, max_lr=1e-9, num_steps=12)
    recorder = RateRecorder()
    # With rates this small the weights stay put, so each step's loss is the loss of its batch
    # under the initial weights; Dropout is switched off so that the loss is deterministic.
    model.layers[2].rate = 0.0
    model.fit(x, y, batch_size=16, epochs=5, shuffle=False, callbacks=[finder, recorder],
              verbose=0)  # fmt: skip

    expected_rates = 1e-12 * (1e3 ** (np.arange(12) / 11))
    np.testing.assert_allclose(recorder.rates, expected_rates, rtol=1e-6)
    np.testing.assert_allclose(finder.result.learning_rates, expected_rates, rtol=1e-12)
    assert len(finder.result.losses) == 12  # stopped after num_steps although 20 were planned
    assert not finder.result.diverged

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    batch_losses = []
    for batch in range(4):
        xb, yb = x[16 * batch : 16 * (batch + 1)], y[16 * batch : 16 * (batch + 1)]
        batch_losses.append(keras.ops.convert_to_numpy(loss_fn(yb, model(xb, training=True))))
    np.testing.assert_allclose(finder.result.losses, np.tile(batch_losses, 3), rtol=1e-4)


def test_finder_accepts_a_repeated_dataset():
    model = small_model(keras.optimizers.SGD(learning_rate=0.1))
    x, y = data(64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    result = find_learning_rate(model, dataset, min_lr=1e-5, max_lr=1e-3, num_steps=10)
    assert len(result.losses) == 10
    assert int(model.optimizer.iterations) == 0


def test_finder_refuses_a_schedule_and_multi_step_execution():
    x, y = data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = small_model(keras.optimizers.SGD(learning_rate=schedule))
    with pytest.raises(ValueError, match="settable learning rate"):
        find_learning_rate(model, x, y, num_steps=5)
    model = small_model(keras.optimizers.SGD(learning_rate=0.1))
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    with pytest.raises(ValueError, match="steps_per_execution"):
        find_learning_rate(model, x, y, num_steps=5)
    uncompiled = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="compiled"):
        find_learning_rate(uncompiled, x, y)


# --- MNIST-1D -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_finder_suggestion_trains_about_as_fast_as_the_best_grid_rate():
    from keras_effort.datasets import load_mnist1d

    (x, y), _ = load_mnist1d()
    target, budget, batch_size = 0.45, 200, 128

    def mlp(learning_rate: float) -> keras.Model:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((40,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    class TargetCheck(keras.callbacks.Callback):
        """Every 10 steps, stops training once accuracy on a fixed subset reaches the target."""

        reached_at = np.inf

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations)
            if step % 10 == 0:
                predictions = np.argmax(keras.ops.convert_to_numpy(self.model(x[:1000])), axis=1)
                if np.mean(predictions == y[:1000]) >= target:
                    self.reached_at = step
                    self.model.stop_training = True

    def steps_to_target(learning_rate: float) -> float:
        check = TargetCheck()
        epochs = math.ceil(budget / math.ceil(len(x) / batch_size))
        mlp(learning_rate).fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            callbacks=[check, keras.callbacks.TerminateOnNaN()],
            verbose=0,
        )
        return check.reached_at

    result = find_learning_rate(mlp(0.01), x, y, batch_size=batch_size, min_lr=1e-4, max_lr=10.0)
    suggestion = result.edge_of_stability
    grid = [0.01, 0.03, 0.1, 0.3, 1.0]
    grid_steps = {rate: steps_to_target(rate) for rate in grid}
    best_rate = min(grid, key=lambda rate: grid_steps[rate])

    assert best_rate / 10 <= suggestion <= best_rate * 10, (suggestion, grid_steps)
    assert steps_to_target(suggestion) <= 2 * grid_steps[best_rate], (suggestion, grid_steps)


def test_the_package_root_name_of_the_finder_is_a_deprecated_alias() -> None:
    import keras_effort

    with pytest.warns(DeprecationWarning, match="keras_effort.callbacks"):
        alias = keras_effort.find_learning_rate
    assert alias is find_learning_rate
