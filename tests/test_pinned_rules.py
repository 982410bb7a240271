"""Rules of single implementations that the broader properties do not tell apart.

Each test here fails when the rule it names is dropped from the core (checked by
``scripts/mutate_core.py``): torch's two ``lerp`` branches, Apex's first-step blend of
its norm, the lazy bias correction in float64, that a comparison with nothing in it
does not pass, and that stepping resumes exactly from a state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref import presets as P
from novograd_ref.conformance.judging._verify import compare
from novograd_ref.testing import gradient_sequences, hyperparameters, tree_shapes, trees

from .test_properties import PRESETS, make


@pytest.mark.parametrize(("b2", "finite"), [(0.98, False), (0.3, True)])
def test_torch_lerp_branches_on_an_infinite_moment(b2: float, finite: bool) -> None:
    """pytorch_optimizer's ``v.lerp(S, w)``, ``w = 1 - b2``: for ``w < 0.5`` torch
    computes ``v + w (S - v)``, which turns an infinite ``v`` into NaN; for
    ``w >= 0.5`` it computes ``S - (S - v)(1 - w)``, which keeps it infinite (and the
    step then vanishes: ``g / inf = 0``)."""
    opt = P.pytorch_optimizer(lr=0.1, betas=(0.9, b2))
    params = {"w": np.array([1.0, 2.0])}
    grads = [{"w": np.array([1e200, 1e200])}, {"w": np.array([1.0, 1.0])}]
    with np.errstate(all="ignore"):
        state = opt.init(params)
        for g in grads:
            _, state = opt.update(g, state, params)
    v = float(state.nu["w"])
    assert math.isinf(v) if finite else math.isnan(v)


def test_torch_lerp_at_weight_one_half_takes_its_second_branch() -> None:
    """At ``w = 1 - b2 = 0.5`` exactly torch's ``lerp`` computes ``S - (S - v)(1 - w)``
    (its first branch needs ``w < 0.5``); the two branches differ in the last bit of
    about one float32 blend in eight."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        g1, g2 = (rng.standard_normal(3).astype(np.float32) for _ in range(2))
        s1, s2 = (np.sum(g * g, dtype=np.float32) for g in (g1, g2))
        second = s2 - (s2 - s1) * np.float32(0.5)
        if second == s1 + np.float32(0.5) * (s2 - s1):
            continue  # both branches agree here: nothing to tell apart
        opt = P.pytorch_optimizer(lr=0.1, betas=(0.9, 0.5))
        params = {"w": np.zeros(3, dtype=np.float32)}
        state = opt.init(params)
        for g in (g1, g2):
            _, state = opt.update({"w": g}, state, params)
        assert state.nu["w"] == second
        checked += 1
    assert checked >= 5


def test_apex_blends_its_norm_on_the_first_step_too() -> None:
    """Apex: ``n_0 = |g_1|`` (or ``max|g_1|``), then ``n_1 = sqrt(b2 n_0^2 + (1-b2) S_1)``
    (``b2 n_0 + (1-b2) max|g_1|``) in float32, which is not always ``n_0``."""
    differs = {0: 0, 2: 0}
    for seed in range(60):
        rng = np.random.default_rng(seed)
        g = rng.standard_normal(6).astype(np.float32)
        p = rng.standard_normal(6).astype(np.float32)
        for norm_type in (0, 2):
            opt = P.apex(lr=0.1, norm_type=norm_type, betas=(0.9, 0.3))
            b2 = opt.config.b2
            _, state = opt.update({"w": g}, opt.init({"w": p}), {"w": p})
            s = np.sum(g * g)
            if norm_type == 2:
                n0 = np.sqrt(s)
                want = np.sqrt(b2 * n0 * n0 + (1 - b2) * s)
            else:
                n0 = np.max(np.abs(g))
                want = b2 * n0 + (1 - b2) * n0
            assert state.nu["w"] == want, (seed, norm_type)
            differs[norm_type] += bool(want != n0)
    assert differs[0]  # the inputs tell the blend from no blend
    assert differs[2]


@pytest.mark.parametrize(("preset", "kwargs"), [
    ("apex", {"lr": 0.01, "weight_decay": 1e-3}),
    ("clara", {"learning_rate": 0.01, "use_nesterov": True, "weight_decay": 0.01}),
    ("nemo", {"lr": 0.01, "state_dtype": "float32", "luc": True, "weight_decay": 0.01}),
    ("pytorch_optimizer", {"lr": 0.01, "adam_debias": True, "state_dtype": "float32"}),
])
def test_dask_gives_numpys_bits(preset: str, kwargs: dict[str, Any]) -> None:
    """Float64 parameters with a float32 state: Dask (NumPy in one chunk, every scalar
    lazy) gives NumPy's eager bits, so the eager and lazy paths round alike: the
    bias corrections in float64 and cast like a Python float, the first-step choice,
    the casts to the state dtype."""
    dask = pytest.importorskip("dask")
    from novograd_ref import backends

    b = backends.get("dask")
    opt = P.get(preset)(**kwargs)
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal(9), "s": rng.standard_normal(())}
    grads = [{"w": rng.standard_normal(9), "s": rng.standard_normal(())} for _ in range(5)]
    p_np, s_np = params, opt.init(params)
    p_da = {k: b.from_numpy(v) for k, v in params.items()}
    s_da = opt.init(p_da)
    for g in grads:
        u, s_np = opt.update(g, s_np, p_np)
        p_np = ngr.apply_updates(p_np, u)
        u, s_da = opt.update({k: b.from_numpy(v) for k, v in g.items()}, s_da, p_da)
        p_da = ngr.apply_updates(p_da, u)
    got = dask.compute(p_da, s_da.nu, scheduler="synchronous")
    for k in params:
        np.testing.assert_array_equal(got[0][k], p_np[k])
        np.testing.assert_array_equal(got[1][k], s_np.nu[k])


