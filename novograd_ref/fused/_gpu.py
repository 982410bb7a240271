r"""CuPy kernels of the fused step on CuPy arrays: the CPU kernels' math in CUDA C++.

Per layer, everything stays on the device: a ``ReductionKernel`` sums :math:`g_i^2`
in double precision (and ``max |g_i|`` for Apex's inf-norm), a one-thread
``ElementwiseKernel`` computes the second moment and denominator in the state dtype,
operation by operation as NumPy does in the reference, and one ``ElementwiseKernel``
reads ``g, p, m`` once and writes ``m`` and ``p`` once. NeMo's update clipping adds a
reduction over the direction (computed into a scratch array) before anything is stored.

CuPy's ``float16`` computes in float32 and rounds only when a ``float16`` is built, so
each operation the reference computes in float16 is rounded explicitly, as the CPU
kernels round it: the per-layer scalars in the state dtype, Apex's squared norm in the
wider of the gradient and state dtypes, Apex's raw-gradient moment and direction in the
gradient's dtype, the clip of update clipping in the direction's dtype (where
``luc_eps`` = 1e-8 is 0). An intermediate that overflows float16 there is infinite, as
in the reference. A squared norm that overflows float64 is ``inf`` (the reduction is a
plain sum), and ``g / sqrt(inf)`` is 0: no step, as in the reference.
Kernels are compiled with ``--fmad=false``: NumPy never fuses a multiply and an add,
so neither may the kernels. The flags and the coefficients are those of ``_plan``; the
step count is read once per step.

Not yet run on a GPU: ``tests/test_fused.py`` checks these kernels against the
reference for every switch value where CuPy and a CUDA device are present. Where there
is none, it compiles the device functions below for the host (``tests/gpu_math_host.cpp``,
CuPy's ``float16`` as the compiler's ``_Float16``) and checks their math against the
reference, at the extremes too; the CuPy plumbing (kernel signatures, launches, the
tree reductions' order) is only exercised on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._config import Config
from . import _plan as P

# The per-layer sums the reductions write (the float64 array ``sums``), which the
# per-layer kernels read.
S_GRAD_SQUARES = 0  # sum g**2
S_MAX_ABS = 1  # max |g| (Apex's inf-norm)
S_PARAM_SQUARES = 2  # sum p**2 (update clipping)
S_DIRECTION_SQUARES = 3  # sum d**2 (update clipping)
N_SUMS = 4

#: The names of every slot, in the CUDA source too: ``_plan``'s flags ``F_`` (and the
#: values ``NORM_``, ``INIT_``, ``UPDATE_`` of three), coefficients ``C_``, per-layer
#: scalars ``K_`` and their counts ``N_``, and the sums.
_DEFINES = "\n".join(
    [f"#define {name} {getattr(P, name)}" for name in dir(P)
     if name.startswith(("F_", "NORM_", "INIT_", "UPDATE_", "C_", "K_", "N_"))]
    + [f"#define {name} {value}" for name, value in (
        ("S_GRAD_SQUARES", S_GRAD_SQUARES), ("S_MAX_ABS", S_MAX_ABS),
        ("S_PARAM_SQUARES", S_PARAM_SQUARES), ("S_DIRECTION_SQUARES", S_DIRECTION_SQUARES),
        ("N_SUMS", N_SUMS))])

_PREAMBLE = _DEFINES + r"""
template <typename X> __device__ X from_d(double x) { return X(x); }
template <> __device__ float16 from_d<float16>(double x) { return float16((float)x); }
__device__ double vsqrt(double x) { return sqrt(x); }
__device__ float vsqrt(float x) { return sqrtf(x); }
__device__ float16 vsqrt(float16 x) { return float16(sqrtf((float)x)); }
__device__ double to_d(double x) { return x; }
__device__ double to_d(float x) { return (double)x; }
__device__ double to_d(float16 x) { return (double)(float)x; }
template <typename X> __device__ bool is_nan(X x) { return isnan(to_d(x)); }
// a value of one dtype as another, through double (exact for every widening)
template <typename X, typename Y> __device__ X cvt(Y y) { return from_d<X>(to_d(y)); }
// x (of the compute dtype C) rounded to the dtype X the reference computes it in: a
// no-op unless X is narrower than C (float16, or float32 with float64 state). CuPy's
// float16 computes in float32 and rounds only when stored, so every float16 operation
// of the reference is rounded explicitly here (V(...), G(...) or rnd).
template <typename X, typename C> __device__ C rnd(C x) { return cvt<C>(cvt<X>(x)); }
// NumPy's result type of dtypes A and B
template <typename A, typename B> struct wider { typedef double type; };
template <> struct wider<float, float> { typedef float type; };
template <> struct wider<float16, float> { typedef float type; };
template <> struct wider<float, float16> { typedef float type; };
template <> struct wider<float16, float16> { typedef float16 type; };

