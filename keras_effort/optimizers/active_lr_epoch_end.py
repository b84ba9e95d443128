"""ActiveLREpochEnd: the callback that ends an `ActiveLR(period="epoch")` period every epoch."""

from __future__ import annotations

import keras

from keras_effort.optimizers.active_lr import EPOCH, ActiveLR
from keras_effort.optimizers.wrapper import unwrap


class ActiveLREpochEnd(keras.callbacks.Callback):
    """Ends a period of the model's `ActiveLR(period="epoch")` optimizer after every epoch.

    Finds the `ActiveLR` in `model.optimizer`, also inside a `LossScaleOptimizer`.

    Raises:
        ValueError: At the start of training, if the model's optimizer is not an
            `ActiveLR` with `period="epoch"`.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check the optimizer and tell it that periods will be ended."""
        optimizer = unwrap(self.model.optimizer, ActiveLR)
        if optimizer is None or optimizer.period != EPOCH:
            raise ValueError(
                "ActiveLREpochEnd needs the model's optimizer to be ActiveLR(period='epoch'); "
                f"it is {self.model.optimizer!r}."
            )
        optimizer._end_period_caller_known = True
        self._active_lr = optimizer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """End the optimizer's current period."""
        self._active_lr.end_period()
