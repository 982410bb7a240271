"""The canonical hyperparameters: one spelling of NovoGrad's settings for every preset.

A case of the golden vectors, a search over configurations and
:func:`novograd_ref.presets.build` all describe a configuration in these names; each
preset's :class:`~novograd_ref.presets.PresetSpec` translates them into its
framework's own keywords and back. ``docs/vectors.md`` (section 3.2) is the normative
description of a case's ``hyper`` mapping; this module is its one definition, imported
by the vectors, the framework adapters, the case suite and the conformance kit.

Required keys (every case has them):

* ``b1``, ``b2`` (first- and second-moment decay), ``eps`` (added outside the square
  root, ``sqrt(v + eps_root) + eps``), ``eps_root`` (inside it), ``weight_decay``:
  finite numbers ``>= 0``;
* ``weight_decay_mode``: where ``weight_decay * p`` goes, one of
  :data:`WEIGHT_DECAY_MODES`: ``"inside"`` the normalized gradient (``u = g/den + wd p``),
  ``"decoupled"`` (``p *= 1 - lr wd``), ``"fixed"`` (``p *= 1 - wd``), ``"corrected"``
  (``p *= 1 - lr^2 / max_lr wd``, timm);
* ``grad_averaging`` (the implementation's ``1 - b1`` flag is on), ``amsgrad``: booleans.

Optional keys (:data:`OPTIONAL`, with their defaults): the feature flags ``luc``
(NeMo's layer-wise update clipping, with ``luc_trust`` and ``luc_eps``),
``adam_debias`` (pytorch_optimizer's ``sqrt(1 - b2^t)`` step size) and ``maximize``.

>>> base(b1=0.9)["b1"], base()["weight_decay_mode"]
(0.9, 'inside')
>>> sorted(complete(base(luc=True)))[:4]
['adam_debias', 'amsgrad', 'b1', 'b2']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._config import DEFAULT_B1, DEFAULT_B2, DEFAULT_EPS, DEFAULT_LUC_EPS, DEFAULT_LUC_TRUST

__all__ = ["BASE", "FLAGS", "NUMERIC", "OPTIONAL", "REQUIRED", "SAMPLE_VALUES",
           "WEIGHT_DECAY_MODES", "base", "complete", "validate"]

_NUMBER = (int, float)

#: Where weight decay goes (see the module docstring).
WEIGHT_DECAY_MODES: tuple[str, ...] = ("inside", "decoupled", "fixed", "corrected")

#: The numeric hyperparameters of every case (finite, ``>= 0``).
NUMERIC: tuple[str, ...] = ("b1", "b2", "eps", "eps_root", "weight_decay")

#: Every case's keys and their JSON types, in order.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(NUMERIC, _NUMBER),
    "weight_decay_mode": str,
    "grad_averaging": bool,
    "amsgrad": bool,
}

#: The optional keys of a case, their types and the value an absent key means.
OPTIONAL: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "luc": (bool, False),
    "luc_trust": (_NUMBER, DEFAULT_LUC_TRUST),
    "luc_eps": (_NUMBER, DEFAULT_LUC_EPS),
    "adam_debias": (bool, False),
    "maximize": (bool, False),
}

#: The on/off feature flags among the keys (``amsgrad`` is one too, and required).
FLAGS: tuple[str, ...] = ("amsgrad", "luc", "adam_debias", "maximize")

#: NovoGrad's usual values (the paper's ``b1, b2, eps``), no weight decay, no flag.
BASE: dict[str, Any] = {
    "b1": DEFAULT_B1, "b2": DEFAULT_B2, "eps": DEFAULT_EPS, "eps_root": 0.0, "weight_decay": 0.0,
    "weight_decay_mode": "inside", "grad_averaging": False, "amsgrad": False,
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


def validate(hyper: Mapping[str, Any], where: str = "hyper") -> None:
    """Check a case's ``hyper`` mapping: required keys, types, closed key set, values.

    Raises ``ValueError`` naming ``where`` and the key.

    >>> validate(base(b1=-1.0))
    Traceback (most recent call last):
    ...
    ValueError: hyper: b1 must be finite and >= 0, got -1.0
    """
    types = {**REQUIRED, **{k: t for k, (t, _) in OPTIONAL.items()}}
    for key, typ in types.items():
        if key not in hyper:
            if key in REQUIRED:
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

