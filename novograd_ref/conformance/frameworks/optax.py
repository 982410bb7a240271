"""optax: ``optax.novograd`` (``scale_by_novograd`` chained with the learning rate).

Runs on JAX's CPU backend with 64-bit mode switched on (``jax_enable_x64``), so float64
parameters stay float64; float32 runs use float32 parameters in the same mode.

How the adapter drives optax:

* constant rate: ``optax.novograd(<float>, ...)`` with a Python float;
* schedule: ``optax.novograd(schedule, ...)`` where ``schedule(count)`` indexes a float64
  ``jnp`` copy of the rate table; optax calls it with its own counter *before*
  incrementing it, so the first update reads entry 0 (the rate of step 1);
* each step is ``opt.update(grads, state, params)`` followed by
  ``optax.apply_updates(params, updates)``; variant ``""`` wraps both in one
  ``jax.jit`` (how optax is used in training), variant ``"nojit"`` calls them eagerly.

Numerics read from the installed optax 0.2.8 source (``optax/_src/transform.py``,
``alias.py``, ``tree_utils/_tree_math.py``, ``update.py``):

* the second moment is one 0-d array per leaf in the parameter dtype, initialised to 0;
  a step counter (int32) decides the first step: on ``count + 1 == 1``,
  ``nu = (norm(g))**2`` (``jnp.linalg.norm``: square root of the sum of squares, then
  squared again) cast to the nu dtype; later ``nu = (1 - b2) * q + b2 * nu`` where
  ``1 - b2`` is a Python-float (float64) subtraction, rounded to the run dtype when it
  meets the array (weak typing);
* ``u = g / (sqrt(nu + eps_root) + eps) + weight_decay * p``: eps outside, eps_root
  inside the root; the first step sets ``mu = u``, later ``mu = b1 * mu + u`` (no
  ``1 - b1``); the choice between first and later step is a ``lax.cond``, so both
  branches are compiled by XLA even without ``jit`` (XLA may fuse multiply-adds);
* the update is ``-lr * mu``: a constant rate is the Python float ``-lr`` (rounded to the
  run dtype by weak typing); a scheduled rate becomes ``jnp.array(-lr(count), dtype)``;
* ``apply_updates`` computes ``(p + update).astype(p.dtype)``;
* all hyperparameters are Python floats, so float32 runs use them rounded to float32 and
  float64 runs use them exactly; no grad averaging, amsgrad or decoupled decay exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from novograd_ref.conformance.adapters._protocol import LearningRate, Leaves
from novograd_ref.conformance.frameworks import Framework, dist_versions, spec_exists

NOTES = (
    "optax.novograd on the JAX CPU backend with jax_enable_x64; constant rate passed as a "
    "Python float, schedules as a callable indexing a float64 table with optax's 0-based "
    "count; tag '' jits update+apply_updates together, tag 'nojit' runs them eagerly."
)


def available() -> bool:
    """Whether optax and jax are importable."""
    return spec_exists("optax") and spec_exists("jax")


def versions() -> dict[str, str]:
    """optax first, then the packages that decide its numerics."""
    return dist_versions("optax", "jax", "jaxlib", "ml_dtypes", "numpy")


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """Jitted (the usual way) and eager runs, for float32 and float64."""
    if dtype not in ("float32", "float64"):
        return []
    return [("", {"jit": True}), ("nojit", {"jit": False})]


@dataclass
class _OptaxState:
    params: Any
    opt_state: Any
    step: Callable[[Any, Any, Any], tuple[Any, Any]]
    dtype: np.dtype
    names: list[str]


class OptaxAdapter:
    """Drives ``optax.novograd`` on NumPy inputs (see the module docstring)."""

    name = "optax"

    def __init__(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> None:
        self.settings = dict(settings)
        self.kwargs = dict(kwargs)

    def init(self, params: Leaves, learning_rate: LearningRate) -> _OptaxState:
        """Build the optimizer for ``learning_rate`` and its state for ``params``."""
        import jax
        import jax.numpy as jnp
        import optax

        jax.config.update("jax_enable_x64", True)
        names = list(params)
        dtype = np.asarray(params[names[0]]).dtype
        jparams = {n: jnp.asarray(np.array(params[n], dtype=dtype)) for n in names}
        if isinstance(learning_rate, np.ndarray):
            table = jnp.asarray(np.array(learning_rate, dtype=np.float64))
            lr: Any = _jax_table_schedule(table)
        else:
            lr = float(learning_rate)
        opt = optax.novograd(lr, **self.kwargs)

        def step(p: Any, s: Any, g: Any) -> tuple[Any, Any]:
            updates, s = opt.update(g, s, p)
            return optax.apply_updates(p, updates), s

        if self.settings.get("jit", True):
            step = jax.jit(step)
        return _OptaxState(jparams, opt.init(jparams), step, dtype, names)

    def update(self, grads: Leaves, state: _OptaxState) -> tuple[dict[str, np.ndarray], _OptaxState]:
        """One step; returns the new parameters as NumPy arrays."""
        import jax.numpy as jnp

        g = {n: jnp.asarray(np.array(grads[n], dtype=state.dtype)) for n in state.names}
        params, opt_state = state.step(state.params, state.opt_state, g)
        new = _OptaxState(params, opt_state, state.step, state.dtype, state.names)
        return {n: np.array(params[n]) for n in state.names}, new

    def state_arrays(self, state: _OptaxState) -> dict[str, np.ndarray]:
        """optax's per-leaf second moment ``nu`` (0-d) after a step.

        The first moment ``mu`` is not exported: it is as large as the parameters and
        follows from them (``mu_t = (p_{t-1} - p_t) / lr_t``).
        """
        inner = state.opt_state[0]
        return {f"nu__{n}": np.array(inner.nu[n]) for n in state.names}


def _jax_table_schedule(table: Any) -> Callable[[Any], Any]:
    """A schedule returning ``table[count]`` (count clamped to the table)."""
    import jax.numpy as jnp

    last = int(table.shape[0]) - 1

    def schedule(count: Any) -> Any:
        return table[jnp.minimum(count, last)]

    return schedule


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> OptaxAdapter:
    """An adapter for ``optax.novograd(**constructor_kwargs)``."""
    return OptaxAdapter(settings or {}, constructor_kwargs)


FRAMEWORK = Framework(
    name="optax", preset="optax", available=available, versions=versions, make=make,
    recording_variants=recording_variants, env="jax", notes=NOTES)
