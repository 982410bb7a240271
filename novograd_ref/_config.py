"""The resolved configuration of a NovoGrad optimizer: hyperparameters and conventions.

Every published NovoGrad is the same per-layer recurrence with a different choice for
each of the switches below; :class:`Config` holds one such choice, validated once at
construction. Presets (``novograd_ref.presets``) are nothing but functions that map a
framework's own constructor keywords onto a ``Config``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import struct
from collections.abc import Callable
from typing import Literal, Union, get_args

Schedule = Callable[..., object]
LearningRate = Union[float, Schedule]  # noqa: UP007 (a runtime alias on Python 3.10)

SecondMomentInit = Literal["first_step", "when_zero", "zero", "first_step_blend"]
SecondMomentUpdate = Literal["ema", "lerp", "none"]
Norm = Literal["l2_squared", "apex_l2", "apex_inf"]
Normalization = Literal["divide", "reciprocal"]
WeightDecayMode = Literal["inside", "decoupled", "fixed", "corrected", "apex"]
MomentumInput = Literal["normalized", "raw"]
GradAveraging = Literal["off", "always", "after_first_step"]
LearningRatePlacement = Literal["outside", "inside"]
BiasCorrection = Literal["none", "apex", "adam", "debias"]
UpdateClipping = Literal["none", "luc"]
FloatDtypeName = Literal["float16", "bfloat16", "float32", "float64"]

_SWITCHES: dict[str, object] = {
    "second_moment_init": SecondMomentInit,
    "second_moment_update": SecondMomentUpdate,
    "norm": Norm,
    "normalization": Normalization,
    "weight_decay_mode": WeightDecayMode,
    "momentum_input": MomentumInput,
    "grad_averaging": GradAveraging,
    "learning_rate_placement": LearningRatePlacement,
    "bias_correction": BiasCorrection,
    "update_clipping": UpdateClipping,
}


@dataclasses.dataclass(frozen=True)
class Config:
    r"""Hyperparameters and convention switches of one NovoGrad variant.

    Hyperparameters (canonical names):

    - ``learning_rate``: a number >= 0, or a callable ``step -> rate`` where ``step`` is
      the number of updates already applied (0 on the first update).
    - ``b1`` (momentum), ``b2`` (second-moment decay), both in [0, 1).
    - ``eps`` added outside the square root, ``eps_root`` inside it:
      ``den = sqrt(v + eps_root) + eps``.
    - ``weight_decay`` >= 0, applied as ``weight_decay_mode`` says.

    Switches (first value = the paper and optax):

    - ``second_moment_init``: ``first_step`` (``v_1 = S_1``, keyed on the step count),
      ``when_zero`` (``v = S`` whenever the stored ``v`` is exactly 0: the PyTorch
      family, OpenSeq2Seq), ``zero`` (``v_0 = 0``, blended from step 1: flashlight, Apex
      ``init_zero``), ``first_step_blend`` (``v_0 = S_1``, then blended on step 1 too:
      Apex).
    - ``second_moment_update``: ``ema`` (``b2 v + (1-b2) S``), ``lerp`` (torch's
      ``v.lerp(S, 1-b2)``: ``v + w (S - v)`` if ``w < 0.5`` else ``S - (S - v)(1 - w)``;
      pytorch_optimizer 4, where an infinite ``v`` turns into NaN) or ``none`` (the
      stored moment is never written back, so every step sees its initial 0:
      OpenSeq2Seq as TF1 graphs execute it).
    - ``norm``: ``l2_squared`` (``v`` is the EMA of ``S = sum(g**2)``), ``apex_l2``
      (the state is the norm ``n = sqrt(b2 n**2 + (1-b2) S)``), ``apex_inf``
      (``n = b2 n + (1-b2) max|g|``).
    - ``normalization``: ``divide`` (``g / den``) or ``reciprocal`` (``g * (1/den)``).
    - ``weight_decay_mode``: ``inside`` (``+ wd * p`` on the normalized gradient, so it
      enters the moment), ``decoupled`` (``p *= 1 - lr*wd``), ``fixed``
      (``p *= 1 - wd``), ``corrected`` (``p *= 1 - lr**2/max_learning_rate * wd``),
      ``apex`` (``p -= lr * (m_hat/den + wd*p)``, AdamW style).
    - ``momentum_input``: ``normalized`` gradient, or ``raw`` gradient (Apex default,
      normalized after the momentum).
    - ``grad_averaging``: ``off``, ``always`` (``(1 - b1)`` on every step),
      ``after_first_step`` (not on the first step: TFA, pytorch_optimizer 4).
    - ``learning_rate_placement``: ``outside`` (``p -= lr_t m_t``) or ``inside`` the
      accumulator (``m_t = b1 m - lr_t u_t``; Keras momentum, TFA).
    - ``bias_correction``: ``none``; ``apex`` (``m / (1 - b1**t)`` and
      ``n / sqrt(1 - b2**t)``); ``adam`` (step size ``lr sqrt(1-b2**t)/(1-b1**t)``);
      ``debias`` (step size ``lr sqrt(1-b2**t)``).
    - ``amsgrad``: normalize by the running maximum of ``v``.
    - ``nesterov``: TF momentum's Nesterov form.
    - ``update_clipping``: ``none`` or ``luc`` (NeMo: the step is
      ``min(luc_trust * |p| / (|m| + luc_eps), lr)``).
    - ``maximize``: ascend (negate the gradient first).
    - ``state_dtype``: dtype of the per-layer second moment (default: the parameter
      dtype; ``"float32"`` as the PyTorch family, Apex and OpenSeq2Seq keep it).
    - ``mu_dtype``: dtype of the first moment (default: the parameter dtype).
    - ``hyper_dtype``: round ``learning_rate, b1, b2, weight_decay`` through this dtype
      (``"float32"``: Keras keeps Python-float hyperparameters in float32 variables).

    >>> Config(learning_rate=0.1, b1=0.9)
    Config(learning_rate=0.1, b1=0.9, b2=0.98, eps=1e-08)
    """

    learning_rate: LearningRate
    b1: float = 0.95
    b2: float = 0.98
    eps: float = 1e-8
    eps_root: float = 0.0
    weight_decay: float = 0.0
    second_moment_init: SecondMomentInit = "first_step"
    second_moment_update: SecondMomentUpdate = "ema"
    norm: Norm = "l2_squared"
    normalization: Normalization = "divide"
    weight_decay_mode: WeightDecayMode = "inside"
    momentum_input: MomentumInput = "normalized"
    grad_averaging: GradAveraging = "off"
    learning_rate_placement: LearningRatePlacement = "outside"
    bias_correction: BiasCorrection = "none"
    amsgrad: bool = False
    nesterov: bool = False
    update_clipping: UpdateClipping = "none"
    luc_trust: float = 1e-3
    luc_eps: float = 1e-8
    maximize: bool = False
    max_learning_rate: float | None = None
    state_dtype: FloatDtypeName | None = None
    mu_dtype: FloatDtypeName | None = None
    hyper_dtype: Literal["float32", "float64"] | None = None

    def __post_init__(self) -> None:
        _validate(self)
        for name in _REAL_FIELDS:  # NumPy scalars and ints become Python floats
            value = getattr(self, name)
            if value is not None and not callable(value):
                object.__setattr__(self, name, float(value))
        if self.hyper_dtype is not None:
            for name in ("b1", "b2", "weight_decay"):
                object.__setattr__(self, name, round_to(getattr(self, name), self.hyper_dtype))
            if not callable(self.learning_rate):
                rounded = round_to(float(self.learning_rate), self.hyper_dtype)
                object.__setattr__(self, "learning_rate", rounded)

    def __repr__(self) -> str:
        """One line: the learning rate and every field that differs from its default."""
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("learning_rate", "b1", "b2", "eps") or value != field.default:
                rounded = self.hyper_dtype if field.name in _ROUNDED else None
                shown.append(f"{field.name}={_show(value, rounded)}")
        return f"Config({', '.join(shown)})"


_ROUNDED = ("learning_rate", "b1", "b2", "weight_decay")  # what hyper_dtype rounds
_REAL_FIELDS = ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay", "luc_trust",
                "luc_eps", "max_learning_rate")


def _show(value: object, rounded_to: str | None = None) -> str:
    """A field's value; one rounded through float32 as the shortest decimal that rounds
    back to it (``0.9``, not ``0.8999999761581421``), so the line still reads back."""
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    if rounded_to == "float32" and isinstance(value, float):
        for digits in range(1, 10):
            text = f"{value:.{digits}g}"
            if round_to(float(text), "float32") == value:
                return text
    return repr(value)


def round_to(value: float, dtype_name: str) -> float:
    """Round a Python float through a floating dtype (``float32``: binary32).

    >>> round_to(0.9, "float32")
    0.8999999761581421
    """
    if dtype_name == "float64":
        return float(value)
    return struct.unpack("f", struct.pack("f", value))[0]


def _validate(cfg: Config) -> None:
    _check_learning_rate(cfg.learning_rate)
    _check_range("b1", cfg.b1, 0.0, 1.0, upper_open=True)
    _check_range("b2", cfg.b2, 0.0, 1.0, upper_open=True)
    for name in ("eps", "eps_root", "weight_decay", "luc_trust", "luc_eps"):
        _check_range(name, getattr(cfg, name), 0.0, math.inf)
    for name, choices in _SWITCHES.items():
        value = getattr(cfg, name)
        if value not in get_args(choices):
            raise ValueError(f"{name} must be one of {get_args(choices)}, got {value!r}")
    for name in ("amsgrad", "nesterov", "maximize"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(f"{name} must be a bool, got {getattr(cfg, name)!r}")
    for name in ("state_dtype", "mu_dtype", "hyper_dtype"):
        value = getattr(cfg, name)
        allowed = ("float32", "float64") if name == "hyper_dtype" else get_args(FloatDtypeName)
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be None or one of {allowed}, got {value!r}")
    _check_combinations(cfg)


def _check_combinations(cfg: Config) -> None:
    if cfg.max_learning_rate is not None:
        _check_range("max_learning_rate", cfg.max_learning_rate, 0.0, math.inf)
    if cfg.weight_decay_mode == "corrected" and not (cfg.max_learning_rate or 0) > 0:
        raise ValueError("weight_decay_mode='corrected' needs max_learning_rate > 0, "
                         f"got {cfg.max_learning_rate!r}")
    if cfg.norm != "l2_squared":
        if cfg.amsgrad:
            raise ValueError(f"amsgrad is not defined with norm={cfg.norm!r}")
        if cfg.second_moment_init not in ("zero", "first_step_blend"):
            raise ValueError(f"norm={cfg.norm!r} takes second_moment_init 'zero' or "
                             f"'first_step_blend', got {cfg.second_moment_init!r}")
    if cfg.learning_rate_placement == "inside" and cfg.update_clipping != "none":
        raise ValueError("update_clipping needs learning_rate_placement='outside'")
    if cfg.momentum_input == "raw" and cfg.weight_decay_mode == "inside":
        raise ValueError("momentum_input='raw' takes weight decay outside the moment; "
                         "use weight_decay_mode='apex' or a decoupled mode")


def _check_learning_rate(lr: object) -> None:
    if callable(lr):
        return
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"learning_rate must be a number or a callable step -> rate, "
                        f"got {type(lr).__name__}")
    _check_range("learning_rate", lr, 0.0, math.inf)


def _check_range(name: str, value: object, low: float, high: float,
                 upper_open: bool = False) -> None:
    """A real number (Python or NumPy, not bool) in ``[low, high]`` or ``[low, high)``;
    never NaN or infinite (an infinite ``high`` is open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    upper_open = upper_open or high == math.inf
    x = float(value)
    ok = low <= x < high if upper_open else low <= x <= high
    if not ok or not math.isfinite(x):
        bracket = ")" if upper_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
