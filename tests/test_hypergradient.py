"""Hypergradient optimizers: closed forms against autodiff, update order, rules, bounds, input."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_effort.optimizers import HypergradientAdam, HypergradientRMSprop, HypergradientSGD

ETA = 1e-3  # step size of the plain SGD hyper-optimizer: the learned value moves by -ETA * dL/dx


@pytest.fixture
def float64():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(previous)


# Independent reference steps, in plain TensorFlow: (theta, state, gradient, hyperparameters,
# step) -> (new theta, new state). They follow the textbook forms, not the optimizers' code.


def sgd_step(theta, state, g, hp, t, nesterov=False):
    buffer = hp["momentum"] * state + g
    direction = g + hp["momentum"] * buffer if nesterov else buffer
    return theta - hp["learning_rate"] * direction, buffer


def adam_step(theta, state, g, hp, t, weight_decay=0.0, epsilon=1e-7):
    m, v = state
    b1, b2 = hp["beta_1"], hp["beta_2"]
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    step = m_hat / (tf.sqrt(v_hat) + epsilon * tf.sqrt(1 / (1 - b2**t)))
    return theta - hp["learning_rate"] * (step + weight_decay * theta), (m, v)


def rmsprop_step(theta, state, g, hp, t, epsilon=1e-7):
    v = hp["rho"] * state + (1 - hp["rho"]) * g * g
    return theta - hp["learning_rate"] * g / tf.sqrt(v + epsilon), v


# name: (optimizer class, arguments, reference step, hyperparameters to learn (None: all))
CASES = {
    "sgd": (HypergradientSGD, dict(learning_rate=0.05, momentum=0.6), sgd_step, None),
    "sgd-nesterov": (
        HypergradientSGD,
        dict(learning_rate=0.05, momentum=0.6, nesterov=True),
        lambda *a: sgd_step(*a, nesterov=True),
        None,
    ),
    "adam": (HypergradientAdam, dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9), adam_step, None),
    # Fixed betas must enter a float64 step unrounded.
    "adam-rate-only": (
        HypergradientAdam,
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9),
        adam_step,
        ["learning_rate"],
    ),
    "adamw": (
        HypergradientAdam,
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, weight_decay=0.1),
        lambda *a: adam_step(*a, weight_decay=0.1),
        None,
    ),
    "rmsprop": (HypergradientRMSprop, dict(learning_rate=0.05, rho=0.7), rmsprop_step, None),
}


def initial_state(name, shape):
    zeros = tf.zeros(shape, "float64")
    return (zeros, zeros) if name.startswith("adam") else zeros


def problem():
    """Two variables, a tanh layer and three different batches."""
    rng = np.random.default_rng(1)
    theta = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    batches = [(rng.normal(size=(5, 3)), rng.normal(size=(5, 2))) for _ in range(3)]

    def loss(params, k):
        x, y = batches[k]
        return tf.reduce_mean((tf.tanh(x @ params[0] + params[1]) - y) ** 2)

    return theta, loss


def gradients(loss, params, k):
    params = [tf.convert_to_tensor(p) for p in params]
    with tf.GradientTape() as tape:
        tape.watch(params)
        value = loss(params, k)
    return tape.gradient(value, params)


def learned_values(optimizer, variables, names):
    """Per hyperparameter, the value each variable uses (float64 tensors)."""
    learned = optimizer.learned_hyperparameters
    if optimizer.scope == "global":
        return {n: [tf.constant(np.asarray(learned[n]))] * len(variables) for n in names}
    return {
        n: [tf.constant(np.asarray(learned[f"{n}/{v.path}"])) for v in variables] for n in names
    }


def to_raw(name, value):
    """The optimizer's learned variable: the rate itself, or x with value = (tanh(x) + 1) / 2."""
    return value if name == "learning_rate" else tf.atanh(2 * value - 1)


def from_raw(name, raw):
    return raw if name == "learning_rate" else (tf.tanh(raw) + 1) / 2


