"""ActiveLR against a NumPy transcription of the reference code (github davoodwadi/active-lr).

Per element, with inner optimizer step `d_t` (Keras SGD-momentum: `m = mu m - lr g`, `d = m`;
Keras AdamW: Adam's `d = -lr sqrt(1-beta2^t)/(1-beta1^t) m / (sqrt(v) + eps)`), decoupled
weight decay `lambda`, and a period ending at step t:

    S <- S + g_t
    w <- w + G (d_t - lr lambda w)              the wrapped optimizer's whole step, decay
                                                included, is scaled (the reference code
                                                decays unscaled; with lambda = 0, the same)
    at a period end, after `warmup` completed periods:
        G <- G * decrease   where S * S_prev <= 0
        G <- G + increase   elsewhere            (then clipped to bounds, if any)
    at every period end: S_prev <- S, S <- 0
"""

from __future__ import annotations

import json
import math
import warnings

import keras
import numpy as np
import pytest
from conftest import run_with_backend

from keras_effort.optimizers import ActiveLR, ActiveLREpochEnd, active_adamw, active_sgd
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.hypergradient_sgd import HypergradientSGD
from keras_effort.optimizers.radam import RAdam

LR = 0.05
SHAPE = (2, 3)
# Steps per execution for the tests of multi-step execution; the PyTorch backend runs one only.
MULTI_STEP = 1 if keras.backend.backend() == "torch" else 3


@pytest.fixture
def float64():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(previous)


def gradient_sequence(steps: int, seed: int = 0) -> list[np.ndarray]:
    """Noisy gradients: two elements with a steady sign, one always zero, three pure noise."""
    rng = np.random.default_rng(seed)
    drift = np.array([[1.5, -1.5, 0.0], [0.0, 0.0, 0.0]])
    grads = [rng.normal(size=SHAPE) + drift for _ in range(steps)]
    for g in grads:
        g[0, 2] = 0.0
    return grads


def sgd_momentum_steps(lr: float, momentum: float):
    m = 0.0

    def step(g, t):
        nonlocal m
        m = momentum * m - lr * g
        return m

    return step


def adam_steps(lr: float, beta_1=0.9, beta_2=0.999, eps=1e-7):
    m = v = 0.0
    # On TensorFlow, Keras' Adam raises float32-rounded betas to the power t, even for float64
    # variables; on JAX (with x64) and PyTorch it raises them in the variable's dtype.
    power_1, power_2 = float(np.float32(beta_1)), float(np.float32(beta_2))
    if keras.backend.backend() != "tensorflow":
        power_1, power_2 = beta_1, beta_2

    def step(g, t):
        nonlocal m, v
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        return -m * lr * math.sqrt(1 - power_2**t) / (1 - power_1**t) / (np.sqrt(v) + eps)

    return step


def active_lr_reference(
    w0, grads, inner_step, period_ends, increase, decrease, lr, weight_decay=0.0,
    warmup=1, bounds=None,
):  # fmt: skip
    w = w0.copy()
    gradient_sum = np.zeros_like(w)
    previous_sum = np.zeros_like(w)
    multiplier = np.ones_like(w)
    completed = 0
    weights, multipliers = [], []
    for t, g in enumerate(grads, start=1):
        gradient_sum = gradient_sum + g
        w = w + multiplier * (inner_step(g, t) - lr * weight_decay * w)
        if t in period_ends:
            if completed >= warmup:
                same_sign = gradient_sum * previous_sum > 0
                multiplier = np.where(same_sign, multiplier + increase, multiplier * decrease)
                if bounds is not None:
                    multiplier = np.clip(multiplier, *bounds)
            previous_sum, gradient_sum = gradient_sum, np.zeros_like(w)
            completed += 1
        weights.append(w)
        multipliers.append(multiplier)
    return weights, multipliers


def run_active_lr(optimizer, w0, grads, epoch_ends=()):
    variable = keras.Variable(w0)
    weights, multipliers = [], []
    for t, g in enumerate(grads, start=1):
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
        if t in epoch_ends:
            optimizer.end_period()
        weights.append(keras.ops.convert_to_numpy(variable))
        (multiplier,) = (
            value
            for name, value in optimizer.learned_hyperparameters.items()
            if name.startswith("multiplier/")
        )
        multipliers.append(keras.ops.convert_to_numpy(multiplier))
    return weights, multipliers


def assert_trajectories_close(actual, expected):
    for name, a, e in zip(("weights", "multipliers"), actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6, err_msg=name)


