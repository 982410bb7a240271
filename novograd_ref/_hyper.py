"""The canonical hyperparameters: one spelling of NovoGrad's settings for every preset.

A case of the golden vectors, a search over configurations and
:func:`novograd_ref.presets.build` all describe a configuration in these names; each
preset's :class:`~novograd_ref.presets.PresetSpec` translates them into its
framework's own keywords and back. ``docs/vectors.md`` (section 3.2) is the normative
description of a case's ``hyper`` mapping as the files store it; this module is its one
definition, imported by the vectors, the framework adapters, the case suite and the
conformance kit.

The names are :class:`~novograd_ref.Config`'s wherever a case sets one of its fields,
with Config's values; a case's own flag is never spelled as a Config field it does not
set. Required keys (every case has them):

* ``b1``, ``b2`` (first- and second-moment decay), ``eps`` (added outside the square
  root, ``sqrt(v + eps_root) + eps``), ``eps_root`` (inside it), ``weight_decay``:
  finite numbers ``>= 0``;
* ``weight_decay_mode``: where ``weight_decay * p`` goes, one of
  :data:`WEIGHT_DECAY_MODES`, Config's modes that a preset selects by its weight-decay
  keywords: ``"inside"`` the normalized gradient (``u = g/den + wd p``),
  ``"decoupled"`` (``p *= 1 - lr wd``), ``"fixed"`` (``p *= 1 - wd``), ``"corrected"``
  (``p *= 1 - lr^2 / max_lr wd``, timm). (Config's ``"apex"`` is Apex's own
  ``reg_inside_moment`` flag, not a case's.)
* ``averaging`` (the implementation's own ``grad_averaging`` keyword is on: Config's
  ``grad_averaging`` is then ``"always"`` or ``"after_first_step"``, as that
  implementation averages), ``amsgrad``: booleans.

Optional keys (:data:`OPTIONAL`, with their defaults): ``update_clipping``
(Config's, ``"none"`` or NeMo's layer-wise ``"luc"``, with ``luc_trust`` and
``luc_eps``), the flags ``adam_debias`` (pytorch_optimizer's keyword: its
``sqrt(1 - b2^t)`` step size) and ``maximize``.

The files (and the exec protocol) spell two of them otherwise, as section 3.2 of the
vector format does: :data:`STORED` says how, and :func:`from_stored` /
:func:`to_stored` translate, here only.

>>> base(b1=0.9)["b1"], base()["weight_decay_mode"]
(0.9, 'inside')
>>> sorted(complete(base(update_clipping="luc")))[:4]
['adam_debias', 'amsgrad', 'averaging', 'b1']
>>> to_stored(complete(base(update_clipping="luc")))["luc"]
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, get_args

from ._config import (
    DEFAULT_B1,
    DEFAULT_B2,
    DEFAULT_EPS,
    DEFAULT_LUC_EPS,
    DEFAULT_LUC_TRUST,
    UpdateClipping,
    WeightDecayMode,
)

__all__ = ["BASE", "FLAGS", "NUMERIC", "OPTIONAL", "REQUIRED", "SAMPLE_VALUES", "STORED",
           "SWITCHES", "WEIGHT_DECAY_MODES", "base", "complete", "from_stored", "to_stored",
           "validate"]

_NUMBER = (int, float)

#: Where weight decay goes (see the module docstring): Config's modes but Apex's.
WEIGHT_DECAY_MODES: tuple[str, ...] = tuple(
    m for m in get_args(WeightDecayMode) if m != "apex")

#: The numeric hyperparameters of every case (finite, ``>= 0``).
NUMERIC: tuple[str, ...] = ("b1", "b2", "eps", "eps_root", "weight_decay")

#: Every case's keys and their types, in order.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(NUMERIC, _NUMBER),
    "weight_decay_mode": str,
    "averaging": bool,
    "amsgrad": bool,
}

#: The optional keys of a case, their types and the value an absent key means.
OPTIONAL: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "update_clipping": (str, "none"),
    "luc_trust": (_NUMBER, DEFAULT_LUC_TRUST),
    "luc_eps": (_NUMBER, DEFAULT_LUC_EPS),
    "adam_debias": (bool, False),
    "maximize": (bool, False),
}

#: The switches among the keys besides the weight-decay mode, with their values, the
#: first one off (``update_clipping`` takes Config's values).
SWITCHES: dict[str, tuple[Any, ...]] = {
    "averaging": (False, True),
    "amsgrad": (False, True),
    "update_clipping": get_args(UpdateClipping),
    "adam_debias": (False, True),
    "maximize": (False, True),
}

#: The on/off feature flags among the keys (``amsgrad`` is one too, and required).
FLAGS: tuple[str, ...] = ("amsgrad", "adam_debias", "maximize")

#: The keys the files (docs/vectors.md, section 3.2) and the exec protocol spell
#: otherwise: key -> (stored name, {value: stored value}, or ``None`` for the same
#: values).
STORED: dict[str, tuple[str, dict[Any, Any] | None]] = {
    "averaging": ("grad_averaging", None),
    "update_clipping": ("luc", {"none": False, "luc": True}),
}

#: NovoGrad's usual values (the paper's ``b1, b2, eps``), no weight decay, no flag.
BASE: dict[str, Any] = {
    "b1": DEFAULT_B1, "b2": DEFAULT_B2, "eps": DEFAULT_EPS, "eps_root": 0.0, "weight_decay": 0.0,
    "weight_decay_mode": "inside", "averaging": False, "amsgrad": False,
}

#: Values to draw each numeric hyperparameter from (property tests, generated checks,
#: searches): the edges 0 and near 1, and the values the implementations ship with.
SAMPLE_VALUES: dict[str, tuple[float, ...]] = {
    "b1": (0.0, 0.5, 0.9, 0.95, 0.98, 0.999),
    "b2": (0.0, 0.5, 0.9, 0.95, 0.98, 0.999),
    "eps": (0.0, 1e-8, 1e-6, 1e-3),
    "eps_root": (0.0, 1e-8, 1e-6, 1e-3),
    "weight_decay": (0.0, 1e-3, 0.1),
}


def base(**overrides: Any) -> dict[str, Any]:
    """A case's hyperparameters: :data:`BASE` with ``overrides``.

    >>> base(weight_decay=0.1, weight_decay_mode="decoupled")["weight_decay"]
    0.1
    """
    return {**BASE, **overrides}


def from_stored(hyper: Mapping[str, Any]) -> dict[str, Any]:
    """A case's ``hyper`` as the files store it, in the names of this module (the keys
    of :data:`STORED` renamed, their values translated; the rest as it is, so a mapping
    already in these names comes back unchanged).

    >>> from_stored({"b1": 0.9, "grad_averaging": True, "luc": False})
    {'b1': 0.9, 'averaging': True, 'update_clipping': 'none'}
    """
    ours = {stored: (key, values) for key, (stored, values) in STORED.items()}
    out: dict[str, Any] = {}
    for name, value in hyper.items():
        key, values = ours.get(name, (name, None))
        if values is not None:
            value = next((v for v, s in values.items()
                          if s is value or (type(s) is type(value) and s == value)), value)
        out[key] = value
    return out


def to_stored(hyper: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`from_stored`: ``hyper`` as the files and the exec protocol
    spell it.

    >>> to_stored({"b1": 0.9, "averaging": True, "update_clipping": "luc"})
    {'b1': 0.9, 'grad_averaging': True, 'luc': True}
    """
    out: dict[str, Any] = {}
    for key, value in hyper.items():
        name, values = STORED.get(key, (key, None))
        out[name] = values.get(value, value) if values is not None else value
    return out