@pytest.mark.parametrize("scope", ["global", "variable", "element"])
@pytest.mark.parametrize("case", list(CASES))
def test_hypergradients_match_autodiff_of_one_unrolled_step(case, scope, float64):
    cls, kwargs, reference_step, learn = CASES[case]
    names = learn or list(cls._learnable)
    fixed = {n: tf.constant(kwargs[n], "float64") for n in cls._learnable if n not in names}
    theta0, loss = problem()
    variables = [keras.Variable(t, dtype="float64", name=f"w{i}") for i, t in enumerate(theta0)]
    optimizer = cls(
        **kwargs,
        scope=scope,
        learn=names,
        hyper_optimizer=keras.optimizers.SGD(ETA),
        learning_rate_bounds=(0.0, 10.0),
    )

    # Two steps, checked against the reference with the hyperparameters the optimizer used.
    theta = [tf.constant(t) for t in theta0]
    state = [initial_state(case, t.shape) for t in theta0]
    for k in range(2):
        g = gradients(loss, theta, k)
        optimizer.apply(g, variables)
        used = learned_values(optimizer, variables, names)
        stepped = [
            reference_step(
                theta[i], state[i], g[i], {**fixed, **{n: used[n][i] for n in names}}, k + 1
            )
            for i in range(2)
        ]
        theta, state = [s[0] for s in stepped], [s[1] for s in stepped]
        if k == 0:
            theta_before_step_2, state_before_step_2 = theta, state
        for v, t in zip(variables, theta, strict=True):
            np.testing.assert_allclose(v.numpy(), t.numpy(), rtol=1e-12, atol=1e-14)

    # Autodiff: d L_3(theta_2) / d raw hyperparameter, theta_1 and the slots of step 1 constant.
    raw = {n: [tf.Variable(to_raw(n, value)) for value in used[n]] for n in names}
    if scope == "global":
        raw = {n: [raw[n][0]] * 2 for n in names}
    g2 = gradients(loss, theta_before_step_2, 1)
    with tf.GradientTape(persistent=True) as tape:
        theta2 = [
            reference_step(
                theta_before_step_2[i],
                state_before_step_2[i],
                g2[i],
                {**fixed, **{n: from_raw(n, raw[n][i]) for n in names}},
                2,
            )[0]
            for i in range(2)
        ]
        loss3 = loss(theta2, 2)
    expected = {n: tape.gradient(loss3, raw[n][: 1 if scope == "global" else 2]) for n in names}

    # The optimizer's closed form, seen through the SGD hyper-optimizer's step at step 3.
    optimizer.apply(gradients(loss, theta, 2), variables)
    after = learned_values(optimizer, variables, names)
    for n in names:
        for i, hypergradient in enumerate(expected[n]):
            moved = (to_raw(n, used[n][i]) - to_raw(n, after[n][i])) / ETA
            assert np.max(np.abs(hypergradient.numpy())) > 1e-8, (n, "vacuous check")
            np.testing.assert_allclose(moved.numpy(), hypergradient.numpy(), rtol=1e-5, err_msg=n)


def scalar_problem(optimizer):
    """L = theta^2 / 2 from theta = 1; returns the theta and learned rate after each step."""
    theta = keras.Variable(1.0, dtype="float64")
    trajectory = []
    for _ in range(3):
        optimizer.apply([tf.identity(theta.value)], [theta])
        trajectory.append(
            (float(theta.numpy()), float(optimizer.learned_hyperparameters["learning_rate"]))
        )
    return trajectory


def test_rate_is_adapted_before_it_is_used_additive(float64):
    # By hand, alpha_0 = 0.1, beta = 0.01, g_t = theta_{t-1}, u_{t-1} = g_{t-1}:
    # step 1: u_0 = 0 so alpha_1 = 0.1, theta_1 = 1 - 0.1 = 0.9
    # step 2: h = 0.9 * 1 = 0.9, alpha_2 = 0.109, theta_2 = 0.9 - 0.109 * 0.9 = 0.8019
    # step 3: h = 0.8019 * 0.9 = 0.72171, alpha_3 = 0.1162171, theta_3 = 0.8019 * 0.8837829
    trajectory = scalar_problem(HypergradientSGD(0.1, hypergradient_lr=0.01))
    expected = [(0.9, 0.1), (0.8019, 0.109), (0.8019 * 0.8837829, 0.1162171)]
    np.testing.assert_allclose(trajectory, expected, rtol=1e-12)


def test_multiplicative_rule_by_hand(float64):
    # cos(g_t, u_{t-1}) = 1 for a scalar with the same sign: alpha_t = alpha_{t-1} * 1.5.
    trajectory = scalar_problem(HypergradientSGD(0.1, hypergradient_lr=0.5, rule="multiplicative"))
    expected = [(0.9, 0.1), (0.9 * 0.85, 0.15), (0.9 * 0.85 * 0.775, 0.225)]
    np.testing.assert_allclose(trajectory, expected, rtol=1e-12)


def test_rate_stays_within_bounds():
    # A large hyper-step drives the rate up to the bound, and then overshooting drives it down.
    theta = keras.Variable([3.0, -2.0])
    optimizer = HypergradientSGD(0.1, hypergradient_lr=10.0, learning_rate_bounds=(0.01, 0.5))
    rates = []
    for _ in range(30):
        optimizer.apply([theta.value * tf.constant([1.0, 4.0])], [theta])
        rates.append(float(optimizer.learned_hyperparameters["learning_rate"]))
    assert max(rates) == pytest.approx(0.5) and min(rates) == pytest.approx(0.01)
    assert all(0.01 - 1e-9 <= r <= 0.5 + 1e-9 for r in rates)


