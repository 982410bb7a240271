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

from ._config import Config, round_to

Array = Any
Scalar = Any  # a Python float/bool or a 0-d array of the namespace


class StepScalars(NamedTuple):
    """Per-step values shared by every layer (Python numbers, or 0-d arrays if lazy)."""

    first: Scalar  # True on the first update (no update applied yet)
    lr: Scalar  # learning rate of this step
    t: Scalar  # 1-based step number (float when lazy)


def step_scalars(cfg: Config, count: Array, lazy: bool, xp: Any = None) -> StepScalars:
    """Evaluate the step-dependent scalars once per update (see module docstring).

    ``xp`` (the namespace of ``count``) is needed only when ``lazy`` and a schedule's
    rate is rounded through ``cfg.hyper_dtype``.
    """
    k = count if lazy else int(count)
    lr = cfg.learning_rate(k) if callable(cfg.learning_rate) else cfg.learning_rate
    if not lazy:
        lr = float(lr)  # type: ignore[arg-type]
    if cfg.hyper_dtype is not None and callable(cfg.learning_rate):
        if hasattr(lr, "dtype"):  # a lazy 0-d array: round it through the dtype too
            lr = xp.astype(xp.astype(lr, getattr(xp, cfg.hyper_dtype)), lr.dtype)
        else:
            lr = round_to(float(lr), cfg.hyper_dtype)  # type: ignore[arg-type]
    return StepScalars(first=k == 0, lr=lr, t=k + 1)


def leaf_step(
    cfg: Config, xp: Any, sc: StepScalars, g: Array, p: Array, m: Array, v: Array,
    v_max: Array | None,
) -> tuple[Array, Array, Array, Array | None]:
    """One layer's step: returns ``(update, m_new, v_new, v_max_new)``.

    ``update`` is in the parameter (gradient) dtype, ``m_new`` in ``m``'s dtype and
    ``v_new`` / ``v_max_new`` in ``v``'s dtype. Nothing is modified in place.
    """
    if cfg.maximize:
        g = -g
    v_used, v_new = _second_moment(cfg, xp, sc, g, v)
    if cfg.amsgrad:
        v_max = xp.maximum(v_max, v_used)
        v_used = v_max
    den = _denominator(cfg, xp, sc, v_used)
    u = _momentum_input(cfg, xp, g, p, den)
    u = _average(cfg, xp, sc, u)
    lr = _cast(xp, sc.lr, u.dtype)
    if cfg.learning_rate_placement == "inside":
        m_new = cfg.b1 * _cast(xp, m, u.dtype) - lr * u
        update = cfg.b1 * m_new - lr * u if cfg.nesterov else m_new
    else:
        m_new = cfg.b1 * _cast(xp, m, u.dtype) + u
        update = _outside_update(cfg, xp, sc, u, m_new, p, den, lr)
    update = _decoupled_decay(cfg, xp, sc, update, p, lr)
    return _cast(xp, update, g.dtype), _cast(xp, m_new, m.dtype), v_new, v_max


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
    elif cfg.norm == "apex_l2":
        s = xp.sum(g * g)
        prior = v if cfg.second_moment_init == "zero" else _select(xp, sc.first, xp.sqrt(s), v)
        used = _cast(xp, xp.sqrt(b2 * prior * prior + (1 - b2) * s), v.dtype)
    else:
        s = _cast(xp, xp.sum(g * g), v.dtype)
        blend = _cast(xp, _blend(cfg, v, s), v.dtype)
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
        den = v / _sqrt(xp, 1 - _pow(xp, cfg.b2, sc.t, v.dtype))
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
        direction = m / (1 - _pow(xp, cfg.b1, sc.t, m.dtype))
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
        return lr * _sqrt(xp, 1 - _pow(xp, cfg.b2, sc.t, dtype)) / (
            1 - _pow(xp, cfg.b1, sc.t, dtype))
    if cfg.bias_correction == "debias":
        return lr * _sqrt(xp, 1 - _pow(xp, cfg.b2, sc.t, dtype))
    return lr


def _decoupled_decay(cfg: Config, xp: Any, sc: StepScalars, update: Array,
                     p: Array, lr: Scalar) -> Array:
    """Decoupled weight decay: ``p *= 1 - factor`` folded into the update."""
    mode, wd = cfg.weight_decay_mode, cfg.weight_decay
    if not wd or mode in ("inside", "apex"):
        return update
    if mode == "decoupled":
        factor = lr * wd
    elif mode == "fixed":
        factor = wd
    else:  # corrected: lr**2 / max_lr, timm's corrected_weight_decay
        factor = lr * lr / cfg.max_learning_rate * wd
    return update - factor * p


def _pow(xp: Any, base: float, t: Scalar, dtype: Any) -> Scalar:
    """``base ** t`` as a Python float, or as a 0-d array of ``dtype`` when lazy."""
    if type(t) is int:
        return base**t
    return base ** xp.astype(t, dtype)


def _sqrt(xp: Any, x: Scalar) -> Scalar:
    return xp.sqrt(x) if hasattr(x, "dtype") else math.sqrt(x)
