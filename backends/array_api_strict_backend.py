"""array-api-strict: the minimal implementation that proves the core uses only the standard."""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The array-api-strict backend, with its default and a non-default device."""
    import array_api_strict as xp
    import numpy as np

    def from_numpy(a: Any, device: Any = None) -> Any:
        return xp.asarray(np.asarray(a), device=device, copy=True)

    def to_numpy(x: Any) -> Any:
        return np.asarray(xp.asarray(x, device=xp.Device("CPU_DEVICE")) if
                          x.device != xp.Device("CPU_DEVICE") else x)

    return Backend(name="array_api_strict", xp=xp, from_numpy=from_numpy, to_numpy=to_numpy,
                   devices=(xp.Device("CPU_DEVICE"), xp.Device("device1")))
