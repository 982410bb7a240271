"""Dask: chunked, lazy NumPy arrays, the path to trees larger than one machine's memory.

Operations on Dask arrays build a task graph; nothing is computed until ``compute()``
(or ``persist``/``store``), which is what :func:`to_numpy` does. The optimizer state's
step count is then a Dask array too, so the core takes its lazy path (``xp.where``
instead of Python branches on the count). A ``dask.distributed`` client, when one is
active, is used by ``compute()`` automatically.
"""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The Dask backend (``dask.array`` through array-api-compat), CPU only."""
    import array_api_compat.dask.array as xp
    import dask.array as da
    import numpy as np

    def from_numpy(a: Any, device: Any = None, chunks: Any = None) -> Any:
        """A Dask array over a copy of ``a``; ``chunks`` as in ``dask.array.from_array``.

        By default Dask's ``"auto"`` chunks, except that an array that would fit in one
        chunk is split in two along its first axis, so that even small trees exercise
        the reductions across chunks (the per-layer norm).
        """
        arr = np.array(a, copy=True)
        if chunks is None:
            chunks = "auto"
            if arr.ndim and arr.shape[0] > 1 and arr.nbytes <= 2**27:  # one auto chunk
                chunks = ((arr.shape[0] + 1) // 2, *arr.shape[1:])
        return da.from_array(arr, chunks=chunks)

    def to_numpy(x: Any) -> Any:
        return np.asarray(x.compute() if hasattr(x, "compute") else x)

    return Backend(name="dask", xp=xp, from_numpy=from_numpy, to_numpy=to_numpy,
                   devices=("cpu",), float_dtypes=("float16", "float32", "float64"),
                   lazy=True)
