"""The wrapper base of ActiveLR and AutoRate, `unwrap`, the deprecated Active* names and the
backend plumbing of `optimizers/_backend.py`, on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import run_with_backend

from keras_effort import optimizers
from keras_effort.arguments import ArgumentError, ArgumentTypeError
from keras_effort.optimizers import ActiveLR, AutoRate, HypergradientAdam, unwrap

WRAPPERS = [ActiveLR, AutoRate]


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize(
    ("optimizer", "error", "message"),
    [
        ("adam", ArgumentTypeError, "`optimizer` must be a keras.optimizers.Optimizer"),
        (None, ArgumentTypeError, "`optimizer` must be a keras.optimizers.Optimizer"),
        (lambda: keras.optimizers.AdamW(use_ema=True), ArgumentError, "`use_ema`"),
        (lambda: keras.optimizers.SGD(loss_scale_factor=8.0), ArgumentError, "`loss_scale_factor`"),
        (
            lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()),
            ArgumentError,
            "`optimizer` must be an optimizer that wraps no other",
        ),
    ],
)
def test_both_wrappers_refuse_the_same_optimizers_the_same_way(wrapper, optimizer, error, message):
    optimizer = optimizer() if callable(optimizer) else optimizer
    with pytest.raises(error, match=message) as caught:
        wrapper(optimizer)
    # The old contracts: ActiveLR raised TypeError for a non-optimizer, AutoRate ValueError.
    assert isinstance(caught.value, ValueError)
    if error is ArgumentTypeError:
        assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_both_wrappers_refuse_base_optimizer_options(wrapper):
    with pytest.raises(ArgumentError, match="`clipnorm` must be left out"):
        wrapper(keras.optimizers.SGD(), clipnorm=1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ActiveLR(HypergradientAdam(0.01), period=3, bounds=(0.1, 10.0), name="a"),
        lambda: AutoRate(HypergradientAdam(0.01), target_cosine=0.1, cut=0.25),
    ],
)
def test_config_round_trips_and_learned_values_are_passed_on(make):
    optimizer = make()
    restored = type(optimizer).from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()
    assert isinstance(restored.inner_optimizer, HypergradientAdam)
    variable = keras.Variable(np.ones(3, "float32"), name="w")
    optimizer.apply([keras.ops.ones(3)], [variable])
    learned = optimizer.learned_hyperparameters
    # The inner optimizer's learned rate, then the wrapper's own values.
    assert "learning_rate" in learned
    assert any(key == "scale" or key.startswith("multiplier/") for key in learned)
    assert optimizer.learning_rate is optimizer.inner_optimizer.learning_rate
    assert int(optimizer.iterations) == 1


def test_unwrap_follows_inner_optimizers():
    inner = keras.optimizers.Adam()
    active = ActiveLR(inner, period=2)
    outer = keras.optimizers.LossScaleOptimizer(active)
    assert unwrap(outer) is inner
    assert unwrap(outer, ActiveLR) is active
    assert unwrap(outer, AutoRate) is None
    assert unwrap(outer, lambda o: hasattr(o, "learned_hyperparameters")) is active
    assert unwrap(None, ActiveLR) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ActiveSGD", "active_sgd"),
        ("ActiveAdamW", "active_adamw"),
        ("ActiveRAdam", "active_radam"),
        ("ActiveAdaBelief", "active_adabelief"),
    ],
)
def test_old_factory_names_warn_and_build_the_same_optimizer(old, new):
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: call .*{new}"):
        built = getattr(optimizers, old)(0.01, period=4)
    expected = getattr(optimizers, new)(0.01, period=4)
    assert isinstance(built, ActiveLR)

    def unnamed(config):  # names are numbered per instance
        config = {**config, "optimizer": dict(config["optimizer"])}
        config.pop("name")
        config["optimizer"]["config"] = {**config["optimizer"]["config"], "name": None}
        return config

    assert unnamed(built.get_config()) == unnamed(expected.get_config())


# Runs under each backend: the plumbing of `_backend.py`, outside any strategy.
BACKEND_CODE = """
import json, keras, numpy as np
from keras import ops
from keras_effort.optimizers import _backend
x = keras.Variable(np.zeros(2, "float32"))
calls = []
_backend.update_each_variable(lambda v, a, b: (v.assign(a + b), calls.append(1)),
                              [(x, ops.ones(2))], 2.0)
y = keras.Variable(np.zeros(2, "float32"))
for flag in (False, True):
    _backend.assign_if(ops.convert_to_tensor(flag),
                       lambda c: y.assign(ops.where(c, y.value + 1.0, y.value)))
print(json.dumps({
    "backend": [_backend.is_tensorflow(), _backend.is_jax(), _backend.is_torch()],
    "sum": ops.convert_to_numpy(_backend.all_reduce_sum([ops.ones(2)])[0]).tolist(),
    "updated": ops.convert_to_numpy(x).tolist(), "calls": len(calls),
    "assigned": ops.convert_to_numpy(y).tolist(),
}))
"""


@pytest.mark.parametrize(
    ("backend", "flags"),
    [
        ("tensorflow", [True, False, False]),
        ("jax", [False, True, False]),
        ("torch", [False, False, True]),
    ],
)
def test_backend_plumbing_on_each_backend(backend, flags):
    import json

    pytest.importorskip(backend)
    out = json.loads(run_with_backend(backend, BACKEND_CODE).strip().splitlines()[-1])
    assert out == {
        "backend": flags,
        "sum": [1.0, 1.0],
        "updated": [3.0, 3.0],
        "calls": 1,
        "assigned": [1.0, 1.0],
    }
