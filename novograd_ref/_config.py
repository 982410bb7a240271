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
from collections.abc import Callable, Mapping
from typing import Final, Literal, Union, get_args

Schedule = Callable[..., object]
LearningRate = Union[float, Schedule]  # noqa: UP007 (a runtime alias on Python 3.10)

SecondMomentInit = Literal["first_step", "when_zero", "zero", "first_step_blend"]
FirstMomentInit = Literal["zero", "first_input"]
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

#: NovoGrad's defaults, the paper's ``b1, b2, eps`` (Ginsburg et al. 2019), written here
#: only: :class:`Config`, :func:`novograd_ref.novograd`, the ``paper`` preset and the
#: cases' base hyperparameters read them.
DEFAULT_B1: Final = 0.95
DEFAULT_B2: Final = 0.98
DEFAULT_EPS: Final = 1e-8
#: Update clipping's defaults (NeMo's ``luc_trust``, ``luc_eps``), written here only.
DEFAULT_LUC_TRUST: Final = 1e-3
DEFAULT_LUC_EPS: Final = 1e-8

SWITCH_TYPES: dict[str, object] = {
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
    "first_moment_init": FirstMomentInit,
}


@dataclasses.dataclass(frozen=True)
class Config:
    r"""Hyperparameters and convention switches of one NovoGrad variant.

    Notation (shared/reference/variants.md): per layer (one leaf), ``g_t`` the gradient
    of step ``t`` (1-based), ``S_t = sum(g_t**2)``, ``N_t = sqrt(S_t)``, ``v`` the scalar
    second moment, ``m`` the first moment (``m_0 = 0`` unless ``first_moment_init``
    says otherwise), ``p_t`` the parameters before
    the step, ``lr_t`` the learning rate of the step, ``b1, b2, wd`` as below.

    Hyperparameters (canonical names):

    - ``learning_rate``: a number >= 0, or a callable ``step -> rate`` where ``step`` is
      the number of updates already applied (0 on the first update): ``lr_t``.
    - ``b1`` (momentum), ``b2`` (second-moment decay), both in [0, 1).
    - ``eps`` added outside the square root, ``eps_root`` inside it (``l2_squared``
      norm only).
    - ``weight_decay`` (``wd``) >= 0, applied as ``weight_decay_mode`` says.
    - ``luc_trust``, ``luc_eps``: update clipping's trust ratio and its epsilon
      (other than their defaults only with ``update_clipping='luc'``, which alone
      reads them).
    - ``max_learning_rate``: the ``max_lr`` of ``weight_decay_mode='corrected'``, set
      with that mode and only with it.

    One step, in order; the defaults (first value of each switch) are the paper's and
    optax's recurrence, and every switch value replaces one line:

    1. ``maximize``: ``g_t = -g_t`` (ascend) if True.
    2. Second moment, the statistic ``s_t`` set by ``norm``:

       - ``l2_squared``: ``s_t = S_t``, ``v`` is the blend of ``S``;
       - ``apex_l2``: the state is Apex's norm ``n``, blended as
         ``n_t = sqrt(b2 n_{t-1}**2 + (1-b2) S_t)`` (the squares summed in float32
         or wider, as Apex's kernel does);
       - ``apex_inf``: ``n_t = b2 n_{t-1} + (1-b2) max|g_t|``.

       ``second_moment_update`` says what the blend is and whether it is stored:
       ``ema``: ``blend(v, s) = b2 v + (1-b2) s``; ``lerp``: torch's
       ``v.lerp(s, w)`` with ``w = 1-b2``, i.e. ``v + w (s - v)`` if ``w < 0.5`` else
       ``s - (s - v)(1 - w)`` (pytorch_optimizer 4; an infinite ``v`` turns into NaN);
       ``none``: the blend is used but never stored, so every step blends from the
       initial 0 (OpenSeq2Seq as TF1 graphs execute it).

       ``second_moment_init`` says how ``v`` (or ``n``) starts:
       ``first_step``: ``v_1 = s_1``, keyed on the step count (optax, TFA, paper);
       ``when_zero``: ``v_t = s_t`` whenever the stored ``v`` is exactly 0 (the PyTorch
       family, OpenSeq2Seq); ``zero``: ``v_0 = 0``, blended from step 1 (flashlight,
       Apex ``init_zero``); ``first_step_blend`` (Apex norms): ``n_0 = N_1`` or
       ``max|g_1|``, then blended on step 1 too, ``n_1 = sqrt(b2 N_1**2 + (1-b2) S_1)``
       or ``b2 max|g_1| + (1-b2) max|g_1|``.
    3. ``amsgrad``: ``vhat_t = max(vhat_{t-1}, v_t)`` replaces ``v_t`` below.
    4. Denominator ``den = sqrt(v_t + eps_root) + eps`` (Apex norms: ``n_t + eps``);
       with ``bias_correction='apex'`` ``v_t / (1 - b2**t)`` replaces ``v_t``
       (``n_t / sqrt(1 - b2**t)`` replaces ``n_t``).
    5. Moment input ``u_t``, set by ``momentum_input``: ``normalized``:
       ``u_t = g_t / den``; ``raw``: ``u_t = g_t`` (Apex's default, normalized after
       the moment, step 8). ``normalization``: ``divide`` (``x / den``) or
       ``reciprocal`` (``x * (1 / den)``, OpenSeq2Seq) wherever ``den`` divides.
       ``weight_decay_mode='inside'`` adds ``wd p_t`` to the normalized ``u_t``.
    6. ``grad_averaging``: ``off``; ``always``: ``u_t *= 1 - b1`` (NeMo, OpenSeq2Seq,
       Apex ``beta3``); ``after_first_step``: from step 2 on (TFA, pytorch_optimizer 4).
    7. Moment and direction ``d_t``, set by ``learning_rate_placement``:
       ``outside``: ``m_t = b1 m_{t-1} + u_t``, ``d_t = m_t``;
       ``inside`` (Keras momentum, TFA): ``m_t = b1 m_{t-1} - lr_t u_t``,
       ``d_t = m_t`` (the rate is already in ``d_t``).
       ``nesterov`` (TF momentum's Nesterov form, Clara's ``use_nesterov``):
       ``d_t = b1 m_t + u_t`` (``inside``: ``b1 m_t - lr_t u_t``).

       ``first_moment_init`` says how ``m`` starts: ``zero``: ``m_0 = 0``;
       ``first_input`` (pytorch_optimizer 2.9 to 3.9): on the first step, keyed on the
       step count as ``second_moment_init='first_step'`` (the stored ``m`` is not
       read), ``m_0`` is that step's moment input before grad averaging, ``u_1`` of
       step 5 (``inside``: ``-lr_1 u_1``), and the step above runs as usual:
       ``m_1 = b1 m_0 + c u_1 = (b1 + c) u_1`` with ``c`` the factor of step 6 (1, or
       ``1 - b1``). The first input counts ``1 + b1`` times where step 1 is not
       averaged, once (``m_1 = u_1``) with ``grad_averaging='always'``: without
       ``nesterov`` that is the trajectory of ``zero`` with ``after_first_step``.
       It combines with every other switch: nothing is ignored.
       (pytorch_optimizer 3.x divides ``m_0`` by ``sqrt(S_1) + eps`` and ``u_1`` by
       the root of its blend of ``S_1`` with itself, equal up to rounding; it takes
       ``m_0`` before ``maximize`` negates the gradient and adds ``wd p_1`` to it
       with decoupled decay too: those two are not this switch.)
    8. Direction: ``bias_correction='apex'``: ``d_t /= 1 - b1**t``;
       ``momentum_input='raw'``: ``d_t`` is normalized by ``den`` (step 5);
       ``weight_decay_mode='apex'`` (AdamW style): ``d_t += wd p_t``
       (``inside``: ``d_t -= lr_t wd p_t``).
    9. Step size ``eta_t = lr_t f_t`` with ``f_t`` from ``bias_correction``:
       ``none`` and ``apex``: 1; ``adam``: ``sqrt(1 - b2**t) / (1 - b1**t)``;
       ``debias``: ``sqrt(1 - b2**t)`` (pytorch_optimizer ``adam_debias``).
       ``update_clipping='luc'`` (NeMo's layer-wise update clipping):
       ``eta_t = min(luc_trust |p_t| / (|d_t| + luc_eps), eta_t)``.
       Update ``p_{t+1} = p_t - eta_t d_t`` (``inside``: ``p_t + f_t d_t``).
    10. Decoupled weight decay, ``p_{t+1} -= c_t p_t`` by ``weight_decay_mode``:
        ``decoupled``: ``c_t = lr_t wd``; ``fixed``: ``c_t = wd``; ``corrected``
        (timm): ``c_t = lr_t**2 / max_learning_rate * wd``. (``inside`` and ``apex``
        decay in steps 5 and 8.)

    Dtypes: ``state_dtype`` is the dtype of ``v`` (default: the parameter dtype;
    ``"float32"`` as the PyTorch family, Apex and OpenSeq2Seq keep it), ``mu_dtype``
    the dtype of ``m`` (default: the parameter dtype), ``hyper_dtype`` rounds
    ``learning_rate, b1, b2, weight_decay`` through this dtype (``"float32"``: Keras
    variables, C ``float`` arguments); a schedule's values are used as given. Which
    values are one configuration:

    - ``state_dtype=None`` and ``mu_dtype=None`` mean "the parameter dtype": on
      float64 parameters ``None`` and ``"float64"`` compute the same bits, on float32
      parameters ``None`` and ``"float32"``.
    - ``mu_dtype`` is the dtype ``m`` is stored in; the moment is accumulated in the
      dtype of the moment input ``u_t`` (the parameters' dtype, or a wider
      ``state_dtype`` when ``u_t`` is divided by the denominator, ``momentum_input=
      'normalized'``), so a ``mu_dtype`` narrower than that rounds ``m`` and every
      ``mu_dtype`` at least that wide stores the same values (float32 parameters with
      a float32 state: ``None``, ``"float32"`` and ``"float64"`` are one configuration).
      The update is taken from the moment before it is rounded to ``mu_dtype``, in the
      parameter dtype. (optax's ``scale_by_novograd(mu_dtype=...)``, which its
      ``novograd`` alias and so the ``optax`` preset do not expose, differs: it forms
      ``b1 m`` in ``mu_dtype``, returns the rounded moment as the update, in
      ``mu_dtype``, and fails on a ``mu_dtype`` wider than the parameters.)
    - ``hyper_dtype=None`` uses the hyperparameters as given, Python floats: it is
      ``"float64"``.

    Switch compatibility (``COMPATIBILITY``, enforced at construction; every other
    combination is computed as the steps above say):

    {compatibility}

    >>> Config(learning_rate=0.1, b1=0.9)
    Config(learning_rate=0.1, b1=0.9, b2=0.98, eps=1e-08)
    >>> Config(learning_rate=0.1, norm="apex_l2")
    Traceback (most recent call last):
    ...
    ValueError: norm='apex_l2' requires second_moment_init in ('zero', 'first_step_blend'), got second_moment_init='first_step': Apex's norm state is blended from step 1
    """

    #: The rate ``lr_t``, a number >= 0 or a schedule ``step -> rate`` (``step`` is the
    #: number of updates already applied).
    learning_rate: LearningRate
    #: Momentum, the decay of the first moment ``m``, in [0, 1).
    b1: float = DEFAULT_B1
    #: The decay of the second moment ``v`` (or Apex's norm ``n``), in [0, 1).
    b2: float = DEFAULT_B2
    #: Added to the denominator outside the square root, ``sqrt(v + eps_root) + eps``.
    eps: float = DEFAULT_EPS
    #: Added to ``v`` inside the square root (``norm='l2_squared'`` only).
    eps_root: float = 0.0
    #: The weight decay ``wd`` >= 0, applied where ``weight_decay_mode`` says.
    weight_decay: float = 0.0
    #: How ``v`` (or ``n``) starts (step 2), from the first step, whenever it is 0, from
    #: 0, or blended on step 1 too.
    second_moment_init: SecondMomentInit = "first_step"
    #: What the blend of ``v`` is and whether it is stored (step 2), ``ema``, torch's
    #: ``lerp``, or ``none`` (never stored).
    second_moment_update: SecondMomentUpdate = "ema"
    #: The per-layer statistic (step 2), the squared L2 norm, Apex's L2 norm or Apex's
    #: max-norm.
    norm: Norm = "l2_squared"
    #: How the denominator divides (step 5), ``x / den`` or ``x * (1 / den)``.
    normalization: Normalization = "divide"
    #: Where weight decay acts (steps 5, 8, 10), in the moment input, decoupled (times
    #: ``lr``), fixed, corrected (timm) or AdamW-style on the direction.
    weight_decay_mode: WeightDecayMode = "inside"
    #: What enters the moment (step 5), the normalized gradient, or the raw gradient
    #: normalized after the moment (Apex).
    momentum_input: MomentumInput = "normalized"
    #: Whether the moment input is scaled by ``1 - b1`` (step 6), never, always, or from
    #: step 2 on.
    grad_averaging: GradAveraging = "off"
    #: Whether the rate multiplies the step (``outside``) or enters the moment
    #: (``inside``, Keras momentum) (step 7).
    learning_rate_placement: LearningRatePlacement = "outside"
    #: How ``m`` starts (step 7), at 0 or at the first step's moment input (so step
    #: 1 counts it ``b1 + c`` times).
    first_moment_init: FirstMomentInit = "zero"
    #: The step size factor (steps 4, 8, 9), none, Apex's corrections of ``v`` and
    #: ``m``, Adam's, or ``sqrt(1 - b2**t)``.
    bias_correction: BiasCorrection = "none"
    #: Use the running maximum of ``v`` in the denominator (step 3).
    amsgrad: bool = False
    #: Step along ``b1 m_t + u_t`` (TF momentum's Nesterov form) (step 7).
    nesterov: bool = False
    #: NeMo's layer-wise update clipping (``luc``) caps the step size (step 9).
    update_clipping: UpdateClipping = "none"
    #: The trust ratio of update clipping (only with ``update_clipping='luc'``).
    luc_trust: float = DEFAULT_LUC_TRUST
    #: The epsilon of update clipping (only with ``update_clipping='luc'``).
    luc_eps: float = DEFAULT_LUC_EPS
    #: Ascend, the gradient is negated first (step 1).
    maximize: bool = False
    #: The ``max_lr`` of ``weight_decay_mode='corrected'`` (only with that mode).
    max_learning_rate: float | None = None
    #: The dtype ``v`` is kept in (``None`` is the parameters' dtype).
    state_dtype: FloatDtypeName | None = None
    #: The dtype ``m`` is stored in (``None`` is the parameters' dtype).
    mu_dtype: FloatDtypeName | None = None
    #: Round ``learning_rate, b1, b2, weight_decay`` through this dtype (``float32`` as
    #: Keras variables and C ``float`` arguments; ``None`` uses them as given).
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
                rounded = self.hyper_dtype if field.name in ROUNDED_BY_HYPER_DTYPE else None
                shown.append(f"{field.name}={_show(value, rounded)}")
        return f"Config({', '.join(shown)})"


