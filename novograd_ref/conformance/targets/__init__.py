"""How the kit reaches an optimizer as published, with no glue code.

``--impl KIND:MODULE:NAME`` names a published optimizer directly:

- ``torch:MODULE:CLASS``: a ``torch.optim.Optimizer`` subclass (:mod:`._torch_class`);
- ``optax:MODULE:FUNCTION``: a function returning an optax ``GradientTransformation``
  (:mod:`._optax_function`);
- ``keras:MODULE:CLASS``: a Keras 3 optimizer (:mod:`._keras_class`).

Its constructor is filled from each case's hyperparameters by its signature
(:mod:`._keywords`). Options ride in the target itself, after a ``?``, so that a
report's target reproduces the run: ``kw.NAME=VALUE`` passes a constructor keyword as
it is (``VALUE`` a Python literal, else a string), ``map.THEIRS=OURS`` says that the
constructor's ``THEIRS`` carries our hyperparameter ``OURS``, joined by ``&``
(``torch:my_optim:NovoGrad?kw.foreach=False&map.momentum=b1``); the command line's
``--kw`` and ``--map`` write them (:func:`with_options`).

>>> from novograd_ref.conformance.targets import parse
>>> target = parse("torch:my_optim:NovoGrad?kw.foreach=False&map.momentum=b1")
>>> target.kind, target.module, target.name, target.keywords, target.mapping
('torch', 'my_optim', 'NovoGrad', {'foreach': False}, {'momentum': 'b1'})
"""

from __future__ import annotations

from .._adapter import Implementation
from . import _keras_class, _optax_function, _torch_class
from ._grammar import KINDS, Target, TargetError, is_target, parse, with_options
from ._keras_class import keras_module

__all__ = ["KINDS", "Target", "TargetError", "is_target", "keras_module", "parse",
           "target_implementation",
           "target_module", "with_options"]

_BUILDERS = {"torch": _torch_class.implementation, "optax": _optax_function.implementation,
             "keras": _keras_class.implementation}


def target_implementation(spec: str) -> Implementation:
    """The :class:`~novograd_ref.conformance.Implementation` of a target (imports it)."""
    target = parse(spec)
    return _BUILDERS[target.kind](spec, target)


def target_module(spec: str) -> str:
    """The module a target names, after checking its grammar (nothing is imported).

    >>> target_module("optax:my_pkg.novograd:novograd")
    'my_pkg.novograd'
    """
    return parse(spec).module
