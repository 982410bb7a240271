"""A complete NovoGrad port, checked with ``novograd-ref verify --impl numpy_port:make``.

``make`` is the factory: the kit calls it once per case with the constructor keywords of
the preset named by ``--preset`` (here optax's: ``b1, b2, eps, eps_root,
weight_decay``), never with the learning rate, which it hands to ``init``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class NumpyNovoGrad:
    """optax.novograd on dicts of NumPy arrays: one second-moment scalar per leaf."""

    name = "numpy-port"

    def __init__(self, b1: float, b2: float, eps: float, eps_root: float,
                 weight_decay: float) -> None:
        self.b1, self.b2, self.eps, self.eps_root, self.wd = b1, b2, eps, eps_root, weight_decay

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        """``learning_rate``: a float, or an array whose entry ``k`` is step ``k + 1``'s."""
        return {"params": {k: p.copy() for k, p in params.items()},
                "m": {k: np.zeros_like(p) for k, p in params.items()},
                "v": {k: p.dtype.type(0) for k, p in params.items()},
                "step": 0, "lr": learning_rate}

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One step; returns the new parameters (same dtypes) and the new state."""
        k, lr = state["step"], state["lr"]
        rate = float(lr[k]) if isinstance(lr, np.ndarray) else float(lr)
        new = {"params": {}, "m": {}, "v": {}, "step": k + 1, "lr": lr}
        for name, g in grads.items():
            p, m, v = state["params"][name], state["m"][name], state["v"][name]
            s = np.sum(g * g)
            v = s if k == 0 else self.b2 * v + (1 - self.b2) * s
            u = g / (np.sqrt(v + self.eps_root) + self.eps) + self.wd * p
            m = u if k == 0 else self.b1 * m + u
            new["params"][name] = (p - rate * m).astype(p.dtype)
            new["m"][name], new["v"][name] = m.astype(p.dtype), v
        return dict(new["params"]), new


def make(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
         weight_decay: float = 0.0) -> NumpyNovoGrad:
    """The factory ``novograd-ref verify --impl numpy_port:make --preset optax`` calls."""
    return NumpyNovoGrad(b1, b2, eps, eps_root, weight_decay)
