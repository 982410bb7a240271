"""Compare two trees leaf by leaf, and say which leaf, step and how many ulps on failure."""

from __future__ import annotations

from typing import Any

from novograd_ref._tree import flatten, leaf_paths, structure_mismatch

from ._tolerances import dtype_name, relative_error, rtol, ulp_error


def to_numpy(x: Any) -> Any:
    """A NumPy copy of an array from any supported library (CPU transfer if needed).

    PyTorch's sparse tensors come dense, its bfloat16 as float32 (exact: NumPy has no
    bfloat16); a meta tensor, which holds no values, is a TypeError.

    >>> to_numpy([1.0, 2.0])
    array([1., 2.])
    """
    import numpy as np

    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        import torch

        if x.is_meta:
            raise TypeError("expected a tensor with values, got a torch meta tensor")
        x = x.detach().cpu()
        if x.layout != torch.strided:
            x = x.to_dense()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.numpy()
    if hasattr(x, "compute") and type(x).__module__.startswith("dask"):
        return np.asarray(x.compute())
    try:
        return np.asarray(x)
    except (TypeError, RuntimeError, ValueError):
        import array_api_strict as xs  # array-api-strict arrays refuse implicit conversion

        return np.asarray(xs.asarray(x, device=xs.Device("CPU_DEVICE")))


def assert_trees_close(actual: Any, desired: Any, *, rtol_value: float | None = None,
                       kind: str = "backend", steps: int = 1, step: int | None = None,
                       check_dtype: bool = True) -> None:
    """Assert two trees have the same structure, shapes, dtypes and close values.

    The tolerance is ``rtol_value`` or :func:`~novograd_ref.testing.rtol` for the
    desired leaf's dtype, ``kind`` and ``steps``; the error is
    :func:`~novograd_ref.testing.relative_error`. A failure names the leaf path, the
    step (if given) and the error in ulps.

    >>> import numpy as np
    >>> assert_trees_close({"w": np.array([1.0])}, {"w": np.array([1.0])})
    >>> assert_trees_close({"w": np.array([1.0])}, {"w": np.array([1.1])})
    Traceback (most recent call last):
    ...
    AssertionError: leaf ['w']: relative error 0.0909 > 3.55e-15 (4.5e+14 ulps)
    """
    __tracebackhide__ = True
    a_leaves, a_def = flatten(actual)
    d_leaves, d_def = flatten(desired)
    mismatch = structure_mismatch(d_def, a_def)
    if mismatch:
        raise AssertionError(f"tree structures differ {mismatch}")
    where = f" at step {step}" if step is not None else ""
    if rtol_value is not None:
        rtol_value = _tolerance(rtol_value)
    for path, a, d in zip(leaf_paths(d_def), a_leaves, d_leaves):
        a_np, d_np = _values(a, f"actual{path}"), _values(d, f"desired{path}")
        a_shape, d_shape = tuple(getattr(a, "shape", a_np.shape)), tuple(
            getattr(d, "shape", d_np.shape))
        a_dtype, d_dtype = getattr(a, "dtype", a_np.dtype), getattr(d, "dtype", d_np.dtype)
        if a_shape != d_shape:
            raise AssertionError(f"leaf {path}{where}: shape {a_shape} != {d_shape}")
        if check_dtype and dtype_name(a_dtype) != dtype_name(d_dtype):
            raise AssertionError(f"leaf {path}{where}: dtype {dtype_name(a_dtype)} != "
                                 f"{dtype_name(d_dtype)}")
        tol = rtol_value if rtol_value is not None else rtol(dtype_name(d_dtype), kind,
                                                             steps)
        err = relative_error(a_np, d_np)
        if not err <= tol:
            raise AssertionError(f"leaf {path}{where}: relative error {err:.3g} > {tol:.3g} "
                                 f"({ulp_error(a_np, d_np):.3g} ulps)")


def _values(x: Any, what: str) -> Any:
    """A leaf's values as a NumPy array of numbers, or a TypeError naming the leaf."""
    try:
        values = to_numpy(x)
    except Exception as exc:
        raise TypeError(f"{what}: expected an array or a number, got "
                        f"{type(x).__name__} ({exc})") from exc
    if getattr(values, "dtype", None) is None or values.dtype.kind not in "biufc":
        raise TypeError(f"{what}: expected an array of numbers, got {type(x).__name__}"
                        f" of dtype {getattr(values, 'dtype', None)}")
    return values


def _tolerance(value: Any) -> float:
    """``rtol_value`` as a float >= 0, or an error naming it."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"rtol_value must be a real number, got {type(value).__name__}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if math.isnan(x) or x < 0:
        raise ValueError(f"rtol_value must be >= 0, got {x}")
    return x
