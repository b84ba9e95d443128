"""Schedule-free optimizers are validated on their averaged weights, on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_effort.callbacks import TargetStopping
from keras_effort.callbacks.monitor import MetricReader
from keras_effort.callbacks.schedule_free import averaged_weights, is_schedule_free

pytestmark = pytest.mark.skipif(
    not hasattr(keras.optimizers, "ScheduleFreeAdamW"),
    reason="this Keras has no ScheduleFreeAdamW",
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
X_VAL = RNG.normal(size=(32, 3)).astype("float32")
Y_VAL = (X_VAL @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")


def linear_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.ScheduleFreeAdamW(0.1), loss="mse")
    return model


def numpy_losses(model: keras.Model) -> tuple[float, float]:
    """Validation MSE at the training weights y and at the averaged x = (y - (1-b1) z) / b1."""
    optimizer = model.optimizer
    y_weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    momentums = {v.path: keras.ops.convert_to_numpy(v) for v in optimizer.variables}
    z = [momentums[f"{optimizer.name}/{v.path.replace('/', '_')}_momentum"]
         for v in model.trainable_variables]
    beta_1 = optimizer.beta_1
    x_weights = [(w - (1 - beta_1) * m) / beta_1 for w, m in zip(y_weights, z, strict=True)]

    def mse(kernel: np.ndarray, bias: np.ndarray) -> float:
        return float(np.mean((X_VAL @ kernel + bias - Y_VAL) ** 2))

    return mse(*y_weights), mse(*x_weights)


def test_is_schedule_free_knows_keras_and_duck_typed_optimizers():
    class SwapsItself:
        def swap_to_eval(self): ...

        def swap_to_train(self): ...

    assert is_schedule_free(keras.optimizers.ScheduleFreeAdamW())
    assert is_schedule_free(SwapsItself())
    assert not is_schedule_free(keras.optimizers.Adam())


def test_step_checks_and_metric_reader_use_the_averaged_weights():
    model = linear_model()
    stop = TargetStopping(
        "val_loss", 1e-9, check_every=8, validation_data=(X_VAL, Y_VAL), batch_size=16
    )
    model.fit(X, Y, batch_size=16, epochs=4, callbacks=[stop], verbose=0)  # 16 steps
    at_y, at_x = numpy_losses(model)
    assert abs(at_x - at_y) > 0.05 * at_y  # the two points differ: the test can tell them apart
    assert stop.curve[-1][0] == 16
    np.testing.assert_allclose(stop.curve[-1][1], at_x, rtol=1e-4)
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    np.testing.assert_allclose(
        MetricReader("val_loss", (X_VAL, Y_VAL)).evaluate(model)["val_loss"], at_x, rtol=1e-4
    )
    # The training weights are back, bit for bit.
    for variable, value in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_epoch_checks_read_fit_validation_on_the_averaged_weights():
    model = linear_model()
    stop = TargetStopping("val_loss", 1e-9)
    history = model.fit(
        X, Y, batch_size=16, epochs=4, validation_data=(X_VAL, Y_VAL), callbacks=[stop], verbose=0
    )
    at_y, at_x = numpy_losses(model)
    assert abs(at_x - at_y) > 0.05 * at_y
    np.testing.assert_allclose(history.history["val_loss"][-1], at_x, rtol=1e-4)
    np.testing.assert_allclose(stop.curve[-1][1], at_x, rtol=1e-4)
    model_loss = model.evaluate(X_VAL, Y_VAL, verbose=0)  # outside keras-effort: weights y
    np.testing.assert_allclose(model_loss, at_y, rtol=1e-4)


def test_nested_swaps_swap_once():
    model = linear_model()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    with averaged_weights(model) as outer:
        once = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
        with averaged_weights(model) as inner:
            twice = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert outer and not inner
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_array_equal(a, b)
    for variable, value in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
