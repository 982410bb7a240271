"""The one tolerance table of novograd-ref: every tolerance is a multiple of dtype eps.

Two faithful evaluations of the same NovoGrad recurrence differ only by rounding: the
order of the sum in ``|g|^2``, fused multiply-adds, ``sqrt(S)**2`` versus ``S``,
``lerp`` versus the blend, ``g * (1/d)`` versus ``g / d``. Each costs a few ulps per
step and the recurrence carries them forward, so tolerances are stated as
``multiplier * eps(dtype)``, with the multiplier chosen by what is compared:

========================  ========  ==========================================
kind                      per       what differs between the two sides
========================  ========  ==========================================
``"backend"``             step      same formulas, another array library
                                    (reduction order, FMA): 16 eps a step
``"scalar"``              step      NumPy core vs the plain-Python loop: 8 eps
``"framework"``           run       the real framework vs its preset over a
                                    recorded trajectory (up to 30 steps, its
                                    own op order): float64 4096 eps (9.1e-13),
                                    float32 32 eps (3.8e-6)
``"float32_vs_float64"``  step      the float32 run tracking the float64 one:
                                    64 float32 eps a step
========================  ========  ==========================================

Errors are measured per leaf as ``max over steps of max|a - b| / max|b|``
(:func:`relative_error`), so a leaf whose entries pass through zero is not judged
by its smallest entry. The tests hold every comparison to this table (backends,
the scalar oracle, the golden vectors); ``benchmarks/RESULTS.md`` lists the largest
errors observed against it.

>>> eps("float64")
2.220446049250313e-16
>>> rtol("float32", "framework")
3.814697265625e-06
"""

from __future__ import annotations

import numbers
from typing import Any

_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}

_PER_STEP = {"backend": 16, "scalar": 8, "float32_vs_float64": 64}
_PER_RUN = {"framework": {"float64": 4096, "float32": 32, "float16": 32, "bfloat16": 32}}

KINDS = (*_PER_STEP, *_PER_RUN)


def eps(dtype: Any) -> float:
    """Machine epsilon of a floating dtype, given by name or as any dtype object.

    >>> eps("float32")
    1.1920928955078125e-07
    """
    name = dtype_name(dtype)
    if name not in _EPS:
        raise ValueError(f"dtype must be a floating dtype with a tolerance ({', '.join(_EPS)}), "
                         f"got {_shown(dtype)}")
    return _EPS[name]


def _shown(value: Any) -> str:
    """A bad argument in a message: its repr, cut short; never an error of its own."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 (past the int-to-str limit, or a broken __repr__)
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:45]}...({len(text)} chars)"


def dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``numpy.float32``, ``torch.float32``, ``"float32"``...

    >>> import numpy as np
    >>> dtype_name(np.dtype("float64"))
    'float64'
    """
    if isinstance(dtype, type):  # a scalar type: numpy.float32, ml_dtypes.bfloat16
        import numpy as np

        try:
            return np.dtype(dtype).name
        except TypeError:
            pass
    try:
        text = str(getattr(dtype, "name", dtype))
    except Exception:  # noqa: BLE001 (a broken __str__: no dtype we know)
        return type(dtype).__name__
    for name in _EPS:
        if text == name or text.endswith(("." + name, f"'{name}'")):
            return name
    return text


def rtol(dtype: Any, kind: str = "backend", steps: int = 1) -> float:
    """Relative tolerance for comparing ``kind`` of results in ``dtype`` after ``steps``.

    >>> rtol("float64", "backend", steps=10)
    3.552713678800501e-14
    >>> import numpy as np
    >>> rtol(np.float32, "framework")
    3.814697265625e-06
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {_shown(kind)}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps must be an int, got {_shown(steps)}")
    unit = eps(dtype)  # names a dtype without a tolerance
    if kind in _PER_STEP:
        return _PER_STEP[kind] * max(steps, 1) * unit
    return _PER_RUN[kind][dtype_name(dtype)] * unit


def relative_error(actual: Any, desired: Any) -> float:
    """``max|actual - desired| / max|desired|`` over NumPy arrays (0 if both are 0).

    NaN or inf must sit at the same places with the same values, else the error is inf.

    >>> import numpy as np
    >>> relative_error(np.array([1.0, 3.0]), np.array([1.0, 4.0]))
    0.25
    """
    import numpy as np

    a, d = _floats(actual, "actual"), _floats(desired, "desired")
    if a.shape != d.shape:
        raise ValueError(f"actual and desired differ in shape: {a.shape} and {d.shape}")
    finite = np.isfinite(d)
    if not np.array_equal(np.isfinite(a), finite) or not np.array_equal(
            a[~finite], d[~finite], equal_nan=True):
        return float("inf")
    if not finite.any():
        return 0.0
    scale = float(np.max(np.abs(d[finite])))
    diff = float(np.max(np.abs(a[finite] - d[finite])))
    return diff / scale if scale else diff


def ulp_error(actual: Any, desired: Any, dtype: Any = None) -> float:
    """Largest elementwise difference in units of the last place of ``desired``, in
    ``dtype`` (default: the dtype of ``desired``): a float64 run held to float32
    precision (float32 state) is measured in float32 ulps.

    >>> import numpy as np
    >>> ulp_error(np.array([1.0]), np.array([np.nextafter(1.0, 2.0)]))
    1.0
    >>> ulp_error(np.array([1.0 + 2.0**-23]), np.array([1.0]), dtype="float32")
    1.0
    """
    import numpy as np

    a, d = np.asarray(_floats(actual, "actual")), np.asarray(desired)
    _floats(desired, "desired")
    if a.shape != d.shape:
        raise ValueError(f"actual and desired differ in shape: {a.shape} and {d.shape}")
    eps(d.dtype if dtype is None else dtype)  # names a dtype without a tolerance
    unit = d.dtype if dtype is None else np.dtype(dtype_name(dtype))
    finite = np.isfinite(d) & np.isfinite(a)
    if not finite.any():
        return 0.0
    spacing = np.spacing(np.abs(d[finite]).astype(unit)).astype(np.float64)
    spacing = np.where(spacing > 0, spacing, float(np.finfo(unit).smallest_subnormal))
    return float(np.max(np.abs(a[finite].astype(np.float64) - d[finite]) / spacing))


def _floats(x: Any, what: str) -> Any:
    """``x`` as a float64 NumPy array, or a TypeError naming ``what`` (numbers only)."""
    import numpy as np

    try:
        values = np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{what}: expected an array of numbers, got {_shown(x)}") from exc
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected an array of real numbers, got dtype "
                        f"{values.dtype}")
    return values.astype(np.float64)
