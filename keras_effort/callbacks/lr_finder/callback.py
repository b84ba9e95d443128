"""The range test as a callback (`LearningRateFinder`), and its one-call driver."""

from __future__ import annotations

import math
from typing import Any

import keras

from keras_effort.arguments import integer, positive_real, real_in
from keras_effort.callbacks.lr_finder.maths import smooth_losses
from keras_effort.callbacks.lr_finder.result import LearningRateFinderResult


def _check_range(min_lr: float, max_lr: float, num_steps: int) -> None:
    real_in("max_lr", max_lr, positive_real("min_lr", min_lr), low_open=True)
    integer("num_steps", num_steps, minimum=2)


def _check_steps_per_execution(model: keras.Model) -> None:
    if getattr(model, "steps_per_execution", 1) != 1:
        raise ValueError(
            "LearningRateFinder needs `steps_per_execution=1` in `compile` so that it can "
            f"set the rate every step, got {model.steps_per_execution}"
        )


class LearningRateFinder(keras.callbacks.Callback):
    """The learning-rate range test as a callback.

    During `fit`, step `i` of `num_steps` runs at rate
    `min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))` and its training loss is recorded.
    The test stops after `num_steps` steps, or earlier when the smoothed loss exceeds
    `divergence_factor` times its lowest value or a loss is NaN or infinite. When training ends
    the callback restores every model variable (weights, non-trainable state, random seeds) and
    every optimizer variable (slots, `iterations` and the rate), so the model is as it was
    before, and leaves its `result`.

    The rate is set through the optimizer's `learning_rate` property before each step, so
    optimizers that forward it to an inner optimizer (`keras.optimizers.LossScaleOptimizer`,
    `keras_effort.optimizers.ActiveLR`) work; for optimizers that adapt their own rate
    (hypergradient ones), the finder sets the rate each step starts from. An optimizer created
    with a `LearningRateSchedule` has no settable rate: the callback raises `ValueError` at the
    start of training rather than swapping the schedule behind the back of a train function that
    may already be traced. Run the test with a float rate and build the schedule from the
    suggestion, e.g. `OneCycle(max_learning_rate=result.edge_of_stability * 10, ...)`.

    The loss is the training loss of each batch: the callback resets the model's metrics before
    each step, as Keras reports running means over the epoch. Batch hooks must fire every step
    (`steps_per_execution=1`). The divergence test assumes a positive loss such as
    cross-entropy.

    Example:

    ```python
    finder = LearningRateFinder(min_lr=1e-6, max_lr=10.0, num_steps=100)
    model.fit(x, y, batch_size=64, epochs=10, callbacks=[finder], verbose=0)
    print(finder.result.edge_of_stability, finder.result.steepest)
    ```

    Args:
        min_lr: the rate of the first step, > 0.
        max_lr: the rate of the last step, > `min_lr`.
        num_steps: the number of steps of the test, >= 2. `fit` must run at least this many
            steps for the whole range to be tried.
        beta: the smoothing weight of the loss average, in [0, 1) (fastai: 0.98).
        divergence_factor: stop when the smoothed loss exceeds this multiple of its lowest
            value, > 1 (fastai: 4).
        safety_factor: the edge-of-stability suggestion is the rate at the lowest smoothed loss
            divided by this, >= 1.

    Raises:
        ValueError: for arguments outside the ranges above.

    Reference:
        - [Smith, 2017. Cyclical Learning Rates for Training Neural
          Networks](https://arxiv.org/abs/1506.01186), section 3.3
        - fastai's [`lr_find`](https://docs.fast.ai/callback.schedule.html#lr_find)
    """

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        beta: float = 0.98,
        divergence_factor: float = 4.0,
        safety_factor: float = 10.0,
    ):
        super().__init__()
        _check_range(min_lr, max_lr, num_steps)
        real_in("beta", beta, 0.0, 1.0, high_open=True)
        real_in("divergence_factor", divergence_factor, 1.0, low_open=True)
        real_in("safety_factor", safety_factor, 1.0)
        self.min_lr = float(min_lr)
        self.max_lr = float(max_lr)
        self.num_steps = num_steps
        self.beta = float(beta)
        self.divergence_factor = float(divergence_factor)
        self.safety_factor = float(safety_factor)
        self.result: LearningRateFinderResult | None = None
        self._snapshot: tuple[list, list, float] | None = None
        self._losses: list[float] = []
        self._diverged = False

    def learning_rate_at(self, index: int) -> float:
        """The rate of step `index` of the test (0-based)."""
        return self.min_lr * (self.max_lr / self.min_lr) ** (index / (self.num_steps - 1))

    def on_train_begin(self, logs=None):
        model = self.model
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        # Saved before the rate is first set: for optimizers with learned rates (the
        # hypergradient ones) setting it restarts those rates from the value set.
        self._snapshot = (
            [keras.ops.convert_to_numpy(v) for v in model.variables],
            [keras.ops.convert_to_numpy(v) for v in optimizer.variables],
            learning_rate,
        )
        try:
            # Assigning the current value changes nothing but fails for a schedule (TypeError)
            # or a plain callable (AttributeError).
            optimizer.learning_rate = learning_rate
        except (TypeError, AttributeError) as error:
            self._snapshot = None  # nothing was changed: nothing to restore
            raise ValueError(
                "LearningRateFinder needs an optimizer with a settable learning rate, but "
                f"{type(optimizer).__name__}'s rate is a schedule or a callable. Compile with a "
                "float `learning_rate` for the range test and build the schedule from its "
                "suggestion."
            ) from error
        _check_steps_per_execution(model)
        self._losses = []
        self._diverged = False
        self.result = None

    def on_train_batch_begin(self, batch, logs=None):
        model = self.model  # on JAX, reading `model` syncs the state the assignments change
        model.reset_metrics()
        model.optimizer.learning_rate = self.learning_rate_at(len(self._losses))

    def on_train_batch_end(self, batch, logs=None):
        self._losses.append(float((logs or {})["loss"]))
        smoothed = smooth_losses(self._losses, self.beta)
        # Once a loss is not finite the average never is again, so a finite latest value means
        # the whole curve is finite.
        latest = smoothed[-1]
        if not math.isfinite(latest) or latest > self.divergence_factor * smoothed.min():
            self._diverged = True
            self.model.stop_training = True
        elif len(self._losses) >= self.num_steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.restore()
        self.result = LearningRateFinderResult.from_losses(
            [self.learning_rate_at(i) for i in range(len(self._losses))],
            self._losses,
            beta=self.beta,
            safety_factor=self.safety_factor,
            diverged=self._diverged,
        )

    def restore(self) -> None:
        """Put back the model and optimizer state saved when training began (once)."""
        if self._snapshot is None:
            return
        model_values, optimizer_values, learning_rate = self._snapshot
        self._snapshot = None
        model = self.model
        # First the rate (a wrapping optimizer may keep its variable outside `variables`, and
        # setting it restarts learned rates), then every variable as it was.
        model.optimizer.learning_rate = learning_rate
        for variable, value in zip(model.variables, model_values, strict=True):
            variable.assign(value)
        for variable, value in zip(model.optimizer.variables, optimizer_values, strict=True):
            variable.assign(value)


