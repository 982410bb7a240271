"""Every published NovoGrad, as a function with that implementation's own signature.

Each preset takes the keywords of the constructor it reproduces, with the same
defaults, so a configuration can be copied verbatim; it returns a
:class:`~novograd_ref.NovoGrad` whose ``config`` shows the conventions it resolved to.
Keywords without numerical meaning (``name``, ``use_locking``, ``set_grad_none``,
``foreach``) are accepted and ignored; unknown keywords raise ``TypeError``.

The equivalence classes, from shared reference tables: with a constant learning rate,
no grad averaging, no amsgrad and a non-zero first gradient, ``paper``, ``optax`` (same
``b1, b2, eps``), ``torch_optimizer``, ``timm``, ``nemo``, ``tfa``, ``pytorch_optimizer``,
``dle``, ``monai`` and ``apex(reg_inside_moment=True, bias_correction=False,
grad_averaging=False)`` are one algorithm. ``openseq2seq`` (graph mode ignores ``beta2``),
``apex`` defaults and ``flashlight`` are different algorithms.

Beside each function, its :class:`PresetSpec` (``spec(name)``) holds everything else
known about it: its learning-rate keyword, how it spells the canonical hyperparameters
(the names :class:`~novograd_ref.Config` uses) and back, the switches it has, a hypothesis strategy of
valid keywords, the framework plug-in that records the real implementation, and other
names it goes by. No other module keeps a table of preset keywords: callers configure
a preset in canonical names with :func:`build`.

>>> import novograd_ref as ngr
>>> ngr.presets.build("tfa", 0.01, b1=0.9, amsgrad=True).config.amsgrad
True
>>> ngr.presets.names()[:4]
['apex', 'clara', 'dle', 'flashlight']
>>> ngr.presets.get("timm")(lr=0.01).config
Config(learning_rate=0.01, b1=0.95, b2=0.98, eps=1e-08, second_moment_init='when_zero')
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from . import _hyper
from ._config import (
    DEFAULT_B1,
    DEFAULT_B2,
    DEFAULT_EPS,
    DEFAULTS,
    LearningRate,
    check_range,
    describe_value,
    real_number,
    round_to,
)
from ._namespace import namespace
from ._optimizer import NovoGrad, novograd, scheduled_rate

#: Keywords some constructors take without numerical meaning; no canonical name.
_BOOKKEEPING = frozenset({"name", "use_locking", "set_grad_none", "foreach"})


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    r"""How one preset spells the canonical hyperparameters (the names of :class:`~novograd_ref.Config`).

    - ``names``: canonical name -> the preset's keyword, for every canonical
      hyperparameter it takes under its own name (``{"b1": "beta_1", ...}``), including
      ``max_learning_rate`` where it has one (timm's ``max_lr``).
    - ``betas``: ``b1`` and ``b2`` travel as the pair ``betas`` (the PyTorch family).
    - ``modes``: each weight-decay mode it has -> the keywords that select it.
    - ``fixed``: canonical keys whose value the preset cannot change, with that value.
      A canonical key it has no keyword for is fixed at ``0.0`` (numbers) or ``False``
      (switches: their first value in ``novograd_ref._hyper.SWITCHES``) unless listed
      here (flashlight always averages: ``averaging`` ``True``);
      ``luc_trust``/``luc_eps`` only matter with ``update_clipping='luc'``. A switch
      whose values are not booleans (``update_clipping``) is spelled by an on/off
      keyword (NeMo's ``luc``).
    - ``nonzero``: canonical keys the preset cannot take as 0 (TFA turns ``epsilon=0``
      into 1e-7).
    - ``flags``: the preset's own switches that have no canonical name (Apex's
      ``reg_inside_moment``...), with their values; the first is the value that makes
      the preset run a standard case (the canonical recurrence), which
      :meth:`PresetSpec.case_keywords` passes explicitly.
    - ``settings``: keywords about precision, execution or the rate's schedule, not
      hyperparameters (``state_dtype``, ``hyper_dtype``, OpenSeq2Seq's ``mode``, TFA's
      ``schedule_dtype`` and legacy ``decay``), passed through under their own names, with the values
      :meth:`PresetSpec.strategy` draws (a float32 state is not drawn: the properties
      compare float64 trajectories).
    """

    names: Mapping[str, str]
    betas: bool = False
    modes: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: {"inside": {}})
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    nonzero: frozenset[str] = frozenset()
    flags: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    settings: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PresetSpec:
    r"""Everything known about one preset besides its function.

    ``name`` and ``function`` (the preset itself, with its framework's signature);
    ``learning_rate_keyword`` (its name for the rate: ``"lr"``, ``"learningRate"``...);
    ``vocabulary`` (how it spells the canonical hyperparameters, see
    :class:`Vocabulary`); ``framework``: the key of
    :data:`novograd_ref.conformance.frameworks.FRAMEWORKS` whose module records the real
    implementation and runs it live, or ``None``; ``aliases``: other names of the same
    implementation (its distribution or class name) that :func:`spec`, :func:`get`
    and :func:`build` accept.

    The mapping both ways, for searches over configurations:

    - :meth:`keywords` turns canonical hyperparameters (``learning_rate``, ``b1``,
      ``b2``, ``eps``, ``eps_root``, ``weight_decay``, ``weight_decay_mode``,
      ``averaging``, ``amsgrad``, ``update_clipping``, ``luc_trust``, ``luc_eps``,
      ``adam_debias``, ``maximize``, ``max_learning_rate``), the preset's own
      ``flags`` and its ``settings`` into its keywords. Only the keys given are
      translated (the rest keep the preset's defaults); a value the preset cannot
      express raises ``ValueError`` naming the preset, the key and the value.
    - :meth:`case_keywords` translates a whole case (every canonical key, see
      ``novograd_ref._hyper.complete``) explicitly, own flags at their standard
      values, or gives ``None`` when the preset cannot express it.
    - :meth:`canonical` is the inverse: the canonical hyperparameters, flags and
      settings of a call with the given keywords, the preset's defaults filled in
      (``learning_rate`` only when its keyword is given).
      For any keywords ``kw`` the preset accepts,
      ``function(**keywords(canonical(**kw)))`` has the configuration of
      ``function(**kw)``; for any case ``h`` the preset can express,
      ``canonical(**case_keywords(h))`` holds ``h`` (weight decay's mode only where
      weight decay is on).
    - :meth:`space` lists every switch with its values, :meth:`strategy` draws valid
      keywords (hypothesis).

    >>> s = spec("timm")
    >>> s.keywords(b1=0.9, b2=0.99, weight_decay_mode="decoupled")
    {'betas': (0.9, 0.99), 'decoupled_decay': True, 'corrected_weight_decay': False}
    >>> s.canonical(lr=0.1, decoupled_decay=True)["weight_decay_mode"]
    'decoupled'
    """

    name: str
    function: Callable[..., NovoGrad]
    learning_rate_keyword: str
    vocabulary: Vocabulary
    framework: str | None = None
    aliases: tuple[str, ...] = ()

    def keywords(self, **hyper: Any) -> dict[str, Any]:
        """The preset's keywords for canonical hyperparameters (see the class)."""
        return _to_keywords(self, hyper)

    def case_keywords(self, hyper: Mapping[str, Any]) -> dict[str, Any] | None:
        """A case's hyperparameters in the preset's keywords (no learning rate), every
        one explicit, or ``None`` when the preset cannot express the case.

        >>> spec("optax").case_keywords(_hyper.base(averaging=True)) is None
        True
        """
        standard = {flag: values[0] for flag, values in self.vocabulary.flags.items()}
        try:
            return _to_keywords(self, {**standard, **_hyper.complete(hyper)})
        except ValueError:
            return None

    def canonical(self, **keywords: Any) -> dict[str, Any]:
        """The canonical hyperparameters of a call with ``keywords`` (see the class)."""
        return _to_canonical(self, keywords)

    def space(self) -> dict[str, tuple[Any, ...]]:
        """Every switch the preset has, canonical or its own, with its values.

        >>> spec("nemo").space()
        {'weight_decay_mode': ('inside',), 'averaging': (False, True), \
'amsgrad': (False, True), 'update_clipping': ('none', 'luc')}
        """
        v = self.vocabulary
        return {"weight_decay_mode": tuple(v.modes),
                **{k: values for k, values in _hyper.SWITCHES.items() if k in v.names},
                **v.flags}

    def numeric(self) -> tuple[str, ...]:
        """The numeric canonical hyperparameters the preset can set.

        >>> spec("openseq2seq").numeric()
        ('b1', 'b2', 'eps_root', 'weight_decay')
        """
        v = self.vocabulary
        return tuple(k for k in _hyper.NUMERIC
                     if k in v.names or (v.betas and k in ("b1", "b2")))

    def strategy(self) -> Any:
        """A hypothesis strategy of valid keyword dictionaries (rate excluded): numbers
        from ``novograd_ref._hyper.SAMPLE_VALUES``, every switch of :meth:`space`
        and every setting drawn, translated by :meth:`keywords`.

        >>> from hypothesis import find
        >>> sorted(find(spec("paper").strategy(), lambda kw: True))
        ['b1', 'b2', 'eps', 'weight_decay']
        """
        from hypothesis import strategies as st

        drawn = {k: st.sampled_from(_hyper.SAMPLE_VALUES[k]) for k in self.numeric()}
        drawn |= {k: st.sampled_from(values) for k, values in self.space().items()}
        drawn |= {k: st.sampled_from(values)
                  for k, values in self.vocabulary.settings.items()}
        return st.fixed_dictionaries(drawn).map(_try(self)).filter(
            lambda kw: kw is not None)


def _try(preset: PresetSpec) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def translate(hyper: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return _to_keywords(preset, hyper)
        except ValueError:
            return None

    return translate


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _fixed_value(vocabulary: Vocabulary, key: str) -> Any:
    if key in vocabulary.fixed:
        return vocabulary.fixed[key]
    return _hyper.SWITCHES[key][0] if key in _hyper.SWITCHES else 0.0


def _keyword_value(key: str, value: Any) -> Any:
    """A canonical value as the preset's keyword takes it: a switch whose values are
    not booleans is an on/off keyword (``update_clipping='luc'`` is NeMo's ``luc=True``).
    """
    values = _hyper.SWITCHES.get(key)
    if values is None or values == (False, True):
        return value
    return value == values[1]


def _canonical_value(key: str, value: Any) -> Any:
    """The inverse of :func:`_keyword_value` (a keyword value that is no boolean is
    kept, for the preset function to refuse)."""
    values = _hyper.SWITCHES.get(key)
    if values is None or values == (False, True) or not isinstance(value, bool):
        return value
    return values[1] if value else values[0]


def _to_keywords(preset: PresetSpec, hyper: Mapping[str, Any]) -> dict[str, Any]:
    v, name = preset.vocabulary, preset.name
    defaults = _defaults(preset.function)
    out: dict[str, Any] = {}
    for key, value in hyper.items():
        _check_canonical(name, key, value, v)
        if key == "learning_rate":
            out[preset.learning_rate_keyword] = value
        elif key in v.names:
            if key in v.nonzero and real_number(key, value) == 0:
                raise ValueError(f"{name}: {key} cannot be 0 here")
            out[v.names[key]] = _keyword_value(key, value)
        elif key in v.flags or key in v.settings:
            out[key] = value
        elif v.betas and key in ("b1", "b2"):
            b1, b2 = defaults["betas"]
            out["betas"] = (hyper.get("b1", b1), hyper.get("b2", b2))
        elif key == "weight_decay_mode":
            wd = hyper.get("weight_decay", defaults.get(v.names.get("weight_decay", ""), 0))
            if value not in v.modes and real_number("weight_decay", wd) != 0:
                raise ValueError(f"{name}: has no weight_decay_mode {value!r} "
                                 f"(it has {', '.join(v.modes)})")
            out.update(v.modes.get(value, v.modes.get("inside", {})))
        elif key in ("luc_trust", "luc_eps"):
            continue  # they only matter with update clipping, which the preset lacks
        elif key in (*_hyper.REQUIRED, *_hyper.OPTIONAL):
            fixed = _fixed_value(v, key)
            if value != fixed:
                raise ValueError(f"{name}: cannot set {key}={describe_value(value)} (it has "
                                 f"{fixed!r} only)")
    return out


def _check_canonical(name: str, key: object, value: object, v: Vocabulary) -> None:
    """``key`` is a canonical hyperparameter, one of the preset's own flags or settings,
    and ``value`` is of its kind (a real number, True or False, a weight-decay mode), or
    an error names the preset and the key. Ranges are the preset function's to check;
    own flags and settings are passed to it as they are."""
    if not isinstance(key, str) or not (
            key in _CANONICAL or key in v.flags or key in v.settings):
        shown = repr(key) if isinstance(key, str) else describe_value(key)
        raise ValueError(f"{name}: unknown canonical hyperparameter {shown}")
    if key in v.flags or key in v.settings or key == "learning_rate" or (
            key == "max_learning_rate" and value is None):
        return
    if key == "weight_decay_mode":
        if not isinstance(value, str) or value not in _hyper.WEIGHT_DECAY_MODES:
            raise ValueError(f"{name}: weight_decay_mode must be one of "
                             f"{_hyper.WEIGHT_DECAY_MODES}, got {describe_value(value)}")
    elif key in _hyper.SWITCHES and _hyper.SWITCHES[key] == (False, True):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: {key} must be True or False, got {describe_value(value)}")
    elif key in _hyper.SWITCHES:
        if not isinstance(value, str) or value not in _hyper.SWITCHES[key]:
            raise ValueError(f"{name}: {key} must be one of {_hyper.SWITCHES[key]}, got "
                             f"{describe_value(value)}")
    else:
        real_number(f"{name}: {key}", value)


#: Every canonical key :meth:`PresetSpec.keywords` translates.
_CANONICAL = frozenset({"learning_rate", "max_learning_rate", *_hyper.REQUIRED,
                        *_hyper.OPTIONAL})


def _pair(name: str, value: object) -> tuple[Any, Any]:
    """``value`` as a pair (a tuple or list of two), or an error naming ``name``."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {describe_value(value)}")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {describe_value(value)}")
    return value[0], value[1]


def _to_canonical(preset: PresetSpec, keywords: Mapping[str, Any]) -> dict[str, Any]:
    v, name = preset.vocabulary, preset.name
    mode_keys = {k for selected in v.modes.values() for k in selected}
    inverse = {o: c for c, o in v.names.items()}
    known = {*inverse, *v.flags, *v.settings, *mode_keys, "betas" if v.betas else ""}
    own = {**{k: d for k, d in _defaults(preset.function).items() if k in known},
           **keywords}
    out: dict[str, Any] = {k: _fixed_value(v, k) for k in (*_hyper.REQUIRED, *_hyper.SWITCHES)}
    for key, value in own.items():
        if key == preset.learning_rate_keyword:
            out["learning_rate"] = value
        elif key in inverse:
            out[inverse[key]] = _canonical_value(inverse[key], value)
        elif v.betas and key == "betas":
            out["b1"], out["b2"] = _pair(f"{name}: betas", value)
        elif key in v.flags or key in v.settings:
            out[key] = value
        elif key not in mode_keys and key not in _BOOKKEEPING:
            raise ValueError(f"{name}: keyword {key!r} has no canonical name")
    out["weight_decay_mode"] = _selected_mode(preset, own)
    return out


def _selected_mode(preset: PresetSpec, keywords: Mapping[str, Any]) -> str:
    """The weight-decay mode the preset's keywords select (its defaults filled in)."""
    v, name = preset.vocabulary, preset.name
    mode_keys = {k for selected in v.modes.values() for k in selected}
    own = {**{k: d for k, d in _defaults(preset.function).items() if k in mode_keys},
           **{k: w for k, w in keywords.items() if k in mode_keys}}
    for key, value in own.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name}: {key} must be True or False, got {describe_value(value)}")
    modes = [m for m, selected in v.modes.items()
             if all(own.get(k) is want for k, want in selected.items())]
    if not modes:
        raise ValueError(f"{name}: {own} select no weight-decay mode")
    return modes[0]


_SPECS: dict[str, PresetSpec] = {}
_ALIASES: dict[str, str] = {}


def _preset(learning_rate_keyword: str, vocabulary: Vocabulary, framework: str | None = None,
            aliases: tuple[str, ...] = ()
            ) -> Callable[[Callable[..., NovoGrad]], Callable[..., NovoGrad]]:
    """Register the decorated preset function with its :class:`PresetSpec`."""
    def register(fn: Callable[..., NovoGrad]) -> Callable[..., NovoGrad]:
        own = {"learning_rate": learning_rate_keyword, **vocabulary.names}
        if vocabulary.betas:
            own |= {"b1": "betas[0]", "b2": "betas[1]"}

        @functools.wraps(fn)
        def preset(*args: Any, **kwargs: Any) -> NovoGrad:
            try:
                return fn(*args, **kwargs)
            except (TypeError, ValueError) as exc:
                raise _in_own_words(exc, fn.__name__, own) from None

        _SPECS[fn.__name__] = PresetSpec(fn.__name__, preset, learning_rate_keyword,
                                         vocabulary, framework, aliases)
        _ALIASES.update(dict.fromkeys(aliases, fn.__name__))
        return preset

    return register


def _in_own_words(exc: Exception, preset: str, own: Mapping[str, str]) -> Exception:
    """``exc`` again, its message naming the preset's own keyword where it speaks of a
    canonical field under another name (``clara(epsilon=None)``: "eps_root must be a real
    number, got None (clara's keyword 'epsilon')")."""
    message = str(exc)
    field = message.split(" ", 1)[0]
    keyword = own.get(field)
    if keyword is None or keyword == field or keyword in message:
        return exc
    return type(exc)(f"{message} ({preset}'s keyword {keyword!r})")


def names() -> list[str]:
    """The names of all presets, sorted.

    >>> "optax" in names()
    True
    """
    return sorted(_SPECS)


def spec(name: str) -> PresetSpec:
    """The :class:`PresetSpec` of preset ``name`` (or of one of its aliases).

    >>> spec("NvNovoGrad").name, spec("timm").learning_rate_keyword
    ('timm', 'lr')
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string, got {describe_value(name)}")
    found = _SPECS.get(_ALIASES.get(name, name))
    if found is None:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(names())}")
    return found


def specs() -> list[PresetSpec]:
    """Every preset's :class:`PresetSpec`, sorted by name.

    >>> [s.name for s in specs() if s.framework == "torch_optimizer"]
    ['torch_optimizer']
    """
    return [_SPECS[n] for n in names()]


def get(name: str) -> Callable[..., NovoGrad]:
    """The preset function called ``name``.

    >>> get("optax")(0.003).config.b2
    0.25
    """
    return spec(name).function


def build(name: str, learning_rate: LearningRate, **hyper: Any) -> NovoGrad:
    """Preset ``name`` configured in canonical names: the preset function called with
    :meth:`PresetSpec.keywords` of ``learning_rate`` and ``hyper`` (its own flags and
    settings under their own names); unnamed keywords keep the preset's defaults.

    >>> build("nemo", 0.01, b1=0.9, averaging=True).config.grad_averaging
    'always'
    >>> build("nemo", 0.01, b1=0.9, averaging=True).config.b1
    0.9
    >>> build("optax", 0.01, amsgrad=True)
    Traceback (most recent call last):
    ...
    ValueError: optax: cannot set amsgrad=True (it has False only)
    """
    preset = spec(name)
    return preset.function(**preset.keywords(learning_rate=learning_rate, **hyper))


def from_keywords(name: str, learning_rate: LearningRate, keywords: Mapping[str, Any], *,
                  peak_learning_rate: float | None = None) -> NovoGrad:
    """Preset ``name`` configured in its own ``keywords`` (the learning rate apart): the
    preset function called with them, in one call.

    ``peak_learning_rate`` is the rate the implementation would be constructed with
    when ``learning_rate`` is a schedule (the peak of a rate table): a preset that reads
    its constructor's rate (timm's corrected weight decay, ``max_lr``) is given it,
    unless ``keywords`` name that rate themselves.

    >>> from_keywords("nemo", 0.01, {"betas": (0.9, 0.98)}).config.b1
    0.9
    >>> table = [0.1, 0.2]
    >>> from_keywords("timm", lambda k: table[k], {"weight_decay": 0.1,
    ...     "decoupled_decay": True, "corrected_weight_decay": True},
    ...     peak_learning_rate=max(table)).config.max_learning_rate
    0.2
    """
    preset = spec(name)
    own = {preset.learning_rate_keyword: learning_rate, **keywords}
    peak = preset.vocabulary.names.get("max_learning_rate")
    if peak_learning_rate is not None and peak is not None and own.get(peak) is None:
        try:
            corrected = _selected_mode(preset, keywords) == "corrected"
        except (TypeError, ValueError):
            corrected = False  # the preset function says what is wrong, in its words
        if corrected:
            own[peak] = peak_learning_rate
    return preset.function(**own)


_SAME_NAMES = {k: k for k in ("b1", "b2", "eps", "weight_decay")}
_TORCH_NAMES = {"eps": "eps", "weight_decay": "weight_decay",
                "averaging": "grad_averaging", "amsgrad": "amsgrad"}
_FULL_STATE: dict[str, tuple[Any, ...]] = {"state_dtype": (None,)}
_OPENSEQ2SEQ = Vocabulary(
    {"b1": "beta1", "b2": "beta2", "eps_root": "epsilon", "weight_decay": "weight_decay",
     "averaging": "grad_averaging"},
    settings={"mode": ("graph", "eager"), **_FULL_STATE})
_TORCH_OPTIMIZER = Vocabulary(_TORCH_NAMES, betas=True, settings=_FULL_STATE)


def _betas(betas: tuple[float, float]) -> tuple[float, float]:
    """A pair ``(beta1, beta2)`` of numbers in [0, 1), the PyTorch constructors' check."""
    pair = _pair("betas", betas)
    for i, beta in enumerate(pair):
        check_range(f"betas[{i}]", beta, 0.0, 1.0, upper_open=True)
    return float(pair[0]), float(pair[1])


def _check_lr(lr: LearningRate, *, zero_ok: bool) -> None:
    """The PyTorch constructors' own check: ``lr > 0``, or ``lr >= 0`` (``zero_ok``)."""
    if callable(lr):
        return
    x = real_number("lr", lr)
    if not (x >= 0 if zero_ok else x > 0):
        raise ValueError(f"lr must be {'>=' if zero_ok else '>'} 0 here, got {describe_value(lr)}")


def _check_non_negative(name: str, value: object) -> None:
    """A constructor's own ``value >= 0`` check (finite, too), naming its keyword."""
    check_range(name, value, 0.0, math.inf)


def _requires(switch: bool, name: str, preset: str, why: str, **dependent: object) -> None:
    """Refuse a keyword that only ``name=True`` reads when ``name`` is False: set to
    anything but its default (``False``, ``None`` or the configuration's default), it
    would be silently ignored. The error names both keywords and says ``why``."""
    if switch:
        return
    for keyword, value in dependent.items():
        if not isinstance(value, numbers.Real):  # None, or a type the checks refuse
            continue
        unset = value is False or (keyword in DEFAULTS and value == DEFAULTS[keyword])
        if not unset:
            raise ValueError(f"{preset}: {keyword}={describe_value(value)} requires {name}=True ({why})")


def _flags(**flags: object) -> None:
    """Each boolean keyword is ``True`` or ``False`` (not a truthy stand-in)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {describe_value(value)}")


@_preset("learning_rate", Vocabulary(_SAME_NAMES))
def paper(learning_rate: LearningRate, b1: float = DEFAULT_B1, b2: float = DEFAULT_B2,
          eps: float = DEFAULT_EPS, weight_decay: float = 0.0) -> NovoGrad:
    r"""The recurrence of Ginsburg et al. 2019 (arXiv 1905.11286), Algorithm 1.

    ``v_1 = |g_1|^2``, ``v_t = b2 v + (1-b2) |g_t|^2``,
    ``m_t = b1 m + g_t / (sqrt(v_t) + eps) + wd p_t``, ``p -= lr_t m_t``; the first step
    initializes the moments, so no bias correction. The algorithm box writes the first
    step without ``eps``; this preset uses ``sqrt(v) + eps`` on every step, as the
    implementations do.

    >>> paper(0.01).config
    Config(learning_rate=0.01, b1=0.95, b2=0.98, eps=1e-08)
    """
    return novograd(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)


@_preset("learning_rate", Vocabulary({**_SAME_NAMES, "eps_root": "eps_root"}),
         framework="optax")
def optax(learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6,
          eps_root: float = 0.0, weight_decay: float = 0.0) -> NovoGrad:
    r"""``optax.novograd`` (optax 0.2.x): first step keyed on the step count.

    ``v_1 = |g_1|^2``; ``u = g / (sqrt(v + eps_root) + eps) + weight_decay * p``;
    ``m_1 = u_1``, ``m_t = b1 m + u_t`` (no ``1 - b1``); ``updates = -lr_t m_t`` with a
    schedule called with the number of updates already applied. State in the parameter
    dtype.

    The optax docstring example, in NumPy:

    >>> import numpy as np
    >>> import novograd_ref as ngr
    >>> f = lambda x: np.sum(x ** 2)
    >>> solver = ngr.presets.optax(learning_rate=0.003)
    >>> params = np.array([1.0, 2.0, 3.0])
    >>> state = solver.init(params)
    >>> for _ in range(5):
    ...     updates, state = solver.update(2 * params, state, params)
    ...     params = ngr.apply_updates(params, updates)
    ...     print(f"Objective function: {f(params):.2E}")
    Objective function: 1.40E+01
    Objective function: 1.39E+01
    Objective function: 1.39E+01
    Objective function: 1.38E+01
    Objective function: 1.37E+01
    """
    return novograd(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                    weight_decay=weight_decay)


def _openseq2seq_config(learning_rate: LearningRate, beta1: float, beta2: float,
                        epsilon: float, weight_decay: float, grad_averaging: bool,
                        mode: str, nesterov: bool, state_dtype: str | None) -> NovoGrad:
    if not isinstance(mode, str) or mode not in ("graph", "eager"):
        raise ValueError(f"mode must be 'graph' or 'eager', got {describe_value(mode)}")
    _flags(grad_averaging=grad_averaging)
    return novograd(
        learning_rate, b1=beta1, b2=beta2, eps=0.0, eps_root=epsilon,
        weight_decay=weight_decay, second_moment_init="when_zero",
        second_moment_update="none" if mode == "graph" else "ema",
        normalization="reciprocal", grad_averaging="always" if grad_averaging else "off",
        nesterov=nesterov, state_dtype=state_dtype,
    )


@_preset("learning_rate", _OPENSEQ2SEQ, framework="openseq2seq")
def openseq2seq(learning_rate: LearningRate = 1.0, beta1: float = 0.95, beta2: float = 0.98,
                epsilon: float = 1e-8, weight_decay: float = 0.0, grad_averaging: bool = False,
                use_locking: bool = False, name: str = "NovoGrad", *,
                mode: str = "graph", state_dtype: str | None = "float32") -> NovoGrad:
    r"""NVIDIA OpenSeq2Seq ``NovoGrad`` (TF1 ``MomentumOptimizer`` subclass).

    ``g' = g * (1 / sqrt(v + epsilon))`` (eps inside the root, reciprocal), ``+ wd p``
    if ``weight_decay > 0``, ``* (1 - beta1)`` if ``grad_averaging`` (from step 1);
    ``accum = beta1 accum + g'``; ``var -= lr accum``. ``v`` is float32 and set to
    ``|g|^2`` whenever the stored moving average equals 0.

    ``mode="graph"`` (default) is how TF1 graph training executes the file: the moving
    average is rebound as a Python list entry and never assigned to its variable, so it
    stays 0 and every step uses ``v_t = |g_t|^2`` (``beta2`` has no effect).
    ``mode="eager"`` is the same code run eagerly, where the moving average works.
    ``state_dtype`` is float32 as in the original (pass ``None`` to follow the
    parameters, e.g. to compare float64 readings).

    >>> openseq2seq(0.1).config.second_moment_update
    'none'
    """
    del use_locking, name
    return _openseq2seq_config(learning_rate, beta1, beta2, epsilon, weight_decay,
                               grad_averaging, mode, False, state_dtype)


@_preset("learning_rate", dataclasses.replace(_OPENSEQ2SEQ, flags={"use_nesterov": (False, True)}),
         aliases=("ai4med",))
def clara(learning_rate: LearningRate = 1.0, beta1: float = 0.95, beta2: float = 0.98,
          epsilon: float = 1e-8, weight_decay: float = 0.0, grad_averaging: bool = False,
          use_locking: bool = False, name: str = "NovoGrad", use_nesterov: bool = False, *,
          mode: str = "graph", state_dtype: str | None = "float32") -> NovoGrad:
    r"""NVIDIA Clara Train 3.1 ``ai4med.libs.optimizers.NovoGrad``, as documented.

    Same signature, defaults and docstring as OpenSeq2Seq's ``NovoGrad`` (see
    :func:`openseq2seq`); its documentation also lists ``use_nesterov``, TF momentum's
    Nesterov form ``var -= lr g' + lr beta1 accum``, which this preset honours (the
    OpenSeq2Seq code passes ``use_nesterov=False`` to its base class).

    >>> clara(0.1, use_nesterov=True).config.nesterov
    True
    """
    del use_locking, name
    _flags(use_nesterov=use_nesterov)
    return _openseq2seq_config(learning_rate, beta1, beta2, epsilon, weight_decay,
                               grad_averaging, mode, use_nesterov, state_dtype)


_KERAS_IGNORED = ("name",)
_KERAS_REJECTED = ("clipnorm", "clipvalue", "global_clipnorm")


@_preset("learning_rate", Vocabulary(
    {"b1": "beta_1", "b2": "beta_2", "eps": "epsilon", "weight_decay": "weight_decay",
     "averaging": "grad_averaging", "amsgrad": "amsgrad"},
    nonzero=frozenset({"eps"}),
    settings={"hyper_dtype": (None,), "schedule_dtype": (None,), "decay": (0.0,)}),
    framework="tfa", aliases=("tensorflow-addons",))
def tfa(learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, weight_decay: float = 0.0, grad_averaging: bool = False,
        amsgrad: bool = False, name: str = "NovoGrad", *, hyper_dtype: str | None = None,
        schedule_dtype: str | None = None, **kwargs: Any) -> NovoGrad:
    r"""TensorFlow Addons ``tfa.optimizers.NovoGrad`` (Keras legacy OptimizerV2).

    ``v = |g|^2`` on global iteration 0, else ``b2 v + (1-b2) |g|^2``;
    ``g' = g / (sqrt(v) + eps) (+ wd var)``, ``* (1 - beta_1)`` if ``grad_averaging``
    except on iteration 0; Keras momentum puts the rate inside the accumulator:
    ``accum = beta_1 accum - lr_t g'``, ``var += accum``. ``epsilon`` 0 means 1e-7.
    ``amsgrad`` normalizes by the running maximum of ``v``. The legacy keyword
    ``decay`` gives ``lr_t = lr(k) / (1 + decay k)`` (Keras: in the variable dtype).

    How the rate is rounded in a float64 model (Keras 2, ``OptimizerV2._decayed_lr``):

    - ``hyper_dtype="float32"``: Python-float hyperparameters (``beta_1``, ``beta_2``,
      ``weight_decay`` and a constant ``learning_rate``) live in float32 variables, cast
      to the variable dtype. ``epsilon`` and ``decay`` stay Python floats (exact).
    - ``schedule_dtype="float32"``: each value of a callable ``learning_rate`` is
      rounded to float32, ``lr(k) -> float32(lr(k))``, before the legacy ``decay``
      divides it. This is what the two usual Keras paths deliver: the
      ``LearningRateScheduler`` callback assigns its value into the optimizer's float32
      learning-rate variable, and the built-in ``tf.keras.optimizers.schedules`` compute
      in float32 (exactly ``float32(lr(k))`` for ``PiecewiseConstantDecay``; the float32
      arithmetic of, e.g., ``CosineDecay`` is reproduced only by a callable that returns
      Keras's float32 values). ``None`` (default) uses the value as it comes: a custom
      ``LearningRateSchedule`` returning float64 is cast exactly. A constant
      ``learning_rate`` is refused here (``hyper_dtype`` rounds it).

    In a float32 model every rate is a float32 value anyway, so ``schedule_dtype``
    changes nothing there; ``hyper_dtype="float32"`` still matters a little, since Keras
    derives ``1 - beta`` from the float32 beta.

    >>> tfa(0.1).config.learning_rate_placement
    'inside'
    >>> opt = tfa(lambda k: 0.1, schedule_dtype="float32")
    >>> opt.config.learning_rate(0)
    0.10000000149011612
    """
    del name
    decay = kwargs.pop("decay", 0.0)
    _check_non_negative("decay", decay)  # Keras: "decay" must be >= 0
    for key in _KERAS_REJECTED:
        if kwargs.pop(key, None) is not None:
            raise ValueError(f"tfa: {key} (gradient clipping) is not reproduced by the "
                             "reference; clip the gradients before update()")
    if kwargs:
        raise TypeError(f"tfa: unexpected keyword arguments {sorted(kwargs)}")
    if real_number("weight_decay", weight_decay) < 0:
        raise ValueError(f"weight_decay: Weight decay rate cannot be negative, got "
                         f"{describe_value(weight_decay)}")
    _flags(grad_averaging=grad_averaging, amsgrad=amsgrad)
    rate = learning_rate
    if schedule_dtype is not None:
        rate = _through_float32(learning_rate, schedule_dtype)
    if decay:  # Keras divides the rate after reading it from its float32 variable
        if hyper_dtype is not None and not callable(rate):
            rate = round_to(real_number("learning_rate", rate), hyper_dtype)
        rate = _keras_decay(rate, decay)
    return novograd(rate, b1=beta_1, b2=beta_2,
                    eps=epsilon if real_number("epsilon", epsilon) else 1e-7,
                    weight_decay=weight_decay,
                    grad_averaging="after_first_step" if grad_averaging else "off",
                    amsgrad=amsgrad, learning_rate_placement="inside",
                    hyper_dtype=hyper_dtype)


def _through_float32(learning_rate: LearningRate, schedule_dtype: str
                     ) -> Callable[[Any], Any]:
    """``k -> float32(learning_rate(k))``, widened back; eager values are Python floats,
    lazy ones (a traced or Dask step count) 0-d arrays cast in their own namespace."""
    if not isinstance(schedule_dtype, str) or schedule_dtype != "float32":
        raise ValueError(f"tfa: schedule_dtype must be None or 'float32', got "
                         f"{describe_value(schedule_dtype)}")
    if not callable(learning_rate):
        raise ValueError(  # noqa: TRY004 (a combination, not a type)
            f"tfa: schedule_dtype rounds the values of a callable learning_rate; got the "
            f"constant {describe_value(learning_rate)}, which hyper_dtype rounds")

    def rounded(step: Any) -> Any:
        value: Any = scheduled_rate(learning_rate, step)  # checked: a float, or 0-d
        if isinstance(value, float):
            return round_to(value, "float32")
        xp = namespace(value)
        return xp.astype(xp.astype(value, xp.float32), value.dtype)

    rounded.__name__ = f"float32({getattr(learning_rate, '__name__', 'schedule')})"
    return rounded


def _keras_decay(learning_rate: LearningRate, decay: float) -> Callable[[Any], Any]:
    """``lr(step) / (1 + decay step)``; a constant rate is checked here, a schedule's
    value at each step before it is divided."""
    if not callable(learning_rate):
        _check_non_negative("learning_rate", learning_rate)

    def decayed(step: Any) -> Any:
        base = scheduled_rate(learning_rate, step) if callable(learning_rate) else learning_rate
        return base / (1.0 + decay * step)

    return decayed


@_preset("lr", Vocabulary(
    {"eps": "eps", "weight_decay": "weight_decay", "averaging": "grad_averaging"},
    betas=True,
    flags={"reg_inside_moment": (True, False), "bias_correction": (False, True),
           "norm_type": (2, 0), "init_zero": (False, True)},
    settings={"state_dtype": (None,), "hyper_dtype": ("float32", None)}),
    framework="apex", aliases=("FusedNovoGrad",))
def apex(lr: float = 1e-3, bias_correction: bool = True,
         betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0, amsgrad: bool = False, reg_inside_moment: bool = False,
         grad_averaging: bool = True, norm_type: int = 2, init_zero: bool = False,
         set_grad_none: bool = True, *, state_dtype: str | None = "float32",
         hyper_dtype: str | None = "float32") -> NovoGrad:
    r"""NVIDIA Apex ``FusedNovoGrad`` (every flag), math in float32 as the kernel does.

    The state is the per-layer gradient norm ``n`` (not its square), initialized to
    ``|g_1|`` (``norm_type=2``) or ``max|g_1|`` (``norm_type=0``), or 0 with
    ``init_zero``, then blended on every step including the first:
    ``n = sqrt(b2 n^2 + (1-b2) |g|^2)`` or ``n = b2 n + (1-b2) max|g|``;
    ``den = n / sqrt(1 - b2^t) + eps`` (``bias_correction``). Default
    (``reg_inside_moment=False``): ``m = b1 m + beta3 g`` (raw gradient),
    ``p -= lr ((m / (1 - b1^t)) / den + wd p)``. ``reg_inside_moment=True``:
    ``m = b1 m + beta3 (g / den + wd p)``, ``p -= lr m / (1 - b1^t)``.
    ``beta3 = 1 - b1`` if ``grad_averaging`` else 1. As in the kernel, the squares of
    the gradient are summed in float32 (or wider), the stored norm is float32
    (``state_dtype=None`` follows the parameters instead) and ``lr, b1, b2,
    weight_decay`` arrive as C ``float``: rounded to float32 (``hyper_dtype=None``
    keeps them as given; with the default ``b2 = 0.999`` the rounding alone moves
    ``sqrt(1 - b2^t)`` by 6e-6 relative). A schedule's values are used as given.

    >>> apex().config.norm
    'apex_l2'
    """
    del set_grad_none
    _flags(bias_correction=bias_correction, amsgrad=amsgrad,
           reg_inside_moment=reg_inside_moment, grad_averaging=grad_averaging,
           init_zero=init_zero)
    if amsgrad:  # FusedNovoGrad raises RuntimeError; a bad argument is a ValueError here
        raise ValueError("amsgrad: FusedNovoGrad does not support the AMSGrad variant.")
    if (isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real)
            or norm_type not in (0, 2)):
        raise ValueError(f"norm_type: FusedNovoGrad only supports norm_type 0 (inf) and "
                         f"2 (L2), got {describe_value(norm_type)}")
    b1, b2 = _betas(betas)
    return novograd(
        lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        norm="apex_l2" if norm_type == 2 else "apex_inf",
        second_moment_init="zero" if init_zero else "first_step_blend",
        momentum_input="normalized" if reg_inside_moment else "raw",
        weight_decay_mode="inside" if reg_inside_moment else "apex",
        grad_averaging="always" if grad_averaging else "off",
        bias_correction="apex" if bias_correction else "none",
        state_dtype=state_dtype, hyper_dtype=hyper_dtype,
    )


def _pytorch_family(lr: LearningRate, betas: tuple[float, float], eps: float,
                    weight_decay: float, grad_averaging: bool, amsgrad: bool,
                    state_dtype: str | None, **switches: Any) -> NovoGrad:
    b1, b2 = _betas(betas)
    _flags(grad_averaging=grad_averaging)
    return novograd(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                    second_moment_init="when_zero", amsgrad=amsgrad,
                    grad_averaging="always" if grad_averaging else "off",
                    state_dtype=state_dtype, **switches)


@_preset("lr", Vocabulary(
    {**_TORCH_NAMES, "update_clipping": "luc", "luc_trust": "luc_trust",
     "luc_eps": "luc_eps"},
    betas=True, settings=_FULL_STATE), framework="nemo", aliases=("nemo-toolkit",))
def nemo(lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0.98), eps: float = 1e-8,
         weight_decay: float = 0, grad_averaging: bool = False, amsgrad: bool = False,
         luc: bool = False, luc_trust: float = 1e-3, luc_eps: float = 1e-8, *,
         state_dtype: str | None = None) -> NovoGrad:
    r"""NVIDIA NeMo ``Novograd`` (``nemo.core.optim.novograd``).

    ``v = |g|^2`` whenever the stored ``v`` is 0, else ``b2 v + (1-b2) |g|^2``;
    ``g' = g / (sqrt(v) + eps) (+ wd p)``, ``* (1 - b1)`` if ``grad_averaging``;
    ``m = b1 m + g'``; ``p -= lr m``, or with ``luc`` (layer-wise update clipping)
    ``p -= min(luc_trust |p| / (|m| + luc_eps), lr) m``. ``state_dtype="float32"``
    reproduces torch's default dtype for ``v`` next to float64 parameters.

    ``luc_trust`` and ``luc_eps`` other than their defaults require ``luc=True`` (NeMo
    reads them only for update clipping; set without it they would be ignored).

    >>> nemo(luc=True).config.update_clipping
    'luc'
    >>> nemo(luc_trust=0.01)
    Traceback (most recent call last):
    ...
    ValueError: nemo: luc_trust=0.01 requires luc=True (only update clipping reads it)
    """
    _flags(luc=luc)
    _requires(luc, "luc", "nemo", "only update clipping reads it",
              luc_trust=luc_trust, luc_eps=luc_eps)
    return _pytorch_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad,
                           state_dtype, update_clipping="luc" if luc else "none",
                           luc_trust=luc_trust, luc_eps=luc_eps)


@_preset("lr", Vocabulary(
    {**_TORCH_NAMES, "max_learning_rate": "max_lr"}, betas=True,
    modes={"inside": {"decoupled_decay": False, "corrected_weight_decay": False},
           "decoupled": {"decoupled_decay": True, "corrected_weight_decay": False},
           "corrected": {"decoupled_decay": True, "corrected_weight_decay": True}},
    settings=_FULL_STATE), framework="timm", aliases=("NvNovoGrad",))
def timm(lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0.98), eps: float = 1e-8,
         weight_decay: float = 0, grad_averaging: bool = False, amsgrad: bool = False,
         decoupled_decay: bool = False, corrected_weight_decay: bool = False, *,
         max_lr: float | None = None, state_dtype: str | None = None) -> NovoGrad:
    r"""timm ``NvNovoGrad`` (timm 1.0.x), the PyTorch family's recurrence.

    As :func:`torch_optimizer`; ``decoupled_decay`` replaces ``+ wd p`` in the moment
    by ``p *= 1 - lr wd`` before the step, and ``corrected_weight_decay`` scales it by
    ``lr / max_lr`` (``p *= 1 - lr^2 / max_lr wd``, ``max_lr`` = the constructor ``lr``).
    When ``lr`` is a schedule, ``max_lr`` gives the rate timm was constructed with
    (it then reads ``group["lr"]`` each step); default: ``lr`` itself.

    ``corrected_weight_decay=True`` requires ``decoupled_decay=True``: timm corrects only
    the decoupled decay, and with the decay in the moment ignores the flag; ``max_lr``
    requires ``corrected_weight_decay=True``, the only rule that reads it.

    >>> timm(decoupled_decay=True, weight_decay=0.1).config.weight_decay_mode
    'decoupled'
    >>> timm(corrected_weight_decay=True, weight_decay=0.1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: timm: corrected_weight_decay=True requires decoupled_decay=True (...)
    """
    _flags(decoupled_decay=decoupled_decay, corrected_weight_decay=corrected_weight_decay)
    _requires(decoupled_decay, "decoupled_decay", "timm",
              "timm corrects only the decoupled decay p *= 1 - lr**2 / max_lr * wd",
              corrected_weight_decay=corrected_weight_decay)
    _requires(corrected_weight_decay, "corrected_weight_decay", "timm",
              "only the corrected decay lr**2 / max_lr * wd reads it", max_lr=max_lr)
    mode = "inside"
    if decoupled_decay:
        mode = "corrected" if corrected_weight_decay else "decoupled"
    if corrected_weight_decay and max_lr is None:
        if callable(lr):
            raise ValueError("timm: corrected_weight_decay with a schedule needs max_lr, "
                             "the constructor lr")
        max_lr = lr
    return _pytorch_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad,
                           state_dtype, weight_decay_mode=mode,
                           max_learning_rate=max_lr if corrected_weight_decay else None)


def _torch_optimizer_family(lr: float, betas: tuple[float, float], eps: float,
                            weight_decay: float, grad_averaging: bool, amsgrad: bool,
                            state_dtype: str | None, *, zero_lr: bool = False) -> NovoGrad:
    """torch-optimizer's math; its constructor refuses ``lr <= 0``, DLE's and MONAI's
    (``zero_lr``) only ``lr < 0``."""
    _check_lr(lr, zero_ok=zero_lr)
    if real_number("eps", eps) < 0:
        raise ValueError(f"eps: Invalid epsilon value: {eps}")
    return _pytorch_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad, state_dtype)


@_preset("lr", _TORCH_OPTIMIZER, framework="torch_optimizer",
         aliases=("torch-optimizer",))
def torch_optimizer(lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0),
                    eps: float = 1e-8, weight_decay: float = 0, grad_averaging: bool = False,
                    amsgrad: bool = False, *, state_dtype: str | None = None) -> NovoGrad:
    r"""torch-optimizer ``NovoGrad`` (0.3.0), the NVIDIA Jasper PyTorch port.

    ``v = |g|^2`` whenever the stored ``v`` is 0, else ``b2 v + (1-b2) |g|^2``
    (default ``b2 = 0``: ``v_t = |g_t|^2``); ``g' = g / (sqrt(v) + eps) (+ wd p)``,
    ``* (1 - b1)`` if ``grad_averaging``; ``m = b1 m + g'``; ``p -= lr m``.

    >>> torch_optimizer().config.b2
    0.0
    """
    return _torch_optimizer_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad,
                                   state_dtype)


@_preset("lr", _TORCH_OPTIMIZER)
def dle(lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0), eps: float = 1e-8,
        weight_decay: float = 0, grad_averaging: bool = False, amsgrad: bool = False, *,
        state_dtype: str | None = None) -> NovoGrad:
    r"""NVIDIA DeepLearningExamples Jasper ``Novograd``: torch-optimizer's math.

    >>> dle().config.second_moment_init
    'when_zero'
    """
    return _torch_optimizer_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad,
                                   state_dtype, zero_lr=True)


@_preset("lr", _TORCH_OPTIMIZER)
def monai(lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-8,
          weight_decay: float = 0, grad_averaging: bool = False, amsgrad: bool = False, *,
          state_dtype: str | None = None) -> NovoGrad:
    r"""MONAI ``Novograd``: torch-optimizer's math with ``betas=(0.9, 0.98)``.

    >>> monai().config.b1
    0.9
    """
    return _torch_optimizer_family(lr, betas, eps, weight_decay, grad_averaging, amsgrad,
                                   state_dtype, zero_lr=True)


@_preset("lr", Vocabulary(
    {"eps": "eps", "weight_decay": "weight_decay", "averaging": "grad_averaging",
     "adam_debias": "adam_debias", "maximize": "maximize"}, betas=True,
    modes={"inside": {"weight_decouple": False, "fixed_decay": False},
           "decoupled": {"weight_decouple": True, "fixed_decay": False},
           "fixed": {"weight_decouple": True, "fixed_decay": True}},
    settings=_FULL_STATE), framework="pytorch_optimizer", aliases=("pytorch-optimizer",))
def pytorch_optimizer(lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0.98),
                      weight_decay: float = 0.0, weight_decouple: bool = False,
                      fixed_decay: bool = False, grad_averaging: bool = False,
                      adam_debias: bool = False, eps: float = 1e-8, maximize: bool = False,
                      foreach: bool | None = None, **kwargs: Any) -> NovoGrad:
    r"""pytorch_optimizer (kozistr) 4.x ``NovoGrad``.

    First update: ``v = |g|^2``, ``m = g / (sqrt(v) + eps) (+ wd p)`` (no ``1 - b1``);
    later ``v = lerp(v, |g|^2, 1 - b2)`` (torch's two-branch form, so an infinite ``v``
    becomes NaN as there), ``m = b1 m + g'`` with ``g'`` scaled by
    ``1 - b1`` if ``grad_averaging``. ``weight_decouple``: ``p *= 1 - wd lr`` (or
    ``1 - wd`` with ``fixed_decay``) instead of ``+ wd p``. Step size ``lr`` (times
    ``sqrt(1 - b2^t)`` with ``adam_debias``). ``maximize`` ascends.

    ``fixed_decay=True`` requires ``weight_decouple=True``: pytorch_optimizer reads it
    only for the decoupled decay, and with the decay in the moment ignores it.

    >>> pytorch_optimizer(grad_averaging=True).config.grad_averaging
    'after_first_step'
    >>> pytorch_optimizer(fixed_decay=True, weight_decay=0.1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: pytorch_optimizer: fixed_decay=True requires weight_decouple=True (...)
    """
    del foreach
    state_dtype = kwargs.pop("state_dtype", None)
    if kwargs:
        raise TypeError(f"pytorch_optimizer: unexpected keyword arguments {sorted(kwargs)}")
    b1, b2 = _betas(betas)
    _flags(weight_decouple=weight_decouple, fixed_decay=fixed_decay,
           grad_averaging=grad_averaging, adam_debias=adam_debias)
    _requires(weight_decouple, "weight_decouple", "pytorch_optimizer",
              "only the decoupled decay p *= 1 - wd reads it", fixed_decay=fixed_decay)
    mode = "inside"
    if weight_decouple:
        mode = "fixed" if fixed_decay else "decoupled"
    return novograd(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                    weight_decay_mode=mode,
                    grad_averaging="after_first_step" if grad_averaging else "off",
                    bias_correction="debias" if adam_debias else "none",
                    second_moment_update="lerp", maximize=maximize, state_dtype=state_dtype)


@_preset("learningRate", Vocabulary(
    {"b1": "beta1", "b2": "beta2", "eps": "epsilon", "weight_decay": "weightDecay"},
    fixed={"averaging": True}, settings={"hyper_dtype": ("float32", None)}),
    aliases=("NovogradOptimizer",))
def flashlight(learningRate: float, beta1: float = 0.95, beta2: float = 0.98,
               epsilon: float = 1e-8, weightDecay: float = 0.0, *,
               hyper_dtype: str | None = "float32") -> NovoGrad:
    r"""flashlight ``fl::NovogradOptimizer`` (C++): ``v_0 = 0``, forced ``1 - b1``.

    ``v = b2 v + (1-b2) |g|^2`` from step 1 (no special first step);
    ``m = b1 m + (1 - b1) (g / (sqrt(v) + eps) + wd w)``; ``w -= lr m``. The
    constructor takes ``float`` hyperparameters: ``learningRate, beta1, beta2,
    weightDecay`` are rounded to float32 (``hyper_dtype=None`` keeps them as given;
    the rounding moves the first step by 7e-7 relative at the defaults). flashlight
    also keeps ``v`` in double and rounds the denominator to float; both are left to
    the parameter dtype here (about 1 float32 ulp).

    >>> flashlight(0.1).config.second_moment_init
    'zero'
    """
    return novograd(learningRate, b1=beta1, b2=beta2, eps=epsilon, weight_decay=weightDecay,
                    second_moment_init="zero", grad_averaging="always",
                    hyper_dtype=hyper_dtype)