def test_sgd_momentum_matches_reference_over_five_periods(float64):
    w0 = np.linspace(-1, 1, 6).reshape(SHAPE)
    grads = gradient_sequence(15)
    optimizer = active_sgd(LR, period=3, increase=0.1, decrease=0.9)
    expected = active_lr_reference(
        w0, grads, sgd_momentum_steps(LR, 0.9), {3, 6, 9, 12, 15}, 0.1, 0.9, LR
    )
    actual = run_active_lr(optimizer, w0, grads)
    assert_trajectories_close(actual, expected)
    # The data exercise both branches of the rule: steady-sign elements grew, the zero one shrank.
    final = expected[1][-1]
    assert final[0, 0] > 1.3 and final[0, 1] > 1.3 and final[0, 2] < 0.8


def test_adamw_matches_reference_with_scaled_weight_decay_warmup_and_bounds(float64):
    w0 = np.linspace(-1, 1, 6).reshape(SHAPE)
    grads = gradient_sequence(14, seed=1)
    inner = keras.optimizers.AdamW(LR, weight_decay=0.5)
    optimizer = ActiveLR(
        inner, period=2, increase=0.2, decrease=0.5, warmup_periods=2, bounds=(0.3, 1.5)
    )
    expected = active_lr_reference(
        w0, grads, adam_steps(LR), set(range(2, 15, 2)), 0.2, 0.5, LR, weight_decay=0.5,
        warmup=2, bounds=(0.3, 1.5),
    )  # fmt: skip
    actual = run_active_lr(optimizer, w0, grads)
    assert_trajectories_close(actual, expected)
    final = expected[1][-1]
    assert final.max() == 1.5 and final.min() == 0.3  # the bounds were reached


