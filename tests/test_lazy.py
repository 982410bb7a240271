"""Lazy libraries stay lazy: Dask builds a graph and computes nothing; ``jax.jit`` compiles.

Dask: ``init``, ``update`` and ``apply_updates`` run under a scheduler that raises, so
any hidden ``bool()``, ``float()``, ``int()`` or ``compute()`` on a Dask array (a Python
branch on a value, say) fails the test; the graph is then computed and compared with
NumPy. JAX: ``jax.jit(opt.update)`` traces once, compiles, and matches the eager run
over several steps (the step count is a traced value, not a Python int).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref import backends
from novograd_ref._tree import flatten, unflatten
from novograd_ref.testing import relative_error, rtol

from .test_backends import (
    CASES,
    FIRST_INPUT_CASES,
    FIRST_INPUT_PARAMS,
    STEPS,
    assert_close_at_tree_scale,
    case_id,
    full_precision,
    inputs,
    lr_schedule,
    make,
    no_compute,
    run,
    tree_map,
)

# JAX compiles and Dask graphs: the whole module is in the slow lane.
pytestmark = pytest.mark.slow

#: Every preset's defaults and every variant of test_backends.py: each flag that
#: changes the math, weight decay and schedules.
LAZY_CASES = CASES
LAZY_CASE_PARAMS = [pytest.param(c, id=case_id(c)) for c in LAZY_CASES]


def _backend(name: str) -> backends.Backend:
    try:
        return backends.get(name)
    except ImportError as exc:
        pytest.skip(f"backend {name} unavailable: {exc}")


# ---------------------------------------------------------------------------- Dask


def test_raising_scheduler_catches_a_hidden_compute() -> None:
    """The guard itself: ``bool()`` of a Dask array (what ``if x == 0:`` does) fails."""
    dask = _backend("dask")
    x = dask.from_numpy(np.zeros(3))
    with pytest.raises(AssertionError, match="was computed"), no_compute():
        bool(dask.xp.all(x == 0))


@pytest.mark.parametrize("case", LAZY_CASE_PARAMS)
def test_dask_update_builds_a_graph_and_computes_nothing(case: tuple[str, dict[str, Any]]
                                                        ) -> None:
    """Three steps under the raising scheduler build only graphs; then the values.

    (Every Dask run in test_backends.py, all cases and dtypes, is also guarded.)
    """
    dask = _backend("dask")
    import dask as dask_lib
    import dask.array as da

    opt = make(*case)  # as configured: a float32 state is computed lazily too
    params, grads = inputs(seed=500 + LAZY_CASES.index(case))
    d_params = tree_map(dask.from_numpy, params)
    d_grads = [tree_map(dask.from_numpy, g) for g in grads]
    with no_compute():
        out_params, state, updates = run(opt, d_params, d_grads)
    lazy_leaves = flatten((out_params, state, updates))[0]
    assert all(isinstance(x, da.Array) for x in lazy_leaves)
    assert isinstance(state.count, da.Array)
    computed = dask_lib.compute(*lazy_leaves, scheduler="synchronous")
    got_params, got_state, got_updates = unflatten(flatten((out_params, state, updates))[1],
                                                   list(computed))
    r_params, r_state, r_updates = run(opt, params, grads)
    for k in range(STEPS):
        assert_close_at_tree_scale(got_updates[k], r_updates[k], "float64", f"step {k + 1}", k + 1)
    assert_close_at_tree_scale(got_params, r_params, "float64", "params", STEPS)
    assert_close_at_tree_scale(got_state.mu, r_state.mu, "float64", "mu", STEPS)
    assert_close_at_tree_scale(got_state.nu, r_state.nu, "float64", "nu", STEPS, per_leaf=True)
    assert int(got_state.count) == STEPS


def test_dask_graph_reads_each_chunk_once_per_step() -> None:
    """One step's graph holds each input chunk once: the norm and the update share it."""
    dask = _backend("dask")
    import dask.array as da

    opt = ngr.presets.nemo(lr=0.1, weight_decay=0.01)
    p = dask.from_numpy(np.ones((8, 4)), chunks=(2, 4))
    g = dask.from_numpy(np.full((8, 4), 0.5), chunks=(2, 4))
    with no_compute():
        state = opt.init({"w": p})
        updates, state = opt.update({"w": g}, state, {"w": p})
        new_p = ngr.apply_updates({"w": p}, updates)["w"]
    graph = dict(da.Array.__dask_graph__(new_p))
    g_keys = [k for k in graph if isinstance(k, tuple) and k[0] == g.name]
    assert len(g_keys) == g.npartitions == 4


# ----------------------------------------------------------------------------- JAX


def _jax() -> tuple[backends.Backend, Any]:
    backend = _backend("jax")
    import jax

    return backend, jax


