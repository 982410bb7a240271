"""NovoGrad ports written for ``explain``'s tests and never tuned on: each one a way a
real port departs from a preset, alone or four and five at once, in NumPy and PyTorch.

:class:`Port` is NovoGrad over dicts of NumPy arrays, written out from the math with
one keyword per convention; :class:`TorchPort` is the same on torch tensors. The
factories at the bottom fix the conventions and take either ``optax.novograd``'s
keywords (``optax_keywords``: the second moment set on step 1, no grad averaging, no
``eps_root``) or torch-optimizer's (``torch_keywords``: the second moment set while it
is still 0, ``grad_averaging`` and ``amsgrad`` honoured). ``EXPECTED`` in
``tests/test_explain_unseen.py`` says what each port is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from novograd_ref.conformance import Unsupported

#: Every convention a port can set, with the default (a faithful optax port).
DEFAULTS: dict[str, Any] = {
    "v_start": "first_step",  # first_step | when_zero | zero | constant
    "eps_inside": False,  # sqrt(v + eps) instead of sqrt(v) + eps
    "averaging": "keyword",  # keyword | always | after_first | inverted
    "lr": "outside",  # outside | inside (Keras momentum) | twice (lr**2)
    "decay": "inside",  # inside | decoupled | fixed | after_step | negative
    "bias": "none",  # none | adam | debias
    "m_start": "zero",  # zero | first_input (m_0 = the first moment input)
    "v_beta": "b2",  # which beta the second moment uses (its blend, its debiasing)
    "m_beta": "b1",  # which beta the first moment uses (its blend, grad averaging)
    "scope": "layer",  # layer | tree | element | mean | chunk | none (not normalized)
    "chunk": 16,  # elements per chunk of a flattened layer, each normalized alone
    "v0": 1e-3,  # the second moment's start when v_start is "constant"
    "first_eps": True,  # eps on the first step
    "first_update": True,  # the parameters move on the first step
    "nesterov": False,  # TF momentum's look-ahead
    "float32": False,  # all the arithmetic in float32
    "reciprocal": False,  # g * (1 / den) instead of g / den
}


class Port:
    """NovoGrad over dicts of NumPy arrays with the conventions of :data:`DEFAULTS`."""

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float,
                 averaging_keyword: bool, amsgrad: bool, **conventions: Any) -> None:
        unknown = set(conventions) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown conventions {sorted(unknown)}")
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay
        self.averaging_keyword, self.amsgrad = averaging_keyword, amsgrad
        self.c = {**DEFAULTS, **conventions}
        self.name = "unseen[" + ",".join(f"{k}={v}" for k, v in conventions.items()) + "]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        v0 = self.c["v0"] if self.c["v_start"] == "constant" else 0.0
        def second(p: np.ndarray) -> Any:
            return np.full(p.shape, v0) if self.c["scope"] in ("element", "chunk") else v0
        return {"p": {k: v.copy() for k, v in params.items()}, "t": 0, "lr": learning_rate,
                "m": {k: np.zeros_like(v) for k, v in params.items()},
                "v": {k: second(v) for k, v in params.items()},
                "vmax": {k: second(v) for k, v in params.items()}}

    def _averaged(self, t: int) -> bool:
        rule = self.c["averaging"]
        if rule == "always":
            return True
        if rule == "after_first":
            return t > 1
        return self.averaging_keyword != (rule == "inverted")

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        c = self.c
        t, lr = state["t"] + 1, state["lr"]
        rate = float(lr[t - 1]) if isinstance(lr, np.ndarray) else float(lr)
        work = np.float32 if c["float32"] else None
        total = sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads.values())
        bv = self.b1 if c["v_beta"] == "b1" else self.b2
        bm = self.b2 if c["m_beta"] == "b2" else self.b1
        new: dict[str, dict[str, Any]] = {"p": {}, "m": {}, "v": {}, "vmax": {}}
        for name, g_in in grads.items():
            dtype = g_in.dtype
            kind = np.dtype(work or dtype).type
            g, p, m = (np.asarray(x).astype(work or dtype) for x in
                       (g_in, state["p"][name], state["m"][name]))
            v, vmax = state["v"][name], state["vmax"][name]
            if c["scope"] == "element":
                s = g * g
            elif c["scope"] == "tree":
                s = total
            elif c["scope"] == "mean":
                s = kind(np.mean(g * g))
            elif c["scope"] == "chunk":
                s = _chunk_sums(g, c["chunk"])
            else:
                s = kind(np.sum(g * g))
            blend = bv * v + (1 - bv) * s
            if c["v_start"] == "first_step":
                v = s if t == 1 else blend
            elif c["v_start"] == "when_zero":
                v = np.where(np.asarray(v) == 0, s, blend) if c["scope"] == "element" \
                    else (s if v == 0 else blend)
            else:
                v = blend
            used = v
            if self.amsgrad:
                vmax = np.maximum(vmax, v)
                used = vmax
            if c["eps_inside"]:
                den = np.sqrt(used + self.eps)
            elif t == 1 and not c["first_eps"]:
                den = np.sqrt(used)
            else:
                den = np.sqrt(used) + self.eps
            with np.errstate(divide="ignore", invalid="ignore"):
                if c["scope"] == "none":
                    u = g.copy()
                elif c["reciprocal"]:
                    u = g * kind(1.0 / den) if np.ndim(den) == 0 else g * (1.0 / den)
                else:
                    u = g / (kind(den) if np.ndim(den) == 0 else den)
            if c["decay"] in ("inside", "negative") and self.wd:
                sign = -1.0 if c["decay"] == "negative" else 1.0
                u = u + kind(sign * self.wd) * p
            if c["m_start"] == "first_input" and t == 1:  # before any (1 - b1) scaling
                m = u.copy() if c["lr"] != "inside" else -kind(rate) * u
            if self._averaged(t):  # with the momentum's beta, whichever it is
                u = kind(1 - bm) * u
            factor = 1.0
            if c["bias"] == "adam":
                factor = (1 - bv ** t) ** 0.5 / (1 - bm ** t)
            elif c["bias"] == "debias":
                factor = (1 - bv ** t) ** 0.5
            if c["lr"] == "inside":
                m = kind(bm) * m - kind(rate) * u
                step = kind(bm) * m - kind(rate) * u if c["nesterov"] else m
                new_p = p + kind(factor) * step
            else:
                m = kind(bm) * m + u
                step = kind(bm) * m + u if c["nesterov"] else m
                size = rate * rate if c["lr"] == "twice" else rate
                new_p = p - kind(size * factor) * step
            if c["decay"] == "decoupled" and self.wd:
                new_p = new_p - kind(rate * self.wd) * p
            elif c["decay"] == "fixed" and self.wd:
                new_p = new_p - kind(self.wd) * p
            elif c["decay"] == "after_step" and self.wd:
                new_p = new_p - kind(rate * self.wd) * new_p
            if t == 1 and not c["first_update"]:
                new_p = p
            new["p"][name] = new_p.astype(dtype)
            new["m"][name], new["v"][name], new["vmax"][name] = m, v, vmax
        return new["p"], {**new, "t": t, "lr": lr}


def _chunk_sums(g: np.ndarray, size: int) -> np.ndarray:
    """Each element's chunk's sum of squares: the layer flattened and cut every
    ``size`` elements, as a port on flattened (sharded) parameters does."""
    flat = (g * g).reshape(-1)
    starts = np.arange(0, flat.size, size)
    sums = np.add.reduceat(flat, starts) if flat.size else flat
    return np.repeat(sums, np.diff(np.append(starts, flat.size))).reshape(g.shape)


def optax_keywords(**conventions: Any) -> Any:
    """A factory taking ``optax.novograd``'s keywords."""
    def factory(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
                weight_decay: float = 0.0) -> Port:
        if eps_root:
            raise Unsupported("this port has no eps_root")
        return Port(b1, b2, eps, weight_decay, False, False, **conventions)

    return factory


