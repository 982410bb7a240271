"""Resolve the Array API namespace of the inputs, once per call.

For every library this is ``array_api_compat.array_namespace``, with one
substitution for NumPy: its ``sum`` is ``add.reduce`` behind a Python wrapper that costs
about a microsecond a call, the largest fixed cost of a small layer's step. For a real
floating array with no ``dtype`` or ``keepdims`` the two are the same pairwise
reduction, so the NumPy namespace handed to the core calls ``add.reduce`` directly and
falls back to the standard ``sum`` otherwise.
"""

from __future__ import annotations

import types
from typing import Any

import array_api_compat

_FAST: dict[int, Any] = {}


def namespace(*arrays: Any) -> Any:
    """``array_api_compat.array_namespace(*arrays)``, NumPy's with a direct ``sum``.

    >>> import numpy as np
    >>> namespace(np.ones(3)).sum(np.ones(3))
    np.float64(3.0)
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

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None,
            keepdims: bool = False) -> Any:
        if dtype is None and not keepdims and add_reduce is not None and x.dtype.kind == "f":
            return add_reduce(x, axis=axis)
        return standard_sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    fast = types.SimpleNamespace(**{k: v for k, v in vars(xp).items()
                                    if not k.startswith("__")})
    fast.__name__ = xp.__name__
    fast.sum = sum
    return fast
