"""ActiveLR: sign-aware per-parameter learning rates around any Keras optimizer (Wadi et al.)."""

from __future__ import annotations

import warnings
from typing import Any

import keras
from keras import ops

from keras_effort.arguments import (
    ArgumentError,
    non_negative_real,
    optional,
    positive_int,
    real_in,
)
from keras_effort.optimizers import _backend
from keras_effort.optimizers._arguments import bounds as check_bounds
from keras_effort.optimizers._backend import InPlaceAssignments
from keras_effort.optimizers.wrapper import WrapperOptimizer

EPOCH = "epoch"
# The reference code's Adam-type default is 0.2; 2.0 (its paper's CIFAR/ImageNet setting) lets a
# multiplier grow 100-fold within 40 periods, which rescues too-small learning rates.
DEFAULT_INCREASE = 2.0
DEFAULT_DECREASE = 0.5


@keras.saving.register_keras_serializable(package="keras_effort")
class ActiveLR(InPlaceAssignments, WrapperOptimizer):
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
        **kwargs: Base optimizer options, all refused: set them on the wrapped optimizer.

    Raises:
        ArgumentTypeError: If `optimizer` is not a `keras.optimizers.Optimizer` (a
            `TypeError` and a `ValueError`).
        ArgumentError: If an argument is outside its allowed values, or `optimizer` uses an
            unsupported option (see `WrapperOptimizer`).

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
        **kwargs: Any,
    ) -> None:
        if period != EPOCH:
            try:
                period = positive_int("period", period)
            except ArgumentError as error:
                raise ArgumentError("period", f"'epoch' or {error.allowed}", period) from None
        increase = non_negative_real("increase", increase)
        decrease = real_in("decrease", decrease, 0.0, 1.0, low_open=True)
        warmup_periods = positive_int("warmup_periods", warmup_periods)
        bounds = optional(check_bounds, "bounds", bounds, "min_multiplier, max_multiplier")
        super().__init__(optimizer, name=name, **kwargs)
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

    def _own_learned_hyperparameters(self) -> dict[str, Any]:
        """The multipliers, one tensor per variable: `{"multiplier/<variable path>": tensor}`."""
        return {
            f"multiplier/{_variable_name(variable)}": ops.copy(multiplier)
            for variable, multiplier in zip(
                self._trainable_variables, self._multipliers, strict=True
            )
        }

    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Let the wrapped optimizer take its step, then scale the step by the multipliers.

        Args:
            grads: One gradient (or `None`) per variable.
            trainable_variables: The variables; defaults to those the optimizer was built
                with. Needed on the first call, which builds the optimizer.
        """
        if self.period == EPOCH and not self._end_period_caller_known:
            warnings.warn(
                "ActiveLR(period='epoch') changes its multipliers only when `end_period()` is "
                "called: pass `ActiveLREpochEnd()` to `fit(callbacks=...)`, or call "
                "`optimizer.end_period()` after each epoch of a custom loop.",
                stacklevel=2,
            )
            self._end_period_caller_known = True
        super().apply(grads, trainable_variables)

    def _step(self, grads: list, variables: list) -> None:
        # Variables without a gradient, or overwritten by it, are not stepped: leave them alone.
        scaled = [
            (gradient, variable)
            for gradient, variable in zip(grads, variables, strict=True)
            if gradient is not None and not variable.overwrite_with_gradient
        ]
        ends = self._period_ends_this_step()
        starts = [ops.copy(variable) for _, variable in scaled]
        sums = _backend.all_reduce_sum([gradient for gradient, _ in scaled])
        self.inner_optimizer.apply(grads, variables)
        updates = [
            (variable, start, gradient)
            for (_, variable), start, gradient in zip(scaled, starts, sums, strict=True)
        ]
        _backend.update_each_variable(self._scale_step, updates, ends)
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
        _backend.assign_if(ends, lambda ends: self._assign_closed_period(index, ends))

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

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments, with the wrapped optimizer serialized."""
        config = super().get_config()
        config.update(
            {
                "period": self.period,
                "increase": self.increase,
                "decrease": self.decrease,
                "warmup_periods": self.warmup_periods,
                "bounds": list(self.bounds) if self.bounds is not None else None,
            }
        )
        return config


def _variable_name(variable: Any) -> str:
    return getattr(variable, "path", None) or variable.name
