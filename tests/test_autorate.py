"""AutoRate: its log-space scale rule against NumPy, its guards, and Keras citizenship."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_with_backend

from keras_effort.optimizers import AutoRate

BETA, KAPPA, INITIAL, MAX_STEP, EXPLOSION, CUT = 0.1, 0.02, 0.03, 0.03, 10.0, 0.5


def reference(weights: list, gradient_sequence, lr: float, steps: int = 25) -> tuple[list, list]:
    """AutoRate(SGD(lr)) in NumPy, step by step; returns the weights and scales after each step."""
    w = [x.astype(np.float64) for x in weights]
    applied = [np.zeros_like(x) for x in w]
    log_scale, power = 0.0, 0.0
    trajectory, scales = [], []
    for step in range(steps):
        g = [x.astype(np.float64) for x in gradient_sequence(step, w)]
        finite = all(np.all(np.isfinite(x)) for x in g)
        gp = sum(float(np.vdot(x, x)) for x in g)
        ok = finite and not (power > 0 and gp > EXPLOSION**2 * power)
        if ok:
            norms = math.sqrt(gp * sum(float(np.vdot(a, a)) for a in applied))
            if norms > 0:
                dot = sum(float(np.vdot(x, a)) for x, a in zip(g, applied, strict=True))
                log_scale += BETA * (-dot / norms + KAPPA)
            first = power == 0
            power = 0.9 * power + 0.1 * gp if power > 0 else gp
            deltas = [-lr * x for x in g]
            weight_norm = math.sqrt(sum(float(np.vdot(x, x)) for x in w))
            delta_norm = math.sqrt(sum(float(np.vdot(d, d)) for d in deltas))
            if first:
                log_scale = math.log(INITIAL * weight_norm / delta_norm)
            log_scale = min(log_scale, math.log(MAX_STEP * weight_norm / delta_norm))
            applied = [math.exp(log_scale) * d for d in deltas]
            w = [x + a for x, a in zip(w, applied, strict=True)]
        else:
            log_scale += math.log(CUT)
            w = [x - a for x, a in zip(w, applied, strict=True)]
            applied = [np.zeros_like(a) for a in applied]
        trajectory.append([x.copy() for x in w])
        scales.append(math.exp(log_scale))
    return trajectory, scales


CURVATURE = [np.array([[1.0, 4.0], [0.5, 2.0]]), np.array([3.0, 0.2])]
START = [np.array([[1.0, -2.0], [0.5, 1.5]]), np.array([-1.0, 2.0])]


def quadratic_gradients(step: int, w: list) -> list:
    """A quadratic's gradient with step-dependent noise; a NaN at step 8, a blow-up at 14."""
    rng = np.random.default_rng(step)
    g = [c * x + 0.3 * rng.normal(size=x.shape) for c, x in zip(CURVATURE, w, strict=True)]
    if step == 8:
        g[1] = g[1] * np.nan
    if step == 14:
        g = [1e4 * x for x in g]
    return g


def keras_trajectory(optimizer: AutoRate, steps: int = 25) -> tuple[list, list]:
    variables = [keras.Variable(x.astype("float32")) for x in START]
    trajectory, scales = [], []
    for step in range(steps):
        grads = quadratic_gradients(step, [np.asarray(v, dtype=np.float64) for v in variables])
        optimizer.apply([g.astype("float32") for g in grads], variables)
        trajectory.append([np.asarray(v) for v in variables])
        scales.append(float(optimizer.scale))
    return trajectory, scales


def test_matches_numpy_transcription_with_guards() -> None:
    expected, expected_scales = reference(START, quadratic_gradients, lr=0.1)
    actual, scales = keras_trajectory(AutoRate(keras.optimizers.SGD(0.1)))
    np.testing.assert_allclose(scales, expected_scales, rtol=1e-5)
    for weights, expected_weights in zip(actual, expected, strict=True):
        for w, e in zip(weights, expected_weights, strict=True):
            np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6)
    # The NaN step undid step 7 and the blow-up undid step 13: both cut the scale.
    assert scales[8] < scales[7] and scales[14] < scales[13]
    np.testing.assert_allclose(actual[8][0], actual[6][0], rtol=1e-6)
    assert all(np.all(np.isfinite(w)) for weights in actual for w in weights)


def test_the_given_rate_only_sets_the_unit() -> None:
    # The inner step is measured as a change of float32 weights: exact to about 1e-7 of the
    # weights, so the comparison uses rates whose steps are well above that.
    small, small_scales = keras_trajectory(AutoRate(keras.optimizers.SGD(1e-2)), steps=8)
    large, large_scales = keras_trajectory(AutoRate(keras.optimizers.SGD(10.0)), steps=8)
    for a, b in zip(small, large, strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-4)
    np.testing.assert_allclose(
        np.array(small_scales) * 1e-2, np.array(large_scales) * 10, rtol=1e-4
    )


