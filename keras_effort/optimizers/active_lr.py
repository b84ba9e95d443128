"""ActiveLR: sign-aware per-parameter learning rates around any Keras optimizer (Wadi et al.)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
from keras import ops

from keras_effort.optimizers._arguments import check_non_negative
from keras_effort.optimizers._backend import InPlaceAssignments, dense_gradients, no_grad
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.radam import RAdam

EPOCH = "epoch"
# The reference code's Adam-type default is 0.2; 2.0 (its paper's CIFAR/ImageNet setting) lets a
# multiplier grow 100-fold within 40 periods, which rescues too-small learning rates.
DEFAULT_INCREASE = 2.0
DEFAULT_DECREASE = 0.5


@keras.saving.register_keras_serializable(package="keras_effort")
class ActiveLR(InPlaceAssignments, keras.optimizers.Optimizer):
    """Scale the step of any Keras optimizer by a learned multiplier per parameter element.

    ActiveLR ("Read the Signs") keeps, for every element of every trained variable, the sum of
    its gradients over the current period, the previous period's sum `S_prev` and a
    multiplier `g` (initially 1). At the end of every period after the first `warmup_periods`
    it compares the period's sum `S` with `S_prev`:

        g = g * decrease     where S * S_prev <= 0   (sign flipped or no signal: step too large)
        g = g + increase     elsewhere               (same sign: step too small)

    then optionally clips `g` to `bounds`. The wrapped optimizer takes its step as usual
    (`apply`, with its own clipping, weight decay, constraints and step counter) and ActiveLR
    scales what it changed: `w = w0 + g * (w_inner - w0)`, where `w0` is the weight before the
    step and `w_inner` the weight the wrapped optimizer produced. This needs a copy of the
    weights during each step. The wrapped optimizer's own state (momentum, second moments)
    sees the raw gradients, and `g` changes right after the last step of a period, so the next
    period's first step uses the new value.

    Because the whole step is scaled, so is decoupled weight decay (like a learning rate
    schedule's factor in AdamW); the reference code decays unscaled. The gradient sums are of
    the gradients passed to `apply` (under `tf.distribute`, summed over replicas), before the
    wrapped optimizer's clipping.

    With an integer `period` the bookkeeping runs inside the compiled train step (periods may
    end inside a `steps_per_execution` block). With `period="epoch"` a period ends when
    `end_period()` is called: in `fit`, add the `ActiveLREpochEnd` callback, which calls it
    after every epoch; in a custom loop, call `optimizer.end_period()` after each epoch (or
    whenever a period should end).

    `ActiveLR` follows `keras.optimizers.LossScaleOptimizer`: `inner_optimizer` is the wrapped
    optimizer, `learning_rate` and `iterations` are the wrapped optimizer's (so
    `ReduceLROnPlateau`, learning rate schedules and `TensorBoard` act on it), `variables` are
    ActiveLR's own followed by the wrapped optimizer's. Any Keras optimizer can be wrapped,
    including the PyTorch backend's own, `Nadam` and optimizers that learn their own rate;
    the wrapped optimizer's `use_ema`, `gradient_accumulation_steps` and `loss_scale_factor`
    are not supported (for loss scaling, wrap ActiveLR in a `LossScaleOptimizer`).

    Args:
        optimizer: The `keras.optimizers.Optimizer` whose step is scaled. It must not be built
            yet and must not itself wrap another optimizer.
        period: `"epoch"`, or the number of optimizer steps per period (an int >= 1).
        increase: Added to a multiplier whose gradient sums agree in sign (a finite float
            >= 0). Defaults to `2.0`, the reference paper's CIFAR/ImageNet setting (its code
            defaults to `0.2`, which lets a multiplier grow only 9-fold in 40 periods).
        decrease: Factor applied to a multiplier whose gradient sums disagree, in (0, 1].
        warmup_periods: Number of periods that only record gradient sums before the
            multipliers first change (an int >= 1; the reference code uses 1).
        bounds: `(min_multiplier, max_multiplier)` to clip the multipliers to, or `None`
            for no bounds (the reference code has none).
        name: Name of the optimizer.

    Raises:
        TypeError: If `optimizer` is not a `keras.optimizers.Optimizer`.
        ValueError: If an argument is outside its allowed values, or `optimizer` uses an
            unsupported option.

    Reference:
        Wadi, Fredette & Senecal, "Read the Signs: Towards Invariance to Gradient Descent's
        Hyperparameter Initialization", arXiv:2301.10133. Code: github.com/davoodwadi/active-lr.
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        period: int | str = EPOCH,
        increase: float = DEFAULT_INCREASE,
        decrease: float = DEFAULT_DECREASE,
        warmup_periods: int = 1,
        bounds: tuple[float, float] | None = None,
        name: str | None = None,
    ) -> None:
        _check_wrappable(optimizer)
        if period != EPOCH and not (_is_int(period) and period >= 1):
            raise ValueError(
                f"`period` must be 'epoch' or an integer >= 1 (a number of steps); "
                f"received period={period!r}."
            )
        check_non_negative("increase", increase)
        if not (_is_number(decrease) and 0 < decrease <= 1):
            raise ValueError(
                f"`decrease` must be a float in (0, 1]; received decrease={decrease!r}."
            )
        if not (_is_int(warmup_periods) and warmup_periods >= 1):
            raise ValueError(
                f"`warmup_periods` must be an integer >= 1; received "
                f"warmup_periods={warmup_periods!r}."
            )
        if bounds is not None:
            valid = (
                isinstance(bounds, (tuple, list))
                and len(bounds) == 2
                and all(_is_number(b) and math.isfinite(b) for b in bounds)
                and 0 <= bounds[0] <= bounds[1]
            )
            if not valid:
                raise ValueError(
                    "`bounds` must be None or (min_multiplier, max_multiplier), two finite "
                    "floats with 0 <= min_multiplier <= max_multiplier; received "
                    f"bounds={bounds!r}."
                )
            bounds = (float(bounds[0]), float(bounds[1]))
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer
        self.period = period
        self.increase = float(increase)
        self.decrease = float(decrease)
        self.warmup_periods = warmup_periods
        self.bounds = bounds
        # Set by `ActiveLREpochEnd` (or by the warning below, to warn only once): with
        # period="epoch", somebody must call `end_period()`.
        self._end_period_caller_known = False

    def build(self, var_list: list) -> None:
        """Build the wrapped optimizer and create the per-element ActiveLR state."""
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        self._gradient_sums, self._previous_sums = self.add_optimizer_variables(
            var_list, ["gradient_sum", "previous_gradient_sum"]
        )
        self._multipliers = self.add_optimizer_variables(var_list, "multiplier", initializer="ones")
        # Like `iterations`: assigned in replica context, identical on every replica.
        self.periods_completed = self.add_variable(
            shape=(),
            dtype="int",
            initializer="zeros",
            aggregation="only_first_replica",
            name="periods_completed",
        )

    @property
    def variables(self) -> list:
        """ActiveLR's own variables followed by the wrapped optimizer's."""
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self) -> Any:
        """The wrapped optimizer's learning rate."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> Any:
        """The wrapped optimizer's step counter."""
        return self.inner_optimizer.iterations

    @property
    def learned_hyperparameters(self) -> dict[str, Any]:
        """The wrapped optimizer's learned hyperparameters, if any, and the multipliers.

        The multipliers are one tensor per variable: `{"multiplier/<variable path>": tensor}`.
        """
        learned = dict(getattr(self.inner_optimizer, "learned_hyperparameters", {}))
        if not self.built:
            return learned
        for variable, multiplier in zip(self._trainable_variables, self._multipliers, strict=True):
            learned[f"multiplier/{_variable_name(variable)}"] = ops.copy(multiplier)
        return learned

    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Let the wrapped optimizer take its step, then scale the step by the multipliers.

        Args:
            grads: One gradient (or `None`) per variable.
            trainable_variables: The variables; defaults to those the optimizer was built
                with. Needed on the first call, which builds the optimizer.
        """
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        if self.period == EPOCH and not self._end_period_caller_known:
            warnings.warn(
                "ActiveLR(period='epoch') changes its multipliers only when `end_period()` is "
                "called: pass `ActiveLREpochEnd()` to `fit(callbacks=...)`, or call "
                "`optimizer.end_period()` after each epoch of a custom loop.",
                stacklevel=2,
            )
            self._end_period_caller_known = True
        with no_grad():
            self._apply(dense_gradients(grads), trainable_variables)

    def _apply(self, grads: list, trainable_variables: list | None) -> None:
        variables = list(trainable_variables or self._trainable_variables)
        # Variables without a gradient, or overwritten by it, are not stepped: leave them alone.
        scaled = [
            (gradient, variable)
            for gradient, variable in zip(grads, variables, strict=True)
            if gradient is not None and not variable.overwrite_with_gradient
        ]
        ends = self._period_ends_this_step()
        starts = [ops.copy(variable) for _, variable in scaled]
        sums = _summed_over_replicas([gradient for gradient, _ in scaled])
        self.inner_optimizer.apply(grads, trainable_variables)
        updates = [
            (variable, start, gradient)
            for (_, variable), start, gradient in zip(scaled, starts, sums, strict=True)
        ]
        _for_each_replica(self._scale_step, updates, ends)
        if self.period != EPOCH:
            self.periods_completed.assign_add(ops.cast(ends, self.periods_completed.dtype))

    def _scale_step(self, variable: Any, start: Any, gradient: Any, ends: Any) -> None:
        """Scale the wrapped optimizer's step of `variable` and record its gradient."""
        index = self._get_variable_index(variable)
        multiplier = self._multipliers[index]
        self.assign(variable, start + multiplier * ops.subtract(variable, start))
        if getattr(variable, "constraint", None) is not None:
            self.assign(variable, variable.constraint(variable))
        self.assign_add(self._gradient_sums[index], gradient)
        if self.period != EPOCH:
            self._close_period(index, ends)

    def end_period(self) -> None:
        """End the current period now: update the multipliers and start a new gradient sum.

        `ActiveLREpochEnd` calls this after every epoch of `fit`. Call it yourself in a custom
        training loop with `period="epoch"`, outside any compiled function, between steps.
        """
        if self.period != EPOCH:
            raise ValueError(
                f"end_period() is for period='epoch'; this ActiveLR ends a period every "
                f"{self.period} steps by itself."
            )
        if not self.built:
            return
        for index in range(len(self._multipliers)):
            self._assign_closed_period(index, True)
        self.periods_completed.assign_add(1)

    def _period_ends_this_step(self) -> Any:
        # Read before the wrapped optimizer counts this step.
        if self.period == EPOCH:
            return ops.convert_to_tensor(False)
        return ops.equal(ops.mod(self.iterations + 1, self.period), 0)

    def _close_period(self, index: int, ends: Any) -> None:
        """If `ends` (a scalar boolean), apply the sign rule to one variable's multipliers."""
        if keras.backend.backend() == "jax":
            # JAX's jitted train step drops assignments made inside a cond: select instead.
            self._assign_closed_period(index, ends)
        else:
            # Runs only the taken branch, so steps inside a period cost nothing here.
            ops.cond(ends, lambda: self._assign_closed_period(index, True), lambda: None)

    def _assign_closed_period(self, index: int, ends: Any) -> None:
        gradient_sum, previous_sum, multiplier = (
            ops.convert_to_tensor(slots[index])
            for slots in (self._gradient_sums, self._previous_sums, self._multipliers)
        )
        adapts = ops.logical_and(ends, self.periods_completed >= self.warmup_periods)
        same_sign = gradient_sum * previous_sum > 0
        adapted = ops.where(same_sign, multiplier + self.increase, multiplier * self.decrease)
        if self.bounds is not None:
            adapted = ops.clip(adapted, self.bounds[0], self.bounds[1])
        self.assign(self._multipliers[index], ops.where(adapts, adapted, multiplier))
        self.assign(self._previous_sums[index], ops.where(ends, gradient_sum, previous_sum))
        self.assign(
            self._gradient_sums[index],
            ops.where(ends, ops.zeros_like(gradient_sum), gradient_sum),
        )

    def finalize_variable_values(self, var_list: list) -> None:
        """Forwarded to the wrapped optimizer."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, with the wrapped optimizer serialized."""
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "period": self.period,
            "increase": self.increase,
            "decrease": self.decrease,
            "warmup_periods": self.warmup_periods,
            "bounds": list(self.bounds) if self.bounds is not None else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> ActiveLR:
        """Rebuild an `ActiveLR` and its wrapped optimizer from `get_config()`."""
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)


