"""Filling a published optimizer's constructor from a preset's keywords, by its signature.

A class or function checked as published (``torch:``, ``optax:``, ``keras:`` targets)
is constructed with the hyperparameters of each case. The kit hands them over in the
keywords of the preset being checked (``betas=(0.9, 0.98)`` for NeMo's, ``b1=0.9`` for
optax's), and names that preset: what each keyword means is that preset's registry
entry (:attr:`novograd_ref.presets.Vocabulary.names`). Each keyword reaches the
constructor parameter with the same name if there is one, else one with another
spelling of the same hyperparameter: the spellings every preset of the registry uses
plus :data:`EXTRA_SPELLINGS`, and ``betas`` split into its two halves where the
constructor takes them apart. ``--map THEIRS=OURS`` names a spelling the registry does not know;
``--kw NAME=VALUE`` passes a constructor keyword as it is.

A keyword the constructor has no parameter for is dropped only when it switches
something off (``False``, ``None``, a weight decay or ``eps_root`` of 0), since an
optimizer without that parameter has the feature off, or when what it tunes is off
(:data:`ONLY_WITH`). Any other value would be
replaced by the constructor's own default, so the case is skipped with the reason
(:class:`~novograd_ref.conformance.Unsupported`) instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ... import presets
from ..adapters._protocol import ImplementationError, Unsupported

#: Spellings of the canonical hyperparameters that published optimizers use beside the
#: presets' own (read from the registry).
EXTRA_SPELLINGS: dict[str, tuple[str, ...]] = {
    "learning_rate": ("lr", "learning_rate"),
    "b1": ("beta1", "b1", "beta_1"),
    "b2": ("beta2", "b2", "beta_2"),
    "eps": ("eps", "epsilon"),
    "weight_decay": ("weight_decay", "wd"),
}

#: Canonical hyperparameters whose value 0 means "off" (an optimizer without the
#: parameter computes the same thing).
ZERO_IS_OFF = frozenset({"eps_root", "weight_decay"})

#: Keywords that only matter while another keyword is on (NeMo's clipping constants,
#: timm's peak rate of corrected weight decay): left out with it off.
ONLY_WITH = {"luc_trust": "luc", "luc_eps": "luc", "max_lr": "corrected_weight_decay"}


def needs_preset(spec: str, preset: str | None) -> str:
    """``preset``, the preset whose keywords configure target ``spec``; an
    :class:`~novograd_ref.conformance.ImplementationError` saying what to name when it
    is ``None`` (what a keyword means depends on the preset).

    >>> needs_preset("exec:./port", None)
    Traceback (most recent call last):
    ...
    novograd_ref.conformance.adapters._protocol.ImplementationError: exec:./port is configured in a preset's keywords; name the preset (--preset NAME, or preset=NAME)
    """
    if preset is None:
        raise ImplementationError(f"{spec} is configured in a preset's keywords; name the "
                                  "preset (--preset NAME, or preset=NAME)")
    return preset


def spelling_counts() -> dict[str, dict[str, int]]:
    """Canonical hyperparameter -> each keyword spelling it -> how many presets (and
    :data:`EXTRA_SPELLINGS`, once) spell it so.

    >>> counts = spelling_counts()
    >>> counts["eps"]["epsilon"] > counts["eps_root"]["epsilon"]
    True
    """
    found: dict[str, dict[str, int]] = {}

    def add(canonical: str, keyword: str) -> None:
        found.setdefault(canonical, {}).setdefault(keyword, 0)
        found[canonical][keyword] += 1

    for canonical, names in EXTRA_SPELLINGS.items():
        for keyword in names:
            add(canonical, keyword)
    for name in presets.names():
        spec = presets.spec(name)
        add("learning_rate", spec.learning_rate_keyword)
        for canonical, own in spec.vocabulary.names.items():
            add(canonical, own)
    return found


def spellings() -> dict[str, tuple[str, ...]]:
    """Canonical hyperparameter -> every keyword spelling it, the canonical name first,
    then the most common.

    >>> spellings()["b1"][:3]
    ('b1', 'beta1', 'beta_1')
    """
    return {c: tuple(sorted(counts, key=lambda k: (k != c, -counts[k], k)))
            for c, counts in spelling_counts().items()}


def meanings(keyword: str, preset: str) -> tuple[str, ...]:
    """The canonical hyperparameter ``preset``'s keyword spells (``epsilon`` is ``eps``
    in TFA and ``eps_root`` in OpenSeq2Seq), ``()`` for the preset's own flag or
    setting.

    >>> meanings("epsilon", "tfa"), meanings("epsilon", "openseq2seq")
    (('eps',), ('eps_root',))
    """
    spec = presets.spec(preset)
    own = {spec.learning_rate_keyword: "learning_rate", **{
        theirs: canonical for canonical, theirs in spec.vocabulary.names.items()}}
    if spec.vocabulary.betas:
        own |= {"b1": "b1", "b2": "b2"}  # betas split into its halves
    return (own[keyword],) if keyword in own else ()


def parameters(constructor: Callable[..., Any]) -> set[str]:
    """The parameters ``constructor`` takes by keyword (``**kwargs`` is not a promise
    to use a keyword: names only).

    >>> def make(params, lr=1e-3, betas=(0.9, 0.99), **rest): ...
    >>> sorted(parameters(make))
    ['betas', 'lr', 'params']
    """
    try:
        signature = inspect.signature(constructor)
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in signature.parameters.values() if p.kind in kinds} - {"self"}


def learning_rate_parameter(constructor: Callable[..., Any]) -> str | None:
    """The name ``constructor`` takes its learning rate under, or ``None``."""
    names = parameters(constructor)
    return next((n for n in spellings()["learning_rate"] if n in names), None)


def switches_off(keyword: str, value: Any, preset: str) -> bool:
    """Whether leaving ``preset``'s ``keyword=value`` out computes the same (a feature
    switched off).

    >>> switches_off("amsgrad", False, "nemo"), switches_off("weight_decay", 0.0, "nemo")
    (True, True)
    >>> switches_off("eps", 0.0, "nemo"), switches_off("betas", (0.9, 0.0), "nemo")
    (False, False)
    """
    if value is None or value is False:
        return True
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0
            and any(c in ZERO_IS_OFF for c in meanings(keyword, preset)))


def constructor_keywords(constructor: Callable[..., Any], what: str, preset: str,
                         preset_kwargs: Mapping[str, Any], *,
                         fixed: Mapping[str, Any] | None = None,
                         mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keywords to call ``constructor`` with for a case given in ``preset_kwargs``,
    the keywords of ``preset`` (see the module docstring).

    ``fixed`` (``--kw``) is passed as it is and wins; ``mapping`` (``--map``) says which
    constructor parameter carries which hyperparameter (``{"momentum": "b1"}``; the
    right side is a canonical name or a preset keyword). ``what`` names the constructor
    in a skip's reason. Raises :class:`~novograd_ref.conformance.Unsupported` for a
    value the constructor cannot take (see the module docstring).

    >>> def NovoGrad(params, lr=1e-3, beta1=0.95, beta2=0.98, eps=1e-8): ...
    >>> sorted(constructor_keywords(NovoGrad, "NovoGrad", "torch_optimizer", {
    ...     "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}).items())
    [('beta1', 0.9), ('beta2', 0.99), ('eps', 1e-08)]
    >>> constructor_keywords(NovoGrad, "NovoGrad", "tfa", {"beta_1": 0.9, "amsgrad": True})
    Traceback (most recent call last):
    novograd_ref.conformance.adapters._protocol.Unsupported: NovoGrad takes no keyword for amsgrad=True (tried amsgrad); name it with --map THEIRS=amsgrad or pass it with --kw
    """
    names = parameters(constructor) - set(fixed or {})
    by_meaning: dict[str, list[str]] = {}
    for theirs, ours in (mapping or {}).items():
        by_meaning.setdefault(ours, []).append(theirs)
    counts = spelling_counts()
    wanted: dict[str, Any] = {}
    for keyword, value in preset_kwargs.items():
        value = tuple(value) if isinstance(value, list) else value
        if keyword == "betas" and "betas" not in names and not by_meaning.get("betas"):
            wanted |= {"b1": value[0], "b2": value[1]}
        else:
            wanted[keyword] = value
    # every (keyword, parameter) pair that could carry it, best first: the keyword's
    # own name, then --map, then the other spellings of its meanings, commonest first
    pairs: list[tuple[tuple[int, int], str, str]] = []
    for keyword in wanted:
        pairs.append(((0, 0), keyword, keyword))
        pairs += [((1, 0), keyword, theirs) for theirs in by_meaning.get(keyword, [])]
        for canonical in meanings(keyword, preset):
            pairs += [((2, 0), keyword, theirs) for theirs in by_meaning.get(canonical, [])]
            pairs += [((3, -n), keyword, spelling) for spelling, n in counts[canonical].items()]
    out: dict[str, Any] = {}
    placed: set[str] = set()
    for _, keyword, name in sorted(pairs, key=lambda pair: pair[0]):
        if name in names and keyword not in placed and name not in out:
            out[name] = wanted[keyword]
            placed.add(keyword)
    for keyword, value in wanted.items():
        if keyword in placed or switches_off(keyword, value, preset) or (
                keyword in ONLY_WITH and not wanted.get(ONLY_WITH[keyword])):
            continue
        tried = list(dict.fromkeys(name for _, k, name in sorted(pairs) if k == keyword))
        raise Unsupported(f"{what} takes no keyword for {keyword}={value!r} (tried "
                          f"{', '.join(tried)}); name it with --map THEIRS={keyword} or "
                          "pass it with --kw")
    return {**out, **(fixed or {})}