def test_epoch_mode_ends_periods_when_told_uneven_lengths(float64):
    w0 = np.linspace(-1, 1, 6).reshape(SHAPE)
    grads = gradient_sequence(13, seed=2)
    epoch_ends = {3, 7, 9, 13}
    optimizer = ActiveLR(keras.optimizers.SGD(LR, momentum=0.9), increase=0.1, decrease=0.9)
    expected = active_lr_reference(w0, grads, sgd_momentum_steps(LR, 0.9), epoch_ends, 0.1, 0.9, LR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no ActiveLREpochEnd callback here, on purpose
        actual = run_active_lr(optimizer, w0, grads, epoch_ends)
    assert_trajectories_close(actual, expected)
    assert int(optimizer.periods_completed) == 4


@pytest.mark.parametrize(
    "make_inner",
    [
        lambda: keras.optimizers.SGD(LR, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda: keras.optimizers.Adam(LR, amsgrad=True, clipnorm=0.5),
        lambda: keras.optimizers.Lion(LR, weight_decay=0.1),
        lambda: keras.optimizers.RMSprop(LR, momentum=0.5, centered=True),
        lambda: keras.optimizers.Adamax(LR, global_clipnorm=1.0),
        lambda: keras.optimizers.Adagrad(LR),
        lambda: RAdam(LR, weight_decay=0.1),
        lambda: keras.optimizers.Nadam(LR, weight_decay=0.1),
        lambda: AdaBelief(LR),
        lambda: HypergradientSGD(LR, momentum=0.9, hypergradient_lr=1e-3),
    ],
    ids=[
        "sgd-nesterov-wd",
        "adam-amsgrad-clip",
        "lion-wd",
        "rmsprop",
        "adamax",
        "adagrad",
        "radam",
        "nadam-wd",
        "adabelief",
        "hypergradient-sgd",
    ],
)
def test_constant_multipliers_reproduce_the_wrapped_optimizer(float64, make_inner):
    # increase=0, decrease=1: every multiplier stays 1, so ActiveLR must be the bare optimizer,
    # including its weight decay, clipping, and step counter.
    w0 = np.linspace(-1, 1, 6).reshape(SHAPE)
    grads = gradient_sequence(7, seed=3)
    expected = [keras.ops.convert_to_numpy(w) for w in run_bare(make_inner(), w0, grads)]
    active = ActiveLR(make_inner(), period=2, increase=0.0, decrease=1.0)
    weights, multipliers = run_active_lr(active, w0, grads)
    np.testing.assert_allclose(weights, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(multipliers[-1], 1.0)
    assert int(active.iterations) == 7


def run_bare(optimizer, w0, grads):
    variable = keras.Variable(w0)
    trajectory = []
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
        trajectory.append(keras.ops.convert_to_numpy(variable))
    return trajectory


def make_data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32") > 0).astype("int32")
    return x, y


def make_model(optimizer, seed=0, **compile_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return model


def state_of(model):
    """Weights and optimizer variables as NumPy arrays."""
    return [keras.ops.convert_to_numpy(v) for v in model.weights + model.optimizer.variables]


def assert_states_equal(a, b, atol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


@pytest.mark.parametrize("period", [4, "epoch"])
def test_fit_bookkeeping_with_steps_per_execution_and_uneven_last_batch(period):
    # 70 samples in batches of 16: 5 steps per epoch, the last of 6 samples.
    x, y = make_data()
    callbacks = [ActiveLREpochEnd()] if period == "epoch" else []
    runs = []
    for steps_per_execution in (1, MULTI_STEP):
        model = make_model(
            active_adamw(0.05, period=period), steps_per_execution=steps_per_execution
        )
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
        runs.append(model)
    assert_states_equal(state_of(runs[0]), state_of(runs[1]), atol=1e-6)
    optimizer = runs[1].optimizer
    assert int(optimizer.iterations) == 15
    assert int(optimizer.periods_completed) == 3
    multipliers = np.concatenate([np.ravel(m) for m in optimizer.learned_hyperparameters.values()])
    assert np.any(multipliers != 1.0)


def test_epoch_period_in_fit_equals_integer_period_of_one_epoch():
    x, y = make_data()
    epochs = make_model(active_adamw(0.05, period="epoch"), steps_per_execution=MULTI_STEP)
    epochs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
               callbacks=[ActiveLREpochEnd()])  # fmt: skip
    steps = make_model(active_adamw(0.05, period=5))
    steps.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert_states_equal(state_of(epochs), state_of(steps), atol=1e-6)


def test_jit_compile_matches_graph_mode():
    x, y = make_data()
    models = []
    for jit in (False, True):
        model = make_model(ActiveLR(RAdam(0.05), period=3), jit_compile=jit)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        models.append(model)
    assert_states_equal(state_of(models[0]), state_of(models[1]), atol=1e-5)


def test_save_reload_resumes_exactly(tmp_path):
    x, y = make_data()
    straight = make_model(active_adamw(0.05, period=3, weight_decay=0.01))
    straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    resumed = make_model(active_adamw(0.05, period=3, weight_decay=0.01))
    resumed.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    path = tmp_path / "model.keras"
    resumed.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded.optimizer, ActiveLR)
    assert int(reloaded.optimizer.iterations) == 10
    reloaded.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_states_equal(state_of(straight), state_of(reloaded))


def test_reset_to_post_build_values_restarts_exactly():
    # The contract of keras_effort.callbacks.Restarts: all state lives in optimizer.variables.
    x, y = make_data()
    model = make_model(active_sgd(0.05, period=2))
    model.optimizer.build(model.trainable_variables)
    initial = state_of(model)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    first_run = state_of(model)
    for variable, value in zip(model.weights + model.optimizer.variables, initial, strict=True):
        variable.assign(value)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_states_equal(first_run, state_of(model))


@pytest.mark.parametrize("period", [3, "epoch"])
def test_mirrored_strategy_keeps_replicas_identical(mirrored_strategy, period):
    x, y = make_data(n=64)
    callbacks = [ActiveLREpochEnd()] if period == "epoch" else []
    with mirrored_strategy.scope():
        model = make_model(active_adamw(0.05, period=period))
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
    optimizer = model.optimizer
    adapted = False
    for multiplier in optimizer._multipliers:
        replicas = [np.asarray(r) for r in multiplier.value.values]
        assert len(replicas) == 2
        np.testing.assert_array_equal(replicas[0], replicas[1])
        adapted |= bool(np.any(replicas[0] != 1.0))
    assert adapted
    assert keras.ops.convert_to_numpy(optimizer.periods_completed) == (4 if period == 3 else 3)

    single = make_model(active_adamw(0.05, period=period))
    single.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
    np.testing.assert_allclose(
        np.concatenate([np.ravel(w) for w in model.get_weights()]),
        np.concatenate([np.ravel(w) for w in single.get_weights()]),
        atol=1e-4,
    )


def test_keras_callbacks_see_the_inner_learning_rate(tmp_path):
    x, y = make_data()
    inner = keras.optimizers.AdamW(0.05)
    model = make_model(ActiveLR(inner, period=3))
    reduce = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)
    board = keras.callbacks.TensorBoard(tmp_path)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[reduce, board])
    # No improvement by 10 after the first epoch: halved once, on the wrapped optimizer.
    assert float(inner.learning_rate) == pytest.approx(0.025)
    assert model.optimizer.learning_rate is inner.learning_rate
    assert list((tmp_path / "train").glob("events.out.tfevents.*"))


def test_learned_hyperparameters_name_each_variable():
    model = make_model(active_adamw(period=2))
    assert model.optimizer.learned_hyperparameters == {}
    model.optimizer.build(model.trainable_variables)
    learned = model.optimizer.learned_hyperparameters
    assert sorted(learned) == sorted(f"multiplier/{v.path}" for v in model.trainable_variables)
    for variable in model.trainable_variables:
        value = learned[f"multiplier/{variable.path}"]
        assert tuple(value.shape) == tuple(variable.shape)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), 1.0)


