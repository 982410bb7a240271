"""``optax:MODULE:FUNCTION``: a function returning an optax ``GradientTransformation``.

``FUNCTION(learning_rate=schedule, **keywords)`` is called once per run; the rate
always arrives as a schedule, ``count -> table[count]`` (a constant rate as a constant
table), called by the transformation with the number of updates already applied. A
function that takes no learning rate (a ``scale_by_...`` transformation) has its
updates scaled by ``-rate`` of the step instead, as ``optax.chain(tx,
optax.scale_by_learning_rate(schedule))`` does. Each step is ``tx.update(grads,
state, params)`` then ``params + updates`` cast to the parameters' dtype, jitted
together as in training, on JAX with 64-bit mode on so float64 stays float64. Only JAX
is needed; optax itself is not imported.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from ..adapters._protocol import Adapter, Implementation, ImplementationError, LearningRate, Leaves
from ._constructor_keywords import constructor_keywords, learning_rate_parameter, needs_preset
from ._grammar import Target


@dataclasses.dataclass
class _OptaxRun:
    params: Any
    opt_state: Any
    step: Callable[[Any, Any, Any], tuple[Any, Any]]
    dtype: np.dtype
    names: list[str]


class TransformationAdapter:
    """Drives ``function(**keywords)`` through the adapter protocol."""

    def __init__(self, name: str, function: Callable[..., Any], keywords: dict[str, Any],
                 rate_keyword: str | None) -> None:
        self.name, self._function, self._keywords = name, function, keywords
        self._rate_keyword = rate_keyword

    def init(self, params: Leaves, learning_rate: LearningRate) -> _OptaxRun:
        """Build the transformation with the rate as a schedule, and its state."""
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        names = list(params)
        dtype = np.asarray(params[names[0]]).dtype
        table = jnp.asarray(np.atleast_1d(np.asarray(learning_rate, dtype=np.float64)))
        last = int(table.shape[0]) - 1

        def schedule(count: Any) -> Any:
            return table[jnp.minimum(count, last)]

        if self._rate_keyword is None:
            tx = self._function(**self._keywords)
        else:
            tx = self._function(**{self._rate_keyword: schedule}, **self._keywords)
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise TypeError(f"{self.name} returned {type(tx).__name__}, not a "
                            "GradientTransformation (init / update)")
        scaled = self._rate_keyword is None

        def step(p: Any, s: Any, g: Any) -> tuple[Any, Any]:
            inner, count = s
            updates, inner = tx.update(g, inner, p)
            if scaled:
                updates = jax.tree_util.tree_map(lambda u: -schedule(count) * u, updates)
            new = jax.tree_util.tree_map(lambda a, u: (a + u).astype(a.dtype), p, updates)
            return new, (inner, count + 1)

        jparams = {n: jnp.asarray(np.array(params[n], dtype=dtype)) for n in names}
        state = (tx.init(jparams), jnp.zeros((), dtype=jnp.int32))
        return _OptaxRun(jparams, state, jax.jit(step), dtype, names)

    def update(self, grads: Leaves, state: _OptaxRun) -> tuple[dict[str, np.ndarray], _OptaxRun]:
        """One step; the new parameters as NumPy copies."""
        import jax.numpy as jnp

        g = {n: jnp.asarray(np.array(grads[n], dtype=state.dtype)) for n in state.names}
        params, opt_state = state.step(state.params, state.opt_state, g)
        run = dataclasses.replace(state, params=params, opt_state=opt_state)
        return {n: np.array(params[n]) for n in state.names}, run


def implementation(spec: str, target: Target, preset: str | None = None
                   ) -> Implementation:
    """The :class:`~novograd_ref.conformance.adapters._loader.Implementation` of an optax-style
    function."""
    if importlib.util.find_spec("jax") is None:
        raise ImplementationError("optax: targets need JAX, which is not installed here "
                                  "(pip install jax)")
    function = getattr(importlib.import_module(target.module), target.name, None)
    if not callable(function) or isinstance(function, type):
        raise ImplementationError(f"{target.module!r} has no function {target.name!r}")
    rate = learning_rate_parameter(function)

    def build(kwargs: dict[str, Any], dtype: str) -> Adapter:
        filled = constructor_keywords(function, target.what, needs_preset(spec, preset),
                                      kwargs, fixed=target.keywords, mapping=target.mapping)
        if rate is not None:
            filled.pop(rate, None)
        return TransformationAdapter(spec, function, filled, rate)

    return Implementation(spec, build)