def torch_keywords(**conventions: Any) -> Any:
    """A factory taking torch-optimizer's keywords (the second moment set while 0)."""
    conventions = {"v_start": "when_zero", **conventions}

    def factory(betas: Any = (0.95, 0.98), eps: float = 1e-8, weight_decay: float = 0.0,
                grad_averaging: bool = False, amsgrad: bool = False) -> Port:
        return Port(float(betas[0]), float(betas[1]), eps, weight_decay, grad_averaging,
                    amsgrad, **conventions)

    return factory


class TorchPort:
    """A NovoGrad on torch tensors (float64 or float32 as the parameters), taking
    torch-optimizer's keywords, with a few conventions of :data:`DEFAULTS`:
    ``v_start``, ``bias``, ``decay``, ``averaging``, ``scope`` (``layer``/``tree``),
    ``nesterov``, ``eps_inside``."""

    def __init__(self, betas: Any, eps: float, weight_decay: float, grad_averaging: bool,
                 amsgrad: bool, **conventions: Any) -> None:
        import torch

        self.torch = torch
        self.inner = Port(float(betas[0]), float(betas[1]), eps, weight_decay,
                          grad_averaging, amsgrad, **{"v_start": "when_zero", **conventions})
        self.name = "torch-" + self.inner.name

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        torch = self.torch
        return {"p": {k: torch.tensor(v) for k, v in params.items()}, "t": 0,
                "lr": learning_rate,
                "m": {k: torch.zeros_like(torch.tensor(v)) for k, v in params.items()},
                "v": dict.fromkeys(params), "vmax": dict.fromkeys(params)}

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        torch, port = self.torch, self.inner
        c, t, lr = port.c, state["t"] + 1, state["lr"]
        rate = float(lr[t - 1]) if isinstance(lr, np.ndarray) else float(lr)
        g_all = {k: torch.tensor(v) for k, v in grads.items()}
        total = sum(torch.sum(g.double() ** 2) for g in g_all.values())
        out: dict[str, Any] = {"p": {}, "m": {}, "v": {}, "vmax": {}, "t": t, "lr": lr}
        for name, g in g_all.items():
            p, m = state["p"][name], state["m"][name]
            v, vmax = state["v"][name], state["vmax"][name]
            s = total.to(g.dtype) if c["scope"] == "tree" else torch.sum(g * g)
            if v is None or (c["v_start"] == "when_zero" and bool(v == 0)):
                v = s if c["v_start"] != "zero" else (1 - port.b2) * s
            elif c["v_start"] == "first_step" and t == 1:
                v = s
            else:
                v = port.b2 * v + (1 - port.b2) * s
            used = v
            if port.amsgrad:
                vmax = v if vmax is None else torch.maximum(vmax, v)
                used = vmax
            den = torch.sqrt(used + port.eps) if c["eps_inside"] else \
                torch.sqrt(used) + port.eps
            u = g / den
            if c["decay"] == "inside" and port.wd:
                u = u + port.wd * p
            if port._averaged(t):
                u = u * (1 - port.b1)
            m = port.b1 * m + u
            step = port.b1 * m + u if c["nesterov"] else m
            factor = 1.0
            if c["bias"] == "adam":
                factor = (1 - port.b2 ** t) ** 0.5 / (1 - port.b1 ** t)
            elif c["bias"] == "debias":
                factor = (1 - port.b2 ** t) ** 0.5
            new_p = p - rate * factor * step
            if c["decay"] == "decoupled" and port.wd:
                new_p = new_p - rate * port.wd * p
            out["p"][name], out["m"][name], out["v"][name], out["vmax"][name] = (
                new_p, m, v, vmax)
        return {k: v.numpy().copy() for k, v in out["p"].items()}, out