def _summed_over_replicas(grads: list) -> list:
    """The gradients summed over `tf.distribute` replicas (as the wrapped optimizer sums them).

    Keras' TensorFlow optimizers all-reduce inside `apply`; ActiveLR's gradient sums need the
    same global gradient, so it all-reduces a copy. Other backends pass global gradients.
    """
    if keras.backend.backend() != "tensorflow":
        return grads
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1 or not grads:
        return grads
    return context.all_reduce(tf.distribute.ReduceOp.SUM, grads)


def _for_each_replica(function: Any, updates: list, ends: Any) -> None:
    """Call `function(variable, start, gradient, ends)` for every update, on every replica.

    Under `tf.distribute` model variables are mirrored and may be assigned only through the
    strategy's `extended.update` (as Keras' optimizers do); elsewhere this is a plain loop.
    """
    if keras.backend.backend() != "tensorflow":
        for variable, start, gradient in updates:
            function(variable, start, gradient, ends)
        return
    import tensorflow as tf

    def update_all(strategy: Any, updates: list, ends: Any) -> None:
        for variable, start, gradient in updates:
            strategy.extended.update(
                variable.value, function, args=(start, gradient, ends), group=False
            )

    context = tf.distribute.get_replica_context()
    if context is None:  # already in cross-replica context
        update_all(tf.distribute.get_strategy(), updates, ends)
    else:
        context.merge_call(update_all, args=(updates, ends))


