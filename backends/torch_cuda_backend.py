"""PyTorch with a CUDA device as the default device: the backend suite on the GPU.

The ``torch`` backend places arrays on the CPU unless a test asks for another device;
this one places them on ``cuda:0`` by default, so that every backend test (each preset
against NumPy float64, float16 parameters with float32 state, outputs staying on the
device) runs on the GPU. Devices: every CUDA device torch sees, then the CPU (the
non-default device the device tests move to). Where torch is missing or sees no CUDA
device, :func:`load` raises ``ImportError`` saying which, and the tests that use it skip
with that reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._base import Backend
from .torch_backend import load as load_torch


def load() -> Backend:
    """The PyTorch-on-CUDA backend; ``ImportError`` if torch or a CUDA device is missing."""
    import numpy as np
    import torch

    if not torch.cuda.is_available():
        raise ImportError(f"torch {torch.__version__} sees no CUDA device "
                          f"(built for CUDA {torch.version.cuda or 'none'})")
    on_cpu = load_torch()  # conversions back and synchronization are the same
    cuda = on_cpu.devices[1:]

    def from_numpy(a: Any, device: Any = None) -> Any:
        return torch.tensor(np.asarray(a), device=cuda[0] if device is None else device)

    return dataclasses.replace(on_cpu, name="torch_cuda", from_numpy=from_numpy,
                               devices=(*cuda, on_cpu.devices[0]))
