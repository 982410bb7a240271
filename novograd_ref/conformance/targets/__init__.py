"""How the kit reaches an implementation without glue code.

Optimizers as published, ``KIND:MODULE:NAME`` (the constructor filled from each case's
hyperparameters by its signature, ``_keywords``):

- ``torch:MODULE:CLASS``: a ``torch.optim.Optimizer`` subclass (``_torch_class``);
- ``optax:MODULE:FUNCTION``: a function returning an optax ``GradientTransformation``
  (``_optax_function``);
- ``keras:MODULE:CLASS``: a Keras 3 optimizer (``_keras_class``).

Options ride in the target itself, after a ``?``, so that a report's target reproduces
the run: ``kw.NAME=VALUE`` passes a constructor keyword as it is (``VALUE`` a Python
literal, else a string), ``map.THEIRS=OURS`` says that the constructor's ``THEIRS``
carries our hyperparameter ``OURS``, joined by ``&``
(``torch:my_optim:NovoGrad?kw.foreach=False&map.momentum=b1``); the command line's
``--kw`` and ``--map`` write them (:func:`with_options`).

``exec:COMMAND`` (:class:`ExecTarget`): a port in any language, started as a process and
driven over its standard input and output with the novograd-ref protocol
(``docs/exec-protocol.md``). The client libraries that speak it for a port, in C
(``novograd_ref.h``), Rust (``novograd_ref.rs``) and JavaScript (``novograd_ref.mjs``),
ship in ``clients/``; :func:`copy_clients` (``novograd-ref clients --out DIR``) copies
them out.

>>> from novograd_ref.conformance.targets import parse
>>> target = parse("torch:my_optim:NovoGrad?kw.foreach=False&map.momentum=b1")
>>> target.kind, target.module, target.name, target.keywords, target.mapping
('torch', 'my_optim', 'NovoGrad', {'foreach': False}, {'momentum': 'b1'})
"""

from __future__ import annotations

from ..adapters._protocol import Implementation
from . import _keras_class, _optax_function, _torch_class
from ._clients import CLIENTS, client_files, copy_clients
from ._exec import (
    PROTOCOL_VERSION,
    ExecAdapter,
    ExecTarget,
    canonical_hyper,
    resolve_command,
)
from ._grammar import (
    IMPL_KINDS,
    KINDS,
    MAX_MODULE_DEPTH,
    ImplSpec,
    Target,
    TargetError,
    is_target,
    parse,
    parse_impl,
    with_options,
)
from ._keras_class import keras_module

__all__ = ["CLIENTS", "IMPL_KINDS", "KINDS", "MAX_MODULE_DEPTH", "PROTOCOL_VERSION",
           "ExecAdapter", "ExecTarget", "ImplSpec", "Target", "TargetError",
           "canonical_hyper", "client_files", "copy_clients", "is_target", "keras_module",
           "parse", "parse_impl", "resolve_command", "target_implementation",
           "target_module", "with_options"]

_BUILDERS = {"torch": _torch_class.implementation, "optax": _optax_function.implementation,
             "keras": _keras_class.implementation}


def target_implementation(spec: str, preset: str | None = None) -> Implementation:
    """The :class:`~novograd_ref.conformance.Implementation` of a published optimizer
    (imports it), built with keywords of ``preset`` (see ``_keywords``)."""
    target = parse(spec)
    return _BUILDERS[target.kind](spec, target, preset)


def target_module(spec: str) -> str:
    """The module a target names, after checking its grammar (nothing is imported).

    >>> target_module("optax:my_pkg.novograd:novograd")
    'my_pkg.novograd'
    """
    return parse(spec).module