class ActiveLREpochEnd(keras.callbacks.Callback):
    """Ends a period of the model's `ActiveLR(period="epoch")` optimizer after every epoch.

    Finds the `ActiveLR` in `model.optimizer`, also inside a `LossScaleOptimizer`.

    Raises:
        ValueError: At the start of training, if the model's optimizer is not an
            `ActiveLR` with `period="epoch"`.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check the optimizer and tell it that periods will be ended."""
        optimizer = self.model.optimizer
        while not isinstance(optimizer, ActiveLR) and hasattr(optimizer, "inner_optimizer"):
            optimizer = optimizer.inner_optimizer
        if not isinstance(optimizer, ActiveLR) or optimizer.period != EPOCH:
            raise ValueError(
                "ActiveLREpochEnd needs the model's optimizer to be ActiveLR(period='epoch'); "
                f"it is {self.model.optimizer!r}."
            )
        optimizer._end_period_caller_known = True
        self._active_lr = optimizer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """End the optimizer's current period."""
        self._active_lr.end_period()


def ActiveSGD(
    learning_rate: float | Any,
    momentum: float = 0.9,
    increase: float = 0.1,
    decrease: float = 0.9,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `keras.optimizers.SGD` with momentum, with the reference defaults.

    Args:
        learning_rate: The SGD learning rate (the reference code requires one too).
        momentum: SGD momentum. Defaults to `0.9`.
        increase: ActiveLR's additive increase. Defaults to `0.1`.
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.9`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `keras.optimizers.SGD` arguments, e.g. `nesterov`, `weight_decay`.

    Returns:
        An `ActiveLR` wrapping the SGD optimizer.
    """
    inner = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, **kwargs)
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def ActiveAdamW(
    learning_rate: float | Any = 1e-3,
    weight_decay: float = 0.0,
    epsilon: float = 1e-8,
    increase: float = DEFAULT_INCREASE,
    decrease: float = 0.5,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `keras.optimizers.AdamW`, with the reference code's defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        weight_decay: Decoupled weight decay; the reference `ActiveAdam` defaults to `0.0`.
        epsilon: Defaults to `1e-8` (the reference code's; Keras' AdamW uses `1e-7`).
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `keras.optimizers.AdamW` arguments, e.g. `beta_1`, `beta_2`.

    Returns:
        An `ActiveLR` wrapping the AdamW optimizer.
    """
    inner = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=weight_decay, epsilon=epsilon, **kwargs
    )
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def ActiveRAdam(
    learning_rate: float | Any = 1e-3,
    weight_decay: float | None = 1e-2,
    increase: float = DEFAULT_INCREASE,
    decrease: float = 0.5,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `RAdam` with decoupled weight decay, the reference defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        weight_decay: Decoupled weight decay; the reference `ActiveRAdam` defaults to `1e-2`.
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `RAdam` arguments, e.g. `beta_1`, `epsilon`.

    Returns:
        An `ActiveLR` wrapping the RAdam optimizer.
    """
    inner = RAdam(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        decoupled_weight_decay=True,
        **kwargs,
    )
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def ActiveAdaBelief(
    learning_rate: float | Any = 1e-3,
    epsilon: float = 1e-8,
    rectify: bool = True,
    increase: float = DEFAULT_INCREASE,
    decrease: float = 0.5,
    period: int | str = EPOCH,
    **kwargs: Any,
) -> ActiveLR:
    """ActiveLR around `AdaBelief`, with the reference `ActiveBelief` defaults but `increase`.

    Args:
        learning_rate: Defaults to `1e-3`.
        epsilon: Defaults to `1e-8`, the reference code's (`AdaBelief` alone uses `1e-16`).
        rectify: Whether AdaBelief rectifies its step. Defaults to `True`.
        increase: ActiveLR's additive increase. Defaults to `2.0` (the reference code: `0.2`).
        decrease: ActiveLR's multiplicative decrease. Defaults to `0.5`.
        period: `"epoch"` or a number of steps; see `ActiveLR`.
        **kwargs: Further `AdaBelief` arguments, e.g. `weight_decay`.

    Returns:
        An `ActiveLR` wrapping the AdaBelief optimizer.
    """
    inner = AdaBelief(learning_rate=learning_rate, epsilon=epsilon, rectify=rectify, **kwargs)
    return ActiveLR(inner, period=period, increase=increase, decrease=decrease)


def _check_wrappable(optimizer: Any) -> None:
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "`optimizer` must be a keras.optimizers.Optimizer instance, e.g. "
            f"keras.optimizers.AdamW(); received {optimizer!r}."
        )
    if hasattr(optimizer, "inner_optimizer"):
        raise ValueError(
            "`optimizer` must not wrap another optimizer; wrap ActiveLR instead, e.g. "
            f"LossScaleOptimizer(ActiveLR(AdamW())); received {optimizer!r}."
        )
    if optimizer.built:
        raise ValueError("`optimizer` must not be built yet; pass a fresh optimizer.")
    for option in ("use_ema", "gradient_accumulation_steps", "loss_scale_factor"):
        if getattr(optimizer, option):
            raise ValueError(
                f"ActiveLR does not support `{option}` on the wrapped optimizer; received "
                f"{option}={getattr(optimizer, option)!r}."
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _variable_name(variable: Any) -> str:
    return getattr(variable, "path", None) or variable.name
