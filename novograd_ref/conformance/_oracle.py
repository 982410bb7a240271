"""The oracle's presets as adapters, and loading a user's implementation by name."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import presets
from .._docs import docs_url
from .._optimizer import apply_updates
from ._adapter import (
    Adapter,
    Implementation,
    ImplementationError,
    LearningRate,
    Unsupported,
)
from .targets import ExecTarget, TargetError, is_target, target_implementation, target_module


class PresetAdapter:
    """Drive one of the oracle's presets through the :class:`Adapter` protocol.

    ``kwargs`` are the preset's own keywords without the learning rate (the same
    keywords the framework's constructor takes). A learning-rate table becomes a
    schedule ``k -> table[k]``; corrected weight decay, which divides by the
    constructor's rate (``max_learning_rate``, timm's ``max_lr``), gets the table's
    peak, as the framework adapters construct with it. The keywords reach the preset
    through their canonical names (:meth:`~novograd_ref.presets.PresetSpec.canonical`,
    :func:`~novograd_ref.presets.build`).

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
        self.name = f"preset:{preset}"
        presets.spec(preset)  # fail early on an unknown name

    def init(self, params: Mapping[str, np.ndarray], learning_rate: LearningRate) -> Any:
        hyper = presets.spec(self.preset).canonical(**self.kwargs)
        if isinstance(learning_rate, np.ndarray):
            table = [float(x) for x in learning_rate]
            rate: Any = lambda k: table[int(k)]
            if (hyper["weight_decay_mode"] == "corrected"
                    and hyper.get("max_learning_rate") is None):
                hyper["max_learning_rate"] = max(table)
        else:
            rate = float(learning_rate)
        opt = presets.build(self.preset, rate, **hyper)
        params = {k: np.array(v, copy=True) for k, v in params.items()}
        return opt, params, opt.init(params)

    def update(self, grads: Mapping[str, np.ndarray], state: Any
               ) -> tuple[dict[str, np.ndarray], Any]:
        opt, params, opt_state = state
        updates, opt_state = opt.update(dict(grads), opt_state, params)
        params = apply_updates(params, updates)
        return dict(params), (opt, params, opt_state)


def implementation(spec: str) -> Implementation:
    """An :class:`Implementation` from a name: ``preset:NAME`` (or a preset name), a
    framework name (``framework:NAME`` to insist), ``module:factory``, or a published
    optimizer (``torch:MODULE:CLASS``, ``optax:MODULE:FUNCTION``, ``keras:MODULE:CLASS``;
    see :mod:`novograd_ref.conformance.targets`).

    ``module:factory``: ``factory(**kwargs)`` must return an object with the adapter's
    ``init`` and ``update``; it raises :class:`~novograd_ref.conformance.Unsupported`
    (or ``NotImplementedError``) for keywords it does not have. A framework runs as its ordinary recording does for the
    dtype (e.g. torch's default dtype set to the parameters' dtype). Raises
    :class:`ImplementationError` with one clear line when ``spec`` names nothing usable.

    A factory may declare oracle keywords: an attribute ``oracle_kwargs`` holding a dict
    of preset keywords added to every comparison (``make.oracle_kwargs =
    {"state_dtype": "float32"}`` for a port that keeps its second moment in float32),
    or a callable ``(kwargs, dtype) -> dict`` of them; see
    ``declared_oracle_kwargs``.

    ``exec:COMMAND``: a port in any language speaking the novograd-ref protocol over
    its standard input and output (:class:`~novograd_ref.conformance.targets.ExecTarget`).
    """
    if spec.startswith("exec:"):
        return Implementation(spec, _exec_target(spec).build)
    if is_target(spec):
        return target_implementation(spec)
    if spec.startswith("preset:") or (":" not in spec and spec in presets.names()
                                      and not _is_framework(spec)):
        name = spec.removeprefix("preset:")
        presets.get(name)
        return Implementation(spec, lambda kwargs, dtype: PresetAdapter(name, **kwargs))
    if ":" in spec and not spec.startswith("framework:"):
        factory = _factory(spec)
        return Implementation(spec, lambda kwargs, dtype: _checked(spec, factory(**kwargs)),
                              declared_oracle_kwargs(spec, factory))
    name = spec.removeprefix("framework:")
    if not _is_framework(name):
        from . import frameworks

        raise ImplementationError(
            f"unknown implementation {spec!r}: not a preset ({', '.join(presets.names())}), "
            f"a framework ({', '.join(frameworks.FRAMEWORKS)}) or module:factory")
    return _framework_implementation(spec, name)