// _cpu._second_moment / _denominator / _scalars: G gradient, V state, C compute dtype.
template <typename G, typename V, typename C>
__device__ void layer_scalars(double s_sum, double max_abs, const double* c,
                              const long long* f, V* v, V* vmax, C* k) {
    bool first = c[C_FIRST] != 0.0;
    V vv = v[0];
    double b2 = c[C_B2], omb2 = c[C_ONE_MINUS_B2];
    V used;
    if (f[F_NORM] == NORM_APEX_INF) {  // n_0 = max|g_1| is stored (state dtype) before the blend
        G stat = from_d<G>(isnan(s_sum) ? s_sum : max_abs);
        V prior = (f[F_INIT] == INIT_ZERO || !first) ? vv : cvt<V>(stat);
        C x = cvt<C>(V(from_d<V>(b2) * prior)) + cvt<C>(G(from_d<G>(omb2) * stat));
        used = cvt<V>(x);
    } else if (f[F_NORM] == NORM_APEX_L2) {  // S in the wider of the gradient and state dtypes
        C s = rnd<typename wider<G, V>::type>(from_d<C>(s_sum));
        V prior = (f[F_INIT] == INIT_ZERO || !first) ? vv : cvt<V>(vsqrt(s));
        C x = cvt<C>(V(V(from_d<V>(b2) * prior) * prior));
        used = cvt<V>(vsqrt(x + from_d<C>(omb2) * s));
    } else {
        V s = cvt<V>(from_d<G>(s_sum));
        V blend;
        if (f[F_UPDATE] == UPDATE_LERP) {
            double w = 1.0 - b2;
            if (w < 0.5) {
                blend = V(vv + V(from_d<V>(w) * V(s - vv)));
            } else {
                blend = V(s - V(V(s - vv) * from_d<V>(1.0 - w)));
            }
        } else {
            blend = V(V(from_d<V>(b2) * vv) + V(from_d<V>(omb2) * s));
        }
        int init = (int)f[F_INIT];
        if (init == INIT_FIRST_STEP) {
            used = first ? s : blend;
        } else if (init == INIT_WHEN_ZERO) {
            used = (to_d(vv) == 0.0) ? s : blend;
        } else {  // zero (first_step_blend is for the Apex norms only)
            used = blend;
        }
    }
    V stored = (f[F_UPDATE] == UPDATE_NONE) ? vv : used;
    if (f[F_AMSGRAD]) {
        V old = vmax[0];
        used = (to_d(old) > to_d(used) || is_nan(old)) ? old : used;
        vmax[0] = used;
    }
    v[0] = stored;
    V den;
    if (f[F_NORM] == NORM_L2_SQUARED) {
        if (f[F_APEX_BIAS]) used = used / from_d<V>(c[C_BC2_POW]);
        den = vsqrt(V(used + from_d<V>(c[C_EPS_ROOT])));
    } else if (f[F_APEX_BIAS]) {
        den = used / from_d<V>(c[C_BC2]);
    } else {
        den = used;
    }
    den = den + from_d<V>(c[C_EPS]);
    k[K_SIGN] = from_d<C>(c[C_SIGN]);
    k[K_DEN] = cvt<C>(den);
    k[K_DEN_INVERSE] = cvt<C>(V(from_d<V>(1.0) / den));
    k[K_WD] = from_d<C>(c[C_WD]);
    k[K_AVERAGE] = from_d<C>(c[C_AVERAGE]);
    k[K_B1] = from_d<C>(c[C_B1]);
    k[K_LR] = from_d<C>(c[C_LR]);
    k[K_BC1] = from_d<C>(c[C_BC1]);
    k[K_NEG_STEP] = from_d<C>(-c[C_STEP]);
    k[K_DECAY] = from_d<C>(c[C_DECAY]);
    k[K_CLIP] = from_d<C>(c[C_STEP]);
    k[K_FACTOR] = from_d<C>(c[C_FACTOR]);
}

