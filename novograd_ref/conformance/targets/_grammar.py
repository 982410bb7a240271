"""The grammar of ``--impl``: what an implementation's name says (:func:`parse_impl`),
and of its published-optimizer targets, ``KIND:MODULE:NAME[?options]`` (:func:`parse`).

See :mod:`novograd_ref.conformance.targets`.
"""

from __future__ import annotations

import ast
import dataclasses
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

from ... import presets
from .. import frameworks
from ..adapters._protocol import ImplementationError

KINDS: dict[str, str] = {
    "torch": "a torch.optim.Optimizer subclass",
    "optax": "a function returning an optax GradientTransformation",
    "keras": "a Keras 3 optimizer class",
}
"""Target kind -> what ``NAME`` must be."""

#: Most dots a module name may have (a deeper name is a usage error, not a search).
MAX_MODULE_DEPTH = 32
#: The longest ``--impl`` accepted (a longer name is refused as a usage error).
MAX_SPEC_LENGTH = 1000
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 120


class TargetError(ImplementationError):
    """A target that does not parse; the message is one line for the command line."""


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed ``KIND:MODULE:NAME[?options]`` target (see the module docstring)."""

    kind: str
    module: str
    name: str
    keywords: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    mapping: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def what(self) -> str:
        """``MODULE.NAME``, for messages."""
        return f"{self.module}.{self.name}"


def shown(name: str) -> str:
    """``name`` as a message shows it: its repr, cut to a readable length.

    >>> shown("x" * 200)[:8], len(shown("x" * 200))
    ("'xxxxxxx", 120)
    """
    return _SHOWN.repr(name)


def is_target(spec: str) -> bool:
    """Whether ``spec`` is meant as a published-optimizer target (``KIND:...``; the
    modules ``torch``, ``optax`` and ``keras`` are not ports with a factory).

    >>> is_target("torch:my_optim:NovoGrad"), is_target("my_port:make")
    (True, False)
    """
    return spec.partition(":")[0] in KINDS and ":" in spec


def parse(spec: str) -> Target:
    """Parse a target; raise :class:`TargetError` with one line naming what is wrong.

    >>> parse("optax:optax:novograd").what
    'optax.novograd'
    >>> parse("torch:my optim:NovoGrad")
    Traceback (most recent call last):
    novograd_ref.conformance.targets._grammar.TargetError: torch:my optim:NovoGrad: 'my optim' is not a module name (dotted identifiers)
    """
    head, _, query = spec.partition("?")
    kind, module, name = [*head.split(":"), "", ""][:3]
    if kind not in KINDS or head.count(":") != 2:
        raise TargetError(f"{spec}: expected KIND:MODULE:NAME with KIND one of "
                          f"{', '.join(KINDS)}")
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts) or len(parts) > MAX_MODULE_DEPTH:
        raise TargetError(f"{spec}: {module!r} is not a module name (dotted identifiers"
                          + (f", at most {MAX_MODULE_DEPTH} deep)" if len(parts) >
                             MAX_MODULE_DEPTH else ")"))
    if not name.isidentifier():
        raise TargetError(f"{spec}: {name!r} is not a {KINDS[kind].split(' ', 2)[-1]} name "
                          "(an identifier)")
    keywords: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for option in filter(None, query.split("&")):
        key, eq, value = option.partition("=")
        family, _, option_name = key.partition(".")
        if not eq or family not in ("kw", "map") or not option_name.isidentifier():
            raise TargetError(f"{spec}: option {option!r} is not kw.NAME=VALUE or "
                              "map.THEIRS=OURS")
        if family == "kw":
            keywords[option_name] = literal(value)
        elif value.isidentifier():
            mapping[option_name] = value
        else:
            raise TargetError(f"{spec}: map.{option_name}={value!r}: OURS must be a "
                              "hyperparameter name")
    return Target(kind, module, name, keywords, mapping)


IMPL_KINDS: dict[str, str] = {
    "exec": "exec:COMMAND, a port in any language speaking the exec protocol",
    "target": "KIND:MODULE:NAME[?options], an optimizer as published",
    "preset": "preset:NAME, or the name of a preset that is no framework's",
    "factory": "MODULE:FACTORY, a port's factory",
    "framework": "framework:NAME, or any other name",
}
"""What an ``--impl`` can name (``ImplSpec.kind``) -> how it is written."""


@dataclasses.dataclass(frozen=True)
class ImplSpec:
    """What an ``--impl`` names (:func:`parse_impl`): its ``kind`` (a key of ``IMPL_KINDS``),
    and ``name``: the command of ``exec``, the module of a ``target`` or a ``factory``
    (``factory`` holds the factory's name), the preset, or the framework."""

    kind: str
    name: str
    factory: str = ""

    def keywords_preset(self) -> str:
        """The preset whose keywords the implementation takes, unless told otherwise: a
        preset's own, a registered framework's preset, else ``optax``.

        >>> parse_impl("framework:timm").keywords_preset(), parse_impl("port:make").keywords_preset()
        ('timm', 'optax')
        """
        if self.kind == "framework" and self.name in frameworks.FRAMEWORKS:
            return frameworks.load(self.name).preset
        if self.kind == "preset" and self.name in presets.names():
            return self.name
        return "optax"


def parse_impl(spec: str) -> ImplSpec:
    """The one reading of an ``--impl`` name (not empty, at most ``MAX_SPEC_LENGTH``
    characters), in this order: ``exec:COMMAND``; a target
    ``torch:``, ``optax:`` or ``keras:MODULE:NAME[?options]`` (checked by :func:`parse`);
    ``preset:NAME``, or a name without ``:`` that is a preset and no framework's;
    ``MODULE:FACTORY`` (dotted Python names, at most ``MAX_MODULE_DEPTH`` deep);
    ``framework:NAME`` or any other name, a framework. Whether the preset, framework or
    module exists is not checked here; a malformed target or factory is an
    :class:`~novograd_ref.conformance.ImplementationError`.

    >>> parse_impl("my_pkg.port:make")
    ImplSpec(kind='factory', name='my_pkg.port', factory='make')
    >>> parse_impl("optax"), parse_impl("paper")
    (ImplSpec(kind='framework', name='optax', factory=''), ImplSpec(kind='preset', name='paper', factory=''))
    """
    if not isinstance(spec, str) or not spec:
        raise ImplementationError("--impl: an empty name is refused; name preset:NAME, a "
                                  "framework or module:factory")
    if len(spec) > MAX_SPEC_LENGTH:
        raise ImplementationError(f"--impl: a name of at most {MAX_SPEC_LENGTH} characters "
                                  f"is expected, got {len(spec)}")
    if spec.startswith("exec:"):
        return ImplSpec("exec", spec.removeprefix("exec:"))
    if is_target(spec):
        return ImplSpec("target", parse(spec).module)
    if spec.startswith("preset:") or (":" not in spec and spec in presets.names()
                                      and spec not in frameworks.FRAMEWORKS):
        return ImplSpec("preset", spec.removeprefix("preset:"))
    if ":" in spec and not spec.startswith("framework:"):
        module, _, factory = spec.partition(":")
        parts = module.split(".")
        if len(parts) > MAX_MODULE_DEPTH:
            raise ImplementationError(f"--impl: a module name of at most {MAX_MODULE_DEPTH} "
                                      f"dotted components is expected, got {len(parts)}")
        if not (factory.isidentifier() and all(p.isidentifier() for p in parts)):
            raise ImplementationError(f"{shown(spec)} is not module:factory (dotted "
                                      "Python names)")
        return ImplSpec("factory", module, factory)
    return ImplSpec("framework", spec.removeprefix("framework:"))


def literal(text: str) -> Any:
    """A ``--kw`` value: a Python literal (number, bool, None, tuple...), else the text.

    >>> literal("0.9"), literal("(0.9, 0.98)"), literal("True"), literal("adam")
    (0.9, (0.9, 0.98), True, 'adam')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def with_options(spec: str, keywords: Sequence[str] = (), mapping: Sequence[str] = ()
                 ) -> str:
    """``spec`` with the command line's ``--kw NAME=VALUE`` and ``--map THEIRS=OURS``
    written into it; a usage error for options on anything but a target.

    >>> with_options("torch:m:C", ["foreach=False"], ["momentum=b1"])
    'torch:m:C?kw.foreach=False&map.momentum=b1'
    """
    if not keywords and not mapping:
        return spec
    if not is_target(spec):
        raise TargetError(f"--kw and --map apply to torch:, optax: and keras: targets, "
                          f"not to {spec!r}")
    options = [f"kw.{o}" for o in keywords] + [f"map.{o}" for o in mapping]
    for option in options:
        if "=" not in option:
            raise TargetError(f"--{option.split('.')[0]} {option.split('.', 1)[1]!r}: "
                              "expected NAME=VALUE")
    joined = spec + ("&" if "?" in spec else "?") + "&".join(options)
    parse(joined)
    return joined
