"""Array libraries the reference core runs on: one small module per library.

Each module describes one library, with no NovoGrad math: how to import it, its Array
API namespace, conversion to and from NumPy, device placement, synchronizing before a
timer stops, and the float dtypes it supports. The registry imports a library only when
asked for it.

>>> from novograd_ref import backends
>>> "numpy" in backends.available()
True
>>> backends.get("numpy").to_numpy(backends.get("numpy").from_numpy([1.0])).tolist()
[1.0]
"""

from __future__ import annotations

import importlib
from typing import Any

from ._base import Backend

# name -> module (relative to this package) that defines BACKEND
_MODULES: dict[str, str] = {
    "numpy": ".numpy_backend",
    "array_api_strict": ".array_api_strict_backend",
    "dask": ".dask_backend",
    "torch": ".torch_backend",
    "torch_cuda": ".torch_cuda_backend",
    "jax": ".jax_backend",
    "cupy": ".cupy_backend",
}

__all__ = ("Backend", "available", "get", "names")


def names() -> list[str]:
    """Every backend this package knows, installed or not."""
    return list(_MODULES)


def get(name: str) -> Backend:
    """The backend called ``name``; raises ``ImportError`` if its library is missing."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(_MODULES)}")
    module: Any = importlib.import_module(_MODULES[name], __name__)
    backend: Backend = module.load()
    return backend


def available() -> list[str]:
    """The backends whose library imports here."""
    found = []
    for name in _MODULES:
        try:
            get(name)
        except ImportError:
            continue
        found.append(name)
    return found
