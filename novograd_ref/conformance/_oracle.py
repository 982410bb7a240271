"""The oracle's presets as adapters, and loading a user's implementation by name."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import reprlib
from collections.abc import Callable, Mapping
from importlib.machinery import ModuleSpec
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
from .targets import (
    MAX_MODULE_DEPTH,
    ExecTarget,
    TargetError,
    is_target,
    target_implementation,
    target_module,
)


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
            f"unknown implementation {_SHOWN.repr(spec)}: not a preset ({', '.join(presets.names())}), "
            f"a framework ({', '.join(frameworks.FRAMEWORKS)}) or module:factory")
    return _framework_implementation(spec, name)


#: The longest ``--impl`` accepted (a longer name is refused as a usage error); the most
#: dotted components of a module name is the targets' ``MAX_MODULE_DEPTH``.
MAX_SPEC_LENGTH = 1000
_SHOWN = reprlib.Repr()  # names in messages, cut to a readable length
_SHOWN.maxstring = 120


def check_spec(spec: str) -> None:
    """Raise :class:`ImplementationError` (one line) unless ``spec`` names something
    :func:`implementation` can load. Nothing of a ``module:factory`` runs here: its
    module is found by ``find_module`` (its parent packages are not imported); the
    child process that runs it imports it.

    >>> check_spec("preset:optax")
    >>> check_spec("a." * 40 + "b:make")
    Traceback (most recent call last):
    ...
    novograd_ref.conformance._adapter.ImplementationError: --impl: a module name of at most 32 dotted components is expected, got 41
    """
    if not isinstance(spec, str) or not spec:
        raise ImplementationError("--impl: an empty name is refused; name preset:NAME, a "
                                  "framework or module:factory")
    if len(spec) > MAX_SPEC_LENGTH:
        raise ImplementationError(f"--impl: a name of at most {MAX_SPEC_LENGTH} characters "
                                  f"is expected, got {len(spec)}")
    if spec.startswith("exec:"):
        _exec_target(spec)
        return
    if ":" in spec and not spec.startswith(("preset:", "framework:")):
        if is_target(spec):
            module_name = target_module(spec)
        else:
            module_name, _, factory_name = spec.partition(":")
            parts = module_name.split(".")
            if len(parts) > MAX_MODULE_DEPTH:
                raise ImplementationError(f"--impl: a module name of at most "
                                          f"{MAX_MODULE_DEPTH} dotted components is "
                                          f"expected, got {len(parts)}")
            if not (factory_name.isidentifier() and all(p.isidentifier() for p in parts)):
                raise ImplementationError(f"{_SHOWN.repr(spec)} is not module:factory "
                                          "(dotted Python names)")
        if find_module(module_name) is None:
            raise ImplementationError(f"cannot import {_SHOWN.repr(module_name)}: no such "
                                      "module")
        return
    name = spec.removeprefix("preset:").removeprefix("framework:")
    if spec.startswith("preset:") or (name in presets.names() and not _is_framework(name)):
        if name not in presets.names():
            raise ImplementationError(f"unknown preset {_SHOWN.repr(name)}; known: "
                                      f"{', '.join(presets.names())}")
        return
    _framework_implementation(spec, name) if _is_framework(name) else implementation(spec)


def find_module(module_name: str) -> ModuleSpec | None:
    """Where ``module_name`` would be loaded from, or ``None``, found without running
    any code of it or of its packages.

    The top-level name is looked up by the import system's finders (which find, never
    execute); each submodule by a search of its parent's folders only, so a package's
    ``__init__`` is never imported (a package that builds its ``__path__`` at import time
    is not seen through).

    >>> find_module("novograd_ref.conformance._child").name
    'novograd_ref.conformance._child'
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
    """The factory ``spec`` names, its module imported here; :class:`ImplementationError`
    when that module is not found or has no such callable. Whatever else importing it
    raises (a missing dependency included) is the implementation's own error and
    propagates."""
    module_name, _, factory_name = spec.partition(":")
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
