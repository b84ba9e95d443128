"""RAdam and AdaBelief against NumPy transcriptions of their reference implementations.

RAdam follows `torch.optim.RAdam` (step t = 1, 2, ...; lambda = weight decay):

    decoupled:  w <- w (1 - lr lambda)          otherwise:  g <- g + lambda w
    m <- beta1 m + (1 - beta1) g                v <- beta2 v + (1 - beta2) g^2
    rho_inf = 2 / (1 - beta2) - 1               rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5:  w <- w - lr r_t m / (1 - beta1^t) sqrt(1 - beta2^t) / (sqrt(v) + eps)
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    otherwise:  w <- w - lr m / (1 - beta1^t)

AdaBelief follows `adabelief_pytorch` 0.2.x (decoupled weight decay, degenerated_to_sgd=True):

    w <- w (1 - lr lambda)
    m <- beta1 m + (1 - beta1) g                s <- beta2 s + (1 - beta2) (g - m)^2 + eps
    rectify=False:  w <- w - lr / (1 - beta1^t) m / (sqrt(s) / sqrt(1 - beta2^t) + eps)
    rectify=True, rho_t >= 5:  w <- w - lr r_t sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(s) + eps)
    rectify=True, rho_t < 5:   w <- w - lr / (1 - beta1^t) m
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.radam import RAdam

STEPS = 12  # rho_t crosses 5 between steps 5 and 6 for beta_2 = 0.999
LR = 0.01


@pytest.fixture
def float64():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(previous)


def gradient_sequence(shape: tuple[int, ...], steps: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


def rho(t: int, beta_2: float) -> tuple[float, float]:
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
    r_t = math.sqrt(
        max((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.0)
    )
    return rho_t, r_t


def radam_reference(w, grads, lr, beta_1=0.9, beta_2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    w = w.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        rho_t, r_t = rho(t, beta_2)
        if rho_t > 5:
            w = w - lr * r_t * m_hat * math.sqrt(1 - beta_2**t) / (np.sqrt(v) + eps)
        else:
            w = w - lr * m_hat
        trajectory.append(w)
    return trajectory


def adabelief_reference(w, grads, lr, rectify, beta_1=0.9, beta_2=0.999, eps=1e-16, wd=0.0):
    w = w.copy()
    m = np.zeros_like(w)
    s = np.zeros_like(w)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        w = w * (1 - lr * wd)
        m = beta_1 * m + (1 - beta_1) * g
        s = beta_2 * s + (1 - beta_2) * (g - m) ** 2 + eps
        bias_correction_1 = 1 - beta_1**t
        bias_correction_2 = 1 - beta_2**t
        rho_t, r_t = rho(t, beta_2)
        if not rectify:
            w = w - lr / bias_correction_1 * m / (np.sqrt(s) / math.sqrt(bias_correction_2) + eps)
        elif rho_t >= 5:
            w = w - lr * r_t * math.sqrt(bias_correction_2) / bias_correction_1 * m / (
                np.sqrt(s) + eps
            )
        else:
            w = w - lr / bias_correction_1 * m
        trajectory.append(w)
    return trajectory


def run_keras(optimizer, w0, grads):
    variable = keras.Variable(w0)
    trajectory = []
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
        trajectory.append(keras.ops.convert_to_numpy(variable))
    return trajectory


@pytest.mark.parametrize(("weight_decay", "decoupled"), [(None, False), (0.1, False), (0.1, True)])
def test_radam_matches_torch_semantics_across_rectification_threshold(
    float64, weight_decay, decoupled
):
    w0 = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    grads = gradient_sequence(w0.shape, STEPS)
    optimizer = RAdam(LR, weight_decay=weight_decay, decoupled_weight_decay=decoupled)
    expected = radam_reference(w0, grads, LR, wd=weight_decay or 0.0, decoupled=decoupled)
    actual = run_keras(optimizer, w0, grads)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def test_radam_steps_before_threshold_are_unadapted_momentum_steps(float64):
    # With a constant gradient g, m_hat = g, so the first five steps move by exactly lr * g
    # whatever the gradient's scale; from step 6 on the step is ~ lr * r_t, independent of g.
    w0 = np.zeros(2)
    g = np.array([1e-3, 1e3])
    trajectory = run_keras(RAdam(LR, epsilon=0.0), w0, [g] * 6)
    np.testing.assert_allclose(trajectory[4], -5 * LR * g, rtol=1e-12)
    sixth_step = trajectory[5] - trajectory[4]
    np.testing.assert_allclose(sixth_step, -LR * rho(6, 0.999)[1] * np.ones(2), rtol=1e-4)


def test_radam_rectification_threshold_is_exact_in_float32():
    # rho_t crosses 5 between steps 5 and 6; a naive float32 beta_2 ** t puts it at step 4 for
    # beta_2 = 0.99999. Adam-like steps of size lr * r_t are far from lr * m_hat here.
    beta_2 = 0.99999
    w0 = np.zeros(3, dtype="float32")
    grads = [np.full(3, 0.5, dtype="float32") * (1 + 0.1 * t) for t in range(8)]
    expected = radam_reference(w0.astype("float64"), grads, LR, beta_2=beta_2)
    actual = run_keras(RAdam(LR, beta_2=beta_2), w0, grads)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("rectify", [True, False])
@pytest.mark.parametrize("weight_decay", [None, 0.1])
def test_adabelief_matches_authors_package(float64, rectify, weight_decay):
    w0 = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    grads = gradient_sequence(w0.shape, STEPS, seed=1)
    optimizer = AdaBelief(LR, rectify=rectify, weight_decay=weight_decay)
    expected = adabelief_reference(w0, grads, LR, rectify, wd=weight_decay or 0.0)
    actual = run_keras(optimizer, w0, grads)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def test_adabelief_rectification_changes_the_early_steps(float64):
    w0 = np.zeros(4)
    grads = gradient_sequence(w0.shape, 3, seed=2)
    rectified = run_keras(AdaBelief(LR, rectify=True), w0, grads)
    plain = run_keras(AdaBelief(LR, rectify=False), w0, grads)
    assert not np.allclose(rectified[-1], plain[-1], rtol=1e-3)


@pytest.mark.parametrize(
    "optimizer",
    [
        RAdam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-6, weight_decay=0.1),
        RAdam(decoupled_weight_decay=True, weight_decay=0.01, clipnorm=1.0),
        AdaBelief(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-12, rectify=False),
        AdaBelief(weight_decay=0.01, global_clipnorm=2.0),
    ],
    ids=["radam", "radamw", "adabelief-plain", "adabelief"],
)
def test_config_round_trip(optimizer):
    config = optimizer.get_config()
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == config


@pytest.mark.parametrize("cls", [RAdam, AdaBelief])
@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"beta_1": 1.0}, "beta_1"), ({"beta_2": -0.1}, "beta_2"), ({"epsilon": -1.0}, "epsilon")],
)
def test_bad_arguments_name_the_argument(cls, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [RAdam, AdaBelief])
def test_trains_in_fit_with_jit(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(cls(0.1), "mse", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
