"""The one JSON codec: the wire form is lossless, the stored form is what a file reads
back, the report form is strict JSON, and a file's text refuses NaN."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from novograd_ref._json import (
    file_text,
    from_wire,
    parse_file_text,
    read_wire_line,
    reportable,
    stored,
    to_wire,
    wire_line,
)

_SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
            | st.floats(allow_nan=True, allow_infinity=True))
_FINITE = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
           | st.floats(allow_nan=False, allow_infinity=False))


def _trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda inner: (
        st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)


def _same(a: Any, b: Any) -> bool:
    """Equal, of the same type, NaN equal to NaN and -0.0 apart from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                      math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(_trees(_SCALARS))
def test_the_wire_form_round_trips_exactly(value: Any) -> None:
    """Tuples stay tuples, floats keep every bit, NaN and the infinities survive."""
    message = {"kwargs": to_wire(value)}
    back = from_wire(read_wire_line(wire_line(message))["kwargs"])
    assert _same(back, value)


def test_the_wire_form_carries_numpy_scalars_as_python_numbers() -> None:
    back = from_wire(read_wire_line(wire_line({"v": to_wire((np.float32(0.5), np.int64(3)))})))
    assert back == {"v": (0.5, 3)}
    assert type(back["v"][0]) is float
    assert type(back["v"][1]) is int


def test_a_wire_line_refuses_or_shows_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        wire_line({"x": object()})
    assert "object object" in wire_line({"x": object()}, unknown_as_repr=True)


@given(_trees(_FINITE))
def test_the_stored_form_is_what_a_strict_json_file_reads_back(value: Any) -> None:
    assert _same(stored(value), parse_file_text(file_text(value)))
    assert "__tuple__" not in file_text(stored(value))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), (1.0, -math.inf)])
def test_the_stored_form_and_file_text_refuse_non_finite_floats(bad: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        stored({"eps": bad})
    with pytest.raises(ValueError, match="not JSON compliant"):
        file_text({"eps": bad})


def test_the_stored_form_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        stored({"dtype": np.dtype("float32")})


@given(_trees(_SCALARS | st.builds(np.float64, st.floats())
              | st.builds(np.int32, st.integers(-9, 9))))
def test_the_report_form_is_strict_json(value: Any) -> None:
    text = file_text(reportable(value))  # allow_nan=False: raises on any NaN left

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a report")

    json.loads(text, parse_constant=refuse)


def test_the_report_form_writes_non_finite_floats_and_unknowns_as_strings() -> None:
    assert reportable({"e": [math.nan, -math.inf], "d": np.dtype("float32")}) == \
        {"e": ["nan", "-inf"], "d": "dtype('float32')"}


def test_file_text_is_one_space_indented_with_a_final_newline() -> None:
    assert file_text({"a": [1]}) == '{\n "a": [\n  1\n ]\n}\n'
    assert json.loads(file_text({"b": 2, "a": 1})) == {"b": 2, "a": 1}
    assert list(parse_file_text(file_text({"b": 2, "a": 1}))) == ["b", "a"]
