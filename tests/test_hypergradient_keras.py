"""Hypergradient optimizers as Keras citizens: config, saving, jit, MirroredStrategy, backends."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import run_with_backend

from keras_effort.optimizers import HypergradientAdam, HypergradientRMSprop, HypergradientSGD

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = (X @ RNG.normal(size=(6, 1)) + 0.1 * RNG.normal(size=(64, 1))).astype("float32")
INITIAL_WEIGHTS = [
    RNG.normal(size=(6, 8)).astype("float32") * 0.5,
    np.zeros(8, "float32"),
    RNG.normal(size=(8, 1)).astype("float32") * 0.5,
    np.zeros(1, "float32"),
]


def tower() -> HypergradientAdam:
    """Adam / SGD / SGD, with a learned beta_1."""
    return HypergradientAdam(
        0.01,
        learn=["learning_rate", "beta_1"],
        hyper_optimizer=HypergradientSGD(1e-4, hypergradient_lr=1e-3),
    )


def make_model(optimizer, jit_compile=False) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.set_weights(INITIAL_WEIGHTS)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    return model


def fit(model, epochs=2, batch_size=16):
    model.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return [w.numpy() for w in model.weights]


OPTIMIZERS = {
    "sgd-element-momentum": lambda: HypergradientSGD(
        0.05, momentum=0.5, scope="element", learn=["learning_rate", "momentum"]
    ),
    "adam-tower": tower,
    "rmsprop-variable-multiplicative": lambda: HypergradientRMSprop(
        0.01,
        scope="variable",
        rule="multiplicative",
        learn=["learning_rate", "rho"],
        hypergradient_lr=0.02,
    ),
    "sgd-global-momentum": lambda: HypergradientSGD(0.05, momentum=0.9),
    "rmsprop-global": lambda: HypergradientRMSprop(0.01, hypergradient_lr=1e-3),
    "adamw-schedule": lambda: HypergradientAdam(
        keras.optimizers.schedules.CosineDecay(0.01, 100),
        weight_decay=0.01,
        hypergradient_lr=1e-3,
        clipnorm=1.0,
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_config_round_trip(name):
    optimizer = OPTIMIZERS[name]()
    config = optimizer.get_config()
    clone = type(optimizer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    serialized = keras.optimizers.serialize(optimizer)
    assert keras.optimizers.deserialize(serialized).get_config() == config


def test_tower_config_keeps_every_level():
    config = tower().get_config()
    hyper = config["hyper_optimizer"]
    assert hyper["class_name"] == "HypergradientSGD"
    assert hyper["config"]["hyper_optimizer"] is None  # the default SGD(hypergradient_lr)
    assert hyper["config"]["hypergradient_lr"] == 1e-3


@pytest.mark.parametrize("name", ["adam-tower", "rmsprop-variable-multiplicative"])
def test_keras_save_and_reload_continues_bit_for_bit(name, tmp_path):
    straight = make_model(OPTIMIZERS[name]())
    expected = fit(straight, epochs=4)

    first = make_model(OPTIMIZERS[name]())
    fit(first, epochs=2)
    first.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(reloaded.optimizer) is type(first.optimizer)
    actual = fit(reloaded, epochs=2)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)
    # Layer names differ between the two models: compare the learned values in order.
    learned = reloaded.optimizer.learned_hyperparameters.values()
    expected_learned = straight.optimizer.learned_hyperparameters.values()
    assert len(learned) == len(expected_learned)
    for a, e in zip(learned, expected_learned, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def test_resetting_every_variable_restarts_the_run():
    # What keras_effort.callbacks.Restarts does: re-assign each optimizer variable its value
    # right after build. The second run must repeat the first.
    model = make_model(tower())
    model.optimizer.build(model.trainable_variables)
    initial = [v.numpy() for v in model.optimizer.variables]
    first = fit(model)
    model.set_weights(INITIAL_WEIGHTS)
    for variable, value in zip(model.optimizer.variables, initial, strict=True):
        variable.assign(value)
    second = fit(model)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_learned_hyperparameters_names_and_shapes():
    model = make_model(OPTIMIZERS["sgd-element-momentum"]())
    fit(model, epochs=1)
    learned = model.optimizer.learned_hyperparameters
    paths = [v.path for v in model.trainable_variables]
    assert sorted(learned) == sorted(
        f"{n}/{p}" for n in ("learning_rate", "momentum") for p in paths
    )
    for variable in model.trainable_variables:
        rate = np.asarray(learned[f"learning_rate/{variable.path}"])
        assert rate.shape == tuple(variable.shape)
        assert rate.size == 1 or np.ptp(rate) > 0  # the elements learned different rates

    model = make_model(tower())
    fit(model, epochs=1)
    learned = model.optimizer.learned_hyperparameters
    assert sorted(learned) == ["beta_1", "hyper/learning_rate", "learning_rate"]
    assert all(np.ndim(v) == 0 for v in learned.values())
    assert float(learned["learning_rate"]) != pytest.approx(0.01, abs=1e-6)
    assert float(learned["hyper/learning_rate"]) != pytest.approx(1e-4, abs=1e-9)


@pytest.mark.parametrize("name", ["adam-tower", "sgd-element-momentum"])
def test_jit_compile_matches_eager_graph(name):
    plain = fit(make_model(OPTIMIZERS[name](), jit_compile=False))
    jitted_model = make_model(OPTIMIZERS[name](), jit_compile=True)
    jitted = fit(jitted_model)
    for a, b in zip(plain, jitted, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["adam-tower", "sgd-element-momentum"])
def test_mirrored_strategy_replicas_agree_with_single_device(name, mirrored_strategy):
    single = make_model(OPTIMIZERS[name]())
    expected = fit(single, batch_size=32)
    with mirrored_strategy.scope():
        model = make_model(OPTIMIZERS[name]())
    actual = fit(model, batch_size=32)  # 16 samples per replica
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    for variable in model.optimizer.variables:
        replicas = [v.numpy() for v in variable.value.values]
        for replica in replicas[1:]:
            np.testing.assert_array_equal(replica, replicas[0])
    assert len(model.optimizer.variables[-1].value.values) == 2


BACKEND_CODE = """
import json, sys, types
sys.path.insert(0, {tests!r})
sys.modules["conftest"] = types.SimpleNamespace(run_with_backend=None)  # it imports TensorFlow
import keras
import test_hypergradient_keras as t
out = {{}}
for name in {names!r}:
    model = t.make_model(t.OPTIMIZERS[name]())
    weights = t.fit(model)
    learned = model.optimizer.learned_hyperparameters
    learned = {{k: keras.ops.convert_to_numpy(v).tolist() for k, v in learned.items()}}
    out[name] = {{"weights": [w.tolist() for w in weights], "learned": learned}}
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_match_tensorflow(backend):
    # Every class in its default global scope (PyTorch's `vdot` once refused 2-D tensors there),
    # and the element and variable scopes, a schedule and a tower.
    import os

    pytest.importorskip(backend)
    names = list(OPTIMIZERS)
    code = BACKEND_CODE.format(tests=os.path.dirname(__file__), names=names)
    results = json.loads(run_with_backend(backend, code).strip().splitlines()[-1])
    for name in names:
        model = make_model(OPTIMIZERS[name]())
        weights = fit(model)
        # The tower is chaotic: a 10% change of its hyper rate moves these weights by 0.3, and
        # float32 round-off by up to 2e-5 (TensorFlow's own AVX-512 and AVX kernels differ that
        # much). Its weights are compared to 1e-4, far above round-off, far below any real change.
        atol = 1e-4 if name == "adam-tower" else 1e-5
        for a, b in zip(results[name]["weights"], weights, strict=True):
            np.testing.assert_allclose(np.array(a), b, rtol=1e-4, atol=atol, err_msg=name)
        # Layer names differ between processes: compare the learned values in order.
        learned = model.optimizer.learned_hyperparameters
        assert len(results[name]["learned"]) == len(learned)
        for other, value in zip(results[name]["learned"].values(), learned.values(), strict=True):
            np.testing.assert_allclose(np.array(other), np.asarray(value), rtol=1e-4, atol=1e-6)
