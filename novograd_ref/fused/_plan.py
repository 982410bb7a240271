"""What the fused kernels are told: a configuration as integer flags, a step as numbers.

The kernels (``_cpu`` for NumPy, ``_gpu`` for CuPy) implement the switches of
:class:`~novograd_ref.Config` exactly as :func:`novograd_ref._core.leaf_step` does.
This module is the one place that turns a ``Config`` into the flags they branch on
(fixed for a configuration) and a step count into the coefficients they multiply by
(Python floats, evaluated once per step with the core's own scalar formulas), and
names the slots of the per-layer scalars the kernels derive from them.
"""

from __future__ import annotations

from .._config import Config
from .._core import decoupled_decay_factor, one_minus_power, step_size_factor

# ------------------------------------------------------------------ flags (int64 array)
F_NORM = 0  # NORM_L2_SQUARED, NORM_APEX_L2 or NORM_APEX_INF
F_INIT = 1  # INIT_FIRST_STEP, INIT_WHEN_ZERO, INIT_ZERO or INIT_FIRST_STEP_BLEND
F_UPDATE = 2  # UPDATE_EMA, UPDATE_LERP or UPDATE_NONE
F_RECIPROCAL = 3  # normalization="reciprocal"
F_RAW = 4  # momentum_input="raw"
F_WD_INSIDE = 5  # + wd p on the normalized gradient
F_WD_APEX = 6  # + wd p on the direction (AdamW style)
F_DECOUPLED = 7  # update -= factor p (decoupled, fixed, corrected)
F_LR_INSIDE = 8  # learning_rate_placement="inside"
F_NESTEROV = 9
F_AMSGRAD = 10
F_LUC = 11  # update_clipping="luc"
F_APEX_BIAS = 12  # bias_correction="apex"
N_FLAGS = 13

# ------------------------------------------------------- coefficients (float64 array)
C_B1 = 0  # b1 on the moment read (see moment_restarts for the first step)
C_B2 = 1
C_ONE_MINUS_B2 = 2  # (1 - b2), as the reference writes it
C_EPS = 3
C_EPS_ROOT = 4
C_WD = 5
C_LR = 6  # this step's learning rate
C_FIRST = 7  # 1.0 on the first update, else 0.0
C_AVERAGE = 8  # the factor on the moment input: 1, or (1 - b1) (b1 + that, see C_B1)
C_BC1 = 9  # 1 - b1**t (Apex bias correction of the moment)
C_BC2 = 10  # sqrt(1 - b2**t) (Apex bias correction of the norm)
C_STEP = 11  # the step size outside the moment (lr, times the factor)
C_DECAY = 12  # the decoupled weight-decay factor
C_LUC_TRUST = 13
C_LUC_EPS = 14
C_SIGN = 15  # -1.0 with maximize, else 1.0
C_FACTOR = 16  # the bias-correction factor of the step size (1.0 for none)
C_BC2_POW = 17  # 1 - b2**t (Apex bias correction of the squared norm)
N_COEFFICIENTS = 18

# ------------------------------------------- per-layer scalars (compute-dtype array)
# What the kernels derive per layer from the coefficients and the layer's second
# moment, in the layer's compute dtype, read by the element loops (``_cpu``: a tuple,
# ``_gpu``: an array ``k``).
K_SIGN = 0  # C_SIGN
K_DEN = 1  # the denominator, sqrt(v + eps_root) + eps (or n + eps)
K_DEN_INVERSE = 2  # 1 / den, in the state dtype
K_WD = 3  # C_WD
K_AVERAGE = 4  # C_AVERAGE
K_B1 = 5  # C_B1
K_LR = 6  # C_LR
K_BC1 = 7  # C_BC1
K_NEG_STEP = 8  # -C_STEP
K_DECAY = 9  # C_DECAY
K_CLIP = 10  # the step size, capped by update clipping's trust ratio with luc
K_FACTOR = 11  # C_FACTOR
N_LAYER_SCALARS = 12

# ---------------------------------------- the values of F_NORM, F_INIT and F_UPDATE
NORM_L2_SQUARED, NORM_APEX_L2, NORM_APEX_INF = 0, 1, 2
INIT_FIRST_STEP, INIT_WHEN_ZERO, INIT_ZERO, INIT_FIRST_STEP_BLEND = 0, 1, 2, 3
UPDATE_EMA, UPDATE_LERP, UPDATE_NONE = 0, 1, 2

_NORMS = {"l2_squared": NORM_L2_SQUARED, "apex_l2": NORM_APEX_L2, "apex_inf": NORM_APEX_INF}
_INITS = {"first_step": INIT_FIRST_STEP, "when_zero": INIT_WHEN_ZERO, "zero": INIT_ZERO,
          "first_step_blend": INIT_FIRST_STEP_BLEND}
_UPDATES = {"ema": UPDATE_EMA, "lerp": UPDATE_LERP, "none": UPDATE_NONE}


