"""A case's canonical hyperparameters written in one preset's (one framework's) keywords.

Every live check builds the implementation under test with a preset's own constructor
keywords; this module alone knows how each preset spells a case. Presets sharing a
constructor signature share a translation; the real frameworks' modules translate for
their presets; Apex and flashlight, which have no framework module here, have their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import presets
from . import frameworks

# presets that take another preset's keywords (same constructor signature)
_SAME_KEYWORDS = {"dle": "torch_optimizer", "monai": "torch_optimizer", "clara": "openseq2seq"}


def preset_kwargs_for(preset: str, hyper: Mapping[str, Any]) -> dict[str, Any] | None:
    """A case's canonical hyperparameters in ``preset``'s keywords (no learning rate).

    ``None`` when the preset cannot express the case (a weight-decay mode or flag it
    lacks). Presets of the real frameworks use the frameworks' own translation.

    >>> preset_kwargs_for("torch_optimizer", {"b1": 0.9, "b2": 0.98, "eps": 1e-8,
    ...     "eps_root": 0.0, "weight_decay": 0.0, "weight_decay_mode": "inside",
    ...     "grad_averaging": False, "amsgrad": False})["betas"]
    (0.9, 0.98)
    """
    source = _SAME_KEYWORDS.get(preset, preset)
    if source in _OWN_KEYWORDS:
        return _OWN_KEYWORDS[source](frameworks.canonical_hyper(dict(hyper)))
    if source == "paper":
        kwargs = preset_kwargs_for("optax", hyper)
        if kwargs is None or kwargs.pop("eps_root"):
            return None
        return kwargs
    if source not in frameworks.FRAMEWORKS:
        return None
    kwargs = frameworks.load(source).kwargs_for(dict(hyper))
    if kwargs is not None and "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return kwargs


def _apex_kwargs(h: Mapping[str, Any]) -> dict[str, Any] | None:
    """Apex ``FusedNovoGrad`` keywords: the moment takes the normalised gradient
    (``reg_inside_moment``) and there is no bias correction, as in the canonical
    update; no amsgrad, eps_root, decoupled decay or optional flag."""
    if frameworks.flags_on(dict(h)) or h["eps_root"] != 0:
        return None
    if h["weight_decay"] != 0 and h["weight_decay_mode"] != "inside":
        return None
    return {"betas": (float(h["b1"]), float(h["b2"])), "eps": float(h["eps"]),
            "weight_decay": float(h["weight_decay"]),
            "grad_averaging": bool(h["grad_averaging"]), "reg_inside_moment": True,
            "bias_correction": False}


def _flashlight_kwargs(h: Mapping[str, Any]) -> dict[str, Any] | None:
    """flashlight ``NovogradOptimizer`` keywords: it always averages (``1 - b1``), so
    only cases with ``grad_averaging``; no amsgrad, eps_root, decoupled decay or flag."""
    if frameworks.flags_on(dict(h)) or h["eps_root"] != 0 or not h["grad_averaging"]:
        return None
    if h["weight_decay"] != 0 and h["weight_decay_mode"] != "inside":
        return None
    return {"beta1": float(h["b1"]), "beta2": float(h["b2"]), "epsilon": float(h["eps"]),
            "weightDecay": float(h["weight_decay"])}


# presets without a framework module: their own translation of a case
_OWN_KEYWORDS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any] | None]] = {
    "apex": _apex_kwargs, "flashlight": _flashlight_kwargs}


def presets_with_keywords() -> list[str]:
    """The presets :func:`preset_kwargs_for` can translate cases for."""
    return [p for p in presets.names()
            if _SAME_KEYWORDS.get(p, p) in (*frameworks.FRAMEWORKS, *_OWN_KEYWORDS, "paper")]


def framework_preset_kwargs(preset: str, kwargs: Mapping[str, Any],
                            dtype: str) -> dict[str, Any]:
    """The keywords that model ``preset``'s framework on a ``dtype`` run, as its adapter
    and its bundled records use them (e.g. TFA's ``hyper_dtype="float32"`` for float64):
    the framework module's ``preset_kwargs`` for its ordinary (first) recording variant.
    ``kwargs`` unchanged when no framework has ``preset`` as its preset."""
    for name in frameworks.FRAMEWORKS:
        module = frameworks.load(name)
        if preset == module.PRESET:
            variants = module.recording_variants(dtype)
            settings = dict(variants[0][1]) if variants else {}
            out = module.preset_kwargs(jsonable(kwargs), dtype, settings)
            if "betas" in out:
                out["betas"] = tuple(out["betas"])
            return dict(out)
    return dict(kwargs)




def jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Keywords as they read back from JSON: tuples become lists.

    >>> jsonable({"betas": (0.9, 0.98)})
    {'betas': [0.9, 0.98]}
    """
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
