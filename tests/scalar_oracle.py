"""An independent plain-Python NovoGrad: one loop per published implementation.

Written from the equations of each implementation (not from the core's switches), on
Python floats and lists, so a vectorization, broadcasting or switch-wiring mistake in
the core cannot be shared by this oracle. Each function steps one layer (a flat list)
and returns the parameters after every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Vec = list[float]


def _sq(g: Sequence[float]) -> float:
    return sum(x * x for x in g)


def optax_like(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float,
               b2: float, eps: float, eps_root: float = 0.0, wd: float = 0.0) -> list[Vec]:
    """optax / paper: v_1 = S_1 keyed on the step, m_1 = u_1, p += -lr m."""
    m, v, out = [0.0] * len(p), 0.0, []
    for k, g in enumerate(grads):
        s = _sq(g)
        v = s if k == 0 else (1 - b2) * s + b2 * v
        den = math.sqrt(v + eps_root) + eps
        u = [gi / den + wd * pi for gi, pi in zip(g, p)]
        m = u if k == 0 else [b1 * mi + ui for mi, ui in zip(m, u)]
        p = [pi + (-lr(k)) * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def pytorch_family(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float,
                   b2: float, eps: float, wd: float = 0.0, grad_averaging: bool = False,
                   amsgrad: bool = False, decoupled: str = "", max_lr: float = 0.0,
                   luc: tuple[float, float] | None = None) -> list[Vec]:
    """DLE / torch-optimizer / timm / NeMo: v = S while the stored v is 0."""
    m, v, v_max, out = [0.0] * len(p), 0.0, 0.0, []
    for k, g in enumerate(grads):
        s = _sq(g)
        v = s if v == 0 else v * b2 + (1 - b2) * s
        v_max = max(v_max, v)
        den = math.sqrt(v_max if amsgrad else v) + eps
        u = [gi / den for gi in g]
        if wd and not decoupled:
            u = [ui + wd * pi for ui, pi in zip(u, p)]
        if grad_averaging:
            u = [ui * (1 - b1) for ui in u]
        m = [b1 * mi + ui for mi, ui in zip(m, u)]
        rate = lr(k)
        if decoupled == "decoupled":
            p = [pi * (1 - rate * wd) for pi in p]
        elif decoupled == "corrected":
            p = [pi * (1 - rate * rate / max_lr * wd) for pi in p]
        if luc is not None:
            trust, luc_eps = luc
            ratio = trust * math.sqrt(_sq(p)) / (math.sqrt(_sq(m)) + luc_eps)
            rate = min(ratio, rate)
        p = [pi - rate * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def tfa(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float, b2: float,
        eps: float, wd: float = 0.0, grad_averaging: bool = False,
        amsgrad: bool = False) -> list[Vec]:
    """TensorFlow Addons: Keras momentum with the rate inside the accumulator."""
    accum, v, v_hat, out = [0.0] * len(p), 0.0, 0.0, []
    for k, g in enumerate(grads):
        s = _sq(g)
        v = s if k == 0 else v * b2 + s * (1 - b2)
        v_hat = max(v_hat, v)
        den = math.sqrt(v_hat if amsgrad else v) + eps
        u = [gi / den + wd * pi for gi, pi in zip(g, p)]
        if grad_averaging and k != 0:
            u = [ui * (1 - b1) for ui in u]
        accum = [ai * b1 - lr(k) * ui for ai, ui in zip(accum, u)]
        p = [pi + ai for pi, ai in zip(p, accum)]
        out.append(p)
    return out


def openseq2seq(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float,
                b2: float, epsilon: float, wd: float = 0.0, grad_averaging: bool = False,
                graph: bool = True, nesterov: bool = False) -> list[Vec]:
    """OpenSeq2Seq: eps inside the root, reciprocal; graph mode never stores the EMA.

    ``nesterov`` (Clara's documented ``use_nesterov``): TF's ApplyMomentum kernel then
    steps ``var -= lr g' + lr b1 accum`` with the new ``accum``.
    """
    accum, ema, out = [0.0] * len(p), 0.0, []
    for k, g in enumerate(grads):
        s = _sq(g)
        v = s if ema == 0 else ema * b2 + s * (1 - b2)
        if not graph:
            ema = v
        r = 1.0 / math.sqrt(v + epsilon)
        u = [gi * r + wd * pi for gi, pi in zip(g, p)]
        if grad_averaging:
            u = [ui * (1 - b1) for ui in u]
        accum = [ai * b1 + ui for ai, ui in zip(accum, u)]
        if nesterov:
            p = [pi - (lr(k) * ui + lr(k) * b1 * ai) for pi, ui, ai in zip(p, u, accum)]
        else:
            p = [pi - lr(k) * ai for pi, ai in zip(p, accum)]
        out.append(p)
    return out


def apex(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float, b2: float,
         eps: float, wd: float = 0.0, bias_correction: bool = True,
         reg_inside_moment: bool = False, grad_averaging: bool = True, norm_type: int = 2,
         init_zero: bool = False) -> list[Vec]:
    """Apex FusedNovoGrad: the state is a norm, blended from step 1 on."""
    m, n, out = [0.0] * len(p), 0.0, []
    beta3 = 1 - b1 if grad_averaging else 1.0
    for k, g in enumerate(grads):
        t = k + 1
        stat = math.sqrt(_sq(g)) if norm_type == 2 else max(abs(x) for x in g)
        if k == 0 and not init_zero:
            n = stat
        n = math.sqrt(b2 * n * n + (1 - b2) * _sq(g)) if norm_type == 2 else (
            b2 * n + (1 - b2) * stat)
        bc1, bc2 = (1 - b1**t, math.sqrt(1 - b2**t)) if bias_correction else (1.0, 1.0)
        den = n / bc2 + eps
        if reg_inside_moment:
            m = [b1 * mi + beta3 * (gi / den + wd * pi) for mi, gi, pi in zip(m, g, p)]
            p = [pi - lr(k) * (mi / bc1) for pi, mi in zip(p, m)]
        else:
            m = [b1 * mi + beta3 * gi for mi, gi in zip(m, g)]
            p = [pi - lr(k) * ((mi / bc1) / den + wd * pi) for pi, mi in zip(p, m)]
        out.append(p)
    return out


def pytorch_optimizer(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float,
                      b2: float, eps: float, wd: float = 0.0, weight_decouple: bool = False,
                      fixed_decay: bool = False, grad_averaging: bool = False,
                      adam_debias: bool = False, maximize: bool = False) -> list[Vec]:
    """pytorch_optimizer 4.x: first moment cloned on step 1, lerp afterwards."""
    m, v, out = [0.0] * len(p), 0.0, []
    for k, g in enumerate(grads):
        if maximize:
            g = [-x for x in g]
        s, t, rate = _sq(g), k + 1, lr(k)
        w = 1 - b2  # torch.lerp(v, s, w): two branches around w = 0.5
        v = s if k == 0 else (v + w * (s - v) if w < 0.5 else s - (s - v) * (1 - w))
        den = math.sqrt(v) + eps
        u = [gi / den for gi in g]
        if weight_decouple:
            p = [pi * (1 - wd * (1.0 if fixed_decay else rate)) for pi in p]
        elif wd:
            u = [ui + wd * pi for ui, pi in zip(u, p)]
        if k == 0:
            m = u
        else:
            if grad_averaging:
                u = [ui * (1 - b1) for ui in u]
            m = [b1 * mi + ui for mi, ui in zip(m, u)]
        step = rate * math.sqrt(1 - b2**t) if adam_debias else rate
        p = [pi - step * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def pytorch_optimizer_3(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float],
                        b1: float, b2: float, eps: float, wd: float = 0.0,
                        grad_averaging: bool = False, adam_debias: bool = False) -> list[Vec]:
    """pytorch_optimizer 2.9-3.9 (coupled weight decay, no maximize): the empty state
    is first filled, the moment with the normalized gradient (and ``wd p``), the
    second moment with ``S``; then the step runs as on every step, blending ``S`` into
    the second moment and the scaled normalized gradient into the moment; Adam's step
    size."""
    m: Vec | None = None
    v, out = 0.0, []
    for k, g in enumerate(grads):
        s, t, rate = _sq(g), k + 1, lr(k)
        if m is None:
            m = [gi / (math.sqrt(s) + eps) + wd * pi for gi, pi in zip(g, p)]
            v = s
        v = v * b2 + (1 - b2) * s
        den = math.sqrt(v) + eps
        u = [gi / den + wd * pi for gi, pi in zip(g, p)]
        if grad_averaging:
            u = [ui * (1 - b1) for ui in u]
        m = [mi * b1 + ui for mi, ui in zip(m, u)]
        step = rate * math.sqrt(1 - b2**t)
        if not adam_debias:
            step /= 1 - b1**t
        p = [pi - step * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def flashlight(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], b1: float,
               b2: float, eps: float, wd: float = 0.0) -> list[Vec]:
    """flashlight: v_0 = 0, forced (1 - b1)."""
    m, v, out = [0.0] * len(p), 0.0, []
    for k, g in enumerate(grads):
        v = b2 * v + (1 - b2) * _sq(g)
        den = math.sqrt(v) + eps
        m = [b1 * mi + (1 - b1) * (gi / den + wd * pi) for mi, gi, pi in zip(m, g, p)]
        p = [pi - lr(k) * mi for pi, mi in zip(p, m)]
        out.append(p)
    return out


def switches(p: Vec, grads: Sequence[Vec], lr: Callable[[int], float], c: dict) -> list[Vec]:
    """Any accepted configuration ``c`` (the fields of ``Config``), step by step as the
    ten steps of ``Config``'s docstring write it (no dtypes: Python floats)."""
    b1, b2, eps, wd = c["b1"], c["b2"], c["eps"], c["weight_decay"]
    inside, raw = c["learning_rate_placement"] == "inside", c["momentum_input"] == "raw"
    bc, mode, init = c["bias_correction"], c["weight_decay_mode"], c["second_moment_init"]
    m, v, v_max, out = [0.0] * len(p), 0.0, 0.0, []
    for k, g in enumerate(grads):
        t, first, rate = k + 1, k == 0, lr(k)
        if c["maximize"]:
            g = [-x for x in g]
        s = _sq(g)
        if c["norm"] == "l2_squared":
            w = 1 - b2
            if c["second_moment_update"] == "lerp":
                blend = v + w * (s - v) if w < 0.5 else s - (s - v) * (1 - w)
            else:
                blend = b2 * v + (1 - b2) * s
            used = {"first_step": s if first else blend, "when_zero": s if v == 0 else blend,
                    "zero": blend}[init]
        else:
            stat = math.sqrt(s) if c["norm"] == "apex_l2" else max(abs(x) for x in g)
            prior = stat if first and init == "first_step_blend" else v
            used = (math.sqrt(b2 * prior * prior + (1 - b2) * s) if c["norm"] == "apex_l2"
                    else b2 * prior + (1 - b2) * stat)
        stored = v if c["second_moment_update"] == "none" else used
        if c["amsgrad"]:
            v_max = max(v_max, used)
            used = v_max
        bc2 = 1 - b2**t
        if c["norm"] == "l2_squared":
            den = math.sqrt((used / bc2 if bc == "apex" else used) + c["eps_root"]) + eps
        else:
            den = (used / math.sqrt(bc2) if bc == "apex" else used) + eps

        def normalize(x: float, den: float = den) -> float:
            return x * (1 / den) if c["normalization"] == "reciprocal" else x / den

        u = list(g) if raw else [normalize(x) + (wd * pi if mode == "inside" else 0.0)
                                 for x, pi in zip(g, p)]
        if first and c["first_moment_init"] == "first_input":  # m_0: the input, unscaled
            m = [-rate * x for x in u] if inside else list(u)
        if c["grad_averaging"] == "always" or (c["grad_averaging"] == "after_first_step"
                                               and not first):
            u = [(1 - b1) * x for x in u]
        step_in = [-rate * x for x in u] if inside else u
        m = [b1 * mi + si for mi, si in zip(m, step_in)]
        d = [b1 * mi + si for mi, si in zip(m, step_in)] if c["nesterov"] else list(m)
        if bc == "apex":
            d = [x / (1 - b1**t) for x in d]
        if raw:
            d = [normalize(x) for x in d]
        if mode == "apex":
            d = [x - rate * wd * pi if inside else x + wd * pi for x, pi in zip(d, p)]
        f = {"adam": math.sqrt(bc2) / (1 - b1**t), "debias": math.sqrt(bc2)}.get(bc, 1.0)
        if inside:
            update = [f * x for x in d]
        else:
            size = rate * f
            if c["update_clipping"] == "luc":
                ratio = c["luc_trust"] * math.sqrt(_sq(p)) / (math.sqrt(_sq(d)) + c["luc_eps"])
                size = min(ratio, size)
            update = [-size * x for x in d]
        decay = {"decoupled": rate * wd, "fixed": wd,
                 "corrected": rate * rate / (c["max_learning_rate"] or 1.0) * wd}.get(mode, 0.0)
        p = [pi + ui - decay * pi for pi, ui in zip(p, update)]
        v = stored
        out.append(p)
    return out
