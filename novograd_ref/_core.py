r"""The NovoGrad recurrence for one layer, written only against the Array API standard.

Everything here takes the array namespace ``xp`` explicitly and imports no array
library. Values that are the same for every layer of a step (the learning rate, bias
corrections, whether this is the first step) are computed once by :func:`step_scalars`;
:func:`leaf_step` is then what one layer's step computes, a function of
(config, layer arrays, step scalars) only.

When the step count is a concrete number, the step scalars are Python values and the
first-step rules are plain ``if`` statements on the count. When it is lazy (a traced
``jax.jit`` argument, a Dask array) they are 0-d arrays and the same rules go through
``xp.where``, so nothing is computed early. No branch ever looks at an array's values.

For one layer with gradient :math:`g_t`, parameters :math:`p_t` and
:math:`S_t = \sum_i g_{t,i}^2`, the canonical (paper / optax) recurrence is

.. math::

    v_1 = S_1, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2) S_t \\
    u_t = g_t / (\sqrt{v_t + \epsilon_{root}} + \epsilon) + \lambda p_t \\
    m_t = \beta_1 m_{t-1} + u_t, \quad \Delta p_t = -\eta_t m_t

and every switch of :class:`~novograd_ref.Config` replaces one piece of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from ._config import Config

Array = Any
Scalar = Any  # a Python float/bool or a 0-d array of the namespace


class StepScalars(NamedTuple):
    """Per-step values shared by every layer (Python numbers, or 0-d arrays if lazy)."""

    first: Scalar  # True on the first update (no update applied yet)
    lr: Scalar  # learning rate of this step
    t: Scalar  # 1-based step number (float when lazy)
    casts: bool  # whether dtypes may differ (state/mu dtypes set, or lazy scalars)


def step_scalars(cfg: Config, count: Array, lazy: bool, lr: Scalar) -> StepScalars:
    """Evaluate the step-dependent scalars once per update (see module docstring).

    ``lr`` is this step's learning rate, a schedule's value already evaluated and checked
    by the caller. A schedule's rate is used as it comes (Keras, too, only casts a
    schedule's value to the parameter dtype; ``hyper_dtype`` rounds constant
    hyperparameters only).
    """
    k = count if lazy else int(count)
    casts = lazy or cfg.state_dtype is not None or cfg.mu_dtype is not None
    return StepScalars(first=k == 0, lr=lr, t=k + 1, casts=casts)


def leaf_step(
    cfg: Config, xp: Any, sc: StepScalars, g: Array, p: Array, m: Array, v: Array,
    v_max: Array | None,
) -> tuple[Array, Array, Array, Array | None]:
    r"""One layer's step: returns ``(update, m_new, v_new, v_max_new)``.

    In the order of :class:`~novograd_ref.Config`'s equations: the second moment and
    its denominator, the moment input ``u`` (averaged), the moment (from ``m_0``, the
    first input before averaging, on the first step with
    ``first_moment_init='first_input'``), then the update
    from the direction ``d`` (the moment, or its Nesterov look-ahead) through bias
    correction, the raw-momentum normalization, Apex weight decay and the step size.
    ``update`` is in the parameter (gradient) dtype, ``m_new`` in ``m``'s dtype and
    ``v_new`` / ``v_max_new`` in ``v``'s dtype. No array passed in is modified; the
    only in-place operation accumulates into a new array this function created.
    """
    if cfg.maximize:
        g = -g
    wide = xp.result_type(g.dtype, m.dtype, v.dtype) if sc.casts else None
    v_used, v_new = _second_moment(cfg, xp, sc, g, v)
    if cfg.amsgrad:
        v_max = xp.maximum(v_max, v_used)
        v_used = v_max
    den = _denominator(cfg, xp, sc, v_used, wide)
    u_in = _momentum_input(cfg, xp, g, p, den)
    u = _average(cfg, xp, sc, u_in)
    lr, m_in = sc.lr, m
    if sc.casts:
        lr, m_in = cast_to(xp, lr, u.dtype), cast_to(xp, m, u.dtype)
    inside = cfg.learning_rate_placement == "inside"
    if cfg.first_moment_init == "first_input":  # m_0: the first input as it enters m
        m_in = _select(xp, sc.first, -lr * u_in if inside else u_in, m_in)
    if inside:  # Keras momentum: the rate enters each moment input
        m_new = cfg.b1 * m_in - lr * u
    else:
        m_new = cfg.b1 * m_in
        if sc.casts:
            m_new = m_new + u  # dtypes may differ: the sum may widen
        else:
            m_new += u  # a new array of ours, same dtype: no second leaf-sized copy
    direction = m_new
    if cfg.nesterov:  # TF momentum's look-ahead: the moment input once more
        direction = cfg.b1 * m_new + (-lr * u if inside else u)
    update = _update(cfg, xp, sc, direction, p, den, lr, inside, wide)
    if cfg.weight_decay and cfg.weight_decay_mode not in ("inside", "apex"):
        update = _decoupled_decay(cfg, update, p, lr)
    # Each output in its own dtype: also under NumPy 1.x, where a 0-d result is a NumPy
    # scalar and ``float * np.float32(x)`` widens it to float64.
    return (cast_to(xp, update, g.dtype), cast_to(xp, m_new, m.dtype), cast_to(xp, v_new, v.dtype),
            v_max if v_max is None else cast_to(xp, v_max, v.dtype))


# --------------------------------------------------- scalar formulas on Python floats
# The per-step numbers every layer shares, at a concrete step ``t`` (1-based) and rate
# ``lr``: the expressions the frameworks write on Python floats. ``leaf_step`` uses
# them as they are at a concrete step; ``novograd_ref.fused`` hands them to its kernels.


def one_minus_power(base: float, t: int, root: bool = False) -> float:
    r"""A bias correction, :math:`1 - \beta^t` (its square root if ``root``), as the
    frameworks compute it on Python floats: ``1 - base**t``, then ``math.sqrt``.

    It corrects a moment blended from 0 with weight :math:`\beta` for its start:
    Adam's and Apex's :math:`1 - \beta_1^t` of the first moment and
    :math:`\sqrt{1 - \beta_2^t}` of the norm (see :class:`~novograd_ref.Config`,
    steps 4, 8 and 9).

    >>> one_minus_power(0.5, 2), one_minus_power(0.75, 1, root=True)
    (0.75, 0.5)
    """
    value = 1 - base**t
    return math.sqrt(value) if root else value


def step_size_factor(cfg: Config, t: int) -> float | None:
    r"""The factor :math:`f_t` of the step size :math:`\eta_t = lr_t f_t` at step
    ``t`` (1-based), by ``cfg.bias_correction`` (:class:`~novograd_ref.Config`, step 9):

    .. math::

        f_t^{adam} = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}, \qquad
        f_t^{debias} = \sqrt{1 - \beta_2^t}

    (pytorch_optimizer's ``adam_debias`` and its default), and ``None`` for ``none``
    and ``apex`` (a factor of 1: the step size is the rate, nothing multiplies it).

    >>> step_size_factor(Config(0.1, b1=0.5, b2=0.75, bias_correction="adam"), 1)
    1.0
    >>> step_size_factor(Config(0.1, b2=0.75, bias_correction="debias"), 2)
    0.6614378277661477
    >>> step_size_factor(Config(0.1), 1) is None
    True
    """
    return _step_size_factor(cfg, t, one_minus_power)


def _step_size_factor(cfg: Config, t: Scalar, one_minus: Callable[[float, Scalar, bool], Any]
                      ) -> Any:
    """:func:`step_size_factor` with ``one_minus(base, t, root)`` as the bias correction
    ``1 - base**t`` (its root): :func:`one_minus_power` on a concrete step, 0-d arrays
    when the step is lazy (:func:`_step_factor`)."""
    if cfg.bias_correction == "adam":
        return one_minus(cfg.b2, t, True) / one_minus(cfg.b1, t, False)
    if cfg.bias_correction == "debias":
        return one_minus(cfg.b2, t, True)
    return None


def decoupled_decay_factor(cfg: Config, lr: float) -> float:
    r"""The factor :math:`c_t` of decoupled weight decay, :math:`p_{t+1} \mathrel{-}=
    c_t p_t`, at the rate ``lr`` = :math:`lr_t`, by ``cfg.weight_decay_mode``
    (:class:`~novograd_ref.Config`, step 10):

    .. math::

        c_t^{decoupled} = lr_t\, wd, \qquad c_t^{fixed} = wd, \qquad
        c_t^{corrected} = \frac{lr_t^2}{lr_{max}}\, wd

    (the last is timm's ``corrected_weight_decay``, :math:`lr_{max}` the
    ``max_learning_rate``), and 0 for the modes that decay elsewhere (``inside``,
    ``apex``). The same expressions apply to a 0-d array ``lr`` (a lazy rate).

    >>> decoupled_decay_factor(Config(0.5, weight_decay=0.1,
    ...                               weight_decay_mode="decoupled"), 0.5)
    0.05
    >>> decoupled_decay_factor(Config(0.5, weight_decay=0.25, weight_decay_mode="corrected",
    ...                               max_learning_rate=1.0), 0.5)
    0.0625
    >>> decoupled_decay_factor(Config(0.5, weight_decay=0.1), 0.5)  # inside
    0.0
    """
    wd = cfg.weight_decay
    if cfg.weight_decay_mode == "decoupled":
        return lr * wd
    if cfg.weight_decay_mode == "fixed":
        return wd
    if cfg.weight_decay_mode == "corrected":
        assert cfg.max_learning_rate is not None  # Config requires it with this mode
        return lr * lr / cfg.max_learning_rate * wd
    return 0.0


def _select(xp: Any, first: Scalar, if_first: Array, otherwise: Array) -> Array:
    """``if_first`` on the first step, else ``otherwise``; ``xp.where`` when lazy."""
    if first is True:
        return if_first
    if first is False:
        return otherwise
    return xp.where(first, if_first, otherwise)


def cast_to(xp: Any, x: Any, dtype: Any) -> Any:
    """Cast an array to ``dtype`` unless it already is; Python numbers pass through.

    >>> import numpy as np
    >>> cast_to(np, np.ones(2), np.float32).dtype, cast_to(np, 0.5, np.float32)
    (dtype('float32'), 0.5)
    """
    if not hasattr(x, "dtype") or x.dtype == dtype:  # Python numbers have no dtype
        return x
    return xp.astype(x, dtype)


def _second_moment(cfg: Config, xp: Any, sc: StepScalars, g: Array, v: Array
                   ) -> tuple[Array, Array]:
    """Return (moment used at this step, moment stored for the next step).

    Apex's initial norm ``n_0`` is stored before the blend reads it (in the state
    dtype, as Apex's ``exp_avg_sq``), so both branches of the first-step selection
    have one dtype, eager or lazy.
    """
    b2 = cfg.b2
    if cfg.norm == "apex_inf":
        # the largest |g|; of an empty layer 0, the identity of a max of magnitudes (its
        # sum is that 0, in the dtype and on the device of g: a max of nothing raises)
        stat = xp.sum(xp.abs(g)) if 0 in g.shape else xp.max(xp.abs(g))
        prior = v if cfg.second_moment_init == "zero" else _select(
            xp, sc.first, cast_to(xp, stat, v.dtype), v)
        used = cast_to(xp, b2 * prior + (1 - b2) * stat, v.dtype)
    elif cfg.norm == "apex_l2":  # the kernel squares and sums in float32 (or wider)
        wide = cast_to(xp, g, xp.result_type(g.dtype, v.dtype))
        s = xp.sum(wide * wide)
        prior = v if cfg.second_moment_init == "zero" else _select(
            xp, sc.first, cast_to(xp, xp.sqrt(s), v.dtype), v)
        used = cast_to(xp, xp.sqrt(b2 * prior * prior + (1 - b2) * s), v.dtype)
    else:
        s = xp.sum(g * g)
        if sc.casts:
            s = cast_to(xp, s, v.dtype)
        blend = _blend(cfg, v, s)
        if sc.casts:
            blend = cast_to(xp, blend, v.dtype)
        init = cfg.second_moment_init
        if init == "first_step":
            used = _select(xp, sc.first, s, blend)
        elif init == "when_zero":
            used = xp.where(v == 0, s, blend)
        else:  # zero
            used = blend
    stored = v if cfg.second_moment_update == "none" else used
    return used, stored


def _blend(cfg: Config, v: Array, s: Array) -> Array:
    """``b2 v + (1 - b2) S``, or torch's ``lerp(v, S, w = 1 - b2)`` and its two branches."""
    if cfg.second_moment_update != "lerp":
        return cfg.b2 * v + (1 - cfg.b2) * s
    w = 1 - cfg.b2
    return v + w * (s - v) if w < 0.5 else s - (s - v) * (1 - w)


def _denominator(cfg: Config, xp: Any, sc: StepScalars, v: Array, wide: Any) -> Array:
    """``sqrt(v + eps_root) + eps`` or ``n + eps`` (Apex norms), ``v`` / ``n`` divided
    by ``1 - b2**t`` / ``sqrt(1 - b2**t)`` under Apex bias correction."""
    apex = cfg.bias_correction == "apex"
    if cfg.norm == "l2_squared":
        if apex:
            v = v / _one_minus_pow(xp, cfg.b2, sc.t, wide, v.dtype)
        den = xp.sqrt(v + cfg.eps_root) if cfg.eps_root else xp.sqrt(v)
    elif apex:
        den = v / _one_minus_pow(xp, cfg.b2, sc.t, wide, v.dtype, root=True)
    else:
        den = v
    return den + cfg.eps if cfg.eps else den


def _normalize(cfg: Config, x: Array, den: Array) -> Array:
    """``x / den``, or ``x * (1 / den)`` (OpenSeq2Seq's reciprocal)."""
    return x * (1.0 / den) if cfg.normalization == "reciprocal" else x / den


def _momentum_input(cfg: Config, xp: Any, g: Array, p: Array, den: Array) -> Array:
    """What enters the moment: the normalized gradient (+ wd p inside), or the raw one."""
    if cfg.momentum_input == "raw":
        return g
    u = _normalize(cfg, g, den)
    if cfg.weight_decay_mode == "inside" and cfg.weight_decay:
        u = u + cfg.weight_decay * p
    return u


def _average(cfg: Config, xp: Any, sc: StepScalars, u: Array) -> Array:
    """Grad averaging: scale the moment input by ``1 - b1`` (not on step 1 if so set)."""
    if cfg.grad_averaging == "off":
        return u
    if cfg.grad_averaging == "always":
        return (1 - cfg.b1) * u
    return _select(xp, sc.first, u, (1 - cfg.b1) * u)


def _update(cfg: Config, xp: Any, sc: StepScalars, d: Array, p: Array, den: Array,
            lr: Scalar, inside: bool, wide: Any) -> Array:
    """The update from the direction ``d`` (which carries ``-lr`` when ``inside``)."""
    if cfg.bias_correction == "apex":
        d = d / _one_minus_pow(xp, cfg.b1, sc.t, wide, d.dtype)
    if cfg.momentum_input == "raw":
        d = _normalize(cfg, d, den)
    if cfg.weight_decay_mode == "apex" and cfg.weight_decay:
        d = d - lr * (cfg.weight_decay * p) if inside else d + cfg.weight_decay * p
    factor = _step_factor(cfg, xp, sc, wide, d.dtype)
    if inside:
        return d if factor is None else factor * d
    step = lr if factor is None else lr * factor
    if cfg.update_clipping == "luc":
        p_norm = xp.sqrt(xp.sum(p * p))
        d_norm = xp.sqrt(xp.sum(d * d))
        step = xp.clip(cfg.luc_trust * p_norm / (d_norm + cfg.luc_eps), max=step)
    return -step * d


def _step_factor(cfg: Config, xp: Any, sc: StepScalars, wide: Any, dtype: Any
                 ) -> Scalar | None:
    """pytorch_optimizer's step-size factors, ``None`` for none: :func:`step_size_factor`,
    its bias corrections by :func:`_one_minus_pow` (0-d arrays when lazy), cast to
    ``dtype``."""
    def one_minus(base: float, t: Scalar, root: bool) -> Scalar:
        return _one_minus_pow(xp, base, t, wide, None, root)

    factor = _step_size_factor(cfg, sc.t, one_minus)
    return None if factor is None else cast_to(xp, factor, dtype)


def _decoupled_decay(cfg: Config, update: Array, p: Array, lr: Scalar) -> Array:
    """Decoupled weight decay: ``p *= 1 - factor`` folded into the update."""
    return update - decoupled_decay_factor(cfg, lr) * p


def _one_minus_pow(xp: Any, base: float, t: Scalar, wide: Any, dtype: Any,
                   root: bool = False) -> Scalar:
    """``1 - base ** t`` (``sqrt`` of it if ``root``): a Python float, or when lazy a
    0-d array cast to ``dtype`` (``None``: left in the dtype it was computed in).

    Eagerly this is the frameworks' own Python-float expression, which a ``dtype``
    array then meets as a weak scalar. Lazily it is the same expression in float64
    whenever the namespace has float64 (whatever the layer's dtypes): within an ulp
    of the eager float64 value (a library's ``power`` need not be the C library's
    ``pow``), so the cast to a float32 ``dtype`` is the eager rounding (unless that
    ulp straddles a float32 rounding boundary). Only a
    namespace without float64 (JAX without x64) computes it in the layer's widest
    dtype ``wide``, where ``1 - base ** t`` would cancel (``1 - 0.999**2`` loses 9
    bits in float32); there it is ``-expm1(t log(base))``, within 2 ulps of the
    eager value.

    >>> import numpy as np
    >>> _one_minus_pow(np, 0.5, 2, None, None)
    0.75
    >>> lazy = _one_minus_pow(np, 0.999, np.asarray(2), np.float32, np.float32)
    >>> lazy.dtype, float(lazy) == float(np.float32(1 - 0.999**2))
    (dtype('float32'), True)
    """
    if type(t) is int:
        return one_minus_power(base, t, root)
    exact = _float64(xp)
    if exact is not None or base == 0.0:  # no cancellation to fear
        value = 1 - base ** xp.astype(t, exact if exact is not None else wide)
    else:
        value = -xp.expm1(xp.astype(t, wide) * math.log(base))
    if root:
        value = xp.sqrt(value)
    return value if dtype is None else cast_to(xp, value, dtype)


def _float64(xp: Any) -> Any:
    """The namespace's float64 dtype, or ``None`` where it has none (JAX without x64)."""
    info = xp.__array_namespace_info__()
    return xp.float64 if "float64" in info.dtypes(kind="real floating") else None
