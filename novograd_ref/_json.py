"""JSON as novograd-ref writes and reads it: the one codec of its files, reports and pipes.

A value (a tree of dicts, lists, tuples, numbers, strings, booleans and ``None``: the
keywords of a configuration, a report's rows) takes one of three forms:

- the *wire* form (:func:`to_wire`, :func:`from_wire`), lossless, for the kit's pipes
  to its child process: tuples tagged as ``{"__tuple__": [...]}`` so they come back as
  tuples, NumPy scalars as Python numbers; floats are exact (Python's shortest
  round-tripping repr) and NaN and the infinities travel as JSON's ``NaN``,
  ``Infinity`` and ``-Infinity`` extensions. One message is one line
  (:func:`wire_line`, :func:`read_wire_line`);
- the *stored* form (:func:`stored`): the value as a strict JSON file reads it back
  (tuples as lists); NaN, the infinities and anything that is not JSON are refused.
  Constructor keywords and settings are written to the vectors' manifest in it;
- the *report* form (:func:`reportable`): any value made strict JSON for a report:
  NumPy scalars as Python values, tuples as lists, NaN and the infinities as the
  strings ``"nan"``, ``"inf"`` and ``"-inf"``, anything else as its ``repr``.

A JSON file (the vectors' ``manifest.json``, a ``--report``, a ``--json``) is
:func:`file_text`: strict JSON (no NaN), indented by one space, with a final newline,
keys in the order given. Arrays never travel as JSON: they go in ``.npz`` files
(:func:`novograd_ref.vectors.npz_bytes`).

>>> from_wire(read_wire_line(wire_line({"betas": to_wire((0.9, float("nan")))})))
{'betas': (0.9, nan)}
>>> stored({"betas": (0.9, 0.98)}), reportable({"error": float("inf")})
({'betas': [0.9, 0.98]}, {'error': 'inf'})
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

_TUPLE = "__tuple__"


def to_wire(value: Any) -> Any:
    """``value`` in the wire form: tuples as ``{"__tuple__": [...]}``, NumPy scalars as
    Python numbers, dict keys as strings; the rest as it is.

    >>> to_wire({"betas": (0.9, np.float32(0.5)), 1: [None]})
    {'betas': {'__tuple__': [0.9, 0.5]}, '1': [None]}
    """
    if isinstance(value, tuple):
        return {_TUPLE: [to_wire(v) for v in value]}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_wire(value: Any) -> Any:
    """The inverse of :func:`to_wire`.

    >>> from_wire({"betas": {"__tuple__": [0.9, 0.98]}})
    {'betas': (0.9, 0.98)}
    """
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(from_wire(v) for v in value[_TUPLE])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def wire_line(message: Mapping[str, Any], *, unknown_as_repr: bool = False) -> str:
    """One message of a pipe as one line of JSON (its values already in the wire form).
    A value JSON cannot hold is a ``TypeError``, or its ``repr`` with
    ``unknown_as_repr`` (the child process answers even about what a port returned).

    >>> wire_line({"progress": "update()", "step": 2})
    '{"progress": "update()", "step": 2}\\n'
    """
    return json.dumps(message, default=repr if unknown_as_repr else None) + "\n"


def read_wire_line(line: str) -> Any:
    """The message of one line of a pipe (``ValueError`` when it is not JSON)."""
    return json.loads(line)


def stored(value: Any) -> Any:
    """``value`` as a strict JSON file reads it back (tuples become lists, dict keys
    strings); ``ValueError`` for NaN or an infinity, ``TypeError`` for anything JSON
    cannot hold.

    >>> stored({"betas": (0.9, 0.98), "eps": 1e-8})
    {'betas': [0.9, 0.98], 'eps': 1e-08}
    """
    return json.loads(json.dumps(value, allow_nan=False))


def reportable(value: Any) -> Any:
    """``value`` as strict JSON for a report: NumPy scalars as Python values, tuples as
    lists, non-finite floats as strings, anything else unknown as its ``repr``.

    >>> reportable({"e": float("inf"), "k": (1, np.float64(0.5))})
    {'e': 'inf', 'k': [1, 0.5]}
    """
    if isinstance(value, dict):
        return {str(k): reportable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reportable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return reportable(value.item())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def file_text(data: Any) -> str:
    """The text of a JSON file the project writes: strict JSON (NaN refused with
    ``ValueError``), indented by one space, keys in the order given, a final newline.

    >>> print(file_text({"schema_version": 1, "cases": []}), end="")
    {
     "schema_version": 1,
     "cases": []
    }
    """
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def parse_file_text(text: str, parse_int: Callable[[str], Any] | None = None) -> Any:
    """The value of a JSON file's text (``ValueError`` when it is not JSON);
    ``parse_int`` reads its integers (e.g. one that refuses huge ones).

    >>> parse_file_text('{"cases": [1, 2]}')
    {'cases': [1, 2]}
    """
    return json.loads(text, parse_int=parse_int)