def flags(cfg: Config) -> list[int]:
    """The switches of ``cfg`` as the kernels' integer flags.

    >>> import novograd_ref as ngr
    >>> flags(ngr.presets.apex().config)[F_NORM] == NORM_APEX_L2
    True
    """
    out = [0] * N_FLAGS
    out[F_NORM] = _NORMS[cfg.norm]
    out[F_INIT] = _INITS[cfg.second_moment_init]
    out[F_UPDATE] = _UPDATES[cfg.second_moment_update]
    out[F_RECIPROCAL] = cfg.normalization == "reciprocal"
    out[F_RAW] = cfg.momentum_input == "raw"
    decay = cfg.weight_decay > 0
    out[F_WD_INSIDE] = decay and cfg.weight_decay_mode == "inside"
    out[F_WD_APEX] = decay and cfg.weight_decay_mode == "apex"
    out[F_DECOUPLED] = decay and cfg.weight_decay_mode not in ("inside", "apex")
    out[F_LR_INSIDE] = cfg.learning_rate_placement == "inside"
    out[F_NESTEROV] = cfg.nesterov
    out[F_AMSGRAD] = cfg.amsgrad
    out[F_LUC] = cfg.update_clipping == "luc"
    out[F_APEX_BIAS] = cfg.bias_correction == "apex"
    return [int(x) for x in out]


def coefficients(cfg: Config, count: int, lr: float) -> list[float]:
    """The numbers of one step, ``count`` updates already applied, at the rate ``lr``
    (the constant, or the schedule's value the reference has checked).

    Each is the reference's own Python-float expression (the core's
    :func:`~novograd_ref._core.one_minus_power` for the bias corrections,
    :func:`~novograd_ref._core.step_size_factor` and
    :func:`~novograd_ref._core.decoupled_decay_factor`, ``lr * factor`` for the step
    size), so the kernels see what ``leaf_step`` sees.

    >>> import novograd_ref as ngr
    >>> coefficients(ngr.novograd(0.1).config, 0, 0.1)[C_LR]
    0.1
    """
    t, first = count + 1, count == 0
    out = [0.0] * N_COEFFICIENTS
    out[C_B1], out[C_B2], out[C_ONE_MINUS_B2] = cfg.b1, cfg.b2, 1 - cfg.b2
    out[C_EPS], out[C_EPS_ROOT], out[C_WD] = cfg.eps, cfg.eps_root, cfg.weight_decay
    out[C_LR], out[C_FIRST] = lr, float(first)
    averaging = cfg.grad_averaging == "always" or (
        cfg.grad_averaging == "after_first_step" and not first)
    out[C_AVERAGE] = 1 - cfg.b1 if averaging else 1.0
    if moment_restarts(cfg, count):
        out[C_B1], out[C_AVERAGE] = _first_input_weights(cfg.b1, out[C_AVERAGE])
    out[C_BC1] = one_minus_power(cfg.b1, t)
    out[C_BC2_POW] = one_minus_power(cfg.b2, t)
    out[C_BC2] = one_minus_power(cfg.b2, t, root=True)
    factor = step_size_factor(cfg, t)
    out[C_FACTOR] = 1.0 if factor is None else factor
    out[C_STEP] = lr if factor is None else lr * factor
    out[C_DECAY] = decoupled_decay_factor(cfg, lr)
    out[C_LUC_TRUST], out[C_LUC_EPS] = cfg.luc_trust, cfg.luc_eps
    out[C_SIGN] = -1.0 if cfg.maximize else 1.0
    return out


def moment_restarts(cfg: Config, count: int) -> bool:
    """Whether the step with ``count`` updates applied starts the first moment anew
    (``first_moment_init='first_input'`` on the first step): the caller zeroes the
    moment before the kernels read it, as the reference does not read it then.

    >>> import novograd_ref as ngr
    >>> moment_restarts(ngr.novograd(0.1, first_moment_init="first_input").config, 0)
    True
    """
    return cfg.first_moment_init == "first_input" and count == 0


def _first_input_weights(b1: float, c: float) -> tuple[float, float]:
    """The kernels' ``(C_B1, C_AVERAGE)`` on the first step of ``first_input``, with
    the moment read zeroed: the kernels form ``m_1 = C_AVERAGE u`` and the Nesterov
    look-ahead ``C_B1 m_1 + C_AVERAGE u`` from the unaveraged input ``u``, and the
    reference has ``m_1 = b1 u + c u`` and ``b1 m_1 + c u``: ``C_AVERAGE = b1 + c``
    and ``C_B1 = b1 (b1 + c - 1) / (b1 + c)``, where ``b1 + c - 1`` is ``b1`` for
    ``c = 1`` and 0 for ``c = 1 - b1`` (written so, without the cancellation).

    >>> _first_input_weights(0.5, 1.0)
    (0.16666666666666666, 1.5)
    """
    scale = b1 + c
    lead = b1 if c == 1.0 else 0.0
    return b1 * lead / scale, scale

