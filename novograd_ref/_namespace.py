"""Resolve the Array API namespace of the inputs, once per call.

For every library this is ``array_api_compat.array_namespace``, with two
substitutions for NumPy, where the standard functions' Python wrappers are the
largest fixed costs of a small layer's step:

- ``sum`` is ``add.reduce`` behind a wrapper that costs about a microsecond a call.
  For a real floating array with no ``dtype`` or ``keepdims`` the two are the same
  pairwise reduction, so the NumPy namespace handed to the core calls ``add.reduce``
  directly and falls back to the standard ``sum`` otherwise.
- ``where`` on a layer's 0-d second moment (``where(v == 0, s, blend)``) costs about
  three microseconds. When the condition is a NumPy boolean scalar and both choices
  are 0-d of one dtype, the result is one of the two choices, read without copying;
  otherwise the standard ``where``. Only NumPy values are ever read: a lazy or device
  array never reaches this branch.
"""

from __future__ import annotations

import types
from typing import Any

import array_api_compat

_FAST: dict[int, Any] = {}


def namespace(*arrays: Any) -> Any:
    """``array_api_compat.array_namespace(*arrays)``, NumPy's with a direct ``sum``.

    >>> import numpy as np
    >>> xp = namespace(np.ones(3))
    >>> xp.sum(np.ones(3))
    np.float64(3.0)
    >>> xp.where(np.float32(0) == 0, np.float32(2), np.float32(3))
    np.float32(2.0)
    """
    xp = array_api_compat.array_namespace(*arrays)
    if not array_api_compat.is_numpy_namespace(xp):
        return xp
    fast = _FAST.get(id(xp))
    if fast is None:
        fast = _FAST[id(xp)] = _numpy_with_direct_sum(xp)
    return fast


def _numpy_with_direct_sum(xp: Any) -> Any:
    add_reduce = xp.add.reduce if hasattr(xp, "add") else None
    standard_sum = xp.sum
    standard_where = xp.where
    numpy_bool = xp.bool_ if hasattr(xp, "bool_") else None

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None,
            keepdims: bool = False) -> Any:
        if dtype is None and not keepdims and add_reduce is not None and x.dtype.kind == "f":
            return add_reduce(x, axis=axis)
        return standard_sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def where(condition: Any, x1: Any, x2: Any, /) -> Any:
        if (type(condition) is numpy_bool and getattr(x1, "shape", None) == ()
                and getattr(x2, "shape", None) == () and x1.dtype == x2.dtype):
            return x1 if condition else x2
        return standard_where(condition, x1, x2)

    fast = types.SimpleNamespace(**{k: v for k, v in vars(xp).items()
                                    if not k.startswith("__")})
    fast.__name__ = xp.__name__
    fast.sum = sum
    fast.where = where
    return fast
