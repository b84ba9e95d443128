"""A workload: a model, its data, a target on held-out data and the budget to reach it.

A workload is a small frozen object. `build_model()` returns a fresh, *uncompiled* model (its
initial weights drawn from Keras' global seed, so seed with `keras.utils.set_random_seed`
first); `compile(model, optimizer)` compiles it with the workload's loss and metrics and the
optimizer under test. `data()` returns `((x_train, y_train), (x_val, y_val))`, generated or
read offline and cached. `variant(...)` gives the same workload on other data or another
width or depth, for held-out checks: a method tuned to the suite should still do well on its
variants.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from keras_effort import datasets
from keras_effort.arguments import positive_int
from keras_effort.effort import Target

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Workload:
    """One effort benchmark: train `build_model()` on `data()` until `target` is met.

    Attributes:
        name: the workload's name, a key of `WORKLOADS` (a variant's name says what changed).
        family: the architecture family, e.g. `"MLP"`, `"1-D CNN"`, `"Transformer"`.
        description: one line: the network, the data and the protocol.
        target: the validation metric and the value to reach (see `targets.json`).
        budget: gradient steps an attempt may run.
        check_every: gradient steps between checks of the target (one compiled call of
            `fit` on TensorFlow and JAX; it divides an epoch's steps).
        batch_size: the training batch size.
        data_seed: the seed of the data's generation or split (variants change it).
        width: the network's width (units, filters or model dimension).
        depth: the number of hidden layers or blocks.
    """

    name: str
    family: str
    description: str
    target: Target
    budget: int
    check_every: int
    batch_size: int
    width: int
    depth: int
    data_seed: int = 0

    def __post_init__(self) -> None:
        for field in ("budget", "check_every", "batch_size", "width", "depth"):
            positive_int(f"{self.name}.{field}", getattr(self, field))
        if not isinstance(self.target, Target) or self.target.direction is None:
            raise ValueError(
                f"`target` of workload {self.name!r} must be a Target with a known direction, "
                f"got {self.target!r}"
            )

    def build_model(self) -> Any:
        """A fresh, uncompiled `keras.Model`; seed Keras first for reproducible weights."""
        raise NotImplementedError

    def data(self) -> tuple[Split, Split]:
        """`((x_train, y_train), (x_val, y_val))`, made offline; cached (do not modify it)."""
        return _cached_data(type(self), self.data_seed)

    @classmethod
    def _load(cls, data_seed: int) -> tuple[Split, Split]:
        raise NotImplementedError

    def loss(self) -> Any:
        """The training loss (a fresh Keras loss object)."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list[Any]:
        """The compiled metrics; the target's metric is one of them or the loss."""
        return ["accuracy"]

    def compile(self, model: Any, optimizer: Any, steps_per_execution: int = 1) -> Any:
        """Compile `model` with this workload's loss and metrics and `optimizer`.

        Args:
            model: a model from `build_model()`.
            optimizer: a `keras.optimizers.Optimizer`.
            steps_per_execution: gradient steps per compiled call (1 on PyTorch).

        Returns:
            The model, compiled.
        """
        model.compile(
            optimizer=optimizer,
            loss=self.loss(),
            metrics=self.metrics(),
            steps_per_execution=steps_per_execution,
        )
        return model

    @property
    def epoch_steps(self) -> int:
        """Gradient steps in one pass over the training data."""
        (x, _), _ = self.data()
        return -(-len(x) // self.batch_size)

    def variant(self, data_seed: int | None = None, width: int | None = None,
                depth: int | None = None) -> Workload:
        """The same workload on other data or with another width or depth (held-out checks).

        The target stays the workload's: a variant asks whether a method still reaches it.

        Args:
            data_seed: the seed of the data's generation or split.
            width: the network's width.
            depth: the network's depth.

        Returns:
            A new workload, named after what changed, e.g. `"mnist1d_mlp[width=50]"`.
        """
        changes = {
            key: value
            for key, value in (("data_seed", data_seed), ("width", width), ("depth", depth))
            if value is not None and value != getattr(self, key)
        }
        if not changes:
            return self
        label = ",".join(f"{key}={value}" for key, value in changes.items())
        return dataclasses.replace(self, name=f"{self.name}[{label}]", **changes)

    def summary(self) -> dict[str, Any]:
        """The workload as JSON-friendly facts (name, family, metric, target, budget...)."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "metric": self.target.metric,
            "target": self.target.value,
            "mode": "max" if self.target.direction == "up" else "min",
            "budget": self.budget,
            "check_every": self.check_every,
            "batch_size": self.batch_size,
        }


@functools.lru_cache(maxsize=16)
def _cached_data(kind: type[Workload], data_seed: int) -> tuple[Split, Split]:
    return kind._load(data_seed)


class MNIST1DMLP(Workload):
    """The MNIST-1D MLP of the learning-rate protocol: 40 -> width x depth (relu) -> 10 logits."""

    @classmethod
    def _load(cls, data_seed: int) -> tuple[Split, Split]:
        return datasets.load_mnist1d(42 + data_seed)

    def build_model(self) -> Any:
        hidden = [keras.layers.Dense(self.width, activation="relu") for _ in range(self.depth)]
        return keras.Sequential([keras.Input((40,)), *hidden, keras.layers.Dense(10)])


class MNIST1DCNN(MNIST1DMLP):
    """A 1-D CNN on MNIST-1D: `depth` strided Conv1D(width, 5) layers, then a Dense head."""

    def build_model(self) -> Any:
        convolutions = [
            keras.layers.Conv1D(self.width, 5, strides=2, padding="same", activation="relu")
            for _ in range(self.depth)
        ]
        return keras.Sequential(
            [
                keras.Input((40,)),
                keras.layers.Reshape((40, 1)),
                *convolutions,
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )


class MNIST1DGRU(MNIST1DMLP):
    """MNIST-1D read as a sequence of 40 one-feature steps by `depth` GRU(width) layers."""

    def build_model(self) -> Any:
        recurrent = [
            keras.layers.GRU(self.width, return_sequences=i < self.depth - 1)
            for i in range(self.depth)
        ]
        return keras.Sequential(
            [keras.Input((40,)), keras.layers.Reshape((40, 1)), *recurrent, keras.layers.Dense(10)]
        )


class DigitsResNet(Workload):
    """The 8x8 digits by a small CNN: a Conv2D-BatchNorm stem, `depth` residual blocks."""

    @classmethod
    def _load(cls, data_seed: int) -> tuple[Split, Split]:
        return datasets.load_digits_images(validation=397, seed=data_seed)

    def build_model(self) -> Any:
        layers = keras.layers
        inputs = keras.Input((8, 8, 1))
        x = layers.Conv2D(self.width, 3, padding="same", use_bias=False)(inputs)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        for _ in range(self.depth):
            y = layers.Conv2D(self.width, 3, padding="same", use_bias=False)(x)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            y = layers.Conv2D(self.width, 3, padding="same", use_bias=False)(y)
            x = layers.Activation("relu")(layers.Add()([x, layers.BatchNormalization()(y)]))
        x = layers.Flatten()(layers.MaxPooling2D(2)(x))
        return keras.Model(inputs, layers.Dense(10)(x))


class DigitsConvGAP(DigitsResNet):
    """The digits net of the AutoRate report: Conv2D(16, 3, same) -> Conv2D(32, 3) -> GAP -> 10.

    With `width` w the filters are w and 2w; `depth` is fixed at 2 convolutions.
    """

    def build_model(self) -> Any:
        layers = keras.layers
        return keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                layers.Conv2D(self.width, 3, padding="same", activation="relu"),
                layers.Conv2D(2 * self.width, 3, activation="relu"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10),
            ]
        )


@keras.saving.register_keras_serializable("keras_effort")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to its token's embedding."""

    def __init__(self, length: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.length, self.width = length, width

    def build(self, input_shape: Any) -> None:
        self.positions = self.add_weight(
            shape=(self.length, self.width), initializer="random_normal", name="positions"
        )

    def call(self, inputs: Any) -> Any:
        return inputs + self.positions

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length, "width": self.width}


class StdlibTransformer(Workload):
    """A character-level Transformer language model on the standard library's source.

    Token and position embeddings of size `width`, `depth` pre-norm blocks of causal
    multi-head attention (2 heads) and an MLP (2 x width), a final LayerNorm and a Dense
    head over the 97 character ids. The target is the validation loss (cross-entropy in nats
    per character).
    """

    context = 48

    @classmethod
    def _load(cls, data_seed: int) -> tuple[Split, Split]:
        # The text is fixed; another data seed cuts it into windows at other places.
        return datasets.load_stdlib_text(
            characters=120_000, context=cls.context, offset=data_seed % (cls.context + 1)
        )

    def build_model(self) -> Any:
        layers = keras.layers
        vocabulary = len(datasets.TEXT_ALPHABET) + 1
        tokens = keras.Input((self.context,), dtype="int32")
        x = layers.Embedding(vocabulary, self.width)(tokens)
        x = PositionEmbedding(self.context, self.width)(x)
        for _ in range(self.depth):
            y = layers.LayerNormalization()(x)
            y = layers.MultiHeadAttention(2, self.width // 2)(y, y, use_causal_mask=True)
            x = layers.Add()([x, y])
            y = layers.LayerNormalization()(x)
            y = layers.Dense(2 * self.width, activation="gelu")(y)
            x = layers.Add()([x, layers.Dense(self.width)(y)])
        x = layers.LayerNormalization()(x)
        return keras.Model(tokens, layers.Dense(vocabulary)(x))

    def metrics(self) -> list[Any]:
        return []


class FriedmanMLP(Workload):
    """Regression of Friedman's first function by an MLP; the target is the validation MSE."""

    @classmethod
    def _load(cls, data_seed: int) -> tuple[Split, Split]:
        return datasets.load_friedman1(seed=data_seed)

    def build_model(self) -> Any:
        hidden = [keras.layers.Dense(self.width, activation="relu") for _ in range(self.depth)]
        return keras.Sequential([keras.Input((10,)), *hidden, keras.layers.Dense(1)])

    def loss(self) -> Any:
        return keras.losses.MeanSquaredError()

    def metrics(self) -> list[Any]:
        return []
