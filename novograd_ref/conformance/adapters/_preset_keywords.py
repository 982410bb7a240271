"""A case's canonical hyperparameters written in one preset's (one framework's) keywords.

Every live check builds the implementation under test with a preset's own constructor
keywords. The translation itself is the preset registry's
(:class:`novograd_ref.presets.PresetSpec`); this module is the kit's door to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import presets
from ..._json import stored
from .. import frameworks


def preset_kwargs_for(preset: str, hyper: Mapping[str, Any]) -> dict[str, Any] | None:
    """A case's canonical hyperparameters in ``preset``'s keywords (no learning rate):
    :meth:`novograd_ref.presets.PresetSpec.case_keywords`.

    ``None`` when the preset cannot express the case (a weight-decay mode or flag it
    lacks).

    >>> preset_kwargs_for("torch_optimizer", {"b1": 0.9, "b2": 0.98, "eps": 1e-8,
    ...     "eps_root": 0.0, "weight_decay": 0.0, "weight_decay_mode": "inside",
    ...     "averaging": False, "amsgrad": False})["betas"]
    (0.9, 0.98)
    """
    return presets.spec(preset).case_keywords(hyper)


def presets_with_keywords() -> list[str]:
    """The presets :func:`preset_kwargs_for` can translate cases for: every preset.

    >>> "flashlight" in presets_with_keywords()
    True
    """
    return presets.names()


def framework_preset_kwargs(preset: str, kwargs: Mapping[str, Any],
                            dtype: str) -> dict[str, Any]:
    """The keywords that model ``preset``'s framework on a ``dtype`` run, as its adapter
    and its bundled records use them (e.g. TFA's ``hyper_dtype="float32"`` for float64):
    the ``preset_kwargs`` of the framework plug-in the preset is bound to
    (:attr:`~novograd_ref.presets.PresetSpec.framework`), for its ordinary (first)
    recording variant. ``kwargs`` unchanged for a preset bound to no framework."""
    name = presets.spec(preset).framework
    if name is None:
        return dict(kwargs)
    plugin = frameworks.load(name)
    variants = plugin.recording_variants(dtype)
    settings = dict(variants[0][1]) if variants else {}
    out = plugin.preset_kwargs(stored(kwargs), dtype, settings)
    if "betas" in out:
        out["betas"] = tuple(out["betas"])
    return dict(out)
