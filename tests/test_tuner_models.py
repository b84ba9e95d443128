"""EffortTuner's reuse of built models across configurations of the same graph."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest
from distributed_search import toy_data

from keras_effort.optimizers import HypergradientAdam
from keras_effort.tuners import EffortSearch

OPTIMIZERS = {"adam": keras.optimizers.Adam, "hypergradient_adam": HypergradientAdam}


def build(hp: keras_tuner.HyperParameters) -> keras.Model:
    """A compiled 4-width-2 MLP; the learning rate, width and optimizer are hyperparameters."""
    learning_rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    width = hp.Choice("width", [8, 16])
    optimizer = OPTIMIZERS[hp.Choice("optimizer", sorted(OPTIMIZERS))](learning_rate)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def values(learning_rate: float, width: int = 8, optimizer: str = "adam"):
    hp = keras_tuner.HyperParameters()
    hp.values = {"learning_rate": learning_rate, "width": width, "optimizer": optimizer}
    return hp


def state(model: keras.Model) -> list[np.ndarray]:
    """The model's weights and its optimizer's variables, as arrays."""
    variables = [*model.weights, *model.optimizer.variables]
    return [keras.ops.convert_to_numpy(v) for v in variables]


def train(model: keras.Model) -> None:
    (x, y), _ = toy_data()
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)


def fresh(hp: keras_tuner.HyperParameters, seed: int) -> keras.Model:
    """The model the tuner would build for `hp` after `keras.utils.set_random_seed(seed)`."""
    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    model = build(hp)
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture
def tuner(tmp_path) -> EffortSearch:
    return EffortSearch(
        build,
        target=("val_accuracy", 0.9),
        max_trials=8,
        max_steps=40,
        directory=str(tmp_path),
        project_name="models",
    )


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_model_reused_for_another_learning_rate_trains_as_a_fresh_one(tuner, optimizer) -> None:
    keras.utils.set_random_seed(1)
    first = tuner._model_of(values(0.01, optimizer=optimizer))
    train(first)  # its weights, moments, step count and (hypergradient) learned rate move

    keras.utils.set_random_seed(2)
    reused = tuner._model_of(values(0.05, optimizer=optimizer))
    assert reused is first  # the same graph: its traced functions serve the new configuration
    expected = fresh(values(0.05, optimizer=optimizer), seed=2)
    assert float(keras.ops.convert_to_numpy(reused.optimizer.learning_rate)) == pytest.approx(
        0.05
    )
    # Nothing of the first configuration's training is left: weights, step, moments, rates.
    for got, want in zip(state(reused), state(expected), strict=True):
        np.testing.assert_array_equal(got, want)
    train(reused)
    train(expected)
    for got, want in zip(state(reused), state(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_models_are_reused_only_for_the_same_graph_and_the_last_few_are_kept(tuner) -> None:
    keras.utils.set_random_seed(0)
    narrow = tuner._model_of(values(0.01, width=8))
    wide = tuner._model_of(values(0.01, width=16))
    sgd_like = tuner._model_of(values(0.01, width=8, optimizer="hypergradient_adam"))
    assert wide is not narrow and sgd_like is not narrow
    # Back to the first graph, at another rate: the kept model, not a new one.
    assert tuner._model_of(values(0.03, width=8)) is narrow
    assert tuner._model_of(values(0.02, width=16)) is wide