def find_learning_rate(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    batch_size: int | None = 32,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = 0.98,
    divergence_factor: float = 4.0,
    safety_factor: float = 10.0,
    verbose: int = 0,
) -> LearningRateFinderResult:
    """Run the learning-rate range test on a compiled model and return the curve.

    Trains `model` for up to `num_steps` steps with `LearningRateFinder`, then restores its
    weights and optimizer state, also when training raises.

    Example:

    ```python
    model.compile(keras.optimizers.SGD(momentum=0.9), "sparse_categorical_crossentropy")
    result = find_learning_rate(model, x_train, y_train, batch_size=64)
    result.save_plot("lr_finder.png")
    model.optimizer.learning_rate = result.edge_of_stability
    ```

    Args:
        model: a compiled Keras model whose optimizer has a float learning rate.
        x: inputs as for `model.fit`: arrays (cycled over as many epochs as needed) or a
            dataset or generator, which must yield at least `num_steps` batches (`repeat()` it).
        y: targets when `x` is an array.
        batch_size: the batch size when `x` is an array; ignored for datasets.
        min_lr: the rate of the first step, > 0.
        max_lr: the rate of the last step, > `min_lr`.
        num_steps: the number of steps, >= 2.
        beta: the smoothing weight of the loss, in [0, 1).
        divergence_factor: stop when the smoothed loss exceeds this multiple of its lowest
            value, > 1.
        safety_factor: divisor of the edge-of-stability suggestion, >= 1.
        verbose: passed to `fit`.

    Returns:
        The `LearningRateFinderResult`.

    Raises:
        ValueError: if the model is not compiled, is compiled with `steps_per_execution` other
            than 1, or for arguments outside the ranges above.
    """
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError("`model` must be compiled (with an optimizer and a loss) first")
    # Before `fit`, whose first trace (JAX's) may fail on something else first.
    _check_steps_per_execution(model)
    finder = LearningRateFinder(
        min_lr=min_lr,
        max_lr=max_lr,
        num_steps=num_steps,
        beta=beta,
        divergence_factor=divergence_factor,
        safety_factor=safety_factor,
    )
    first_input = keras.tree.flatten(x)[0]
    if getattr(first_input, "shape", None):
        if batch_size is None or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        steps_per_epoch = math.ceil(first_input.shape[0] / batch_size)
        fit_arguments = {"batch_size": batch_size, "epochs": math.ceil(num_steps / steps_per_epoch)}
    else:
        # A dataset brings its own order; `fit` would warn about its default `shuffle=True`.
        fit_arguments = {"epochs": 1, "steps_per_epoch": num_steps, "shuffle": False}
    try:
        model.fit(x, y, callbacks=[finder], verbose=verbose, **fit_arguments)
    finally:
        finder.restore()
    return finder.result
