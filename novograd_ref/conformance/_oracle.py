"""The oracle's presets as adapters, and loading a user's implementation by name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import presets
from .._optimizer import apply_updates
from ._adapter import Adapter, LearningRate


class ImplementationError(ValueError):
    """An implementation named on the command line cannot be loaded or used."""


class PresetAdapter:
    """Drive one of the oracle's presets through the :class:`Adapter` protocol.

    ``kwargs`` are the preset's own keywords without the learning rate (the same
    keywords the framework's constructor takes). A learning-rate table becomes a
    schedule ``k -> table[k]``; a preset that keeps its constructor rate (timm's
    ``max_lr``) gets the table's peak, as the framework adapters construct with it.

    >>> import numpy as np
    >>> adapter = PresetAdapter("optax", b1=0.9)
    >>> state = adapter.init({"w": np.array([1.0, 2.0])}, 0.1)
    >>> params, state = adapter.update({"w": np.array([3.0, 4.0])}, state)
    >>> params["w"]
    array([0.94000001, 1.92000002])
    """

    def __init__(self, preset: str, **kwargs: Any) -> None:
        self.preset = preset
        self.kwargs = dict(kwargs)
        if "betas" in self.kwargs:
            self.kwargs["betas"] = tuple(self.kwargs["betas"])
        self.name = f"preset:{preset}"
        presets.get(preset)  # fail early on an unknown name

    def init(self, params: Mapping[str, np.ndarray], learning_rate: LearningRate) -> Any:
        kwargs = dict(self.kwargs)
        if isinstance(learning_rate, np.ndarray):
            table = [float(x) for x in learning_rate]
            rate: Any = lambda k: table[int(k)]
            if kwargs.get("corrected_weight_decay") and "max_lr" not in kwargs:
                kwargs["max_lr"] = max(table)
        else:
            rate = float(learning_rate)
        keyword = presets.LEARNING_RATE_KEYWORD[self.preset]
        opt = presets.get(self.preset)(**{keyword: rate}, **kwargs)
        params = {k: np.array(v, copy=True) for k, v in params.items()}
        return opt, params, opt.init(params)

    def update(self, grads: Mapping[str, np.ndarray], state: Any
               ) -> tuple[dict[str, np.ndarray], Any]:
        opt, params, opt_state = state
        updates, opt_state = opt.update(dict(grads), opt_state, params)
        params = apply_updates(params, updates)
        return dict(params), (opt, params, opt_state)


def load_implementation(spec: str, **kwargs: Any) -> Adapter:
    """An adapter from a name: ``preset:NAME``, a framework name, or ``module:factory``.

    - ``preset:optax`` (or just a preset name): the oracle's preset;
    - ``optax``, ``torch_optimizer``, ``timm``, ... : the real framework, if installed
      (names prefixed ``framework:`` are always taken as frameworks);
    - ``package.module:factory``: ``factory(**kwargs)`` must return an object with the
      adapter's ``init`` and ``update``.

    Raises :class:`ImplementationError` with one clear line on any failure.
    """
    if spec.startswith("preset:"):
        return PresetAdapter(spec.split(":", 1)[1], **kwargs)
    if ":" in spec and not spec.startswith("framework:"):
        module_name, _, factory_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImplementationError(f"cannot import {module_name!r}: {exc}") from exc
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            raise ImplementationError(f"{module_name!r} has no callable {factory_name!r}")
        adapter = factory(**kwargs)
        if not (callable(getattr(adapter, "init", None)) and
                callable(getattr(adapter, "update", None))):
            raise ImplementationError(f"{spec} returned {type(adapter).__name__}, which has "
                                      "no init(params, learning_rate) / update(grads, state)")
        return adapter
    name = spec.removeprefix("framework:")
    from . import frameworks

    if name in frameworks.FRAMEWORKS:
        module = frameworks.load(name)
        if not module.available():
            raise ImplementationError(f"framework {name!r} is not installed here; see "
                                      "scripts/make_env.sh")
        return module.make(**kwargs)
    if name in presets.names():
        return PresetAdapter(name, **kwargs)
    raise ImplementationError(f"unknown implementation {spec!r}: not a preset "
                              f"({', '.join(presets.names())}), a framework "
                              f"({', '.join(frameworks.FRAMEWORKS)}) or module:factory")
