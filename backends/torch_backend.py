"""PyTorch, through array-api-compat's ``array_api_compat.torch`` namespace.

Devices (``torch.device`` objects, which compare equal to ``array_api_compat.device``
of a tensor): the CPU first, then every CUDA device torch sees.
Tensors on torch's ``"meta"`` device carry shape, dtype and device but no values; the
test suite uses it as a non-default device on machines without a GPU.
"""

from __future__ import annotations

from typing import Any

from ._base import Backend


def load() -> Backend:
    """The PyTorch backend (CPU, plus CUDA devices when present)."""
    import array_api_compat.torch as xp
    import numpy as np
    import torch

    cuda = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]

    def from_numpy(a: Any, device: Any = None) -> Any:
        return torch.tensor(np.asarray(a), device=device)  # always a copy

    def to_numpy(x: Any) -> Any:
        x = x.detach()
        if x.dtype == torch.bfloat16:  # NumPy has no bfloat16: widen exactly
            x = x.to(torch.float32)
        host = x.cpu()  # a copy unless ``x`` is already on the CPU
        return host.numpy().copy() if host is x else host.numpy()

    def synchronize() -> None:
        for dev in cuda:
            torch.cuda.synchronize(dev)

    return Backend(name="torch", xp=xp, from_numpy=from_numpy, to_numpy=to_numpy,
                   devices=(torch.device("cpu"), *cuda), synchronize=synchronize,
                   float_dtypes=("float16", "bfloat16", "float32", "float64"))
