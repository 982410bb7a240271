"""NumPy, through array-api-compat's namespace."""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The NumPy backend (always available: NumPy is a runtime dependency)."""
    import array_api_compat.numpy as xp
    import numpy as np

    def from_numpy(a: Any, device: Any = None) -> Any:
        return np.array(a, copy=True)

    return Backend(name="numpy", xp=xp, from_numpy=from_numpy, to_numpy=np.asarray,
                   devices=("cpu",), float_dtypes=("float16", "float32", "float64"))