def check_spec(spec: str) -> None:
    """Raise :class:`ImplementationError` (one line) unless ``spec`` names something
    :func:`implementation` can load; a ``module:factory`` module is looked up without
    being imported (its parent packages are imported).

    >>> check_spec("preset:optax")
    """
    if spec.startswith("exec:"):
        _exec_target(spec)
        return
    if ":" in spec and not spec.startswith(("preset:", "framework:")):
        if is_target(spec):
            module_name = target_module(spec)
        else:
            module_name, _, factory_name = spec.partition(":")
            if not module_name or not factory_name.isidentifier():
                raise ImplementationError(f"{spec!r} is not module:factory")
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError) as exc:
            raise ImplementationError(f"cannot import {module_name!r}: {exc}") from None
        if found is None:
            raise ImplementationError(f"cannot import {module_name!r}: no module named "
                                      f"{module_name!r}")
        return
    name = spec.removeprefix("preset:").removeprefix("framework:")
    if spec.startswith("preset:") or (name in presets.names() and not _is_framework(name)):
        if name not in presets.names():
            raise ImplementationError(f"unknown preset {name!r}; known: "
                                      f"{', '.join(presets.names())}")
        return
    _framework_implementation(spec, name) if _is_framework(name) else implementation(spec)


def declared_oracle_kwargs(spec: str, factory: Any
                           ) -> Callable[[dict[str, Any], str], dict[str, Any]]:
    """The oracle keywords of a ``module:factory`` run: its constructor keywords plus
    what the factory declares in its ``oracle_kwargs`` attribute (a dict, or a callable
    ``(kwargs, dtype) -> dict``), which win over them.

    >>> def make(**kwargs): ...
    >>> make.oracle_kwargs = {"state_dtype": "float32"}
    >>> declared_oracle_kwargs("port:make", make)({"b1": 0.9}, "float64")
    {'b1': 0.9, 'state_dtype': 'float32'}
    """
    declared = getattr(factory, "oracle_kwargs", None)
    if declared is None:
        return lambda kwargs, dtype: dict(kwargs)
    if not (isinstance(declared, Mapping) or callable(declared)):
        raise ImplementationError(f"{spec}: oracle_kwargs must be a dict of preset keywords "
                                  f"or a callable (kwargs, dtype) -> dict, got "
                                  f"{type(declared).__name__}")

    def oracle_kwargs(kwargs: dict[str, Any], dtype: str) -> dict[str, Any]:
        extra = declared(dict(kwargs), dtype) if callable(declared) else declared
        if not isinstance(extra, Mapping):
            raise ImplementationError(f"{spec}: oracle_kwargs returned "
                                      f"{type(extra).__name__}, expected a dict")
        return {**kwargs, **extra}

    return oracle_kwargs


def load_implementation(spec: str, dtype: str = "float64", **kwargs: Any) -> Adapter:
    """An adapter for ``spec`` (see :func:`implementation`) built with ``kwargs``."""
    return implementation(spec).build(kwargs, dtype)


def _is_framework(name: str) -> bool:
    from . import frameworks

    return name in frameworks.FRAMEWORKS


def _framework_implementation(spec: str, name: str) -> Implementation:
    from . import frameworks

    plugin = frameworks.load(name)
    if not plugin.available():
        raise ImplementationError(
            f"framework {name!r} is not installed here; the versions recorded and how to "
            f"set up their environments: {docs_url('vectors.html#adding-vectors')}")

    def settings(dtype: str) -> dict[str, Any]:
        variants = plugin.recording_variants(dtype)
        if not variants:
            raise Unsupported(f"{name} does not run {dtype}")
        return dict(variants[0][1])

    return Implementation(
        spec,
        lambda kwargs, dtype: plugin.make(settings(dtype), **kwargs),
        lambda kwargs, dtype: plugin.preset_kwargs(dict(kwargs), dtype, settings(dtype)))


def _exec_target(spec: str) -> ExecTarget:
    try:
        return ExecTarget(spec)
    except TargetError as exc:
        raise ImplementationError(str(exc)) from None


def _factory(spec: str) -> Callable[..., Any]:
    module_name, _, factory_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImplementationError(f"cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ImplementationError(f"{module_name!r} has no callable {factory_name!r}")
    return factory


def _checked(spec: str, adapter: Any) -> Adapter:
    if not (callable(getattr(adapter, "init", None)) and
            callable(getattr(adapter, "update", None))):
        raise ImplementationError(f"{spec} returned {type(adapter).__name__}, which has no "
                                  "init(params, learning_rate) / update(grads, state)")
    return adapter
