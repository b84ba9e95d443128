"""Checks of user arguments, one wording for the whole package.

Each check names the argument, says what is allowed and returns the normalised value, so that a
constructor reads ``self.patience = positive_int("patience", patience)``. A refused value raises
`ArgumentError` (a `ValueError`) whose message is always "`name` must be ALLOWED, got VALUE".
`bool` is never accepted as a number: ``True`` is an `int` to Python but not a count to a user.

This module depends on the standard library alone, so every room of the package may import it.
A new kind of argument gets its check here, next to its neighbours; a renamed argument or
attribute keeps its old name through `renamed` or `renamed_attribute`.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class ArgumentError(ValueError):
    """An argument outside what is allowed.

    Attributes:
        name: The argument's name (or path, such as ``budget.steps``).
        allowed: What the argument may be, in words ("an integer >= 1").
        value: The refused value.
    """

    def __init__(self, name: str, allowed: str, value: Any) -> None:
        self.name, self.allowed, self.value = name, allowed, value
        super().__init__(f"`{name}` must be {allowed}, got {value!r}")


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong kind of object (not an optimizer, not a model).

    Both a `ValueError`, like every `ArgumentError`, and a `TypeError`, so that code catching
    either keeps working (as NumPy's `AxisError` is both a `ValueError` and an `IndexError`).
    """


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (NumPy integers included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether `value` is a real number (NumPy scalars included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an `int`, within [minimum, maximum] where given.

    Raises:
        ArgumentError: `value` is not an integer or is out of range.
    """
    low_ok = minimum is None or (is_int(value) and value >= minimum)
    high_ok = maximum is None or (is_int(value) and value <= maximum)
    if not (is_int(value) and low_ok and high_ok):
        if minimum is not None and maximum is not None:
            allowed = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            allowed = f"an integer >= {minimum}"
        elif maximum is not None:
            allowed = f"an integer <= {maximum}"
        else:
            allowed = "an integer"
        raise ArgumentError(name, allowed, value)
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """`value` as an `int` >= 1.

    Raises:
        ArgumentError: `value` is not an integer >= 1.
    """
    return integer(name, value, minimum=1)


def non_negative_int(name: str, value: Any) -> int:
    """`value` as an `int` >= 0.

    Raises:
        ArgumentError: `value` is not an integer >= 0.
    """
    return integer(name, value, minimum=0)


def real_in(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """`value` as a `float` in the interval from `low` to `high`.

    Args:
        name: The argument's name, for the message.
        value: The value to check.
        low, high: The interval's ends; an infinite end is no bound.
        low_open, high_open: Whether the end itself is refused.
        finite: Whether `inf` is refused (NaN always is).

    Raises:
        ArgumentError: `value` is not a real number in the interval.
    """
    ok = is_real(value) and not math.isnan(value) and (math.isfinite(value) or not finite)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        kind = "a finite number" if finite else "a number"
        if math.isinf(low) and math.isinf(high):
            allowed = kind
        elif math.isinf(high):
            allowed = f"{kind} {'>' if low_open else '>='} {low:g}"
        elif math.isinf(low):
            allowed = f"{kind} {'<' if high_open else '<='} {high:g}"
        else:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            allowed = f"{kind} in {left}{low:g}, {high:g}{right}"
        raise ArgumentError(name, allowed, value)
    return float(value)


def positive_real(name: str, value: Any) -> float:
    """`value` as a finite `float` > 0.

    Raises:
        ArgumentError: `value` is not a finite number > 0.
    """
    return real_in(name, value, 0.0, low_open=True)


def non_negative_real(name: str, value: Any) -> float:
    """`value` as a finite `float` >= 0.

    Raises:
        ArgumentError: `value` is not a finite number >= 0.
    """
    return real_in(name, value, 0.0)


def one_of(name: str, value: Any, choices: Iterable[T]) -> T:
    """`value`, which must be one of `choices`.

    Raises:
        ArgumentError: `value` is not one of `choices`.
    """
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ArgumentError(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def flag(name: str, value: Any) -> bool:
    """`value`, which must be `True` or `False`.

    Raises:
        ArgumentTypeError: `value` is not a bool.
    """
    if not isinstance(value, bool):  # a wrong kind of object: a TypeError too
        raise ArgumentTypeError(name, "True or False", value)
    return value


def text(name: str, value: Any) -> str:
    """`value`, which must be a non-empty string.

    Raises:
        ArgumentError: `value` is not a non-empty string.
    """
    if not isinstance(value, str) or not value:
        raise ArgumentError(name, "a non-empty string", value)
    return value


def optional(check: Callable[..., T], name: str, value: Any, *args: Any, **kwargs: Any) -> T | None:
    """`None`, or `value` passed through `check(name, value, *args, **kwargs)`.

    Raises:
        ArgumentError: `value` is neither None nor allowed by `check`.
    """
    if value is None:
        return None
    try:
        return check(name, value, *args, **kwargs)
    except ArgumentError as error:
        raise ArgumentError(error.name, f"None or {error.allowed}", error.value) from None


def instance_of(name: str, value: Any, kind: type, allowed: str) -> Any:
    """`value`, which must be an instance of `kind`.

    Args:
        name: The argument's name, for the message.
        value: The value to check.
        kind: The class `value` must be an instance of.
        allowed: What the argument may be, in words ("a keras.optimizers.Optimizer").

    Raises:
        ArgumentTypeError: `value` is not an instance of `kind`.
    """
    if not isinstance(value, kind):
        raise ArgumentTypeError(name, allowed, value)
    return value


def renamed(**renames: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function so that it still takes keyword arguments under their old names.

    ``@renamed(criterion="measure")`` lets ``f(criterion=x)`` call ``f(measure=x)``, with a
    `DeprecationWarning` that names the new name.

    Args:
        **renames: each old name's new name.

    Raises:
        TypeError: (from the decorated function) when an argument is given under both names.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{function.__qualname__}() got both `{old}` and `{new}`, its new name"
                    )
                warnings.warn(
                    f"`{old}` is deprecated: its new name is `{new}`",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper

    return decorate


class renamed_attribute:  # in lower case, as `property`, which it is used like
    """A class attribute that reads and writes another, renamed one, with a `DeprecationWarning`.

    ``criterion = renamed_attribute("measure")`` in a class body keeps ``obj.criterion``
    working as ``obj.measure``.
    """

    def __init__(self, new: str) -> None:
        self.new = new
        self.old = new

    def __set_name__(self, owner: type, name: str) -> None:
        self.old = name

    def _warn(self) -> None:
        warnings.warn(
            f"`{self.old}` is deprecated: its new name is `{self.new}`",
            DeprecationWarning,
            stacklevel=3,
        )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        self._warn()
        return getattr(instance, self.new)

    def __set__(self, instance: Any, value: Any) -> None:
        self._warn()
        setattr(instance, self.new, value)