@pytest.mark.parametrize("case", LAZY_CASE_PARAMS)
def test_jax_jit_update_compiles_once_and_matches_eager(case: tuple[str, dict[str, Any]]
                                                        ) -> None:
    """``jax.jit(opt.update)``: one trace for all steps; the same values as eager JAX
    and as NumPy float64 (16 eps a step of the narrowest dtype the run computes in).

    Under ``jit`` XLA contracts ``b2 v + (1-b2) S`` into a fused multiply-add and
    may evaluate ``1 / sqrt`` as one operation, so a float32 state is rounded once
    where NumPy rounds twice: such runs are held to 16 float32 eps a step.
    """
    backend, jax = _jax()
    opt = make(*case)
    dtype = "float32" if opt.config.state_dtype == "float32" else "float64"
    params, grads = inputs(seed=600 + LAZY_CASES.index(case))
    j_params = tree_map(backend.from_numpy, params)
    j_grads = [tree_map(backend.from_numpy, g) for g in grads]
    traces = []

    def update(g: Any, s: Any, p: Any) -> Any:
        traces.append(1)  # runs only while tracing
        return opt.update(g, s, p)

    jitted = jax.jit(update)
    state = opt.init(j_params)
    p_jit, s_jit = j_params, state
    p_eager, s_eager = j_params, state
    for k, g in enumerate(j_grads):
        u_jit, s_jit = jitted(g, s_jit, p_jit)
        u_eager, s_eager = opt.update(g, s_eager, p_eager)
        assert_close_at_tree_scale(_np(u_jit), _np(u_eager), dtype, f"step {k + 1}", k + 1)
        p_jit = ngr.apply_updates(p_jit, u_jit)
        p_eager = ngr.apply_updates(p_eager, u_eager)
    assert len(traces) == 1, f"jax.jit traced update {len(traces)} times"
    r_params, r_state, _ = run(opt, params, grads)
    assert_close_at_tree_scale(_np(p_jit), r_params, dtype, "params against NumPy", STEPS)
    assert_close_at_tree_scale(_np(s_jit.mu), r_state.mu, dtype, "mu against NumPy", STEPS)
    assert_close_at_tree_scale(_np(s_jit.nu), r_state.nu, dtype, "nu against NumPy", STEPS,
                               per_leaf=True)
    assert int(s_jit.count) == STEPS
    assert all(x.dtype == np.float64 for x in flatten(u_jit)[0])


@pytest.mark.parametrize("switches", FIRST_INPUT_PARAMS)
def test_jax_jit_first_input_moment_matches_numpy(switches: dict[str, Any]) -> None:
    """``first_moment_init='first_input'`` under ``jax.jit``: the first step is told
    apart from the others on the traced count, in one trace, as NumPy computes it."""
    backend, jax = _jax()
    opt = ngr.novograd(**{"learning_rate": lr_schedule, **switches})
    params, grads = inputs(seed=650 + FIRST_INPUT_CASES.index(switches))
    dtype = "float32" if opt.config.state_dtype == "float32" else "float64"
    traces = []

    def update(g: Any, s: Any, p: Any) -> Any:
        traces.append(1)  # runs only while tracing
        return opt.update(g, s, p)

    jitted = jax.jit(update)
    p = tree_map(backend.from_numpy, params)
    state = opt.init(p)
    for g in grads:
        u, state = jitted(tree_map(backend.from_numpy, g), state, p)
        p = ngr.apply_updates(p, u)
    assert len(traces) == 1, f"jax.jit traced update {len(traces)} times"
    r_params, r_state, _ = run(opt, params, grads)
    assert_close_at_tree_scale(_np(p), r_params, dtype, "params against NumPy", STEPS)
    assert_close_at_tree_scale(_np(state.mu), r_state.mu, dtype, "mu against NumPy", STEPS)


def test_jax_jit_low_precision_with_float32_state() -> None:
    """bfloat16 parameters, float32 per-layer norms, under jit: the displacement
    ``p_3 - p_0`` is the float64 one within 16 bfloat16 eps a step of its own size
    (a tolerance well below the displacement, so a missing or wrong step fails)."""
    _, jax = _jax()
    import jax.numpy as jnp

    opt = ngr.presets.nemo(lr=0.1, state_dtype="float32")
    params, grads = inputs(seed=700)
    b_params = tree_map(lambda a: jnp.asarray(a, dtype=jnp.bfloat16), params)
    b_grads = [tree_map(lambda a: jnp.asarray(a, dtype=jnp.bfloat16), g) for g in grads]
    jitted = jax.jit(opt.update)
    state = opt.init(b_params)
    p = b_params
    for g in b_grads:
        u, state = jitted(g, state, p)
        p = ngr.apply_updates(p, u)
    assert all(x.dtype == jnp.float32 for x in flatten(state.nu)[0])
    assert all(x.dtype == jnp.bfloat16 for x in flatten((p, state.mu))[0])
    start = flatten(_np(b_params))[0]
    ref = flatten(run(full_precision(opt), _np(b_params), [_np(g) for g in b_grads])[0])[0]
    tolerance = rtol("bfloat16", "backend", STEPS)
    assert tolerance < 1.0  # below the displacement: no step at all has error 1
    for i, (got, want, p0) in enumerate(zip(flatten(_np(p))[0], ref, start)):
        err = relative_error(got - p0, want - p0)
        assert err <= tolerance, (f"leaf {i}", err)


def test_jax_jit_init_and_whole_step() -> None:
    """``init`` and a whole training step (update + apply_updates) jit as one function."""
    backend, jax = _jax()
    opt = ngr.presets.optax(learning_rate=lr_schedule, weight_decay=0.01)
    params, grads = inputs(seed=800)
    j_params = tree_map(backend.from_numpy, params)

    @jax.jit
    def step(p: Any, s: Any, g: Any) -> Any:
        u, s = opt.update(g, s, p)
        return ngr.apply_updates(p, u), s

    state = jax.jit(opt.init)(j_params)
    p = j_params
    for g in grads:
        p, state = step(p, state, tree_map(backend.from_numpy, g))
    ref = run(opt, params, grads)
    assert_close_at_tree_scale(_np(p), ref[0], "float64", "params", STEPS)


def _np(tree: Any) -> Any:
    """A tree of float64 NumPy arrays (exact for every float dtype)."""
    return tree_map(lambda x: np.asarray(x).astype(np.float64), tree)