def validate(hyper: Mapping[str, Any], where: str = "hyper") -> None:
    """Check a case's ``hyper`` mapping as the files store it (:func:`to_stored`):
    required keys, types, closed key set, values.

    Raises ``ValueError`` naming ``where`` and the key as stored.

    >>> validate(to_stored(base(b1=-1.0)))
    Traceback (most recent call last):
    ...
    ValueError: hyper: b1 must be finite and >= 0, got -1.0
    """
    required = list(to_stored(dict.fromkeys(REQUIRED)))
    types = {STORED.get(k, (k, None))[0]: bool if k in STORED and STORED[k][1] else t
             for k, t in {**REQUIRED, **{k: t for k, (t, _) in OPTIONAL.items()}}.items()}
    for key, typ in types.items():
        if key not in hyper:
            if key in required:
                raise ValueError(f"{where}: missing key {key!r}")
            continue
        value = hyper[key]
        if not isinstance(value, typ) or (typ is _NUMBER and isinstance(value, bool)):
            raise ValueError(f"{where}: key {key!r} has the wrong type "
                             f"({type(value).__name__})")
    unknown = set(hyper) - set(types)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if hyper["weight_decay_mode"] not in WEIGHT_DECAY_MODES:
        raise ValueError(f"{where}: unknown weight_decay_mode {hyper['weight_decay_mode']!r}")
    for key in NUMERIC:
        if not math.isfinite(hyper[key]) or hyper[key] < 0:
            raise ValueError(f"{where}: {key} must be finite and >= 0, got {hyper[key]!r}")


def complete(hyper: Mapping[str, Any]) -> dict[str, Any]:
    """``hyper`` with every optional key present (absent ones get their defaults).

    Raises ``ValueError`` when a required key is missing or the weight-decay mode is
    unknown.

    >>> complete(base())["luc_trust"]
    0.001
    """
    missing = [k for k in REQUIRED if k not in hyper]
    if missing:
        raise ValueError(f"case hyper is missing {missing}")
    if hyper["weight_decay_mode"] not in WEIGHT_DECAY_MODES:
        raise ValueError(f"unknown weight_decay_mode {hyper['weight_decay_mode']!r}")
    return {**{k: default for k, (_, default) in OPTIONAL.items()}, **hyper}