// _cpu._element: one value's (m_new, d), the new moment and the direction. With the
// raw-gradient moment, each operation is rounded to the dtype the reference computes
// it in: the gradient's G for the moment, the wider W of G and the state's V after
// the division by the norm (nothing rounds unless float16 or a float32 gradient with
// float64 state is involved; a float16 intermediate that overflows is infinite).
template <typename G, typename V, typename C>
__device__ void element(C gi, C pi, C mi, const C* k, const long long* f,
                        C& m_new, C& d) {
    typedef typename wider<G, V>::type W;
    C g = k[K_SIGN] * gi;
    C b1 = k[K_B1], lr = k[K_LR];
    bool inside = f[F_LR_INSIDE] != 0;
    if (f[F_RAW]) {
        C u = rnd<G>(k[K_AVERAGE] * g);
        C b1m = rnd<G>(b1 * rnd<G>(mi));
        m_new = inside ? rnd<G>(b1m - rnd<G>(lr * u)) : rnd<G>(b1m + u);
        d = m_new;
        if (f[F_NESTEROV]) d = rnd<G>(rnd<G>(b1 * m_new) + (inside ? rnd<G>(-(lr * u)) : u));
        if (f[F_APEX_BIAS]) d = rnd<G>(d / k[K_BC1]);
        d = rnd<W>(f[F_RECIPROCAL] ? C(d * k[K_DEN_INVERSE]) : C(d / k[K_DEN]));
        if (f[F_WD_APEX]) {
            C decay = rnd<G>(k[K_WD] * pi);
            d = rnd<W>(inside ? C(d - rnd<G>(lr * decay)) : C(d + decay));
        }
        return;
    }
    C u = f[F_RECIPROCAL] ? C(g * k[K_DEN_INVERSE]) : C(g / k[K_DEN]);
    if (f[F_WD_INSIDE]) u = u + k[K_WD] * pi;
    u = k[K_AVERAGE] * u;
    m_new = inside ? C(b1 * mi - lr * u) : C(b1 * mi + u);
    d = m_new;
    if (f[F_NESTEROV]) d = b1 * m_new + (inside ? C(-(lr * u)) : u);
    if (f[F_APEX_BIAS]) d = d / k[K_BC1];
    if (f[F_WD_APEX]) d = inside ? C(d - lr * (k[K_WD] * pi)) : C(d + k[K_WD] * pi);
}

// _cpu._update: the update from the direction, then decoupled weight decay (rounded
// as element rounds after the raw-gradient moment).
template <typename G, typename V, typename C>
__device__ C update_of(C d, C pi, const C* k, const long long* f) {
    typedef typename wider<G, V>::type W;
    C update;
    if (f[F_LR_INSIDE]) {
        update = k[K_FACTOR] * d;
    } else if (f[F_LUC]) {
        update = (-k[K_CLIP]) * d;
    } else {
        update = k[K_NEG_STEP] * d;
    }
    if (f[F_RAW]) update = rnd<W>(update);
    if (f[F_DECOUPLED]) {
        C decay = k[K_DECAY];
        update = f[F_RAW] ? rnd<W>(update - rnd<G>(decay * pi)) : C(update - decay * pi);
    }
    return update;
}

