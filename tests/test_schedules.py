"""Schedules against independent NumPy transcriptions of their formulas; their Keras contract."""

from __future__ import annotations

import functools
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_with_backend

from keras_effort.schedules import CyclicalLearningRate, LubyCosineRestarts, OneCycle, Warmup

# --- NumPy references -------------------------------------------------------------------------


def torch_one_cycle(step, max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal,
                    three_phase):  # fmt: skip
    """PyTorch's `OneCycleLR.get_lr` for one step, transcribed to plain Python floats."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    if three_phase:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr),
            (float(2 * pct_start * total_steps) - 2, max_lr, initial_lr),
            (total_steps - 1, initial_lr, min_lr),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr),
            (total_steps - 1, max_lr, min_lr),
        ]
    start_step = 0.0
    for i, (end_step, start_lr, end_lr) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            if anneal == "cos":
                return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)
            return (end_lr - start_lr) * pct + start_lr
        start_step = end_step
    raise AssertionError("unreachable")


def smith_cyclical(step, base_lr, max_lr, step_size, mode, gamma):
    """Smith (2017), section 3.1, with the three scale functions of his reference code."""
    cycle = np.floor(1 + step / (2 * step_size))
    x = np.abs(step / step_size - 2 * cycle + 1)
    scale = {
        "triangular": np.ones_like(step),
        "triangular2": 1 / (2.0 ** (cycle - 1)),
        "exp_range": gamma**step,
    }[mode]
    return base_lr + (max_lr - base_lr) * np.maximum(0, 1 - x) * scale


@functools.cache
def luby_term(i: int) -> int:
    """The i-th term (1-based) of the Luby sequence, by its recursive definition."""
    k = 1
    while (1 << k) - 1 < i:
        k += 1
    if i == (1 << k) - 1:
        return 1 << (k - 1)
    return luby_term(i - (1 << (k - 1)) + 1)


def luby_cosine(steps, initial_lr, unit_steps, alpha):
    """Cosine annealing restarted at the cumulative sums of the Luby sequence times a unit."""
    lengths, total = [], 0
    while total <= steps.max():
        lengths.append(luby_term(len(lengths) + 1) * unit_steps)
        total += lengths[-1]
    ends = np.cumsum(lengths)
    cycle = np.searchsorted(ends, steps, side="right")
    starts = ends[cycle] - np.asarray(lengths)[cycle]
    fraction = (steps - starts) / np.asarray(lengths)[cycle]
    return initial_lr * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * fraction)) + alpha)


def as_numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


# --- values -----------------------------------------------------------------------------------

ONE_CYCLE_CASES = [
    dict(max_lr=1.0, total_steps=100, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
         anneal="cos", three_phase=False),
    dict(max_lr=0.4, total_steps=1000, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
         anneal="linear", three_phase=False),
    dict(max_lr=2.0, total_steps=777, pct_start=0.4, div_factor=25.0, final_div_factor=1e4,
         anneal="cos", three_phase=True),
    dict(max_lr=0.05, total_steps=37, pct_start=0.45, div_factor=4.0, final_div_factor=3.0,
         anneal="linear", three_phase=True),
]  # fmt: skip


def one_cycle(case: dict) -> OneCycle:
    return OneCycle(
        case["max_lr"],
        case["total_steps"],
        pct_start=case["pct_start"],
        div_factor=case["div_factor"],
        final_div_factor=case["final_div_factor"],
        anneal=case["anneal"],
        three_phase=case["three_phase"],
    )


@pytest.mark.parametrize("case", ONE_CYCLE_CASES)
def test_one_cycle_matches_pytorch_formulas_in_float64(case):
    steps = np.arange(case["total_steps"], dtype=np.float64)
    expected = [torch_one_cycle(s, **case) for s in steps]
    actual = as_numpy(one_cycle(case)(steps))
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", ONE_CYCLE_CASES[:2])
def test_one_cycle_integer_steps_in_float32_and_holds_final_rate(case):
    schedule = one_cycle(case)
    total = case["total_steps"]
    steps = np.arange(total + 50)
    actual = as_numpy(schedule(steps))
    assert actual.dtype == np.float32
    expected = [torch_one_cycle(float(s), **case) for s in range(total)]
    np.testing.assert_allclose(actual[:total], expected, rtol=1e-6, atol=1e-7 * case["max_lr"])
    final = case["max_lr"] / case["div_factor"] / case["final_div_factor"]
    np.testing.assert_allclose(actual[total - 1 :], final, rtol=1e-6)
    assert schedule.final_learning_rate == pytest.approx(final, rel=1e-15)
    assert actual.max() == pytest.approx(case["max_lr"], rel=1e-3)


@pytest.mark.parametrize(
    ("mode", "gamma"), [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.995)]
)
def test_cyclical_matches_smith_formulas(mode, gamma):
    steps = np.arange(0, 1200, dtype=np.float64)
    schedule = CyclicalLearningRate(0.01, 0.3, step_size=70, mode=mode, gamma=gamma)
    expected = smith_cyclical(steps, 0.01, 0.3, 70, mode, gamma)
    np.testing.assert_allclose(as_numpy(schedule(steps)), expected, rtol=1e-12, atol=1e-15)


def test_cyclical_shape_of_a_cycle():
    schedule = CyclicalLearningRate(0.1, 0.5, step_size=4, mode="triangular2")
    rates = as_numpy(schedule(np.arange(17.0)))
    np.testing.assert_allclose(rates[[0, 4, 8, 12, 16]], [0.1, 0.5, 0.1, 0.3, 0.1], rtol=1e-12)


def test_luby_sequence_reference_is_the_known_prefix():
    assert [luby_term(i) for i in range(1, 16)] == [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]


@pytest.mark.parametrize(("unit_steps", "alpha"), [(1, 0.0), (3, 0.1), (50, 0.02)])
def test_luby_cosine_restarts_matches_reference(unit_steps, alpha):
    steps = np.arange(0, 5000, dtype=np.float64)
    schedule = LubyCosineRestarts(0.2, unit_steps=unit_steps, alpha=alpha)
    expected = luby_cosine(steps, 0.2, unit_steps, alpha)
    np.testing.assert_allclose(as_numpy(schedule(steps)), expected, rtol=1e-12, atol=1e-15)


def test_luby_cosine_restarts_far_out_steps():
    rng = np.random.default_rng(0)
    steps = np.sort(rng.integers(0, 600_000, size=3000)).astype(np.float64)
    schedule = LubyCosineRestarts(1.0, unit_steps=1, alpha=0.0)
    expected = luby_cosine(steps, 1.0, 1, 0.0)
    np.testing.assert_allclose(as_numpy(schedule(steps)), expected, rtol=1e-9, atol=1e-12)


def test_luby_cycle_starts_are_restarts():
    schedule = LubyCosineRestarts(0.5, unit_steps=10, alpha=0.1)
    # Cycles of 10, 10, 20, 10, 10, 20, 40 steps start at these steps.
    starts = np.array([0, 10, 20, 40, 50, 60, 80, 120], dtype=np.float64)
    np.testing.assert_allclose(as_numpy(schedule(starts)), 0.5, rtol=1e-12)
    np.testing.assert_allclose(as_numpy(schedule(starts[1:] - 1e-9)), 0.05, rtol=1e-6)


def test_luby_cosine_restarts_follow_the_restart_policy_cutoffs():
    from keras_effort.restarts import Luby

    policy = Luby(7)
    lengths = np.array([next(policy) for _ in range(64)])
    starts = np.cumsum(lengths) - lengths
    schedule = LubyCosineRestarts(0.2, unit_steps=7)
    np.testing.assert_allclose(as_numpy(schedule(starts.astype(float))), 0.2, rtol=1e-12)
    last_steps = (starts + lengths - 1).astype(float)
    expected = 0.2 * 0.5 * (1 + np.cos(np.pi * (lengths - 1) / lengths))
    np.testing.assert_allclose(as_numpy(schedule(last_steps)), expected, rtol=1e-12)


def test_warmup_of_constant_rate():
    steps = np.arange(0, 60, dtype=np.float64)
    schedule = Warmup(0.3, warmup_steps=20, initial_learning_rate=0.01)
    expected = np.where(steps < 20, 0.01 + (0.3 - 0.01) * steps / 20, 0.3)
    np.testing.assert_allclose(as_numpy(schedule(steps)), expected, rtol=1e-12)


def test_warmup_shifts_the_wrapped_schedule():
    inner = OneCycle(1.0, total_steps=100)
    schedule = Warmup(inner, warmup_steps=30)
    steps = np.arange(0, 160, dtype=np.float64)
    actual = as_numpy(schedule(steps))
    start = inner.initial_learning_rate
    np.testing.assert_allclose(actual[:30], start * steps[:30] / 30, rtol=1e-12)
    np.testing.assert_allclose(actual[30:], as_numpy(inner(steps[30:] - 30)), rtol=1e-12)


def test_warmup_equals_keras_cosine_decay_warmup():
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=80, alpha=0.05, warmup_target=0.4, warmup_steps=25
    )
    ours = Warmup(
        keras.optimizers.schedules.CosineDecay(0.4, decay_steps=80, alpha=0.05), warmup_steps=25
    )
    steps = np.arange(0, 130)
    expected = [float(keras_schedule(int(step))) for step in steps]
    np.testing.assert_allclose(as_numpy(ours(steps)), expected, rtol=1e-6, atol=1e-8)


# --- Keras contract ---------------------------------------------------------------------------


def all_schedules() -> dict[str, keras.optimizers.schedules.LearningRateSchedule]:
    return {
        "one_cycle": OneCycle(0.5, total_steps=40, pct_start=0.25, anneal="linear"),
        "one_cycle_3": OneCycle(0.5, total_steps=40, pct_start=0.3, three_phase=True),
        "cyclical": CyclicalLearningRate(0.01, 0.2, step_size=3, mode="exp_range", gamma=0.9),
        "luby": LubyCosineRestarts(0.3, unit_steps=2, alpha=0.1),
        "warmup": Warmup(0.1, warmup_steps=5, initial_learning_rate=0.001),
        "warmup_one_cycle": Warmup(OneCycle(0.5, total_steps=40), warmup_steps=4),
        "warmup_keras": Warmup(keras.optimizers.schedules.ExponentialDecay(0.2, 10, 0.5), 3),
        "warmup_warmup_luby": Warmup(Warmup(LubyCosineRestarts(0.3, 2), 3), 2, 0.01),
    }


SCHEDULE_NAMES = list(all_schedules())
STEPS = np.arange(0, 90)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_config_round_trip(name):
    schedule = all_schedules()[name]
    serialized = keras.optimizers.schedules.serialize(schedule)
    restored = keras.optimizers.schedules.deserialize(json.loads(json.dumps(serialized)))
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()
    np.testing.assert_array_equal(as_numpy(restored(STEPS)), as_numpy(schedule(STEPS)))
    assert serialized["registered_name"] == f"keras_effort>{type(schedule).__name__}"


def test_nested_schedule_is_serialized_as_a_keras_object():
    config = all_schedules()["warmup_warmup_luby"].get_config()
    middle = config["schedule_or_rate"]
    assert middle["registered_name"] == "keras_effort>Warmup"
    assert middle["config"]["schedule_or_rate"]["class_name"] == "LubyCosineRestarts"
    restored = Warmup.from_config(config)
    assert isinstance(restored.schedule_or_rate.schedule_or_rate, LubyCosineRestarts)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_jit_compile_matches_eager(name):
    schedule = all_schedules()[name]
    compiled = tf.function(schedule.__call__, jit_compile=True)
    steps = tf.constant(STEPS, dtype=tf.int64)
    np.testing.assert_allclose(
        compiled(steps).numpy(), as_numpy(schedule(steps)), rtol=1e-6, atol=1e-7
    )
    assert float(compiled(tf.constant(7, tf.int64))) == pytest.approx(float(schedule(7)), 1e-6)


def tiny_model(schedule) -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.5), loss="mse")
    return model


@pytest.mark.parametrize("name", ["one_cycle", "cyclical", "luby", "warmup_one_cycle"])
def test_saved_model_reloads_and_continues_with_the_same_rates(name, tmp_path):
    keras.utils.set_random_seed(1)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x[:, :2] * 2.0
    model = tiny_model(all_schedules()[name])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # 8 steps
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")

    assert type(loaded.optimizer.learning_rate) is type(model.optimizer.learning_rate)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 8
    loaded_schedule = loaded.optimizer._learning_rate
    assert loaded_schedule.get_config() == model.optimizer._learning_rate.get_config()
    assert float(loaded.optimizer.learning_rate) == float(model.optimizer.learning_rate)

    for fitted in (model, loaded):
        fitted.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert int(loaded.optimizer.iterations) == 16
    assert float(loaded.optimizer.learning_rate) == float(model.optimizer.learning_rate)
    for before, after in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-6, atol=1e-7)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: OneCycle(0.0, 100), "max_learning_rate"),
        (lambda: OneCycle(1.0, 0), "total_steps"),
        (lambda: OneCycle(1.0, 100.0), "total_steps"),
        (lambda: OneCycle(1.0, 100, pct_start=0.0), "pct_start"),
        (lambda: OneCycle(1.0, 100, pct_start=1.0), "pct_start"),
        (lambda: OneCycle(1.0, 3, pct_start=0.3), "pct_start \\* total_steps"),
        (lambda: OneCycle(1.0, 100, pct_start=0.6, three_phase=True), "three_phase"),
        (lambda: OneCycle(1.0, 100, div_factor=-1), "div_factor"),
        (lambda: OneCycle(1.0, 100, final_div_factor=0), "final_div_factor"),
        (lambda: OneCycle(1.0, 100, anneal="cosine"), "anneal"),
        (lambda: OneCycle(1.0, 100, three_phase=1), "three_phase"),
        (lambda: CyclicalLearningRate(0.5, 0.1, 10), "maximal_learning_rate"),
        (lambda: CyclicalLearningRate(-0.1, 0.1, 10), "initial_learning_rate"),
        (lambda: CyclicalLearningRate(0.1, 0.5, 0), "step_size"),
        (lambda: CyclicalLearningRate(0.1, 0.5, 10, mode="exp"), "mode"),
        (lambda: CyclicalLearningRate(0.1, 0.5, 10, gamma=1.5), "gamma"),
        (lambda: LubyCosineRestarts(0.0, 10), "initial_learning_rate"),
        (lambda: LubyCosineRestarts(0.1, -5), "unit_steps"),
        (lambda: LubyCosineRestarts(0.1, 5, alpha=2.0), "alpha"),
        (lambda: Warmup(0.1, 0), "warmup_steps"),
        (lambda: Warmup(-0.1, 10), "schedule_or_rate"),
        (lambda: Warmup(lambda step: 0.1, 10), "schedule_or_rate"),
        (lambda: Warmup(0.1, 10, initial_learning_rate=math.nan), "initial_learning_rate"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, argument):
    with pytest.raises(ValueError, match=f"`?{argument}"):
        build()


# --- JAX backend (schedules and the learning-rate finder) ----------------------------------------

# One subprocess for every JAX check of this task (schedules and the learning-rate finder): a
# Keras import on another backend costs seconds.
JAX_CODE = """
import json
import jax, keras, numpy as np
from keras_effort.callbacks.lr_finder import LearningRateFinder
from keras_effort.schedules import CyclicalLearningRate, LubyCosineRestarts, OneCycle, Warmup

