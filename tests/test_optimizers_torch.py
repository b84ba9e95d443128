"""The optimizers on PyTorch: no autograd graph in `apply`, the multi-tensor path's equations."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_effort.optimizers import (
    ActiveLR,
    AdaBelief,
    AutoRate,
    HypergradientAdam,
    HypergradientRMSprop,
    HypergradientSGD,
    Prodigy,
    RAdam,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="exercises the PyTorch backend"
)

SHAPES = [(4, 3), (3,), (3, 2), ()]

# The configurations that take the multi-tensor (`torch._foreach_*`) path: a global learned rate
# and the default hyper-optimizer, with every option that path handles itself.
FOREACH_CASES = {
    "sgd": lambda: HypergradientSGD(0.05, hypergradient_lr=0.01),
    "sgd-momentum": lambda: HypergradientSGD(0.05, momentum=0.8, hypergradient_lr=0.01),
    "sgd-nesterov-decay": lambda: HypergradientSGD(
        0.05, momentum=0.8, nesterov=True, weight_decay=0.1, hypergradient_lr=0.01
    ),
    "adam": lambda: HypergradientAdam(0.05, beta_1=0.8, beta_2=0.9, hypergradient_lr=1e-3),
    "adamw-schedule": lambda: HypergradientAdam(
        keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.7),
        weight_decay=0.1,
        hypergradient_lr=1e-2,
    ),
    "adam-multiplicative": lambda: HypergradientAdam(0.05, rule="multiplicative"),
    "rmsprop": lambda: HypergradientRMSprop(0.01, rho=0.7, hypergradient_lr=1e-4),
}


def gradients_at(variables, step):
    """A gradient that depends on the weights (so that the runs can drift apart) and the step.

    Its derivative in the weights is at most 1, so rounding differences are not amplified.
    """
    return [
        keras.ops.convert_to_tensor(np.sin(keras.ops.convert_to_numpy(v)) + 0.3 * np.cos(step))
        for v in variables
    ]


def run(optimizer, steps=12):
    rng = np.random.default_rng(3)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    for step in range(steps):
        optimizer.apply(gradients_at(variables, step), variables)
    return [keras.ops.convert_to_numpy(v) for v in variables + optimizer.variables]


@pytest.mark.parametrize("case", list(FOREACH_CASES))
def test_foreach_path_follows_the_per_variable_equations(case, monkeypatch):
    taken = []
    fast = FOREACH_CASES[case]()
    original = type(fast)._foreach_directions

    def recorded(self, *args):
        taken.append(True)
        return original(self, *args)

    monkeypatch.setattr(type(fast), "_foreach_directions", recorded)
    fast_state = run(fast)
    assert taken, "the multi-tensor path was not taken"

    slow = FOREACH_CASES[case]()
    monkeypatch.setattr(type(slow), "_takes_foreach_path", lambda self, variables: False)
    slow_state = run(slow)
    # Weights, slots (moments, stored directions), learned rate and counters, one by one.
    assert len(fast_state) == len(slow_state)
    for a, b in zip(fast_state, slow_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    assert not np.allclose(fast_state[0], run(FOREACH_CASES[case](), steps=0)[0])


def graph_nodes_during(function):
    """How many tensors with an autograd history the ops run by `function` produced."""
    import torch
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        nodes = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            for item in result if isinstance(result, (list, tuple)) else [result]:
                if isinstance(item, torch.Tensor) and item.grad_fn is not None:
                    Recorder.nodes += 1
            return result

    with Recorder():
        function()
    return Recorder.nodes


@pytest.mark.parametrize(
    "make",
    [
        lambda: HypergradientAdam(0.01),
        lambda: HypergradientAdam(0.01, scope="element", learn=["learning_rate", "beta_1"]),
        lambda: HypergradientSGD(
            0.01, momentum=0.9, hyper_optimizer=HypergradientSGD(1e-4, hypergradient_lr=1e-3)
        ),
        lambda: ActiveLR(keras.optimizers.AdamW(0.01), period=2),
        lambda: AutoRate(keras.optimizers.Adam(0.01)),
        lambda: Prodigy(),
        lambda: RAdam(0.01),
        lambda: AdaBelief(0.01),
    ],
    ids=[
        "adam-global",
        "adam-element-beta",
        "sgd-tower",
        "active-lr",
        "autorate",
        "prodigy",
        "radam",
        "adabelief",
    ],
)
def test_apply_outside_no_grad_records_no_autograd_graph(make):
    # A custom training loop calls `apply` with gradients enabled; Keras' own PyTorch
    # optimizers disable them in their update, and so must these.
    import torch

    assert torch.is_grad_enabled()
    variables = [keras.Variable(np.ones(s, "float32")) for s in SHAPES]
    assert all(v.value.requires_grad for v in variables)
    optimizer = make()
    grads = [keras.ops.ones(s) for s in SHAPES]
    optimizer.apply(grads, variables)  # builds
    assert graph_nodes_during(lambda: optimizer.apply(grads, variables)) == 0
    assert graph_nodes_during(lambda: optimizer.apply(grads, variables)) == 0
    assert all(v.value.grad_fn is None for v in variables)