ROUNDED_BY_HYPER_DTYPE = ("learning_rate", "b1", "b2", "weight_decay")  # what hyper_dtype rounds
_REAL_FIELDS = ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay", "luc_trust",
                "luc_eps", "max_learning_rate")


def _show(value: object, rounded_to: str | None = None) -> str:
    """A field's value; one rounded through float32 as the shortest decimal that rounds
    back to it (``0.9``, not ``0.8999999761581421``), so the line still reads back."""
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    if rounded_to == "float32" and isinstance(value, float):
        for digits in range(1, 10):
            shortest = float(f"{value:.{digits}g}")
            if round_to(shortest, "float32") == value:
                return repr(shortest)
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
        for name in ROUNDED_BY_HYPER_DTYPE:
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
            check_range(name, value, low, high, upper_open, how=how)
        else:
            check_range(name, value, low, high, upper_open)

    check("learning_rate", 0.0, math.inf)
    check("b1", 0.0, 1.0, upper_open=True)
    check("b2", 0.0, 1.0, upper_open=True)
    for name in ("eps", "eps_root", "weight_decay", "luc_trust", "luc_eps"):
        check(name, 0.0, math.inf)
    for name, choices in SWITCH_TYPES.items():
        _check_choice(name, getattr(cfg, name), get_args(choices))
    for name in ("amsgrad", "nesterov", "maximize"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(f"{name} must be a bool, got "
                            f"{describe_value(getattr(cfg, name))}")
    for name in ("state_dtype", "mu_dtype"):
        _check_choice(name, getattr(cfg, name), (None, *get_args(FloatDtypeName)))
    if cfg.max_learning_rate is not None:
        check("max_learning_rate", 0.0, math.inf)
        if cfg.max_learning_rate == 0:
            raise ValueError("max_learning_rate must be > 0 (the corrected decay divides "
                             "by it), got 0.0")
    _check_combinations(cfg)


#: A :class:`Rule`'s values that stand for "any value but the field's default": a
#: hyperparameter that is set (``luc_trust``, ``max_learning_rate``...).
SET: Final = "set"


@dataclasses.dataclass(frozen=True)
class Rule:
    """When ``switch`` takes one of ``values``, ``other`` must (``requires``) or must not
    (``excludes``) take one of ``other_values``; ``why`` says what would be ignored.

    Either side may be :data:`SET` instead of a tuple: any value but the field's default
    (a hyperparameter given a value, which only one switch value reads)."""

    switch: str
    values: tuple[object, ...] | Literal["set"]
    kind: Literal["requires", "excludes"]
    other: str
    other_values: tuple[object, ...] | Literal["set"]
    why: str

    def violated_by(self, cfg: Config) -> bool:
        """Whether ``cfg`` breaks this rule."""
        return self.violated_by_values(
            {self.switch: getattr(cfg, self.switch), self.other: getattr(cfg, self.other)})

    def violated_by_values(self, switches: Mapping[str, object]) -> bool:
        """Whether switch values (a mapping that names both switches) break this rule.

        >>> COMPATIBILITY[0].violated_by_values({"amsgrad": True, "norm": "apex_l2"})
        True
        >>> rule = next(r for r in COMPATIBILITY if r.switch == "luc_trust")
        >>> rule.violated_by_values({"luc_trust": 0.5, "update_clipping": "none"})
        True
        >>> rule.violated_by_values({"luc_trust": 1e-3, "update_clipping": "none"})
        False
        """
        if not _takes(self.switch, switches[self.switch], self.values):
            return False
        inside = _takes(self.other, switches[self.other], self.other_values)
        return not inside if self.kind == "requires" else inside

    def message(self, cfg: Config) -> str:
        """The error naming both switches, the allowed values and what was given."""
        return (f"{self.switch}={getattr(cfg, self.switch)!r} {self.kind} "
                f"{_condition(self.other, self.other_values)}, got "
                f"{self.other}={getattr(cfg, self.other)!r}: {self.why}")


def _takes(name: str, value: object, values: tuple[object, ...] | str) -> bool:
    """Whether field ``name``'s ``value`` is one of ``values`` (:data:`SET`: is not the
    field's default)."""
    if values == SET:
        return value != DEFAULTS[name]
    return value in values


def _condition(name: str, values: tuple[object, ...] | str) -> str:
    """``norm in ('l2_squared',)``, or ``max_learning_rate set (not None)``."""
    if values == SET:
        return f"{name} set (not {DEFAULTS[name]!r})"
    return f"{name} in {values}"


#: Every field of :class:`Config` with its default (``learning_rate``, which has none,
#: maps to ``dataclasses.MISSING``).
DEFAULTS: dict[str, object] = {f.name: f.default for f in dataclasses.fields(Config)}
_APEX_NORMS = ("apex_l2", "apex_inf")

#: Which values of which switches require or exclude which others: the only
#: combinations :class:`Config` refuses (see its docstring for the equations).
#: A hyperparameter that only one switch value reads is a switch too: set to anything
#: but its default under another value, it would be silently ignored.
COMPATIBILITY: tuple[Rule, ...] = (
    Rule("amsgrad", (True,), "requires", "norm", ("l2_squared",),
         "the running maximum is taken of the second moment v of S"),
    Rule("norm", _APEX_NORMS, "requires", "second_moment_init", ("zero", "first_step_blend"),
         "Apex's norm state is blended from step 1"),
    Rule("second_moment_init", ("first_step_blend",), "requires", "norm", _APEX_NORMS,
         "on the squared norm the blend of v_0 = S_1 with S_1 is S_1 itself: first_step"),
    Rule("norm", _APEX_NORMS, "requires", "second_moment_update", ("ema",),
         "Apex stores its norm blended by the EMA (lerp is torch's blend of v; unstored, "
         "the norm would be the squared norm's first step)"),
    Rule("update_clipping", ("luc",), "requires", "learning_rate_placement", ("outside",),
         "update clipping bounds the step size, which 'inside' folds into the moment"),
    Rule("momentum_input", ("raw",), "excludes", "weight_decay_mode", ("inside",),
         "weight decay inside the moment is added to the normalized gradient; use "
         "weight_decay_mode='apex' or a decoupled mode"),
    Rule("eps_root", SET, "requires", "norm", ("l2_squared",),
         "eps_root sits under the square root of v; Apex's norm n has no square root"),
    Rule("luc_trust", SET, "requires", "update_clipping", ("luc",),
         "the trust ratio only bounds update clipping's step size"),
    Rule("luc_eps", SET, "requires", "update_clipping", ("luc",),
         "luc_eps only guards update clipping's trust ratio"),
    Rule("max_learning_rate", SET, "requires", "weight_decay_mode", ("corrected",),
         "only the corrected decay lr_t**2 / max_learning_rate * wd reads it"),
    Rule("weight_decay_mode", ("corrected",), "requires", "max_learning_rate", SET,
         "the corrected decay is lr_t**2 / max_learning_rate * wd"),
)


def _compatibility_text() -> str:
    """The table as docstring lines: one rule a line."""
    lines = []
    for rule in COMPATIBILITY:
        if rule.values == SET:
            when = f"``{rule.switch}`` set (not ``{DEFAULTS[rule.switch]!r}``)"
        else:
            when = f"``{rule.switch}={' or '.join(repr(v) for v in rule.values)}``"
        lines.append(f"- {when} {rule.kind} "
                     f"``{_condition(rule.other, rule.other_values)}`` "
                     f"({rule.why}).")
    lines.append("- ``max_learning_rate``, when set, is > 0.")
    return "\n    ".join(lines)


Config.__doc__ = (Config.__doc__ or "").replace("{compatibility}", _compatibility_text())


def _check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """``value`` is one of ``choices`` (strings or None), compared without ``==`` on
    anything else (an array's ``==`` has no single truth value)."""
    if not (value is None or isinstance(value, str)) or value not in choices:
        shown = tuple(c for c in choices if c is not None)
        prefix = "None or one of" if None in choices else "one of"
        raise ValueError(f"{name} must be {prefix} {shown}, got {describe_value(value)}")


def _check_combinations(cfg: Config) -> None:
    """Refuse what :data:`COMPATIBILITY` refuses."""
    for rule in COMPATIBILITY:
        if rule.violated_by(cfg):
            raise ValueError(rule.message(cfg))


def _check_learning_rate(lr: object) -> None:
    """A callable ``step -> rate`` or a real number (its range is checked after
    rounding)."""
    if not callable(lr) and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)):
        raise TypeError(f"learning_rate must be a number or a callable step -> rate, "
                        f"got {describe_value(lr)}")


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
        raise TypeError(f"{name} must be a real number, got {describe_value(value)}")
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400; exotic Real types
        raise ValueError(f"{name} must be a real number a float can hold, got "
                         f"{describe_value(value)}") from None


