"""The oracle's presets as adapters, and loading a user's implementation by name."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
from collections.abc import Callable, Mapping
from importlib.machinery import ModuleSpec
from typing import Any

import numpy as np

from ... import presets
from ..._optimizer import apply_updates
from ...links import docs_url
from .. import frameworks
from ..targets import (
    ExecTarget,
    TargetError,
    parse_impl,
    target_implementation,
)
from ..targets._grammar import shown
from ._protocol import (
    Adapter,
    Implementation,
    ImplementationError,
    LearningRate,
    Unsupported,
)


class PresetAdapter:
    """Drive one of the oracle's presets through the :class:`Adapter` protocol.

    ``kwargs`` are the preset's own keywords without the learning rate (the same
    keywords the framework's constructor takes). A learning-rate table becomes a
    schedule ``k -> table[k]``; corrected weight decay, which divides by the
    constructor's rate (``max_learning_rate``, timm's ``max_lr``), gets the table's
    peak, as the framework adapters construct with it
    (:func:`~novograd_ref.presets.from_keywords`).

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
        peak = None
        if isinstance(learning_rate, np.ndarray):
            table = [float(x) for x in learning_rate]
            rate: Any = lambda k: table[int(k)]
            peak = max(table)
        else:
            rate = float(learning_rate)
        opt = presets.from_keywords(self.preset, rate, self.kwargs, peak_learning_rate=peak)
        params = {k: np.array(v, copy=True) for k, v in params.items()}
        return opt, params, opt.init(params)

    def update(self, grads: Mapping[str, np.ndarray], state: Any
               ) -> tuple[dict[str, np.ndarray], Any]:
        opt, params, opt_state = state
        updates, opt_state = opt.update(dict(grads), opt_state, params)
        params = apply_updates(params, updates)
        return dict(params), (opt, params, opt_state)


def implementation(spec: str, preset: str | None = None) -> Implementation:
    """An :class:`Implementation` from a name, built with keywords of ``preset``: ``preset:NAME`` (or a preset name), a
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

    ``preset`` names the preset whose keywords the runs give: an exec port is told
    their canonical hyperparameters (it needs one), a published optimizer's constructor
    is filled by their meaning; the other kinds take keywords as they are.
    """
    impl = parse_impl(spec)
    if impl.kind == "exec":
        return Implementation(spec, _exec_target(spec, preset).build)
    if impl.kind == "target":
        return target_implementation(spec, preset)
    if impl.kind == "preset":
        name = impl.name
        presets.get(name)
        return Implementation(spec, lambda kwargs, dtype: PresetAdapter(name, **kwargs))
    if impl.kind == "factory":
        factory = _factory(impl.name, impl.factory)
        return Implementation(spec, lambda kwargs, dtype: _checked(spec, factory(**kwargs)),
                              declared_oracle_kwargs(spec, factory))
    if not _is_framework(impl.name):
        raise ImplementationError(
            f"unknown implementation {shown(spec)}: not a preset ({', '.join(presets.names())}), "
            f"a framework ({', '.join(frameworks.FRAMEWORKS)}) or module:factory")
    return _framework_implementation(spec, impl.name)


def check_spec(spec: str) -> None:
    """Raise :class:`ImplementationError` (one line) unless ``spec`` names something
    :func:`implementation` can load. Nothing of a ``module:factory`` runs here: its
    module is found by ``find_module`` (its parent packages are not imported); the
    child process that runs it imports it.

    >>> check_spec("preset:optax")
    >>> check_spec("a." * 40 + "b:make")
    Traceback (most recent call last):
    ...
    novograd_ref.conformance.adapters._protocol.ImplementationError: --impl: a module name of at most 32 dotted components is expected, got 41
    """
    impl = parse_impl(spec)
    if impl.kind == "exec":
        _exec_target(spec)
    elif impl.kind in ("target", "factory"):
        if find_module(impl.name) is None:
            raise ImplementationError(f"cannot import {shown(impl.name)}: no such module")
    elif impl.kind == "preset":
        if impl.name not in presets.names():
            raise ImplementationError(f"unknown preset {shown(impl.name)}; known: "
                                      f"{', '.join(presets.names())}")
    elif _is_framework(impl.name):
        _framework_implementation(spec, impl.name)
    else:
        implementation(spec)


def find_module(module_name: str) -> ModuleSpec | None:
    """Where ``module_name`` would be loaded from, or ``None``, found without running
    any code of it or of its packages.

    The top-level name is looked up by the import system's finders (which find, never
    execute); each submodule by a search of its parent's folders only, so a package's
    ``__init__`` is never imported (a package that builds its ``__path__`` at import time
    is not seen through).

    >>> find_module("novograd_ref.conformance.isolation._child").name
    'novograd_ref.conformance.isolation._child'
    >>> find_module("novograd_ref.no_such_module") is None
    True
    """
    parts = module_name.split(".")
    try:
        found = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    for depth in range(2, len(parts) + 1):
        folders = found.submodule_search_locations if found is not None else None
        if not folders:
            return None
        found = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]),
                                                         list(folders))
    return found


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


def load_implementation(spec: str, dtype: str = "float64", preset: str | None = None,
                        **kwargs: Any) -> Adapter:
    """An adapter for ``spec`` (see :func:`implementation`) built with ``kwargs``, the
    keywords of ``preset``."""
    return implementation(spec, preset).build(kwargs, dtype)


def _is_framework(name: str) -> bool:
    return name in frameworks.FRAMEWORKS


def _framework_implementation(spec: str, name: str) -> Implementation:
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


def _exec_target(spec: str, preset: str | None = None) -> ExecTarget:
    try:
        return ExecTarget(spec, preset)
    except TargetError as exc:
        raise ImplementationError(str(exc)) from None


def _factory(module_name: str, factory_name: str) -> Callable[..., Any]:
    """The factory ``module_name:factory_name`` names, its module imported here;
    :class:`ImplementationError` when that module is not found or has no such callable.
    Whatever else importing it raises (a missing dependency included) is the
    implementation's own error and propagates."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise  # a module the implementation imports is missing: its own error
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


def keywords_preset(spec: str, preset: str | None = None) -> str:
    """The preset whose keywords the implementation ``spec`` takes: ``preset`` when
    given; else a framework's own preset (``spec`` a framework name); else the preset
    ``spec`` names (``preset:NAME`` or ``NAME``); else ``optax``. Not checked here.

    >>> keywords_preset("framework:timm"), keywords_preset("preset:tfa"), keywords_preset("m:make")
    ('timm', 'tfa', 'optax')
    >>> keywords_preset("timm", preset="nemo")
    'nemo'
    """
    return preset or parse_impl(spec).keywords_preset()
