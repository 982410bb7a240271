r"""numba kernels of the fused step on NumPy arrays: one layer per call, in place.

A layer's step is two passes over memory (three with update clipping), as the
per-layer norm demands:

1. a reduction over the gradient: :math:`S = \sum_i g_i^2` in float64, summed in
   blocks of :data:`BLOCK` values (each block with several accumulators) and the block
   sums added with Neumaier's compensation, so the norm is as accurate as a pairwise
   sum or better and does not depend on the thread count; ``max |g_i|`` for Apex's
   inf-norm, :math:`\sum p_i^2` for NeMo's update clipping;
2. the per-layer scalars (second moment, denominator), each operation in the dtype
   NumPy gives it in the reference (mostly the state dtype), then one fused pass that
   reads ``g, p, m`` once and writes ``m`` and ``p`` once, with every operation in the
   order of :func:`novograd_ref._core.leaf_step`, in its compute dtype: NumPy's result
   type of the gradient and state dtypes (that of ``g / den``; float32 for float16
   data), the moment cast to it as the reference casts it.

The update loop has one variant per family of switches (PyTorch family and optax,
Apex's raw-gradient moment, the rate inside the moment) and a generic one for the
rest: a loop that branches on every switch does not vectorize.

float16 arrays come as ``uint16`` views (numba has no float16): loads and stores
convert exactly (round to nearest even). Compiled code is cached on disk
(``cache=True``), so a new process does not compile again.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from . import _plan as P

BLOCK = 4096  # values per block of the norm's sum (and per parallel work item)
PARALLEL_MIN = 1 << 16  # smaller layers run on one thread even when more are allowed

_F_NORM, _F_INIT, _F_UPDATE = P.F_NORM, P.F_INIT, P.F_UPDATE
_F_RECIPROCAL, _F_RAW, _F_WD_INSIDE, _F_WD_APEX = (P.F_RECIPROCAL, P.F_RAW,
                                                  P.F_WD_INSIDE, P.F_WD_APEX)
_F_DECOUPLED, _F_LR_INSIDE, _F_NESTEROV = P.F_DECOUPLED, P.F_LR_INSIDE, P.F_NESTEROV
_F_AMSGRAD, _F_LUC, _F_APEX_BIAS = P.F_AMSGRAD, P.F_LUC, P.F_APEX_BIAS
# the clip's slot and the next, as the plain globals numba slices a tuple by
_K_CLIP, _K_AFTER_CLIP = P.K_CLIP, P.K_CLIP + 1


# ------------------------------------------------------------------ float16 as uint16


@njit(cache=True, error_model="numpy")
def half_to_float(h: Any) -> Any:
    """The float32 value of IEEE binary16 bits ``h`` (exact)."""
    bits = np.int64(h)
    exponent = (bits >> 10) & 0x1F
    mantissa = bits & 0x3FF
    if exponent == 0:
        value = math.ldexp(float(mantissa), -24)
    elif exponent == 31:
        value = np.inf if mantissa == 0 else np.nan
    else:
        value = math.ldexp(float(1024 + mantissa), int(exponent) - 25)
    return np.float32(-value if bits & 0x8000 else value)


@njit(cache=True, error_model="numpy")
def float_to_half(x: Any) -> Any:
    """IEEE binary16 bits of ``x`` rounded to nearest even (as NumPy's cast)."""
    x = np.float64(x)
    if math.isnan(x):
        return np.uint16(0xFE00 if math.copysign(1.0, x) < 0 else 0x7E00)
    sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a >= 65520.0:  # rounds to infinity
        bits = 0x7C00
    elif a < 6.103515625e-05:  # below 2**-14: subnormal, in units of 2**-24
        bits = int(np.rint(a * 16777216.0))
    else:
        fraction, exponent = math.frexp(a)  # a = fraction * 2**exponent, [0.5, 1)
        q = int(np.rint(fraction * 2048.0))  # 1024..2048; 2048 carries into the exponent
        bits = ((exponent + 14) << 10) + (q - 1024)
    return np.uint16(sign | bits)


def load(a, i):  # pragma: no cover - numba replaces it
    """``a[i]`` as a float (a float16 stored as uint16 comes back as float32)."""
    raise NotImplementedError


def store(a, i, x):  # pragma: no cover - numba replaces it
    """``a[i] = x`` rounded to ``a``'s dtype."""
    raise NotImplementedError


def rounded(a, x):  # pragma: no cover - numba replaces it
    """``x`` rounded to ``a``'s dtype, returned in ``x``'s type."""
    raise NotImplementedError


def direction_rounded(g, m, v, x):  # pragma: no cover - numba replaces it
    """``x`` rounded to the dtype the reference computes the direction in, NumPy's
    result type of the gradient, moment and second-moment dtypes: float16 when all
    three are (the kernels compute in float32 there), else ``x`` as it is."""
    raise NotImplementedError


def compute_zero(g, v):  # pragma: no cover - numba replaces it
    """0 in the compute dtype: NumPy's result type of the gradient and state dtypes
    (float32 for float16 data)."""
    raise NotImplementedError


def native_zero(a):  # pragma: no cover - numba replaces it
    """0 in the dtype ``a``'s values are computed in (float32 for float16)."""
    raise NotImplementedError


def like(z, x):  # pragma: no cover - numba replaces it
    """``x`` converted to the type of ``z``."""
    raise NotImplementedError


def _is_half(a: Any) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.uint16


@overload(load)
def _load(a, i):
    if _is_half(a):
        return lambda a, i: half_to_float(a[i])
    return lambda a, i: a[i]


@overload(store)
def _store(a, i, x):
    if _is_half(a):
        def impl(a, i, x):
            a[i] = float_to_half(x)
    else:
        def impl(a, i, x):
            a[i] = x
    return impl


@overload(rounded)
def _rounded(a, x):
    if _is_half(a):
        if x == types.float64:
            return lambda a, x: np.float64(half_to_float(float_to_half(x)))
        return lambda a, x: np.float32(half_to_float(float_to_half(x)))
    if a.dtype == types.float32 and x == types.float64:
        return lambda a, x: np.float64(np.float32(x))
    return lambda a, x: x


@overload(direction_rounded)
def _direction_rounded(g, m, v, x):
    if _is_half(g) and _is_half(m) and _is_half(v):
        return lambda g, m, v, x: np.float32(half_to_float(float_to_half(x)))
    return lambda g, m, v, x: x


def pair_rounded(g, v, x):  # pragma: no cover - numba replaces it
    """``x`` rounded to NumPy's result type of the gradient and second-moment dtypes:
    float16 when both are (the kernels compute in float32 there), else ``x``."""
    raise NotImplementedError


@overload(pair_rounded)
def _pair_rounded(g, v, x):
    if _is_half(g) and _is_half(v):
        return lambda g, v, x: np.float32(half_to_float(float_to_half(x)))
    return lambda g, v, x: x


@overload(compute_zero)
def _compute_zero(g, v):
    if types.float64 in (g.dtype, v.dtype):
        return lambda g, v: np.float64(0.0)
    return lambda g, v: np.float32(0.0)


@overload(native_zero)
def _native_zero(a):
    if a.dtype == types.float64:
        return lambda a: np.float64(0.0)
    return lambda a: np.float32(0.0)


@overload(like)
def _like(z, x):
    if z == types.float32:
        return lambda z, x: np.float32(x)
    return lambda z, x: np.float64(x)


# ------------------------------------------------------------------------ pass 1


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _block_square_sum(a: Any, lo: int, hi: int) -> float:
    """``sum(a[lo:hi]**2)`` in float64 (the compiler may keep several partial sums)."""
    a = a[lo:hi]  # a loop from 0 lets the compiler drop negative-index handling
    s = 0.0
    for i in range(a.size):
        x = np.float64(load(a, i))
        s += x * x
    return s


@njit(cache=True, error_model="numpy")
def _block_max_abs(a: Any, lo: int, hi: int) -> float:
    """``max |a[lo:hi]|`` (NaN is handled by the caller through the square sum)."""
    a = a[lo:hi]
    mx = 0.0
    for i in range(a.size):
        x = abs(np.float64(load(a, i)))
        mx = max(mx, x)
    return mx


@njit(cache=True, error_model="numpy")
def _compensated_total(parts: Any) -> float:
    """Neumaier's compensated sum of the block sums, in block order."""
    total, carry = 0.0, 0.0
    for x in parts:
        t = total + x
        if abs(total) >= abs(x):
            carry += (total - t) + x
        else:
            carry += (x - t) + total
        total = t
    return _with_carry(total, carry)


@njit(cache=True, error_model="numpy")
def _with_carry(total: float, carry: float) -> float:
    """``total`` corrected by its compensation ``carry``; an infinite or NaN total as
    it is (the carry of an overflow is ``inf - inf``, NaN, where the plain sum is
    ``inf``, as the reference's)."""
    return total + carry if math.isfinite(total) else total


@njit(cache=True, error_model="numpy")
def _nblocks(n: int) -> int:
    return max(1, (n + BLOCK - 1) // BLOCK)


@njit(cache=True, error_model="numpy")
def _square_sum(a: Any) -> float:
    """The blocks' sums added as :func:`_compensated_total` adds them, without an array."""
    total, carry = 0.0, 0.0
    for b in range(_nblocks(a.size)):
        x = _block_square_sum(a, b * BLOCK, min(a.size, (b + 1) * BLOCK))
        t = total + x
        if abs(total) >= abs(x):
            carry += (total - t) + x
        else:
            carry += (x - t) + total
        total = t
    return _with_carry(total, carry)


@njit(cache=True, error_model="numpy", parallel=True)
def _square_sum_parallel(a: Any) -> float:
    nb = _nblocks(a.size)
    parts = np.empty(nb)
    for b in prange(nb):
        parts[b] = _block_square_sum(a, b * BLOCK, min(a.size, (b + 1) * BLOCK))
    return _compensated_total(parts)


@njit(cache=True, error_model="numpy")
def _max_abs(a: Any) -> float:
    mx = 0.0
    for b in range(_nblocks(a.size)):
        mx = max(mx, _block_max_abs(a, b * BLOCK, min(a.size, (b + 1) * BLOCK)))
    return mx


# ------------------------------------------------------------ per-layer scalars
# The reference computes these on 0-d arrays, each operation in the dtype NumPy gives it
# (a Python float takes the array's dtype first): in the state dtype ``v``, the
# gradient dtype ``g`` or the wider of the two. They are computed here the same way,
# operation by operation (``native_zero`` types, ``rounded`` for float16 storage).


@njit(cache=True, error_model="numpy")
def _second_moment(s_sum: float, max_abs: float, v: Any, g: Any, c: Any, f: Any
                   ) -> tuple[Any, Any]:
    """(moment used at this step, moment stored), in the state dtype, as
    ``_core._second_moment``."""
    vz, gz, cz = native_zero(v), native_zero(g), compute_zero(g, v)
    first = c[P.C_FIRST] != 0.0
    norm, init = f[_F_NORM], f[_F_INIT]
    vv = like(vz, load(v, ()))
    b2, one_minus_b2 = c[P.C_B2], c[P.C_ONE_MINUS_B2]
    if norm == P.NORM_APEX_INF:  # b2 prior + (1 - b2) max|g|, n_0 = max|g_1| stored first
        stat = like(gz, max_abs)
        prior = vv if init == P.INIT_ZERO or not first else rounded(v, like(vz, stat))
        x = like(cz, rounded(v, like(vz, b2) * prior)) + like(
            cz, rounded(g, like(gz, one_minus_b2) * stat))
        used = rounded(v, like(vz, x))
    elif norm == P.NORM_APEX_L2:  # sqrt(b2 prior**2 + (1 - b2) S), S in the wider dtype
        s = pair_rounded(g, v, like(cz, s_sum))  # the reference's sum is in that dtype
        prior = vv if init == P.INIT_ZERO or not first else rounded(v, like(vz, np.sqrt(s)))
        x = like(cz, rounded(v, rounded(v, like(vz, b2) * prior) * prior))
        used = rounded(v, like(vz, np.sqrt(x + like(cz, one_minus_b2) * s)))
    else:
        s = rounded(v, like(vz, rounded(g, like(gz, s_sum))))
        if f[_F_UPDATE] == P.UPDATE_LERP:  # torch's lerp and its two branches
            w = 1.0 - b2
            if w < 0.5:
                blend = rounded(v, vv + rounded(v, like(vz, w) * rounded(v, s - vv)))
            else:
                blend = rounded(v, s - rounded(v, rounded(v, s - vv) * like(vz, 1.0 - w)))
        else:
            blend = rounded(v, rounded(v, like(vz, b2) * vv)
                            + rounded(v, like(vz, one_minus_b2) * s))
        if init == P.INIT_FIRST_STEP:
            used = s if first else blend
        elif init == P.INIT_WHEN_ZERO:
            used = s if vv == 0 else blend
        else:  # zero (first_step_blend is for the Apex norms only)
            used = blend
    stored = vv if f[_F_UPDATE] == P.UPDATE_NONE else used
    return used, stored


@njit(cache=True, error_model="numpy")
def _denominator(used: Any, v: Any, c: Any, f: Any) -> Any:
    """``sqrt(v + eps_root) + eps`` or ``n + eps`` (Apex norms), ``v`` divided by
    ``1 - b2**t`` (``n`` by its root) under Apex bias correction; in the state dtype,
    as ``_core._denominator``."""
    vz = native_zero(v)
    if f[_F_NORM] == P.NORM_L2_SQUARED:
        if f[_F_APEX_BIAS]:
            used = rounded(v, used / like(vz, c[P.C_BC2_POW]))
        den = rounded(v, np.sqrt(rounded(v, used + like(vz, c[P.C_EPS_ROOT]))))
    elif f[_F_APEX_BIAS]:
        den = rounded(v, used / like(vz, c[P.C_BC2]))
    else:
        den = used
    return rounded(v, den + like(vz, c[P.C_EPS]))


# -------------------------------------------------------------------- pass 2 (3)


@njit(cache=True, error_model="numpy")
def _element(gi: Any, pi: Any, mi: Any, k: Any, f: Any, ga: Any, va: Any
             ) -> tuple[Any, Any]:
    """One value's ``(m_new, d)`` (the new moment and the direction), all in the
    compute dtype, as ``_core.leaf_step`` up to ``_core._update``'s step size.

    ``k``: the per-layer scalars (sign, den, 1/den, wd, average, b1, lr, 1 - b1**t,
    -step, decay, clip, factor: ``_plan``'s slots ``K_SIGN`` to ``K_FACTOR``), already
    in the compute dtype. ``ga``, ``va``: the layer's
    gradient and second moment, for their dtypes: with the raw-gradient moment each
    operation is rounded as the reference computes it (see :func:`_apply_raw`).
    """
    sign, den, rden, wd = k[P.K_SIGN], k[P.K_DEN], k[P.K_DEN_INVERSE], k[P.K_WD]
    average, b1, lr, bc1 = k[P.K_AVERAGE], k[P.K_B1], k[P.K_LR], k[P.K_BC1]
    g = sign * gi
    inside = f[_F_LR_INSIDE] != 0
    if f[_F_RAW]:  # in the gradient's dtype, then the wider of it and the state's
        u = rounded(ga, average * g)
        mi = rounded(ga, mi)
        b1m = rounded(ga, b1 * mi)
        m_new = rounded(ga, b1m - rounded(ga, lr * u)) if inside else rounded(ga, b1m + u)
        d = m_new
        if f[_F_NESTEROV]:
            d = rounded(ga, rounded(ga, b1 * m_new) + (
                rounded(ga, -(lr * u)) if inside else u))
        if f[_F_APEX_BIAS]:
            d = rounded(ga, d / bc1)
        d = pair_rounded(ga, va, d * rden if f[_F_RECIPROCAL] else d / den)
        if f[_F_WD_APEX]:
            decay = rounded(ga, wd * pi)
            d = pair_rounded(ga, va, d - rounded(ga, lr * decay) if inside else d + decay)
        return m_new, d
    u = g * rden if f[_F_RECIPROCAL] else g / den
    if f[_F_WD_INSIDE]:
        u = u + wd * pi
    u = average * u
    m_new = b1 * mi - lr * u if inside else b1 * mi + u
    d = m_new
    if f[_F_NESTEROV]:  # TF momentum's look-ahead: the moment input once more
        d = b1 * m_new + (-(lr * u) if inside else u)
    if f[_F_APEX_BIAS]:
        d = d / bc1
    if f[_F_WD_APEX]:
        d = d - lr * (wd * pi) if inside else d + wd * pi
    return m_new, d


@njit(cache=True, error_model="numpy")
def _update(d: Any, pi: Any, k: Any, f: Any, ga: Any, va: Any) -> Any:
    """The update from the direction ``d``: ``factor d`` (rate inside), ``-step d`` or
    NeMo's ``-clip d``; then decoupled weight decay (rounded as the reference computes
    it after the raw-gradient moment)."""
    if f[_F_LR_INSIDE]:
        update = k[P.K_FACTOR] * d
    elif f[_F_LUC]:
        update = (-k[P.K_CLIP]) * d
    else:
        update = k[P.K_NEG_STEP] * d
    if f[_F_RAW]:
        update = pair_rounded(ga, va, update)
    if f[_F_DECOUPLED]:
        if f[_F_RAW]:
            update = pair_rounded(ga, va, update - rounded(ga, k[P.K_DECAY] * pi))
        else:
            update = update - k[P.K_DECAY] * pi
    return update


@njit(cache=True, error_model="numpy")
def _apply_range(g: Any, p: Any, m: Any, v: Any, lo: int, hi: int, k: Any, f: Any,
                 z: Any) -> None:
    """Write ``m_new`` and ``p + update`` (update rounded to the parameter dtype first,
    as ``apply_updates`` adds it) for values ``lo..hi``.

    A loop that branches on every switch does not vectorize, so the common families
    have loops of their own, each :func:`_element` with its other switches fixed:
    the PyTorch family and optax (:func:`_apply_plain`), Apex's raw-gradient moment
    (:func:`_apply_raw`), Keras' rate inside the moment (:func:`_apply_inside`).
    """
    outside = not (f[_F_LR_INSIDE] or f[_F_NESTEROV] or f[_F_LUC])
    if outside and not (f[_F_RAW] or f[_F_APEX_BIAS] or f[_F_WD_APEX]):
        _apply_plain(g, p, m, lo, hi, k, f[_F_RECIPROCAL] != 0, f[_F_WD_INSIDE] != 0,
                     f[_F_DECOUPLED] != 0, z)
    elif outside and f[_F_RAW]:
        _apply_raw(g, p, m, v, lo, hi, k, f[_F_RECIPROCAL] != 0, f[_F_APEX_BIAS] != 0,
                   f[_F_WD_APEX] != 0, f[_F_DECOUPLED] != 0, z)
    elif f[_F_LR_INSIDE] and not (f[_F_RAW] or f[_F_APEX_BIAS] or f[_F_WD_APEX]):
        _apply_inside(g, p, m, lo, hi, k, f[_F_RECIPROCAL] != 0, f[_F_WD_INSIDE] != 0,
                      f[_F_NESTEROV] != 0, f[_F_DECOUPLED] != 0, z)
    else:
        g, p, m = g[lo:hi], p[lo:hi], m[lo:hi]
        for i in range(g.size):
            pi = like(z, load(p, i))
            m_new, d = _element(like(z, load(g, i)), pi, like(z, load(m, i)), k, f, g, v)
            store(m, i, m_new)
            store(p, i, pi + rounded(p, _update(d, pi, k, f, g, v)))


@njit(cache=True, error_model="numpy")
def _apply_plain(g: Any, p: Any, m: Any, lo: int, hi: int, k: Any, reciprocal: bool,
                 wd_inside: bool, decoupled: bool, z: Any) -> None:
    """:func:`_element` for a normalized gradient, the rate outside, no Nesterov,
    clipping or Apex bias correction."""
    sign, den, rden, wd = k[P.K_SIGN], k[P.K_DEN], k[P.K_DEN_INVERSE], k[P.K_WD]
    average, b1, step, decay = k[P.K_AVERAGE], k[P.K_B1], k[P.K_NEG_STEP], k[P.K_DECAY]
    g, p, m = g[lo:hi], p[lo:hi], m[lo:hi]
    for i in range(g.size):
        gi = sign * like(z, load(g, i))
        pi = like(z, load(p, i))
        u = gi * rden if reciprocal else gi / den
        if wd_inside:
            u = u + wd * pi
        u = average * u
        m_new = b1 * like(z, load(m, i)) + u
        update = step * m_new
        if decoupled:
            update = update - decay * pi
        store(m, i, m_new)
        store(p, i, pi + rounded(p, update))


@njit(cache=True, error_model="numpy")
def _apply_raw(g: Any, p: Any, m: Any, v: Any, lo: int, hi: int, k: Any, reciprocal: bool,
               apex_bias: bool, wd_apex: bool, decoupled: bool, z: Any) -> None:
    """:func:`_element` for Apex's raw-gradient moment (normalized after it), the rate
    outside, no Nesterov or clipping.

    The reference computes this moment and direction in the gradient's dtype (the
    moment read is cast to it), then divides by the norm in the wider of the gradient
    and state dtypes: each operation is rounded so (``rounded``, ``pair_rounded``;
    nothing to round unless float16 is involved), and an intermediate that overflows
    float16 is infinite here too.
    """
    sign, den, rden, wd = k[P.K_SIGN], k[P.K_DEN], k[P.K_DEN_INVERSE], k[P.K_WD]
    average, b1, bc1 = k[P.K_AVERAGE], k[P.K_B1], k[P.K_BC1]
    step, decay = k[P.K_NEG_STEP], k[P.K_DECAY]
    g, p, m = g[lo:hi], p[lo:hi], m[lo:hi]
    for i in range(g.size):
        u = rounded(g, average * (sign * like(z, load(g, i))))
        pi = like(z, load(p, i))
        m_new = rounded(g, rounded(g, b1 * rounded(g, like(z, load(m, i)))) + u)
        d = rounded(g, m_new / bc1) if apex_bias else m_new
        d = pair_rounded(g, v, d * rden if reciprocal else d / den)
        if wd_apex:
            d = pair_rounded(g, v, d + rounded(g, wd * pi))
        update = pair_rounded(g, v, step * d)
        if decoupled:
            update = pair_rounded(g, v, update - rounded(g, decay * pi))
        store(m, i, m_new)
        store(p, i, pi + rounded(p, update))


@njit(cache=True, error_model="numpy")
def _apply_inside(g: Any, p: Any, m: Any, lo: int, hi: int, k: Any, reciprocal: bool,
                  wd_inside: bool, nesterov: bool, decoupled: bool, z: Any) -> None:
    """:func:`_element` for a normalized gradient and the rate inside the moment, no
    Apex bias correction or weight decay."""
    sign, den, rden, wd = k[P.K_SIGN], k[P.K_DEN], k[P.K_DEN_INVERSE], k[P.K_WD]
    average, b1, lr = k[P.K_AVERAGE], k[P.K_B1], k[P.K_LR]
    decay, factor = k[P.K_DECAY], k[P.K_FACTOR]
    g, p, m = g[lo:hi], p[lo:hi], m[lo:hi]
    for i in range(g.size):
        gi = sign * like(z, load(g, i))
        pi = like(z, load(p, i))
        u = gi * rden if reciprocal else gi / den
        if wd_inside:
            u = u + wd * pi
        u = average * u
        m_new = b1 * like(z, load(m, i)) - lr * u
        d = b1 * m_new + (-(lr * u)) if nesterov else m_new
        update = factor * d
        if decoupled:
            update = update - decay * pi
        store(m, i, m_new)
        store(p, i, pi + rounded(p, update))


@njit(cache=True, error_model="numpy")
def _direction_square_sum(g: Any, p: Any, m: Any, v: Any, lo: int, hi: int, k: Any, f: Any,
                          z: Any) -> float:
    """``sum(d**2)`` of the direction over ``lo..hi`` in float64, writing nothing
    (update clipping needs its norm before any parameter moves)."""
    s = 0.0
    g, p, m = g[lo:hi], p[lo:hi], m[lo:hi]
    for i in range(g.size):
        _, d = _element(like(z, load(g, i)), like(z, load(p, i)), like(z, load(m, i)), k, f,
                        g, v)
        x = np.float64(d)
        s += x * x
    return s


@njit(cache=True, error_model="numpy")
def _scalars(g: Any, v: Any, vmax: Any, c: Any, f: Any, z: Any, s: float) -> Any:
    """Second moment (stored into ``v``, ``vmax``) and the compute-dtype per-layer
    scalars, by ``_plan``'s slots ``K_`` (the clip of update clipping starts as the
    step size; :func:`_clipped` sets it)."""
    max_abs = 0.0
    if f[_F_NORM] == P.NORM_APEX_INF:
        max_abs = np.nan if math.isnan(s) else _max_abs(g)
    used, stored = _second_moment(s, max_abs, v, g, c, f)
    if f[_F_AMSGRAD]:  # xp.maximum: NaN wins
        old = like(used, load(vmax, ()))
        used = old if old > used or math.isnan(old) else used
        store(vmax, (), used)
    store(v, (), stored)
    den = _denominator(used, v, c, f)
    # the slots of ``_plan`` in order, K_SIGN to K_FACTOR (numba builds a tuple by
    # position only)
    return (like(z, c[P.C_SIGN]),  # K_SIGN
            like(z, den),  # K_DEN
            like(z, rounded(v, like(den, 1.0) / den)),  # K_DEN_INVERSE
            like(z, c[P.C_WD]),  # K_WD
            like(z, c[P.C_AVERAGE]),  # K_AVERAGE
            like(z, c[P.C_B1]),  # K_B1
            like(z, c[P.C_LR]),  # K_LR
            like(z, c[P.C_BC1]),  # K_BC1
            like(z, -c[P.C_STEP]),  # K_NEG_STEP
            like(z, c[P.C_DECAY]),  # K_DECAY
            like(z, c[P.C_STEP]),  # K_CLIP: the step size until _clipped caps it
            like(z, c[P.C_FACTOR]))  # K_FACTOR


@njit(cache=True, error_model="numpy")
def _clipped(k: Any, z: Any, g: Any, m: Any, v: Any, p2: float, d2: float, c: Any) -> Any:
    """``k`` with NeMo's clip ``min(trust |p| / (|d| + luc_eps), step)`` (NaN kept);
    ``|p|`` in the parameter dtype, ``|d|`` and the ratio in the direction's dtype, as
    the reference (in float16 ``luc_eps`` = 1e-8 is 0, and ``0 / 0`` NaN)."""
    gz = native_zero(g)
    p_norm = rounded(g, np.sqrt(rounded(g, like(gz, p2))))
    d_norm = direction_rounded(g, m, v, np.sqrt(direction_rounded(g, m, v, like(z, d2))))
    below = direction_rounded(g, m, v, d_norm + like(z, c[P.C_LUC_EPS]))
    ratio = direction_rounded(g, m, v, like(z, rounded(g, like(gz, c[P.C_LUC_TRUST])
                                                     * p_norm)) / below)
    step = k[P.K_CLIP]
    clip = ratio if ratio < step or math.isnan(ratio) else step
    return (*k[:_K_CLIP], clip, *k[_K_AFTER_CLIP:])


@njit(cache=True, error_model="numpy")
def _flag_values(cf: Any) -> Any:
    """The flags that follow the coefficients in ``cf``, as a tuple of integers:
    constants to the compiler inside the loops (an array's entries would be reloaded
    after every store to ``m`` or ``p``)."""
    o = P.N_COEFFICIENTS  # flag F_x is at o + F_x; the tuple, in F_ order, at F_x
    return (int(cf[o + _F_NORM]), int(cf[o + _F_INIT]), int(cf[o + _F_UPDATE]),
            int(cf[o + _F_RECIPROCAL]), int(cf[o + _F_RAW]), int(cf[o + _F_WD_INSIDE]),
            int(cf[o + _F_WD_APEX]), int(cf[o + _F_DECOUPLED]), int(cf[o + _F_LR_INSIDE]),
            int(cf[o + _F_NESTEROV]), int(cf[o + _F_AMSGRAD]), int(cf[o + _F_LUC]),
            int(cf[o + _F_APEX_BIAS]))


@njit(cache=True, error_model="numpy")
def leaf_step(g: Any, p: Any, m: Any, v: Any, vmax: Any, c: Any) -> None:
    """One layer's step on one thread: ``p``, ``m``, ``v`` (``vmax``) in place.

    ``g, p, m`` are 1-D and C-contiguous; ``v`` and ``vmax`` 0-d; ``c`` the step's
    coefficients followed by the configuration's flags, as floats (``_plan``; one
    array, as every array argument costs numba's dispatch time on every layer).
    """
    z = compute_zero(g, v)
    f = _flag_values(c)
    s = _square_sum(g)
    p2 = _square_sum(p) if f[_F_LUC] else 0.0
    k = _scalars(g, v, vmax, c, f, z, s)
    if f[_F_LUC]:
        nb = _nblocks(g.size)
        parts = np.empty(nb)
        for b in range(nb):
            parts[b] = _direction_square_sum(g, p, m, v, b * BLOCK, min(g.size, (b + 1) * BLOCK),
                                          k, f, z)
        k = _clipped(k, z, g, m, v, p2, _compensated_total(parts), c)
    _apply_range(g, p, m, v, 0, g.size, k, f, z)


@njit(cache=True, error_model="numpy", parallel=True)
def leaf_step_parallel(g: Any, p: Any, m: Any, v: Any, vmax: Any, c: Any) -> None:
    """:func:`leaf_step` with its passes split into blocks over numba's threads (the
    same blocks, hence the same sums, as on one thread)."""
    z = compute_zero(g, v)
    f = _flag_values(c)
    s = _square_sum_parallel(g)
    p2 = _square_sum_parallel(p) if f[_F_LUC] else 0.0
    k = _scalars(g, v, vmax, c, f, z, s)
    nb = _nblocks(g.size)
    if f[_F_LUC]:
        parts = np.empty(nb)
        for b in prange(nb):
            parts[b] = _direction_square_sum(g, p, m, v, b * BLOCK, min(g.size, (b + 1) * BLOCK),
                                          k, f, z)
        k = _clipped(k, z, g, m, v, p2, _compensated_total(parts), c)
    for b in prange(nb):
        _apply_range(g, p, m, v, b * BLOCK, min(g.size, (b + 1) * BLOCK), k, f, z)


_COMPILED: dict[tuple[Any, ...], Any] = {}


def compiled(kernel: Any, kind: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
    """``kernel`` compiled (or loaded from the disk cache) for the numba types of
    ``args``, the arguments of a leaf of ``kind``, and kept per kind: its machine code
    behind a callable that skips the dispatcher's search for a matching signature
    (about 0.1 us per array argument), for arguments of exactly those types only."""
    key = (kernel.__name__, kind)
    if key not in _COMPILED:
        _COMPILED[key] = kernel.compile(tuple(numba.typeof(a) for a in args))
    return _COMPILED[key]


def set_threads(threads: int) -> None:
    """Let numba's parallel kernels use ``threads`` threads."""
    numba.set_num_threads(threads)


def max_threads() -> int:
    """The most threads numba can run here (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