// _cpu._clipped: NeMo's clip min(trust |p| / (|d| + luc_eps), step), NaN kept; |p| in
// the parameter dtype, |d| and the ratio in the direction's dtype D, the result type
// of the gradient, moment and state dtypes (in float16 luc_eps = 1e-8 is 0, 0 / 0 NaN).
template <typename G, typename M, typename V, typename C>
__device__ void clip(double p2, double d2, const double* c, C* k) {
    typedef typename wider<typename wider<G, M>::type, V>::type D;
    G p_norm = vsqrt(from_d<G>(p2));
    C d_norm = rnd<D>(vsqrt(rnd<D>(from_d<C>(d2))));
    C below = rnd<D>(d_norm + from_d<C>(c[C_LUC_EPS]));
    C ratio = rnd<D>(cvt<C>(G(from_d<G>(c[C_LUC_TRUST]) * p_norm)) / below);
    k[K_CLIP] = (to_d(ratio) < to_d(k[K_CLIP]) || is_nan(ratio)) ? ratio : k[K_CLIP];
}
"""

_OPTIONS = ("--fmad=false",)
_kernels: dict[str, Any] = {}


def _kernel(name: str) -> Any:
    """The CuPy kernel ``name``, built on first use (CuPy caches the binaries)."""
    if name in _kernels:
        return _kernels[name]
    import cupy

    if name == "square_sum":
        kernel = cupy.ReductionKernel(
            "T x", "float64 y", "to_d(x) * to_d(x)", "a + b", "y = a", "0",
            "novograd_square_sum", preamble=_PREAMBLE, options=_OPTIONS)
    elif name == "max_abs":
        kernel = cupy.ReductionKernel(
            "T x", "float64 y", "fabs(to_d(x))", "max(a, b)", "y = a", "0",
            "novograd_max_abs", preamble=_PREAMBLE, options=_OPTIONS)
    elif name == "scalars":
        kernel = cupy.ElementwiseKernel(
            "raw float64 sums, raw T g, raw float64 c, raw int64 f", "raw V v, raw V vmax, "
            "raw C k", "layer_scalars<T, V, C>(sums[S_GRAD_SQUARES], sums[S_MAX_ABS], &c[0], "
            "&f[0], &v[0], &vmax[0], &k[0])", "novograd_scalars", preamble=_PREAMBLE, options=_OPTIONS)
    elif name == "direction":
        kernel = cupy.ElementwiseKernel(
            "T g, T p, M m, raw C k, raw int64 f, raw V v", "C out",
            "C m_new; element<T, V, C>(cvt<C>(g), cvt<C>(p), cvt<C>(m), &k[0], &f[0], m_new, "
            "out);",
            "novograd_direction", preamble=_PREAMBLE, options=_OPTIONS)
    elif name == "clip":
        kernel = cupy.ElementwiseKernel(
            "raw float64 sums, raw T g, raw float64 c, raw M m, raw V v", "raw C k",
            "clip<T, M, V, C>(sums[S_PARAM_SQUARES], sums[S_DIRECTION_SQUARES], &c[0], &k[0])", "novograd_clip",
            preamble=_PREAMBLE, options=_OPTIONS)
    else:
        kernel = cupy.ElementwiseKernel(
            "T g, raw C k, raw int64 f, raw V v", "T p, M m",
            "C m_new, d; "
            "element<T, V, C>(cvt<C>(g), cvt<C>(p), cvt<C>(m), &k[0], &f[0], m_new, d); "
            "C update = update_of<T, V, C>(d, cvt<C>(p), &k[0], &f[0]); "
            "m = cvt<M>(m_new); p = cvt<T>(cvt<C>(p) + cvt<C>(cvt<T>(update)));",
            "novograd_apply", preamble=_PREAMBLE, options=_OPTIONS)
    _kernels[name] = kernel
    return kernel


def step_(cfg: Config, leaves: list[tuple[Any, ...]], numbers: list[float],
          amsgrad: bool) -> None:
    """The fused step on CuPy arrays, ``(g, p, m, v, v_max)`` per leaf, every one
    checked (see :meth:`FusedNovoGrad.step_`), at a step of coefficients ``numbers``."""
    import cupy

    c = cupy.asarray(np.array(numbers, dtype=np.float64))
    f = cupy.asarray(np.array(P.flags(cfg), dtype=np.int64))
    luc = cfg.update_clipping == "luc"
    for g, p, m, v, vmax in leaves:
        with g.device:
            v1 = v.reshape(1)
            # without amsgrad the kernel writes v_max to scratch, not over v
            vmax1 = vmax.reshape(1) if amsgrad else cupy.empty_like(v1)
            _layer(g.reshape(-1), p.reshape(-1), m.reshape(-1), v1, vmax1, c, f,
                   cfg.norm == "apex_inf", luc)


def _layer(g: Any, p: Any, m: Any, v: Any, vmax: Any, c: Any, f: Any, inf_norm: bool,
           luc: bool) -> None:
    import cupy

    compute = np.result_type(g.dtype, v.dtype)
    if compute == np.float16:
        compute = np.dtype(np.float32)
    sums = cupy.zeros(N_SUMS, dtype=np.float64)
    _kernel("square_sum")(g, out=sums[S_GRAD_SQUARES])
    if inf_norm:
        _kernel("max_abs")(g, out=sums[S_MAX_ABS])
    k = cupy.empty(P.N_LAYER_SCALARS, dtype=compute)
    _kernel("scalars")(sums, g, c, f, v, vmax, k, size=1)
    if luc:
        _kernel("square_sum")(p, out=sums[S_PARAM_SQUARES])
        d = cupy.empty(g.shape, dtype=compute)  # the direction; nothing stored yet
        _kernel("direction")(g, p, m, k, f, v, d)
        _kernel("square_sum")(d, out=sums[S_DIRECTION_SQUARES])
        _kernel("clip")(sums, g, c, m, v, k, size=1)
    _kernel("apply")(g, k, f, v, p, m)