def test_first_step_moves_weights_by_initial_step_whatever_the_rate() -> None:
    for rate in (1e-6, 1.0, 1e3):
        variables = [keras.Variable(x.astype("float32")) for x in START]
        optimizer = AutoRate(keras.optimizers.Adam(rate))
        optimizer.apply([np.ones_like(x, dtype="float32") for x in START], variables)
        change = math.sqrt(
            sum(
                float(np.sum((np.asarray(v) - x) ** 2))
                for v, x in zip(variables, START, strict=True)
            )
        )
        norm = math.sqrt(sum(float(np.sum(x**2)) for x in START))
        assert change == pytest.approx(INITIAL * norm, rel=1e-4)


def test_no_step_moves_the_weights_by_more_than_max_step() -> None:
    # A constant gradient: SGD with momentum 0.9 alone would grow its steps ten-fold.
    variables = [keras.Variable(x.astype("float32")) for x in START]
    optimizer = AutoRate(keras.optimizers.SGD(1.0, momentum=0.9), max_step=0.05)
    gradient = [np.ones_like(x, dtype="float32") for x in START]
    sizes = []
    for _ in range(30):
        before = [np.asarray(v, dtype=np.float64) for v in variables]
        optimizer.apply(gradient, variables)
        step = math.sqrt(
            sum(
                float(np.sum((np.asarray(v) - b) ** 2))
                for v, b in zip(variables, before, strict=True)
            )
        )
        sizes.append(step / math.sqrt(sum(float(np.sum(b**2)) for b in before)))
    assert sizes[0] == pytest.approx(INITIAL, rel=1e-4)
    assert max(sizes) == pytest.approx(0.05, rel=1e-4)  # reached, and never exceeded
    assert all(size <= 0.05 * (1 + 1e-4) for size in sizes)


def _model(optimizer: keras.optimizers.Optimizer, **compile_kwargs) -> keras.Model:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")


def test_trains_from_a_huge_rate_and_exposes_its_scale() -> None:
    x, y = _data()
    model = _model(AutoRate(keras.optimizers.Adam(100.0)))
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=15, shuffle=False, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.7 * first
    learned = model.optimizer.learned_hyperparameters
    assert set(learned) == {"scale"} and 0 < float(learned["scale"]) < 1e-2


def test_config_round_trip_and_exact_keras_resume(tmp_path) -> None:
    optimizer = AutoRate(keras.optimizers.Adam(0.3), target_cosine=0.2, cut=0.25)
    restored = AutoRate.from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()

    x, y = _data()
    model = _model(optimizer)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, AutoRate)
    assert float(loaded.optimizer.scale) == float(model.optimizer.scale)
    for m in (model, loaded):
        m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_jit_compile_matches_eager_graph() -> None:
    x, y = _data()
    results = []
    for jit in (False, True):
        model = _model(AutoRate(keras.optimizers.SGD(0.5, momentum=0.9)), jit_compile=jit)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append((model.get_weights(), float(model.optimizer.scale)))
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4)
    for a, b in zip(results[0][0], results[1][0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_schedule_as_the_inner_rate() -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=6, decay_rate=0.5)
    x, y = _data()
    model = _model(AutoRate(keras.optimizers.SGD(schedule)))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 12
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**2)
    assert AutoRate.from_config(model.optimizer.get_config()).get_config() == (
        model.optimizer.get_config()
    )


def test_mirrored_strategy_keeps_replicas_in_step(mirrored_strategy) -> None:
    x, y = _data()
    with mirrored_strategy.scope():
        model = _model(AutoRate(keras.optimizers.Adam(1.0)))
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    for variable in [*model.trainable_variables, model.optimizer.log_scale]:
        copies = mirrored_strategy.experimental_local_results(variable.value)
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0].numpy(), copies[1].numpy())


def test_restarts_reset_the_learned_scale() -> None:
    from keras_effort.callbacks import Restarts, TargetStopping

    x, y = _data()
    model = _model(AutoRate(keras.optimizers.Adam(0.01)))
    stopping = TargetStopping(monitor="loss", target=1e-9, check_every=3)
    scales = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            scales.append(float(model.optimizer.scale))

    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[Restarts(stopping, 6, max_total_steps=24, seed=0), Watch()],
    )
    # Each attempt starts from the scale the optimizer had when built.
    assert scales[0] == 1.0 and scales.count(1.0) >= 3
    assert len(set(scales)) > 3


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_match_the_transcription(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    code = f"""
        import json, numpy as np, keras, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_autorate import keras_trajectory
        from keras_effort.optimizers import AutoRate
        trajectory, scales = keras_trajectory(AutoRate(keras.optimizers.SGD(0.1)))
        print(json.dumps([[w.tolist() for w in weights] for weights in trajectory]))
    """
    actual = json.loads(run_with_backend(backend, code).strip().splitlines()[-1])
    expected, _ = reference(START, quadratic_gradients, lr=0.1)
    for weights, expected_weights in zip(actual, expected, strict=True):
        for w, e in zip(weights, expected_weights, strict=True):
            np.testing.assert_allclose(np.array(w), e, rtol=1e-5, atol=1e-6)
