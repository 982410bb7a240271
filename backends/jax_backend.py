"""JAX (``jax.numpy`` is an Array API namespace), with 64-bit types enabled.

Loading this backend turns on ``jax_enable_x64``: without it JAX silently stores
float64 inputs as float32, which a float64 reference cannot allow. JAX arrays are
treated as lazy by array-api-compat (they may be tracers under ``jax.jit``), so the core
takes its ``xp.where`` path for the step count, and ``jax.jit(opt.update)`` compiles.
Devices are ``jax.devices()`` (the default backend's, default first), then the CPU
devices if the default backend is an accelerator.
"""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The JAX backend; enables ``jax_enable_x64`` (see the module docstring)."""
    import jax
    import jax.numpy as xp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    devices = list(jax.devices())
    if devices[0].platform != "cpu":
        devices += jax.devices("cpu")

    def from_numpy(a: Any, device: Any = None) -> Any:
        return jax.device_put(np.array(a, copy=True), device)

    def to_numpy(x: Any) -> Any:
        return np.asarray(jax.device_get(x))

    def synchronize(*arrays: Any) -> None:
        """Wait for ``arrays`` (a tree) if given, else for a no-op on every device.

        JAX dispatches asynchronously; pass the arrays a timer waits for. Without
        arguments this waits for a trivial computation queued on each device after
        the work already queued there.
        """
        if arrays:
            jax.block_until_ready(arrays)
            return
        for dev in devices:
            jax.device_put(np.zeros(()), dev).block_until_ready()
        jax.effects_barrier()

    return Backend(name="jax", xp=xp, from_numpy=from_numpy, to_numpy=to_numpy,
                   devices=tuple(devices), synchronize=synchronize,
                   float_dtypes=("float16", "bfloat16", "float32", "float64"), lazy=True)