def check_range(name: str, value: object, low: float, high: float,
                upper_open: bool = False, how: str | None = None) -> None:
    """Check that ``value`` is a real number (Python or NumPy, not bool) in
    ``[low, high]`` or ``[low, high)``, never NaN or infinite (an infinite ``high`` is
    open); else a TypeError or ValueError naming ``name``. ``how`` says where the value
    came from when it is not the value given (a rounding).

    >>> check_range("b1", 0.9, 0.0, 1.0, upper_open=True)
    >>> check_range("b1", 1.0, 0.0, 1.0, upper_open=True)
    Traceback (most recent call last):
    ...
    ValueError: b1 must be in [0.0, 1.0), got 1.0
    """
    x = real_number(name, value)
    upper_open = upper_open or high == math.inf
    ok = low <= x < high if upper_open else low <= x <= high
    if not ok or not math.isfinite(x):
        bracket = ")" if upper_open else "]"
        origin = f" ({how})" if how else ""
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}{origin}")


def describe_value(value: object, limit: int = 60) -> str:
    """A short description of a bad value: its repr (cut at ``limit`` characters) and
    its type, unless it is None or a Python bool, int or float. An integer too long
    for Python to write out (``sys.get_int_max_str_digits``) is described by its size,
    a value whose repr fails by that failure.

    >>> describe_value(10**5000)
    'an int of 5001 digits'
    """
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 (past the int-to-str limit, or a broken __repr__)
        if isinstance(value, int):
            return f"an int of {_digits(value)} digits"
        return f"a {type(value).__name__} whose repr raised {type(exc).__name__}"
    if len(text) > limit:
        text = f"{text[:limit - 15]}...({len(text)} chars)"
    if value is None or isinstance(value, (bool, float, int)):
        return text
    return f"{text} ({type(value).__name__})"


def _digits(n: int) -> int:
    """How many decimal digits ``|n|`` has, without writing it out.

    >>> _digits(-999), _digits(1000)
    (3, 4)
    """
    n = abs(n)
    d = int(n.bit_length() * math.log10(2)) + 1  # the count, or one more
    return d - 1 if d > 1 and n < 10 ** (d - 1) else d
