"""A small NumPy port of NovoGrad, and deliberately wrong variants of it.

``optax_port`` takes optax's keywords; ``torch_port`` takes torch-optimizer's. Each
``flaw`` is a classic porting mistake the conformance kit must catch and name.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from novograd_ref.conformance import Unsupported

FLAWS = ("eps_inside", "extra_one_minus_b1", "missing_one_minus_b1", "lr_inside",
         "v_from_zero", "float32_norm")


class NumpyPort:
    """NovoGrad on dicts of NumPy arrays, in the optax / PyTorch-family conventions."""

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float,
                 grad_averaging: bool, when_zero: bool, flaw: str | None = None) -> None:
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay
        self.grad_averaging, self.when_zero, self.flaw = grad_averaging, when_zero, flaw
        self.name = f"numpy-port[{flaw or 'faithful'}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        return {"p": {k: v.copy() for k, v in params.items()}, "k": 0, "lr": learning_rate,
                "m": {k: np.zeros_like(v) for k, v in params.items()},
                "v": dict.fromkeys(params, 0.0)}

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        k, lr = state["k"], state["lr"]
        rate = float(lr[k]) if isinstance(lr, np.ndarray) else float(lr)
        new_p, new_m, new_v = {}, {}, {}
        for name, g in grads.items():
            p, m, v = state["p"][name], state["m"][name], state["v"][name]
            gg = g.astype(np.float32) if self.flaw == "float32_norm" else g
            s = float(np.sum(gg * gg))
            first = (v == 0) if self.when_zero else (k == 0)
            if self.flaw == "v_from_zero":
                first = False
            v = s if first else self.b2 * v + (1 - self.b2) * s
            den = np.sqrt(v + self.eps) if self.flaw == "eps_inside" else np.sqrt(v) + self.eps
            u = g / g.dtype.type(den) + self.wd * p
            averaging = self.grad_averaging != (self.flaw == "missing_one_minus_b1")
            if averaging or self.flaw == "extra_one_minus_b1":
                u = (1 - self.b1) * u
            if self.flaw == "lr_inside":
                m = self.b1 * m - rate * u
                p = p + m
            else:
                m = self.b1 * m + u
                p = p - rate * m
            new_p[name], new_m[name], new_v[name] = p.astype(g.dtype), m, v
        return new_p, {"p": new_p, "k": k + 1, "lr": lr, "m": new_m, "v": new_v}


def optax_port(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
               weight_decay: float = 0.0, flaw: str | None = None) -> NumpyPort:
    """A port taking ``optax.novograd``'s keywords (``eps_root`` must be 0)."""
    if eps_root:
        raise Unsupported("this port has no eps_root")
    return NumpyPort(b1, b2, eps, weight_decay, False, False, flaw)


def torch_port(betas: Any = (0.95, 0.0), eps: float = 1e-8, weight_decay: float = 0.0,
               grad_averaging: bool = False, amsgrad: bool = False,
               flaw: str | None = None) -> NumpyPort:
    """A port taking torch-optimizer's keywords (no amsgrad)."""
    if amsgrad:
        raise Unsupported("this port has no amsgrad")
    return NumpyPort(float(betas[0]), float(betas[1]), eps, weight_decay, grad_averaging, True,
                     flaw)


def _flawed(flaw: str, base: Any) -> Any:
    def factory(**kwargs: Any) -> NumpyPort:
        port: NumpyPort = base(**kwargs, flaw=flaw)
        return port

    return factory


eps_inside = _flawed("eps_inside", optax_port)
extra_one_minus_b1 = _flawed("extra_one_minus_b1", optax_port)
lr_inside = _flawed("lr_inside", optax_port)
v_from_zero = _flawed("v_from_zero", optax_port)
float32_norm = _flawed("float32_norm", optax_port)
missing_one_minus_b1 = _flawed("missing_one_minus_b1", torch_port)


# ------------------------------------------------------------- broken adapters
# Each breaks the adapter protocol (or fails) in one way the kit must report plainly.


