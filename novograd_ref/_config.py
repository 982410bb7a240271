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
        # Types first, then Python floats and hyper_dtype rounding, then the ranges: a
        # value is judged as it will be used (1e39 rounds to an infinite float32 rate).
        given = _normalize(self)
        _validate(self, given)

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

    Values past the largest float32 round to infinity, as the C cast does.

    >>> round_to(0.9, "float32")
    0.8999999761581421
    >>> round_to(1e39, "float32")
    inf
    """
    if dtype_name == "float64":
        return float(value)
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:  # rounds past the largest float32
        return math.copysign(math.inf, value)


def _normalize(cfg: Config) -> dict[str, object]:
    """Check the types of the real fields, store them as Python floats and round them
    through ``hyper_dtype``; return the values as given of those rounding changed."""
    _check_choice("hyper_dtype", cfg.hyper_dtype, (None, "float32", "float64"))
    for name in _REAL_FIELDS:
        value = getattr(cfg, name)
        if name == "learning_rate":
            _check_learning_rate(value)
        if (value is None and name == "max_learning_rate") or (
                name == "learning_rate" and callable(value)):
            continue
        object.__setattr__(cfg, name, real_number(name, value))
    given: dict[str, object] = {}
    if cfg.hyper_dtype is not None:
        for name in _ROUNDED:
            value = getattr(cfg, name)
            if callable(value):
                continue
            rounded = round_to(value, cfg.hyper_dtype)
            if math.isfinite(value) and rounded != value:
                given[name] = value
            object.__setattr__(cfg, name, rounded)
    return given


def _validate(cfg: Config, given: dict[str, object]) -> None:
    """Ranges of the (rounded) hyperparameters, then switches, flags and dtypes."""
    def check(name: str, low: float, high: float, upper_open: bool = False) -> None:
        value = getattr(cfg, name)
        if callable(value):
            return
        if name in given:
            how = f"{given[name]!r} rounded to {cfg.hyper_dtype} by hyper_dtype"
            _check_range(name, value, low, high, upper_open, how=how)
        else:
            _check_range(name, value, low, high, upper_open)

    check("learning_rate", 0.0, math.inf)
    check("b1", 0.0, 1.0, upper_open=True)
    check("b2", 0.0, 1.0, upper_open=True)
    for name in ("eps", "eps_root", "weight_decay", "luc_trust", "luc_eps"):
        check(name, 0.0, math.inf)
    for name, choices in _SWITCHES.items():
        _check_choice(name, getattr(cfg, name), get_args(choices))
    for name in ("amsgrad", "nesterov", "maximize"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(f"{name} must be a bool, got {_given(getattr(cfg, name))}")
    for name in ("state_dtype", "mu_dtype"):
        _check_choice(name, getattr(cfg, name), (None, *get_args(FloatDtypeName)))
    _check_combinations(cfg)


def _check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """``value`` is one of ``choices`` (strings or None), compared without ``==`` on
    anything else (an array's ``==`` has no single truth value)."""
    if not (value is None or isinstance(value, str)) or value not in choices:
        shown = tuple(c for c in choices if c is not None)
        prefix = "None or one of" if None in choices else "one of"
        raise ValueError(f"{name} must be {prefix} {shown}, got {_given(value)}")


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
    """A callable ``step -> rate`` or a real number (its range is checked after
    rounding)."""
    if not callable(lr) and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)):
        raise TypeError(f"learning_rate must be a number or a callable step -> rate, "
                        f"got {_given(lr)}")


def real_number(name: str, value: object) -> float:
    """``value`` as a Python float if it is a real number (Python or NumPy, not bool)
    that a float can hold; else a TypeError or ValueError naming ``name``.

    >>> real_number("b1", 1)
    1.0
    >>> real_number("b1", "0.9")
    Traceback (most recent call last):
    ...
    TypeError: b1 must be a real number, got '0.9' (str)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_given(value)}")
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400; exotic Real types
        raise ValueError(f"{name} must be a real number a float can hold, got "
                         f"{_given(value)}") from None


def _check_range(name: str, value: object, low: float, high: float,
                 upper_open: bool = False, how: str | None = None) -> None:
    """A real number (Python or NumPy, not bool) in ``[low, high]`` or ``[low, high)``;
    never NaN or infinite (an infinite ``high`` is open). ``how`` says where the value
    came from when it is not the value given (a rounding)."""
    x = real_number(name, value)
    upper_open = upper_open or high == math.inf
    ok = low <= x < high if upper_open else low <= x <= high
    if not ok or not math.isfinite(x):
        bracket = ")" if upper_open else "]"
        origin = f" ({how})" if how else ""
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}{origin}")


def _given(value: object, limit: int = 60) -> str:
    """A short description of a bad value: its repr (cut at ``limit`` characters) and
    its type, unless it is None or a Python bool, int or float."""
    text = repr(value)
    if len(text) > limit:
        text = f"{text[:limit - 15]}...({len(text)} chars)"
    if value is None or isinstance(value, (bool, float, int)):
        return text
    return f"{text} ({type(value).__name__})"