schedules = {
    "one_cycle": OneCycle(1.0, 100, three_phase=True),
    "cyclical": CyclicalLearningRate(0.01, 0.3, step_size=70, mode="triangular2"),
    "luby": LubyCosineRestarts(0.2, unit_steps=3, alpha=0.1),
    "warmup": Warmup(OneCycle(1.0, 100), warmup_steps=30),
}
steps = np.arange(300, dtype="int32")
out = {name: np.asarray(jax.jit(s.__call__)(steps)).tolist() for name, s in schedules.items()}

x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
model.compile(optimizer=keras.optimizers.SGD(schedules["luby"]), loss="mse")
model.fit(x[:32], x[:32, :2], batch_size=4, epochs=2, verbose=0)
out["fit"] = [int(model.optimizer.iterations), float(model.optimizer.learning_rate)]

class RateRecorder(keras.callbacks.Callback):
    rates = []
    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))

def state(model):
    variables = [*model.variables, *model.optimizer.variables]
    return [keras.ops.convert_to_numpy(v).tolist() for v in variables]

keras.utils.set_random_seed(0)
y = (x[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2)])
model.compile(optimizer=keras.optimizers.Adam(0.01),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=16, epochs=1, verbose=0)
before = state(model)
finder, recorder = LearningRateFinder(1e-4, 1e2, num_steps=30), RateRecorder()
model.fit(x, y, batch_size=16, epochs=10, callbacks=[finder, recorder], verbose=0)
out["finder"] = {"same": before == state(model), "rates": recorder.rates,
                 "losses": finder.result.losses.tolist()}
