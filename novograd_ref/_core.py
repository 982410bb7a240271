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
    """One layer's step: returns ``(update, m_new, v_new, v_max_new)``.

    ``update`` is in the parameter (gradient) dtype, ``m_new`` in ``m``'s dtype and
    ``v_new`` / ``v_max_new`` in ``v``'s dtype. No array passed in is modified; the
    only in-place operation accumulates into a new array this function created.
    """
    if cfg.maximize:
        g = -g
    v_used, v_new = _second_moment(cfg, xp, sc, g, v)
    if cfg.amsgrad:
        v_max = xp.maximum(v_max, v_used)
        v_used = v_max
    den = _denominator(cfg, xp, sc, v_used)
    u = _average(cfg, xp, sc, _momentum_input(cfg, xp, g, p, den))
    lr, m_in = sc.lr, m
    if sc.casts:
        lr, m_in = _cast(xp, lr, u.dtype), _cast(xp, m, u.dtype)
    if cfg.learning_rate_placement == "inside":
        m_new = cfg.b1 * m_in - lr * u
        update = cfg.b1 * m_new - lr * u if cfg.nesterov else m_new
    else:
        m_new = cfg.b1 * m_in
        if sc.casts:
            m_new = m_new + u  # dtypes may differ: the sum may widen
        else:
            m_new += u  # a new array of ours, same dtype: no second leaf-sized copy
        update = _outside_update(cfg, xp, sc, u, m_new, p, den, lr)
    if cfg.weight_decay and cfg.weight_decay_mode not in ("inside", "apex"):
        update = _decoupled_decay(cfg, update, p, lr)
    # Each output in its own dtype: also under NumPy 1.x, where a 0-d result is a NumPy
    # scalar and ``float * np.float32(x)`` widens it to float64.
    return (_cast(xp, update, g.dtype), _cast(xp, m_new, m.dtype), _cast(xp, v_new, v.dtype),
            v_max if v_max is None else _cast(xp, v_max, v.dtype))


def _select(xp: Any, first: Scalar, if_first: Array, otherwise: Array) -> Array:
    """``if_first`` on the first step, else ``otherwise``; ``xp.where`` when lazy."""
    if first is True:
        return if_first
    if first is False:
        return otherwise
    return xp.where(first, if_first, otherwise)


def _cast(xp: Any, x: Any, dtype: Any) -> Any:
    """Cast an array to ``dtype`` unless it already is; Python numbers pass through."""
    if not hasattr(x, "dtype") or x.dtype == dtype:  # Python numbers have no dtype
        return x
    return xp.astype(x, dtype)


def _second_moment(cfg: Config, xp: Any, sc: StepScalars, g: Array, v: Array
                   ) -> tuple[Array, Array]:
    """Return (moment used at this step, moment stored for the next step)."""
    b2 = cfg.b2
    if cfg.norm == "apex_inf":
        stat = xp.max(xp.abs(g))
        prior = v if cfg.second_moment_init == "zero" else _select(xp, sc.first, stat, v)
        used = _cast(xp, b2 * prior + (1 - b2) * stat, v.dtype)
    elif cfg.norm == "apex_l2":  # the kernel squares and sums in float32 (or wider)
        wide = _cast(xp, g, xp.result_type(g.dtype, v.dtype))
        s = xp.sum(wide * wide)
        prior = v if cfg.second_moment_init == "zero" else _select(xp, sc.first, xp.sqrt(s), v)
        used = _cast(xp, xp.sqrt(b2 * prior * prior + (1 - b2) * s), v.dtype)
    else:
        s = xp.sum(g * g)
        if sc.casts:
            s = _cast(xp, s, v.dtype)
        blend = _blend(cfg, v, s)
        if sc.casts:
            blend = _cast(xp, blend, v.dtype)
        init = cfg.second_moment_init
        if init == "first_step":
            used = _select(xp, sc.first, s, blend)
        elif init == "when_zero":
            used = xp.where(v == 0, s, blend)
        elif init == "zero":
            used = blend
        else:  # first_step_blend: v_0 = S_1, then the blend runs on step 1 too
            used = _select(xp, sc.first, _cast(xp, b2 * s + (1 - b2) * s, v.dtype), blend)
    stored = v if cfg.second_moment_update == "none" else used
    return used, stored