def test_compare_with_no_leaves_does_not_pass() -> None:
    """A record with no leaves checks nothing, and nothing checked is never a pass."""
    result = compare("empty", "case", "float64", {}, {}, 1e-12)
    assert not result.passed


@given(data=st.data(), preset=st.sampled_from(PRESETS), split=st.integers(0, 4))
def test_k_steps_equal_k_single_steps(data: Any, preset: str, split: int) -> None:
    """Stepping four times equals stepping ``split`` times, then resuming from that
    state (copied) with a new optimizer of the same configuration, bit for bit."""
    kw = data.draw(hyperparameters(preset))
    shapes = data.draw(tree_shapes())
    params = data.draw(trees(shapes))
    grads = data.draw(gradient_sequences(shapes, 4))

    def steps(opt: ngr.NovoGrad, p: Any, state: Any, gs: list[Any]) -> tuple[Any, Any]:
        for g in gs:
            u, state = opt.update(g, state, p)
            p = ngr.apply_updates(p, u)
        return p, state

    with np.errstate(all="ignore"):
        opt = make(preset, kw)
        whole = steps(opt, params, opt.init(params), grads)
        p, state = steps(opt, params, opt.init(params), grads[:split])
        copied = type(state)(*(ngr._tree.unflatten(ngr._tree.flatten(x)[1], [
            np.array(leaf, copy=True) for leaf in ngr._tree.flatten(x)[0]])
            if x is not None else None for x in state))
        resumed = steps(make(preset, kw), p, copied, grads[split:])
    for a, b in zip(ngr._tree.flatten(whole)[0], ngr._tree.flatten(resumed)[0]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("preset", ["openseq2seq", "optax"])
def test_division_or_reciprocal_to_the_bit(preset: str) -> None:
    """OpenSeq2Seq multiplies by ``1 / sqrt(v + eps)``, optax divides: on layers of
    five values (NumPy then sums in the loop's order) the core gives the plain-Python
    loop's bits, and the inputs are ones where the two roundings differ."""
    from . import scalar_oracle as S

    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    if preset == "openseq2seq":
        opt = P.openseq2seq(0.1, state_dtype=None)
        want = S.openseq2seq(list(p0), [list(g) for g in grads], lambda k: 0.1, 0.95, 0.98,
                             1e-8)
    else:
        opt = P.optax(0.1)
        want = S.optax_like(list(p0), [list(g) for g in grads], lambda k: 0.1, 0.9, 0.25,
                            1e-6)
    got = ngr.testing.trajectory(opt, p0, grads)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, np.array(b))
    other = "divide" if opt.config.normalization == "reciprocal" else "reciprocal"
    flipped = ngr.testing.trajectory(
        ngr.NovoGrad(dataclasses.replace(opt.config, normalization=other)), p0, grads)
    assert any((a != np.array(b)).any() for a, b in zip(flipped, want))


@pytest.mark.parametrize("betas", [(0.0, 0.5), (0.9, 0.0), (0.9, 0.999)])
def test_lazy_float32_bias_correction(betas: tuple[float, float]) -> None:
    """Float32 parameters and state on Dask: Apex's bias corrections are the eager
    float64 values (see the next test); the float32 sums of squares may round
    otherwise than NumPy's, so the updates agree to the backend tolerance."""
    dask = pytest.importorskip("dask")
    from novograd_ref import backends
    from novograd_ref.testing import relative_error, rtol

    b = backends.get("dask")
    opt = P.apex(lr=0.01, betas=betas, weight_decay=1e-3)
    rng = np.random.default_rng(4)
    params = {"w": rng.standard_normal(9).astype(np.float32)}
    grads = [{"w": rng.standard_normal(9).astype(np.float32)} for _ in range(4)]
    p_np, s_np = params, opt.init(params)
    p_da = {"w": b.from_numpy(params["w"])}
    s_da = opt.init(p_da)
    for step, g in enumerate(grads, start=1):
        u_np, s_np = opt.update(g, s_np, p_np)
        p_np = ngr.apply_updates(p_np, u_np)
        u_da, s_da = opt.update({"w": b.from_numpy(g["w"])}, s_da, p_da)
        p_da = ngr.apply_updates(p_da, u_da)
        (got,) = dask.compute(u_da["w"], scheduler="synchronous")
        assert got.dtype == np.float32
        assert relative_error(got, u_np["w"]) <= rtol("float32", "backend", step)


@pytest.mark.parametrize("root", [False, True])
def test_lazy_bias_correction_is_the_eager_float(root: bool) -> None:
    """Lazily (a 0-d step count) on float32 layers, ``1 - b**t`` and its square root
    are computed in float64, as the eager Python float is, and rounded to the layer's
    dtype as a float32 array meets that Python float: the same float32 bits at every
    step. (In float64 NumPy's ``power`` may differ from the C library's ``pow`` by an
    ulp; ``-expm1(t log b)`` in float32, the path of a namespace without float64, is
    within 2 float32 ulps and differs here.)"""
    from novograd_ref._core import _one_minus_pow

    for base in (0.0, 0.5, 0.9, 0.98, 0.999, float(np.float32(0.999))):
        for t in (*range(1, 40), 1000):
            eager = _one_minus_pow(np, base, t, None, None, root=root)
            lazy = _one_minus_pow(np, base, np.asarray(t), np.float32, np.float32,
                                  root=root)
            assert lazy.dtype == np.float32
            assert lazy == np.float32(eager), (base, t, float(lazy), eager)