def torch_tensors(**conventions: Any) -> Any:
    """A factory of :class:`TorchPort` taking torch-optimizer's keywords."""
    def factory(betas: Any = (0.95, 0.98), eps: float = 1e-8, weight_decay: float = 0.0,
                grad_averaging: bool = False, amsgrad: bool = False) -> TorchPort:
        return TorchPort(betas, eps, weight_decay, grad_averaging, amsgrad, **conventions)

    return factory


# ------------------------------------------------------------------ the ports
# optax's keywords, inside the switch space
o_reciprocal = optax_keywords(reciprocal=True)
o_debias = optax_keywords(bias="debias")
o_adam_bias = optax_keywords(bias="adam")
o_after_first = optax_keywords(averaging="after_first")
o_nesterov = optax_keywords(nesterov=True)
o_when_zero = optax_keywords(v_start="when_zero")
o_decoupled = optax_keywords(decay="decoupled")
o_fixed_decay = optax_keywords(decay="fixed")
o_eps_inside_zero = optax_keywords(eps_inside=True, v_start="zero")
o_three = optax_keywords(lr="inside", averaging="always", bias="debias")
o_four = optax_keywords(v_start="zero", bias="debias", averaging="always",
                        decay="decoupled")
o_four_nesterov = optax_keywords(nesterov=True, averaging="always", eps_inside=True,
                                 bias="adam")
o_five = optax_keywords(v_start="when_zero", bias="adam", averaging="after_first",
                        decay="fixed", eps_inside=True)
o_momentum_first_input = optax_keywords(m_start="first_input")
o_first_input_four = optax_keywords(m_start="first_input", bias="adam", decay="decoupled",
                                    eps_inside=True)
# optax's keywords, outside it
o_one_beta = optax_keywords(v_beta="b1")
o_global_debias = optax_keywords(scope="tree", bias="debias")
o_elementwise = optax_keywords(scope="element")
o_decay_sign_zero = optax_keywords(decay="negative", v_start="zero")
o_late_start_debias = optax_keywords(first_update=False, bias="debias")
o_float32_zero = optax_keywords(float32=True, v_start="zero")
o_no_first_eps_always = optax_keywords(first_eps=False, averaging="always")
o_unnormalized = optax_keywords(scope="none")
o_mean_norm_debias = optax_keywords(scope="mean", bias="debias")
o_lr_twice = optax_keywords(lr="twice")
o_decay_after_step = optax_keywords(decay="after_step")
o_v_constant = optax_keywords(v_start="constant")
o_v_constant_decoupled = optax_keywords(v_start="constant", v0=1e-2, decay="decoupled")
o_mean_norm = optax_keywords(scope="mean")
o_chunked = optax_keywords(scope="chunk")
o_chunked_debias = optax_keywords(scope="chunk", chunk=100, bias="debias")
# torch-optimizer's keywords
t_first_step = torch_keywords(v_start="first_step")
t_inverted = torch_keywords(averaging="inverted")
t_swapped = torch_keywords(v_beta="b1", m_beta="b2")
t_momentum_b2 = torch_keywords(m_beta="b2")
t_four = torch_keywords(v_start="zero", bias="debias", decay="decoupled", nesterov=True)
t_first_input = torch_keywords(m_start="first_input")
# torch tensors
torch_decoupled_debias = torch_tensors(decay="decoupled", bias="debias")
torch_global = torch_tensors(scope="tree")
torch_zero_adam_always = torch_tensors(v_start="zero", bias="adam", averaging="always")
torch_five = torch_tensors(v_start="first_step", bias="debias", decay="decoupled",
                           nesterov=True, eps_inside=True)