print(json.dumps(out))
"""


def test_schedules_and_finder_on_jax_backend():
    out = json.loads(run_with_backend("jax", JAX_CODE).strip().splitlines()[-1])
    steps = np.arange(300, dtype=np.float64)
    one_cycle_case = dict(max_lr=1.0, total_steps=100, pct_start=0.3, div_factor=25.0,
                          final_div_factor=1e4, anneal="cos", three_phase=True)  # fmt: skip
    expected_one_cycle = [torch_one_cycle(min(s, 99.0), **one_cycle_case) for s in steps]
    np.testing.assert_allclose(out["one_cycle"], expected_one_cycle, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out["cyclical"],
        smith_cyclical(steps, 0.01, 0.3, 70, "triangular2", 1.0),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(out["luby"], luby_cosine(steps, 0.2, 3, 0.1), rtol=1e-5, atol=1e-7)
    shifted = np.maximum(steps - 30, 0)
    expected_warmup = np.where(
        steps < 30,
        0.04 * steps / 30,
        [
            torch_one_cycle(min(s, 99.0), **{**one_cycle_case, "three_phase": False})
            for s in shifted
        ],
    )
    np.testing.assert_allclose(out["warmup"], expected_warmup, rtol=1e-5, atol=1e-6)
    iterations, rate = out["fit"]
    assert iterations == 16
    assert rate == pytest.approx(float(luby_cosine(np.array([16.0]), 0.2, 3, 0.1)[0]), rel=1e-5)

    # The finder restores every variable, sets the exponential rates and records a loss per
    # step: reading `callback.model` syncs JAX's state, so assignments reach the next step.
    finder = out["finder"]
    assert finder["same"]
    steps = len(finder["losses"])
    assert 2 <= steps <= 30
    np.testing.assert_allclose(finder["rates"], 1e-4 * 1e6 ** (np.arange(steps) / 29), rtol=1e-6)
    assert len(set(np.round(finder["losses"], 6))) == steps