@pytest.mark.parametrize("scope", ["global", "element"])
def test_non_finite_hypergradient_leaves_rate_unchanged(scope):
    theta = keras.Variable([1.0, 2.0])
    optimizer = HypergradientAdam(0.01, hypergradient_lr=1e-3, scope=scope)
    optimizer.apply([tf.constant([1.0, 1.0])], [theta])
    optimizer.apply([tf.constant([1.0, -1.0])], [theta])
    before = np.asarray(
        optimizer.learned_hyperparameters[
            "learning_rate" if scope == "global" else f"learning_rate/{theta.path}"
        ]
    )
    optimizer.apply([tf.constant([math.inf, 1.0])], [theta])
    after = np.asarray(
        optimizer.learned_hyperparameters[
            "learning_rate" if scope == "global" else f"learning_rate/{theta.path}"
        ]
    )
    assert np.all(np.isfinite(after))
    if scope == "global":
        assert after == before
    else:  # only the element whose hypergradient is not finite keeps its rate
        assert after[0] == before[0] and after[1] != before[1]


KERAS_TWINS = [
    (
        HypergradientSGD(0.1, momentum=0.9, nesterov=True, hypergradient_lr=0.0),
        keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    ),
    (
        HypergradientAdam(0.01, hypergradient_lr=0.0, clipnorm=0.5),
        keras.optimizers.Adam(0.01, clipnorm=0.5),
    ),
    (
        HypergradientAdam(0.01, weight_decay=0.1, hypergradient_lr=0.0),
        keras.optimizers.AdamW(0.01, weight_decay=0.1),
    ),
    (HypergradientRMSprop(0.01, hypergradient_lr=0.0), keras.optimizers.RMSprop(0.01)),
    (
        HypergradientSGD(
            keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), hypergradient_lr=0.0
        ),
        keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)),
    ),
]


@pytest.mark.parametrize(
    "pair", range(len(KERAS_TWINS)), ids=lambda i: type(KERAS_TWINS[i][1]).__name__
)
def test_without_hyper_steps_it_is_the_keras_optimizer(pair):
    ours, theirs = KERAS_TWINS[pair]
    theta0, loss = problem()
    results = []
    for optimizer in (ours, theirs):
        variables = [keras.Variable(t.astype("float32")) for t in theta0]
        for k in range(6):
            optimizer.apply(gradients(loss, [v.value for v in variables], k % 3), variables)
        results.append([v.numpy() for v in variables])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
        assert not np.allclose(a, theta0[0] if a.ndim == 2 else theta0[1])


def test_schedule_scales_a_learned_multiplier():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)
    optimizer = HypergradientSGD(schedule, hypergradient_lr=0.5)
    theta = keras.Variable(1.0)
    for _ in range(3):
        optimizer.apply([theta.value], [theta])
    multiplier = float(optimizer._learned["learning_rate"][0].numpy())
    assert multiplier > 1.0  # same-sign gradients: the multiplier grows
    rate = float(optimizer.learned_hyperparameters["learning_rate"])
    assert rate == pytest.approx(multiplier * 0.1 * 0.5**3)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: HypergradientSGD(-0.1), "learning_rate"),
        (lambda: HypergradientSGD(math.nan), "learning_rate"),
        (lambda: HypergradientAdam(beta_1=1.0), "beta_1"),
        (lambda: HypergradientAdam(beta_2=-0.1), "beta_2"),
        (lambda: HypergradientRMSprop(rho=1.5), "rho"),
        (lambda: HypergradientSGD(momentum=0.0, learn=["momentum"]), "momentum"),
        (lambda: HypergradientSGD(scope="layer"), "scope"),
        (lambda: HypergradientSGD(rule="exponential"), "rule"),
        (lambda: HypergradientAdam(learn=["rho"]), "learn"),
        (lambda: HypergradientSGD(hypergradient_lr=math.inf), "hypergradient_lr"),
        (lambda: HypergradientSGD(learning_rate_bounds=(0.5, 0.1)), "learning_rate_bounds"),
        (lambda: HypergradientSGD(learning_rate_bounds=(-1.0, 0.1)), "learning_rate_bounds"),
        (lambda: HypergradientSGD(hyper_optimizer="sgd"), "hyper_optimizer"),
    ],
)
def test_bad_input_names_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


def test_bad_scope_lists_the_allowed_values():
    with pytest.raises(ValueError, match=r"global.*variable.*element"):
        HypergradientAdam(scope="layer")