def _blend(cfg: Config, v: Array, s: Array) -> Array:
    """``b2 v + (1 - b2) S``, or torch's ``lerp(v, S, w = 1 - b2)`` and its two branches."""
    if cfg.second_moment_update != "lerp":
        return cfg.b2 * v + (1 - cfg.b2) * s
    w = 1 - cfg.b2
    return v + w * (s - v) if w < 0.5 else s - (s - v) * (1 - w)


def _denominator(cfg: Config, xp: Any, sc: StepScalars, v: Array) -> Array:
    """``sqrt(v + eps_root) + eps``, or Apex's ``n / sqrt(1 - b2**t) + eps``."""
    if cfg.norm == "l2_squared":
        den = xp.sqrt(v + cfg.eps_root) if cfg.eps_root else xp.sqrt(v)
    elif cfg.bias_correction == "apex":
        den = v / _sqrt(xp, _one_minus_pow(xp, cfg.b2, sc.t, v.dtype))
    else:
        den = v
    return den + cfg.eps if cfg.eps else den


def _momentum_input(cfg: Config, xp: Any, g: Array, p: Array, den: Array) -> Array:
    """What enters the moment: the normalized gradient (+ wd p inside), or the raw one."""
    if cfg.momentum_input == "raw":
        return g
    u = g * (1.0 / den) if cfg.normalization == "reciprocal" else g / den
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


def _outside_update(cfg: Config, xp: Any, sc: StepScalars, u: Array, m: Array,
                    p: Array, den: Array, lr: Scalar) -> Array:
    """``-lr_eff * direction`` for a learning rate applied outside the moment."""
    direction = m
    if cfg.bias_correction == "apex":
        direction = m / _one_minus_pow(xp, cfg.b1, sc.t, m.dtype)
    if cfg.momentum_input == "raw":
        direction = direction / den
    if cfg.weight_decay_mode == "apex" and cfg.weight_decay:
        direction = direction + cfg.weight_decay * p
    if cfg.nesterov:
        return -(u * lr + (m * cfg.b1) * lr)
    if cfg.update_clipping == "luc":
        p_norm = xp.sqrt(xp.sum(p * p))
        m_norm = xp.sqrt(xp.sum(m * m))
        ratio = cfg.luc_trust * p_norm / (m_norm + cfg.luc_eps)
        return -xp.clip(ratio, max=lr) * direction
    return (-_step_size(cfg, xp, sc, lr, m.dtype)) * direction


def _step_size(cfg: Config, xp: Any, sc: StepScalars, lr: Scalar, dtype: Any) -> Scalar:
    """The learning rate, times pytorch_optimizer's Adam-style factors if so set."""
    if cfg.bias_correction == "adam":
        return lr * _sqrt(xp, _one_minus_pow(xp, cfg.b2, sc.t, dtype)) / (
            _one_minus_pow(xp, cfg.b1, sc.t, dtype))
    if cfg.bias_correction == "debias":
        return lr * _sqrt(xp, _one_minus_pow(xp, cfg.b2, sc.t, dtype))
    return lr


def _decoupled_decay(cfg: Config, update: Array, p: Array, lr: Scalar) -> Array:
    """Decoupled weight decay: ``p *= 1 - factor`` folded into the update."""
    wd = cfg.weight_decay
    if cfg.weight_decay_mode == "decoupled":
        factor = lr * wd
    elif cfg.weight_decay_mode == "fixed":
        factor = wd
    else:  # corrected: lr**2 / max_lr, timm's corrected_weight_decay
        factor = lr * lr / cfg.max_learning_rate * wd
    return update - factor * p


def _one_minus_pow(xp: Any, base: float, t: Scalar, dtype: Any) -> Scalar:
    """``1 - base ** t``: a Python float, or a 0-d array of ``dtype`` when lazy.

    Eagerly this is the frameworks' own Python-float expression. Lazily, ``dtype`` is
    the only precision at hand: in float64 the same expression is used; in narrower
    dtypes ``1 - base ** t`` would cancel (``1 - 0.999**2`` loses 9 bits in float32),
    so it is computed as ``-expm1(t log(base))``, within 2 ulps of the eager value.
    """
    if type(t) is int:
        return 1 - base**t
    t = xp.astype(t, dtype)
    if dtype == xp.float64:
        return 1 - base**t
    if base == 0.0:
        return 1.0
    return -xp.expm1(t * math.log(base))


def _sqrt(xp: Any, x: Scalar) -> Scalar:
    return xp.sqrt(x) if hasattr(x, "dtype") else math.sqrt(x)
