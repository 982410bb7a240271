"""Compare two trees leaf by leaf, and say which leaf, step and how many ulps on failure."""

from __future__ import annotations

from typing import Any

from novograd_ref._tree import flatten, leaf_paths, structure_mismatch

from ._tolerances import dtype_name, relative_error, rtol, ulp_error


def to_numpy(x: Any) -> Any:
    """A NumPy copy of an array from any supported library (CPU transfer if needed)."""
    import numpy as np

    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
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
    for path, a, d in zip(leaf_paths(d_def), a_leaves, d_leaves):
        if tuple(a.shape) != tuple(d.shape):
            raise AssertionError(f"leaf {path}{where}: shape {tuple(a.shape)} != "
                                 f"{tuple(d.shape)}")
        if check_dtype and dtype_name(a.dtype) != dtype_name(d.dtype):
            raise AssertionError(f"leaf {path}{where}: dtype {dtype_name(a.dtype)} != "
                                 f"{dtype_name(d.dtype)}")
        a_np, d_np = to_numpy(a), to_numpy(d)
        tol = rtol_value if rtol_value is not None else rtol(dtype_name(d.dtype), kind,
                                                             steps)
        err = relative_error(a_np, d_np)
        if not err <= tol:
            raise AssertionError(f"leaf {path}{where}: relative error {err:.3g} > {tol:.3g} "
                                 f"({ulp_error(a_np, d_np):.3g} ulps)")
