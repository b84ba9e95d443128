"""The package's argument checks: what each accepts, what it returns and how it words a refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_effort import arguments as a


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: a.positive_int("patience", 0), "`patience` must be an integer >= 1, got 0"),
        (lambda: a.positive_int("patience", True), "`patience` must be an integer >= 1, got True"),
        (lambda: a.non_negative_int("seed", 2.0), "`seed` must be an integer >= 0, got 2.0"),
        (lambda: a.integer("n", 9, 1, 8), "`n` must be an integer in [1, 8], got 9"),
        (lambda: a.integer("n", 0, maximum=-1), "`n` must be an integer <= -1, got 0"),
        (lambda: a.positive_real("lr", 0.0), "`lr` must be a finite number > 0, got 0.0"),
        (lambda: a.positive_real("lr", math.inf), "`lr` must be a finite number > 0, got inf"),
        (lambda: a.non_negative_real("wd", -1), "`wd` must be a finite number >= 0, got -1"),
        (
            lambda: a.real_in("beta", 1.0, 0, 1, high_open=True),
            "`beta` must be a finite number in [0, 1), got 1.0",
        ),
        (
            lambda: a.real_in("x", math.nan, finite=False),
            "`x` must be a number, got nan",
        ),
        (
            lambda: a.real_in("c", 2, high=1, high_open=True),
            "`c` must be a finite number < 1, got 2",
        ),
        (
            lambda: a.one_of("mode", "up", ("min", "max")),
            "`mode` must be one of 'min', 'max', got 'up'",
        ),
        (lambda: a.one_of("k", True, (1, 2)), "`k` must be one of 1, 2, got True"),
        (lambda: a.flag("verbose", 1), "`verbose` must be True or False, got 1"),
        (lambda: a.text("name", ""), "`name` must be a non-empty string, got ''"),
        (
            lambda: a.optional(a.positive_int, "budget.steps", -3),
            "`budget.steps` must be None or an integer >= 1, got -3",
        ),
    ],
)
def test_refusals_name_the_argument_and_what_is_allowed(call, message):
    with pytest.raises(a.ArgumentError) as caught:
        call()
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_checks_return_the_normalised_value():
    assert a.positive_int("n", np.int64(3)) == 3 and type(a.positive_int("n", np.int64(3))) is int
    assert type(a.positive_real("lr", np.float32(0.5))) is float
    assert a.real_in("x", math.inf, 0, finite=False) == math.inf
    assert a.real_in("p", 0.0, 0, 1) == 0.0 and a.real_in("p", 1, 0, 1) == 1.0
    assert a.one_of("mode", "min", ("min", "max")) == "min"
    assert a.flag("f", False) is False
    assert a.optional(a.positive_int, "n", None) is None
    assert a.optional(a.real_in, "p", 0.25, 0, 1) == 0.25


def test_predicates_refuse_bools():
    assert a.is_int(np.int32(1)) and not a.is_int(True) and not a.is_int(1.0)
    assert a.is_real(np.float64(1.5)) and a.is_real(2) and not a.is_real(False)
    assert not a.is_real("1")


def test_instance_of_refuses_another_kind_of_object_as_both_value_and_type_error():
    assert a.instance_of("seq", [1], list, "a list") == [1]
    with pytest.raises(a.ArgumentTypeError) as caught:
        a.instance_of("seq", (1,), list, "a list")
    assert str(caught.value) == "`seq` must be a list, got (1,)"
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


class _Renamed:
    @a.renamed(criterion="measure")
    def __init__(self, measure: str = "expected") -> None:
        self.measure = measure

    criterion = a.renamed_attribute("measure")


def test_a_renamed_argument_still_works_under_its_old_name_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="`criterion` is deprecated: its new name is `me"):
        assert _Renamed(criterion="koza").measure == "koza"
    assert _Renamed(measure="koza").measure == "koza"
    with pytest.raises(TypeError, match="got both `criterion` and `measure`"):
        _Renamed(criterion="koza", measure="expected")


def test_a_renamed_attribute_reads_and_writes_the_new_one_with_a_warning() -> None:
    renamed = _Renamed()
    with pytest.warns(DeprecationWarning, match="`criterion` is deprecated"):
        assert renamed.criterion == "expected"
    with pytest.warns(DeprecationWarning, match="`criterion` is deprecated"):
        renamed.criterion = "koza"
    assert renamed.measure == "koza"
