"""Every optimizer takes an Embedding's gradient (TensorFlow's `IndexedSlices`) on every backend.

An Embedding model is trained a few steps with each optimizer; the same model with the lookup
written as a one-hot matrix product (whose gradient is dense on every backend) is trained from
the same weights on the same batches. The two must end with the same weights and optimizer
state: a sparse gradient is the dense one, stored as the rows it touches.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keras_effort import optimizers

VOCABULARY, WIDTH, CLASSES = 12, 4, 3

OPTIMIZERS = {
    "HypergradientSGD": lambda: optimizers.HypergradientSGD(0.5, momentum=0.9),
    "HypergradientAdam": lambda: optimizers.HypergradientAdam(0.05),
    "HypergradientRMSprop": lambda: optimizers.HypergradientRMSprop(0.01),
    "ActiveLR": lambda: optimizers.ActiveLR(keras.optimizers.Adam(0.05), period=2),
    "ActiveSGD": lambda: optimizers.active_sgd(0.5, period=2),
    "ActiveAdamW": lambda: optimizers.active_adamw(0.05, period=2),
    "ActiveRAdam": lambda: optimizers.active_radam(0.05, period=2),
    "ActiveAdaBelief": lambda: optimizers.active_adabelief(0.05, period=2),
    "RAdam": lambda: optimizers.RAdam(0.05),
    "AdaBelief": lambda: optimizers.AdaBelief(0.05),
    "Prodigy": lambda: optimizers.Prodigy(),
    "AutoRate": lambda: optimizers.AutoRate(keras.optimizers.Adam(0.05)),
}


class OneHotEmbedding(keras.layers.Layer):
    """`Embedding` written as `one_hot(x) @ embeddings`: the same output, a dense gradient."""

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight(shape=(VOCABULARY, WIDTH), name="embeddings")

    def call(self, x):
        return ops.matmul(ops.one_hot(x, VOCABULARY), self.embeddings)


def model(lookup: keras.layers.Layer, make_optimizer) -> keras.Model:
    network = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            lookup,
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(CLASSES),
        ]
    )
    network.compile(
        make_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return network


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_embedding_gradient_steps_like_its_dense_form(name):
    rng = np.random.default_rng(0)
    # Only half the vocabulary is looked up, with repeats: the rows not seen get no gradient.
    x = rng.integers(0, VOCABULARY // 2, size=(24, 5)).astype("int32")
    y = rng.integers(0, CLASSES, size=24)
    keras.utils.set_random_seed(1)
    sparse = model(keras.layers.Embedding(VOCABULARY, WIDTH), OPTIMIZERS[name])
    dense = model(OneHotEmbedding(), OPTIMIZERS[name])
    dense.set_weights(sparse.get_weights())
    start = [keras.ops.convert_to_numpy(w) for w in sparse.weights]

    for network in (sparse, dense):
        network.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    trained = [keras.ops.convert_to_numpy(w) for w in sparse.weights]
    assert all(np.isfinite(w).all() for w in trained)
    assert not np.allclose(trained[0], start[0]), "the embeddings did not move"
    for got, want in zip(trained, dense.weights, strict=True):
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(want), rtol=1e-5, atol=1e-6)
    for got, want in zip(sparse.optimizer.variables, dense.optimizer.variables, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(got),
            keras.ops.convert_to_numpy(want),
            rtol=1e-5,
            atol=1e-6,
            err_msg=got.path,
        )