class Misbehaving:
    """The faithful optax port, with one misbehaviour (``mode``) on top."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        self.port, self.mode, self.name = optax_port(**kwargs), mode, f"misbehaving[{mode}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> Any:
        if self.mode == "init_raises":
            raise KeyError("no such slot")
        return self.port.init(params, learning_rate)

    def update(self, grads: Mapping[str, np.ndarray], state: Any) -> Any:
        if self.mode == "update_raises" and state["k"] == 2:
            raise RuntimeError("update exploded")
        params, state = self.port.update(grads, state)
        if self.mode == "zero_grads":  # as ``p.grad.zero_()`` after the step would
            for g in grads.values():
                g[...] = 0
        elif self.mode == "shape":
            params = {k: v.reshape(-1)[:1] for k, v in params.items()}
        elif self.mode == "dtype":
            params = {k: v.astype(np.float16) for k, v in params.items()}
        elif self.mode == "missing":
            params = dict(list(params.items())[1:])
        elif self.mode == "list":
            return list(params.values()), state
        elif self.mode == "none_state":
            return params, None
        elif self.mode == "nan":
            params = {k: np.full_like(v, np.nan) for k, v in params.items()}
        elif self.mode == "scalar_grads":
            assert all(isinstance(g, np.ndarray) for g in grads.values()), grads
        return params, state


def _misbehaving(mode: str) -> Any:
    def factory(**kwargs: Any) -> Misbehaving:
        return Misbehaving(mode, **kwargs)

    return factory


zero_grads, shape, dtype, missing, as_list, none_state, nan, scalar_grads = (
    _misbehaving(m) for m in ("zero_grads", "shape", "dtype", "missing", "list", "none_state",
                              "nan", "scalar_grads"))
init_raises, update_raises = _misbehaving("init_raises"), _misbehaving("update_raises")


def factory_raises_value(**kwargs: Any) -> Any:
    """A factory that fails on every keyword set (an error, not a skip)."""
    raise ValueError("not implemented yet")


def factory_unsupported(**kwargs: Any) -> Any:
    """Says "I do not have this option" for every keyword set."""
    raise Unsupported("not implemented yet")


def factory_not_implemented(**kwargs: Any) -> Any:
    """Says it with the built-in exception."""
    raise NotImplementedError("no such option")


def factory_raises_key(**kwargs: Any) -> Any:
    """A bug in the user's factory."""
    return {}["b1"]


def returns_none(**kwargs: Any) -> Any:
    """Forgets to return the adapter."""
    return None


def unknown_oracle_keyword(**kwargs: Any) -> NumpyPort:
    """A faithful port whose declared oracle keywords name no keyword of the preset."""
    return optax_port(**kwargs)


unknown_oracle_keyword.oracle_kwargs = {"no_such_keyword": 1}  # type: ignore[attr-defined]


# ------------------------------------------------------------- misbehaving ports
# The faithful optax port, misbehaving on one case only: the one with a leaf named
# "late" (zero_first_grads), at step 2. The kit must report that case as an error and
# go on with the others.


class Gallery:
    """``mode``: what ``update()`` does on step 2 of the selected case."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        self.port, self.mode, self.name = optax_port(**kwargs), mode, f"gallery[{mode}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> Any:
        return self.port.init(params, learning_rate)

    def update(self, grads: Mapping[str, np.ndarray], state: Any) -> Any:
        chosen = "late" in grads and state["k"] == 1
        if self.mode == "noise":
            print('{"oracle_kwargs": {}}\nnoise on stdout', flush=True)
            os.write(1, b"noise on fd 1\n")
            print("noise on stderr", file=sys.stderr)
        elif chosen and self.mode == "exit0":
            sys.exit(0)
        elif chosen and self.mode == "os_exit":
            os._exit(0)
        elif chosen and self.mode == "exit_message":
            sys.exit("bye")
        elif chosen and self.mode == "sleep":
            time.sleep(3600)
        elif chosen and self.mode == "segfault":
            ctypes.string_at(0)
        elif chosen and self.mode == "allocate":
            np.ones(1 << 31)  # 16 GiB
        elif chosen and self.mode == "order":
            raise RuntimeError(f"leaves {list(grads)}")
        elif chosen and self.mode == "mutate":
            for g in grads.values():
                g *= 2
        params, state = self.port.update(grads, state)
        if chosen and self.mode == "nan":
            params = {k: np.full_like(v, np.nan) for k, v in params.items()}
        return params, state


def _gallery(mode: str) -> Any:
    def factory(**kwargs: Any) -> Gallery:
        return Gallery(mode, **kwargs)

    return factory


GALLERY = ("exit0", "os_exit", "exit_message", "sleep", "segfault", "allocate", "order",
           "mutate", "nan", "noise")
(gallery_exit0, gallery_os_exit, gallery_exit_message, gallery_sleep, gallery_segfault,
 gallery_allocate, gallery_order, gallery_mutate, gallery_nan, gallery_noise) = (
    _gallery(m) for m in GALLERY)


