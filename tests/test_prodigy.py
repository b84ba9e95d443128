"""Prodigy against the authors' `prodigyopt` (PyTorch), step by step in float64."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_effort.optimizers import Prodigy

torch = pytest.importorskip("torch")
prodigyopt = pytest.importorskip("prodigyopt")

STEPS = 40


def _problem(seed: int = 0):
    """A least-squares problem with a matrix weight and a zero-initialised bias.

    The gradients are those of `sum((a @ w + b - target)**2) / (2 * 16)`.
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(16, 5))
    target = rng.normal(size=(16, 3))
    weight = rng.normal(size=(5, 3)) * 0.1
    bias = np.zeros(3)

    def gradients(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = a @ w + b - target
        return a.T @ residual / 16, residual.sum(axis=0) / 16

    return a, target, weight, bias, gradients


def _reference_trajectory(options: dict) -> tuple[list, list]:
    _, _, weight, bias, gradients = _problem()
    w = torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    optimizer = prodigyopt.Prodigy([w, b], **options)
    weights, ds = [], []
    for _ in range(STEPS):
        gw, gb = gradients(w.detach().numpy(), b.detach().numpy())
        w.grad, b.grad = torch.tensor(gw), torch.tensor(gb)
        optimizer.step()
        weights.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
        ds.append(optimizer.param_groups[0]["d"])
    return weights, ds


def _keras_trajectory(options: dict) -> tuple[list, list]:
    _, _, weight, bias, gradients = _problem()
    w = keras.Variable(weight, dtype="float64")
    b = keras.Variable(bias, dtype="float64")
    names = {"lr": "learning_rate", "eps": "epsilon", "beta3": "beta_3"}
    kwargs = {names.get(k, k): v for k, v in options.items() if k != "betas"}
    if "betas" in options:
        kwargs["beta_1"], kwargs["beta_2"] = options["betas"]
    optimizer = Prodigy(**kwargs)
    weights, ds = [], []
    for _ in range(STEPS):
        gw, gb = gradients(np.asarray(w), np.asarray(b))
        optimizer.apply([keras.ops.convert_to_tensor(gw), keras.ops.convert_to_tensor(gb)], [w, b])
        weights.append((np.asarray(w).copy(), np.asarray(b).copy()))
        ds.append(float(optimizer.d))
    return weights, ds


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"d_coef": 2.0, "d0": 1e-3},
        {"growth_rate": 1.05},
        {"safeguard_warmup": True, "use_bias_correction": True},
        {"weight_decay": 0.1},
        {"weight_decay": 0.1, "decouple": False},
        {"betas": (0.8, 0.99), "beta3": 0.95, "eps": 1e-6, "lr": 0.5},
        {"betas": (0.0, 0.999)},
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()) or "defaults",
)
def test_matches_prodigyopt_trajectory(options: dict) -> None:
    expected_weights, expected_ds = _reference_trajectory(options)
    weights, ds = _keras_trajectory(options)
    np.testing.assert_allclose(ds, expected_ds, rtol=1e-5)
    for (w, b), (expected_w, expected_b) in zip(weights, expected_weights, strict=True):
        np.testing.assert_allclose(w, expected_w, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(b, expected_b, rtol=1e-5, atol=1e-12)
    # The test means something only if the distance estimate moved well away from d0.
    assert ds[-1] > 3 * ds[0]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_matches_prodigyopt_trajectory(jit_compile: bool) -> None:
    """`model.fit`, eager or compiled (XLA, `jax.jit`), takes the steps of `prodigyopt`."""
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("compiling is `torch.compile` on PyTorch, which is not what this test checks")
    expected_weights, _ = _reference_trajectory({})
    a, target, weight, bias, _ = _problem()
    # The reference runs in float64. Keras' PyTorch trainer hands the loss its data and the
    # model's output in `floatx` whatever the layers' dtype, so float32 round-off would add up
    # over the steps (a relative 2e-5 after 40): train with floatx float64.
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        model = keras.Sequential(
            [keras.Input((5,), dtype="float64"), keras.layers.Dense(3, dtype="float64")]
        )
        model.set_weights([weight, bias])
        model.compile(
            optimizer=Prodigy(),
            # Per example half the squared error: its batch mean has the reference's gradients.
            loss=lambda y, p: 0.5 * keras.ops.sum(keras.ops.square(p - y), axis=-1),
            jit_compile=jit_compile,
        )
        model.fit(a, target, batch_size=16, epochs=STEPS, shuffle=False, verbose=0)
    finally:
        keras.config.set_floatx(floatx)
    w, b = model.get_weights()
    np.testing.assert_allclose(w, expected_weights[-1][0], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(b, expected_weights[-1][1], rtol=1e-5, atol=1e-12)
    assert float(model.optimizer.d) > 3 * Prodigy().d0


def test_defaults_match_prodigyopt() -> None:
    optimizer = Prodigy()
    reference = prodigyopt.Prodigy([torch.zeros(1, requires_grad=True)]).defaults
    assert float(optimizer.learning_rate) == reference["lr"]
    assert (optimizer.beta_1, optimizer.beta_2) == reference["betas"]
    assert optimizer.beta_3 == reference["beta3"]
    assert optimizer.epsilon == reference["eps"]
    assert optimizer.prodigy_weight_decay == reference["weight_decay"]
    assert optimizer.decouple == reference["decouple"]
    assert optimizer.use_bias_correction == reference["use_bias_correction"]
    assert optimizer.safeguard_warmup == reference["safeguard_warmup"]
    assert (optimizer.d0, optimizer.d_coef) == (reference["d0"], reference["d_coef"])
    assert optimizer.growth_rate == reference["growth_rate"]


def test_config_round_trip_and_training() -> None:
    optimizer = Prodigy(d_coef=0.5, growth_rate=1.02, weight_decay=0.01)
    restored = Prodigy.from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=Prodigy(), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.01 * first
    assert float(model.optimizer.learned_hyperparameters["d"]) > 1e-3
