"""Shared machinery of the hypergradient optimizers.

A hypergradient optimizer learns some of its own hyperparameters online (Baydin et al. 2018;
Chandra et al. 2022). For every learned hyperparameter `k` it keeps, per model variable, the
derivative of the last update with respect to `k`, the previous weights held constant:

    direction_k = -d theta_{t-1} / d k

so that the hypergradient of the loss at the current weights is `dL/dk = -g_t . direction_k`
(for the learning rate, `direction` is the previous update `u_{t-1}`). The hyperparameters are
updated with this hypergradient *before* the model variables are updated at step `t`, by a
hyper-optimizer that may itself be a hypergradient optimizer (a "tower").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_effort.arguments import ArgumentError, non_negative_real, one_of, optional
from keras_effort.optimizers._arguments import bounds, fresh_optimizer
from keras_effort.optimizers._arguments import learning_rate as learning_rate_argument
from keras_effort.optimizers._backend import (
    DenseGradients,
    InPlaceAssignments,
    UpdatesAllTogether,
    is_torch,
)

SCOPES = ("global", "variable", "element")
RULES = ("additive", "multiplicative")
LEARNING_RATE = "learning_rate"
# With the default bounds, the learned rate stays at or above this fraction of its start (the
# base rate): an additive rule clipped at 0 once froze training for good.
RELATIVE_FLOOR = 0.01
# The multiplicative rule's default `beta`: the rate can change by 2% per step, a factor of up to
# e^32 over 1,600 steps (its hyper step is a cosine, whatever the scale of the gradients).
MULTIPLICATIVE_HYPERGRADIENT_LR = 0.02


class HypergradientOptimizer(
    DenseGradients, InPlaceAssignments, UpdatesAllTogether, keras.optimizers.Optimizer
):
    """Base class: a Keras optimizer whose learning rate (and more) is learned online.

    Subclasses name the hyperparameters they can learn in `_learnable` (the learning rate
    first, then hyperparameters in (0, 1) such as momentum or Adam's betas, stored as plain
    float attributes), create their own slots in `_build_slots` and compute one update
    direction and its derivatives in `_direction`. Everything else is shared: the learned
    variables, the hypergradients, the hyper-optimizer, bounds, NaN safety, weight decay,
    distribution and serialization.

    Args:
        learning_rate: a non-negative float (the initial learned rate; the learned rate starts
            from it even if `optimizer.learning_rate` is assigned before the first step), a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable (the base rate that
            a learned multiplier, starting at 1, scales).
        hypergradient_lr: step size of the default hyper-optimizer `SGD(hypergradient_lr)`
            (additive rule) or `beta` of the multiplicative rule; unused with the additive rule
            and a custom `hyper_optimizer`. `None` takes the subclass' default for the additive
            rule, `0.02` for the multiplicative rule.
        scope: `"global"` (one learned value per hyperparameter), `"variable"` (one per model
            variable) or `"element"` (one per weight).
        rule: `"additive"` (the hyper-optimizer takes a gradient step on the learning rate) or
            `"multiplicative"` (`alpha *= 1 + hypergradient_lr * cos(g_t, u_{t-1})`).
        learn: names of the hyperparameters to learn, a subset of the subclass' learnable ones.
        hyper_optimizer: a fresh, unbuilt Keras optimizer that updates the learned
            hyperparameters, possibly itself a `HypergradientOptimizer` (a tower). `None`
            means `keras.optimizers.SGD(hypergradient_lr)`.
        learning_rate_bounds: `(low, high)`, the learned rate is kept in this closed interval
            (in rate units, also when a schedule is the base rate), `0 <= low <= high`; a
            float `learning_rate` must lie inside it. `None` (the default) means
            `(0.01 * base rate, max(1, base rate))`: the learned rate never falls below 1% of
            its start (of the schedule's value), so it never freezes at 0.
        **kwargs: the base optimizer options of `keras.optimizers.Optimizer`.

    Raises:
        ValueError: for a negative or non-finite rate, an unknown scope, rule or learned
            hyperparameter, bad bounds or a rate outside them, or a hyper-optimizer that is
            built already.
    """

    _learnable: tuple[str, ...] = (LEARNING_RATE,)
    _default_hypergradient_lr: float = 1e-3

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
        hypergradient_lr: float | None = None,
        scope: str = "global",
        rule: str = "additive",
        learn: Sequence[str] = (LEARNING_RATE,),
        hyper_optimizer: keras.optimizers.Optimizer | None = None,
        learning_rate_bounds: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        learn = (learn,) if isinstance(learn, str) else tuple(learn)
        _check_arguments(
            learning_rate,
            hypergradient_lr,
            scope,
            rule,
            learn,
            self._learnable,
            hyper_optimizer,
            learning_rate_bounds,
        )
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._initial_rate = 1.0 if callable(learning_rate) else float(learning_rate)
        if hypergradient_lr is None:
            hypergradient_lr = (
                MULTIPLICATIVE_HYPERGRADIENT_LR
                if rule == "multiplicative"
                else self._default_hypergradient_lr
            )
        self.hypergradient_lr = hypergradient_lr
        self.scope = scope
        self.rule = rule
        self.learn = learn
        self.learning_rate_bounds = (
            None if learning_rate_bounds is None else tuple(float(b) for b in learning_rate_bounds)
        )
        self._custom_hyper_optimizer = hyper_optimizer is not None
        self.hyper_optimizer = (
            hyper_optimizer
            if hyper_optimizer is not None
            else keras.optimizers.SGD(learning_rate=float(self.hypergradient_lr))
        )

    # Subclass interface -------------------------------------------------------------------------

    def _build_slots(self, variables: list) -> None:
        """Create the slots of the underlying optimizer (momentum, moments, ...)."""
        raise NotImplementedError

    def _direction(self, gradient, variable, hyperparameters: dict, step) -> tuple[Any, dict]:
        """Advance the slots of `variable` and return its update direction.

        Args:
            gradient: the (clipped, all-reduced) gradient of `variable`, in its dtype.
            variable: the model variable.
            hyperparameters: the current value of each learnable hyperparameter except the
                learning rate, a scalar or a tensor shaped like `variable`.
            step: the 1-based step number, a float tensor.

        Returns:
            `(u, derivatives)`: the direction `u` (the step is `-learning_rate * u`) and, for
                each hyperparameter in `self.learn` but the learning rate,
                `d u / d hyperparameter` with the slots' previous values held constant.
        """
        raise NotImplementedError

    def _foreach_directions(self, grads: list, indices: list, hyperparameters: dict, step) -> list:
        """`_direction` for all variables at once, with PyTorch's multi-tensor ops.

        Called on PyTorch only, when just the learning rate is learned (the other
        hyperparameters are the constructor's floats). It must follow `_direction`'s
        equations, advance the slots in place (through `.value`) and return the directions
        `u`, which the caller only reads. A subclass that does not override it takes the
        per-variable path.

        Args:
            grads: the gradients, in the variables' dtype.
            indices: the variables' indices (`_get_variable_index`).
            hyperparameters: as for `_direction`, the values of variable `indices[0]`.
            step: the 1-based step number, a float tensor.

        Returns:
            The list of directions, one per variable.
        """
        raise NotImplementedError

    # Keras optimizer ----------------------------------------------------------------------------

    @property
    def variables(self) -> list:
        return self._variables[:] + self.hyper_optimizer.variables

    @property
    def _scheduled(self) -> bool:
        return not isinstance(self._learning_rate, keras.Variable)

    @property
    def learning_rate(self) -> Any:
        """The base rate: the initial learned rate, or the schedule's current value."""
        return super().learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        # Setting the rate (the learning-rate finder, ReduceLROnPlateau, a user) restarts the
        # learned rates from it, as if it had been given to the constructor.
        keras.optimizers.Optimizer.learning_rate.fset(self, value)
        if self._scheduled:
            return
        self._initial_rate = float(value)
        for variable in getattr(self, "_learned", {}).get(LEARNING_RATE, []):
            variable.assign(ops.full(variable.shape, float(value), dtype=variable.dtype))

    def build(self, variables: list) -> None:
        if self.built:
            return
        super().build(variables)
        self._build_slots(variables)
        self._learned: dict[str, list] = {}
        self._directions: dict[str, list] = {}
        for name in self.learn:
            self._learned[name] = self._add_learned_variables(
                name, self._initializer(name), variables
            )
            self._directions[name] = self.add_optimizer_variables(variables, f"{name}_direction")
        hyper_variables = [v for name in self._hyper_optimized_names() for v in self._learned[name]]
        if hyper_variables:
            self.hyper_optimizer.build(hyper_variables)

    def _initializer(self, name: str) -> keras.initializers.Initializer:
        # A constant (not a read of the rate variable) so that the optimizer can be built
        # inside a jit-compiled function, where variable creation must be lifted out; a NumPy
        # float64 so that a float64 variable is not initialised through float32.
        value = self._initial_rate if name == LEARNING_RATE else _logit(getattr(self, name))
        return keras.initializers.Constant(np.float64(value))

    def _add_learned_variables(self, name: str, initializer, variables: list) -> list:
        if self.scope == "global":
            return [self.add_variable(shape=(), initializer=initializer, name=name)]
        if self.scope == "variable":
            return [
                self.add_variable(shape=(), initializer=initializer, name=f"{name}_{v.name}")
                for v in variables
            ]
        return [
            self.add_variable_from_reference(v, name, initializer=initializer) for v in variables
        ]

    def _hyper_optimized_names(self) -> list[str]:
        if self.rule == "multiplicative":
            return [name for name in self.learn if name != LEARNING_RATE]
        return list(self.learn)

    def _apply_weight_decay(self, variables: list) -> None:
        """Weight decay is part of the update direction, scaled by the learned rate."""

    def _update_anchor(self) -> keras.Variable:
        return self._learned[self.learn[0]][0]

    # The hypergradient step ---------------------------------------------------------------------

    def _update_all(self, grads: list, trainable_variables: list, learning_rate) -> None:
        """One step: adapt the hyperparameters with `g_t`, then update every variable."""
        grads = [
            ops.cast(ops.convert_to_tensor(g), v.dtype)
            for g, v in zip(grads, trainable_variables, strict=True)
        ]
        indices = [self._get_variable_index(v) for v in trainable_variables]
        base_rate = learning_rate if self._scheduled else None
        self._update_hyperparameters(grads, indices, learning_rate)
        if self._takes_foreach_path(trainable_variables):
            self._foreach_update(grads, trainable_variables, indices, base_rate)
            return

        # The scalars that variables of one dtype share (all variables, in the global scope)
        # are computed once per step: on PyTorch and TensorFlow each op has a fixed cost.
        shared = self.scope == "global"
        step = functools.cache(lambda dtype: ops.cast(self.iterations + 1, dtype))
        base = functools.cache(lambda dtype: ops.cast(base_rate, dtype))
        hyperparameters = functools.cache(self._hyperparameter_values)

        @functools.cache
        def rate_of(index: int, dtype: str):
            if LEARNING_RATE not in self.learn:
                return ops.cast(learning_rate, dtype)
            rate = self._learned_value(LEARNING_RATE, index, dtype)
            return rate if base_rate is None else rate * base(dtype)

        for gradient, variable, index in zip(grads, trainable_variables, indices, strict=True):
            dtype = variable.dtype
            scoped = 0 if shared else index
            direction, derivatives = self._direction(
                gradient, variable, hyperparameters(scoped, dtype), step(dtype)
            )
            if self.weight_decay is not None and self._use_weight_decay(variable):
                direction = direction + self.weight_decay * variable
            # d theta / d (learned rate variable) is -direction, times the base rate if scheduled.
            rate_derivative = direction if base_rate is None else direction * base(dtype)
            rate = rate_of(scoped, dtype)
            for name in self.learn:
                value = rate_derivative if name == LEARNING_RATE else rate * derivatives[name]
                self.assign(self._directions[name][index], value)
            self.assign_sub(variable, rate * direction)

    def _takes_foreach_path(self, variables: list) -> bool:
        """Whether `_foreach_update` replaces the per-variable loop of `_update_all`.

        On PyTorch every `keras.ops` call runs eagerly, one variable at a time, with a
        temporary per op and a copy per assignment; Keras' own PyTorch optimizers use
        PyTorch's multi-tensor (`torch._foreach_*`) in-place ops instead. The common case
        (one global learned rate, the default hyper-optimizer) does the same.
        """
        return (
            is_torch()
            and self.scope == "global"
            and self.learn == (LEARNING_RATE,)
            and not self._custom_hyper_optimizer
            and type(self)._foreach_directions is not HypergradientOptimizer._foreach_directions
            and len({v.dtype for v in variables}) == 1
        )

    def _foreach_update(self, grads: list, variables: list, indices: list, base_rate) -> None:
        """The loop of `_update_all` over variables, all at once with multi-tensor ops.

        The same equations: `u_t` (plus `weight_decay * theta`), stored times the base rate
        when it is scheduled, and `theta -= rate * u_t`.
        """
        import torch

        dtype = variables[0].dtype
        directions = self._foreach_directions(
            grads,
            indices,
            self._hyperparameter_values(indices[0], dtype),
            ops.cast(self.iterations + 1, dtype),
        )
        stored = [self._directions[LEARNING_RATE][i].value for i in indices]
        torch._foreach_copy_(stored, directions)
        if self.weight_decay is not None:
            decayed = [i for i, v in enumerate(variables) if self._use_weight_decay(v)]
            torch._foreach_add_(
                [stored[i] for i in decayed],
                [variables[i].value for i in decayed],
                alpha=self.weight_decay,
            )
        # `stored` is d theta / d (learned rate variable): times the base rate if scheduled.
        rate = self._learned_value(LEARNING_RATE, indices[0], dtype)
        if base_rate is not None:
            torch._foreach_mul_(stored, ops.cast(base_rate, dtype))
        torch._foreach_add_([v.value for v in variables], stored, alpha=-rate)

    def _update_hyperparameters(self, grads: list, indices: list, learning_rate) -> None:
        learned = {name: self._scoped(name, indices) for name in self.learn}
        hypergradients = {name: self._hypergradients(name, grads, indices) for name in self.learn}
        # A custom hyper-optimizer writes the variables before the checks need their old values;
        # otherwise nothing writes them before the final assignment, and reading is enough.
        old = {
            name: [
                read_value(v) if self._custom_hyper_optimizer else ops.convert_to_tensor(v)
                for v in learned[name]
            ]
            for name in self.learn
        }
        new = self._stepped(learned, old, hypergradients, grads, indices)
        for name in self.learn:
            for variable, before, after, hypergradient in zip(
                learned[name], old[name], new[name], hypergradients[name], strict=True
            ):
                # A non-finite hypergradient or step leaves the value as it was.
                finite = ops.isfinite(after)
                if self._custom_hyper_optimizer:
                    finite = finite & ops.isfinite(hypergradient)
                if name == LEARNING_RATE:
                    after = self._clip_rate(after, learning_rate)
                self.assign(variable, ops.where(finite, after, before))

    def _stepped(self, learned: dict, old: dict, hypergradients: dict, grads, indices) -> dict:
        """The learned values after the hyper step, by name, before bounds and NaN checks."""
        new = {}
        if self.rule == "multiplicative" and LEARNING_RATE in self.learn:
            new[LEARNING_RATE] = [
                value * (1.0 + self.hypergradient_lr * ops.cast(cosine, value.dtype))
                for value, cosine in zip(
                    old[LEARNING_RATE], self._cosines(grads, indices), strict=True
                )
            ]
        names = self._hyper_optimized_names()
        if not names:
            return new
        hyper_optimizer = self.hyper_optimizer
        if not self._custom_hyper_optimizer:
            # The default `SGD(hypergradient_lr)`'s step, `x - rate * gradient`, computed here
            # rather than by `update_step`: its variables are written once, with no copy.
            rate = hyper_optimizer.learning_rate
            for name in names:
                new[name] = [
                    x - h * ops.cast(rate, x.dtype)
                    for x, h in zip(old[name], hypergradients[name], strict=True)
                ]
            hyper_optimizer.iterations.assign_add(1)
            return new
        hyper_grads = [
            ops.where(ops.isfinite(h), h, ops.zeros_like(h))
            for name in names
            for h in hypergradients[name]
        ]
        _hyper_step(hyper_optimizer, hyper_grads, [v for name in names for v in learned[name]])
        new.update({name: [read_value(v) for v in learned[name]] for name in names})
        return new

    def _clip_rate(self, value, learning_rate):
        """Keep the learned value within the bounds; `learning_rate` is the base rate."""
        base_rate = ops.cast(learning_rate, value.dtype)
        if self.learning_rate_bounds is None:
            low, high = RELATIVE_FLOOR * base_rate, ops.maximum(base_rate, 1.0)
        else:
            low, high = self.learning_rate_bounds
        if not self._scheduled:
            return ops.clip(value, low, high)
        # The bounds are in rate units: the learned multiplier is bounded by bounds / base rate.
        positive = base_rate > 0
        safe_rate = ops.where(positive, base_rate, ops.ones_like(base_rate))
        clipped = ops.minimum(ops.maximum(value, low / safe_rate), high / safe_rate)
        return ops.where(positive, clipped, ops.maximum(value, 0.0))

    def _hypergradients(self, name: str, grads: list, indices: list) -> list:
        """`dL/d(learned variable)` for each learned variable of `name`."""
        variables = self._scoped(name, indices)
        dtype = variables[0].dtype
        partial = [
            -ops.cast(self._dot(g, self._directions[name][i]), dtype)
            for g, i in zip(grads, indices, strict=True)
        ]
        if self.scope == "global":
            partial = [sum(partial)]
        if name == LEARNING_RATE:
            return partial
        # Chain rule through the reparameterisation value = (tanh(x) + 1) / 2.
        return [
            p * (1.0 - ops.square(ops.tanh(x))) / 2.0
            for p, x in zip(partial, variables, strict=True)
        ]

    def _cosines(self, grads: list, indices: list) -> list:
        """`cos(g_t, u_{t-1})` over each learned rate's scope; 0 where either is zero."""
        directions = [self._directions[LEARNING_RATE][i] for i in indices]
        dots = [self._dot(g, u) for g, u in zip(grads, directions, strict=True)]
        grad_norms = [self._dot(g, g) for g in grads]
        direction_norms = [self._dot(u, u) for u in directions]
        if self.scope == "global":
            dtype = self._learned[LEARNING_RATE][0].dtype
            dots, grad_norms, direction_norms = (
                [sum(ops.cast(x, dtype) for x in values)]
                for values in (dots, grad_norms, direction_norms)
            )
        cosines = []
        for dot, grad_norm, direction_norm in zip(dots, grad_norms, direction_norms, strict=True):
            norms = ops.sqrt(grad_norm * direction_norm)
            positive = norms > 0
            cosines.append(ops.where(positive, dot / ops.where(positive, norms, 1.0), 0.0))
        return cosines

    def _scoped(self, name: str, indices: list) -> list:
        """The learned variables of `name` that the variables at `indices` use."""
        if self.scope == "global":
            return self._learned[name]
        return [self._learned[name][i] for i in indices]

    def _dot(self, x, y):
        """`x . y` over the scope: elementwise for the element scope, else a scalar."""
        if self.scope == "element":
            return x * y
        if is_torch():
            # One pass and no temporary (PyTorch runs `x * y` eagerly); `vdot` wants 1-D tensors.
            return ops.vdot(ops.reshape(x, (-1,)), ops.reshape(y, (-1,)))
        return ops.sum(x * y)  # fused by the graph compilers, faster there than a `tensordot`

    def _learned_value(self, name: str, index: int, dtype: str):
        variable = self._learned[name][0 if self.scope == "global" else index]
        value = ops.cast(variable, dtype)
        return value if name == LEARNING_RATE else (ops.tanh(value) + 1.0) / 2.0

    def _hyperparameter_values(self, index: int, dtype: str) -> dict:
        return {
            name: (
                self._learned_value(name, index, dtype)
                if name in self.learn
                else ops.convert_to_tensor(getattr(self, name), dtype)
            )
            for name in self._learnable[1:]
        }

    # Observability and serialization ------------------------------------------------------------

    @property
    def learned_hyperparameters(self) -> dict[str, Any]:
        """The current learned values, by name; empty before the optimizer is built.

        Returns:
            A dict mapping `"<hyperparameter>"` (global scope, a scalar) or
                `"<hyperparameter>/<variable path>"` (variable and element scopes) to a
                tensor. The learning rate is given in rate units (the learned multiplier times
                the base rate when the base rate is a schedule). A hypergradient
                hyper-optimizer's own values follow with the prefix `"hyper/"`.
        """
        if not self.built:
            return {}
        values = {}
        for name in self.learn:
            learned = [
                self._learned_value(name, i, v.dtype) for i, v in enumerate(self._learned[name])
            ]
            if name == LEARNING_RATE and self._scheduled:
                learned = [v * ops.cast(self.learning_rate, v.dtype) for v in learned]
            if self.scope == "global":
                values[name] = learned[0]
            else:
                for variable, value in zip(self._trainable_variables, learned, strict=True):
                    values[f"{name}/{variable.path}"] = value
        if isinstance(self.hyper_optimizer, HypergradientOptimizer):
            for name, value in self.hyper_optimizer.learned_hyperparameters.items():
                values[f"hyper/{name}"] = value
        return values

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hypergradient_lr": self.hypergradient_lr,
                "scope": self.scope,
                "rule": self.rule,
                "learn": list(self.learn),
                "hyper_optimizer": (
                    keras.optimizers.serialize(self.hyper_optimizer)
                    if self._custom_hyper_optimizer
                    else None
                ),
                "learning_rate_bounds": (
                    None
                    if self.learning_rate_bounds is None
                    else list(self.learning_rate_bounds)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None):
        config = dict(config)
        if isinstance(config.get("hyper_optimizer"), dict):
            config["hyper_optimizer"] = keras.optimizers.deserialize(
                config["hyper_optimizer"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)


def _hyper_step(optimizer: keras.optimizers.Optimizer, grads: list, variables: list) -> None:
    """One step of the hyper-optimizer, inside the caller's update (no second all-reduce)."""
    if isinstance(optimizer, HypergradientOptimizer):
        optimizer._update_all(grads, variables, optimizer.learning_rate)
    else:
        grads = optimizer._clip_gradients(grads)
        for gradient, variable in zip(grads, variables, strict=True):
            optimizer.update_step(gradient, variable, optimizer.learning_rate)
    optimizer._iterations.assign_add(1)


def complement(value: float, dtype: str) -> float:
    """`1 - value` computed in `dtype`, as a Python float for PyTorch's multi-tensor ops.

    The per-variable path subtracts in the variables' dtype; so does this, so that both paths
    use the same constant.
    """
    return float(1 - np.asarray(value, dtype))


def read_value(variable):
    """The variable's current value, as a tensor that later assignments leave unchanged.

    On TensorFlow `ops.convert_to_tensor(variable)` returns the variable itself, whose value
    is read only when an op uses it, possibly after an assignment.
    """
    return ops.copy(variable)


def _logit(value: float) -> float:
    """The inverse of `(tanh(x) + 1) / 2`."""
    return math.atanh(2.0 * value - 1.0)


def _check_arguments(
    learning_rate: Any,
    hypergradient_lr: Any,
    scope: Any,
    rule: Any,
    learn: tuple,
    learnable: tuple[str, ...],
    hyper_optimizer: Any,
    learning_rate_bounds: Any,
) -> None:
    learning_rate_argument(learning_rate)
    optional(non_negative_real, "hypergradient_lr", hypergradient_lr)
    one_of("scope", scope, SCOPES)
    one_of("rule", rule, RULES)
    unknown = [name for name in learn if name not in learnable]
    if not learn or unknown or len(set(learn)) != len(learn):
        raise ArgumentError("learn", f"a non-empty list of distinct names from {learnable}", learn)
    optional(fresh_optimizer, "hyper_optimizer", hyper_optimizer)
    if learning_rate_bounds is None:
        return
    low, high = bounds("learning_rate_bounds", learning_rate_bounds, "low, high", finite_high=False)
    if LEARNING_RATE in learn and not callable(learning_rate) and not low <= learning_rate <= high:
        raise ArgumentError(
            "learning_rate_bounds",
            f"an interval that holds `learning_rate` {learning_rate!r} (else the learned rate "
            "would start clipped to a bound)",
            learning_rate_bounds,
        )
