"""Step an optimizer through a sequence of gradient trees."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from novograd_ref._optimizer import NovoGrad, apply_updates


def trajectory(opt: NovoGrad, params: Any, grads: Iterable[Any]) -> list[Any]:
    """The parameter trees after each step of ``opt`` fed ``grads`` in turn.

    >>> import numpy as np
    >>> import novograd_ref as ngr
    >>> trajectory(ngr.presets.optax(0.1), np.array([1.0]), [np.array([2.0])] * 2)
    [array([0.90000005]), array([0.71000014])]
    """
    if not (callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))):
        raise TypeError(f"opt: expected an optimizer with init and update (ngr.novograd(...) "
                        f"or a preset), got {type(opt).__name__}")
    try:
        steps = iter(grads)
    except TypeError:
        raise TypeError(f"grads: expected an iterable of gradient trees, got "
                        f"{type(grads).__name__}") from None
    state, out = opt.init(params), []
    for g in steps:
        updates, state = opt.update(g, state, params)
        params = apply_updates(params, updates)
        out.append(params)
    return out
