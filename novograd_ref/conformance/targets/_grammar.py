"""The grammar of published-optimizer targets: ``KIND:MODULE:NAME[?options]``.

See :mod:`novograd_ref.conformance.targets`.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .._adapter import ImplementationError

KINDS: dict[str, str] = {
    "torch": "a torch.optim.Optimizer subclass",
    "optax": "a function returning an optax GradientTransformation",
    "keras": "a Keras 3 optimizer class",
}
"""Target kind -> what ``NAME`` must be."""

#: Most dots a module name may have (a deeper name is a usage error, not a search).
MAX_MODULE_DEPTH = 32


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