def test_config_round_trip_keeps_the_inner_optimizer():
    optimizer = ActiveLR(
        RAdam(0.01, weight_decay=0.1, decoupled_weight_decay=True),
        period=7, increase=0.3, decrease=0.6, warmup_periods=2, bounds=(0.1, 10.0),
    )  # fmt: skip
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, ActiveLR)
    assert isinstance(restored.inner_optimizer, RAdam)
    assert restored.get_config() == optimizer.get_config()
    assert restored.inner_optimizer.get_config() == optimizer.inner_optimizer.get_config()


def test_epoch_mode_without_callback_warns_and_callback_checks_optimizer():
    x, y = make_data()
    model = make_model(active_adamw(period="epoch"))
    with pytest.warns(UserWarning, match="ActiveLREpochEnd"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    stepped = make_model(active_adamw(period=3))
    with pytest.raises(ValueError, match="period='epoch'"):
        stepped.fit(x, y, epochs=1, verbose=0, callbacks=[ActiveLREpochEnd()])
    with pytest.raises(ValueError, match="period='epoch'"):
        stepped.optimizer.end_period()


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"increase": -0.1}, ValueError, "`increase`"),
        ({"decrease": 0.0}, ValueError, "`decrease`"),
        ({"decrease": 1.5}, ValueError, "`decrease`"),
        ({"period": 0}, ValueError, "`period`"),
        ({"period": "batch"}, ValueError, "`period`"),
        ({"period": 2.5}, ValueError, "`period`"),
        ({"warmup_periods": 0}, ValueError, "`warmup_periods`"),
        ({"bounds": (2.0, 1.0)}, ValueError, "`bounds`"),
        ({"optimizer": "adam"}, TypeError, "`optimizer`"),
        ({"optimizer": keras.optimizers.AdamW(use_ema=True)}, ValueError, "`use_ema`"),
        (
            {"optimizer": keras.optimizers.SGD(gradient_accumulation_steps=2)},
            ValueError,
            "`gradient_accumulation_steps`",
        ),
        (
            {"optimizer": keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())},
            ValueError,
            "`optimizer`",
        ),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, argument):
    kwargs = {"optimizer": keras.optimizers.SGD(), **kwargs}
    with pytest.raises(error, match=argument):
        ActiveLR(**kwargs)


# Runs in this process (TensorFlow) and in a JAX subprocess; prints weights and multipliers.
CROSS_BACKEND_SCENARIO = """
import json
import keras
import numpy as np
from keras_effort.optimizers import ActiveLR, ActiveLREpochEnd, active_sgd
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.radam import RAdam

def scenario():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32") > 0).astype("int32")
    kernel = rng.normal(size=(4, 2)).astype("float32") * 0.5
    results = {}
    for name, optimizer, callbacks in [
        ("active_radam_3", ActiveLR(RAdam(0.05), period=3), []),
        ("active_adabelief_epoch", ActiveLR(AdaBelief(0.05), period="epoch"), [ActiveLREpochEnd()]),
        ("active_sgd_4", active_sgd(0.1, period=4), []),
    ]:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.set_weights([kernel, np.zeros(2, "float32")])
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      steps_per_execution=2)
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
        multipliers = optimizer.learned_hyperparameters.values()
        results[name] = {
            "weights": [np.asarray(w).tolist() for w in model.get_weights()],
            "multipliers": [np.asarray(m).tolist() for m in multipliers],
            "periods": int(optimizer.periods_completed),
        }
    return results
"""


def test_jax_backend_matches_tensorflow():
    pytest.importorskip("jax")
    namespace: dict = {}
    exec(CROSS_BACKEND_SCENARIO, namespace)
    expected = namespace["scenario"]()
    output = run_with_backend("jax", CROSS_BACKEND_SCENARIO + "\nprint(json.dumps(scenario()))")
    actual = json.loads(output.strip().splitlines()[-1])
    assert actual.keys() == expected.keys()
    for name in expected:
        assert actual[name]["periods"] == expected[name]["periods"], name
        for key in ("weights", "multipliers"):
            for a, e in zip(actual[name][key], expected[name][key], strict=True):
                np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5, err_msg=f"{name} {key}")
    assert expected["active_sgd_4"]["periods"] == 3
    assert expected["active_adabelief_epoch"]["periods"] == 3


def test_learned_hyperparameters_include_the_wrapped_optimizers():
    inner = HypergradientSGD(LR, hypergradient_lr=1e-3)
    optimizer = ActiveLR(inner, period=2)
    variable = keras.Variable(np.ones(SHAPE, "float32"))
    for g in gradient_sequence(3):
        optimizer.apply([keras.ops.convert_to_tensor(g, "float32")], [variable])
    learned = optimizer.learned_hyperparameters
    inner_learned = inner.learned_hyperparameters
    assert inner_learned and set(inner_learned) < set(learned)
    for name, value in inner_learned.items():
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(learned[name]), keras.ops.convert_to_numpy(value)
        )
    assert f"multiplier/{variable.path}" in learned
