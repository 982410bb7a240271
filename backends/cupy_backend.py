"""CuPy: NumPy-like arrays on NVIDIA GPUs, through array-api-compat's namespace.

Available only where CuPy imports *and* a CUDA device is present: without a device,
:func:`load` raises ``ImportError`` saying so, and the tests that need it are skipped.
Devices are ``cupy.cuda.Device(i)`` for each GPU, device 0 first. CuPy launches kernels
asynchronously on the current stream: :func:`synchronize` waits for every device
before a timer stops.
"""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The CuPy backend; ``ImportError`` if CuPy or a CUDA device is missing."""
    import array_api_compat.cupy as xp
    import cupy

    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except (cupy.cuda.runtime.CUDARuntimeError, RuntimeError, OSError) as exc:
        raise ImportError(f"cupy is installed but CUDA is unusable: {exc}") from exc
    if count == 0:
        raise ImportError("cupy is installed but no CUDA device is visible")
    devices = tuple(cupy.cuda.Device(i) for i in range(count))

    def from_numpy(a: Any, device: Any = None) -> Any:
        with device if device is not None else devices[0]:
            return cupy.array(a, copy=True)

    def to_numpy(x: Any) -> Any:
        return cupy.asnumpy(x)

    def synchronize() -> None:
        for dev in devices:
            dev.synchronize()

    return Backend(name="cupy", xp=xp, from_numpy=from_numpy, to_numpy=to_numpy,
                   devices=devices, synchronize=synchronize,
                   float_dtypes=("float16", "float32", "float64"))
