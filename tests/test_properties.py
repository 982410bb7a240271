"""Hypothesis properties of the core, on every installed backend.

Inputs are drawn as NumPy arrays and converted to the backend (backend isolation);
references come from NumPy float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from novograd_ref.backends import Backend

import novograd_ref as ngr
from novograd_ref import presets as P
from novograd_ref._tree import flatten
from novograd_ref.testing import (
    assert_trees_close,
    gradient_sequences,
    hyperparameters,
    preset_names_with_strategies,
    relative_error,
    rtol,
    to_numpy,
    trajectory,
    tree_shapes,
    trees,
)

RATE = {"optax": 0.01, "paper": 0.01, "tfa": 0.01, "openseq2seq": 0.01}


def make(preset: str, kw: dict[str, Any], lr: Any = 0.01) -> ngr.NovoGrad:
    """``preset`` with its own keywords ``kw``, built from their canonical names."""
    return P.build(preset, lr, **P.spec(preset).canonical(**kw))


def on(backend: Backend, tree: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: backend.from_numpy(v) for k, v in tree.items()}


@st.composite
def problems(draw: Any, steps: int = 3, dtype: str = "float64") -> Any:
    shapes = draw(tree_shapes())
    return draw(trees(shapes, dtype)), draw(gradient_sequences(shapes, steps, dtype))


PRESETS = preset_names_with_strategies()


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=min(10, settings.default.max_examples)
          if settings.default.max_examples <= 30 else settings.default.max_examples)
@given(data=st.data())
def test_backend_matches_numpy_float64(backend: Backend, preset: str, data: Any) -> None:
    """Same preset, same inputs: the backend's trajectory equals NumPy's (few ulps).

    Ten drawn problems per preset and backend under the ``ci`` profile (every backend
    also runs each preset's fixed cases in test_backends.py); ``nightly`` draws more.
    """
    kw = data.draw(hyperparameters(preset))
    params, grads = data.draw(problems())
    reference = trajectory(make(preset, kw), params, grads)
    got = trajectory(make(preset, kw), on(backend, params), [on(backend, g) for g in grads])
    for step, (a, d) in enumerate(zip(got, reference), start=1):
        assert_trees_close(a, d, kind="backend", steps=step, step=step)


def _first_step_expected(preset: str, kw: dict[str, Any], p: np.ndarray,
                         g: np.ndarray, lr: float) -> np.ndarray | None:
    """Closed form of step 1 for the presets whose first step has one."""
    n = math.sqrt(float(np.sum(g * g)))
    if preset in ("optax", "paper"):
        den = math.sqrt(n * n + kw.get("eps_root", 0.0)) + kw["eps"]
        return p - lr * (g / den + kw["weight_decay"] * p)
    if preset in ("torch_optimizer", "nemo", "timm"):
        den = n + kw["eps"]
        avg = 1 - kw["betas"][0] if kw["grad_averaging"] else 1.0
        return p - lr * avg * (g / den + kw["weight_decay"] * p)
    if preset == "tfa":  # no averaging on iteration 0
        return p - lr * (g / (n + kw["epsilon"]) + kw["weight_decay"] * p)
    if preset == "openseq2seq":
        avg = 1 - kw["beta1"] if kw["grad_averaging"] else 1.0
        return p - lr * avg * (g / math.sqrt(n * n + kw["epsilon"]) + kw["weight_decay"] * p)
    return None


@pytest.mark.parametrize("preset", ["optax", "paper", "torch_optimizer", "nemo", "tfa",
                                    "openseq2seq"])
@given(data=st.data())
def test_first_step_closed_form(preset: str, data: Any) -> None:
    kw = data.draw(hyperparameters(preset))
    kw.pop("luc", None)
    params, grads = data.draw(problems(steps=1))
    opt = make(preset, kw, lr=0.01)
    (after,) = trajectory(opt, params, grads)
    for name, p in params.items():
        want = _first_step_expected(preset, kw, p, grads[0][name], 0.01)
        assert want is not None
        assert relative_error(after[name] - p, want - p) <= rtol("float64", "scalar", 2)


@pytest.mark.parametrize("preset", ["optax", "torch_optimizer", "tfa", "openseq2seq",
                                    "pytorch_optimizer"])
@given(data=st.data(), power=st.integers(-20, 20))
def test_layer_scale_invariance(preset: str, data: Any, power: int) -> None:
    """Scaling one layer's gradients by 2**k leaves every update bit-identical (eps=0)."""
    kw = data.draw(hyperparameters(preset))
    for key in ("eps", "eps_root", "epsilon", "weight_decay"):
        if key in kw:
            kw[key] = 0.0 if key != "epsilon" or preset != "tfa" else 1e-300
    params, grads = data.draw(problems())
    scaled = [{**g, "l0": g["l0"] * 2.0**power} for g in grads]
    a = trajectory(make(preset, kw), params, grads)
    b = trajectory(make(preset, kw), params, scaled)
    for x, y in zip(a, b):
        for name in params:
            np.testing.assert_array_equal(x[name], y[name])


@given(data=st.data())
def test_leaves_are_independent(data: Any) -> None:
    """A layer's trajectory is bit-identical whatever the other layers hold."""
    preset = data.draw(st.sampled_from(PRESETS))
    kw = data.draw(hyperparameters(preset))
    params, grads = data.draw(problems())
    alone = trajectory(make(preset, kw), {"l0": params["l0"]}, [{"l0": g["l0"]} for g in grads])
    other = {"x": np.full((3,), 7.0)}
    together = trajectory(make(preset, kw), {**params, **other},
                   [{**g, "x": np.full((3,), 1e3)} for g in grads])
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a["l0"], b["l0"])


@pytest.mark.slow  # every preset, 30 examples each
@pytest.mark.parametrize("preset", PRESETS)
@given(data=st.data())
def test_float32_tracks_float64(preset: str, data: Any) -> None:
    kw = data.draw(hyperparameters(preset))
    if "eps" in kw and kw["eps"] == 0.0:
        kw["eps"] = 1e-8  # a zero eps lets float32 cancellation in v dominate
    params, grads = data.draw(problems(steps=3, dtype="float32"))
    f64 = trajectory(make(preset, kw), {k: v.astype(np.float64) for k, v in params.items()},
              [{k: v.astype(np.float64) for k, v in g.items()} for g in grads])
    f32 = trajectory(make(preset, kw), params, grads)
    for name in params:
        # deviation against the trajectory's scale: its largest value, or the step size
        scale = max(max(float(np.max(np.abs(d[name]))) for d in f64), 0.01)
        for step, (a, d) in enumerate(zip(f32, f64), start=1):
            assert a[name].dtype == np.float32
            err = float(np.max(np.abs(a[name] - d[name]))) / scale
            assert err <= rtol("float32", "float32_vs_float64", step), (name, step, err)


@pytest.mark.slow  # every preset and dtype, 30 examples each
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@given(data=st.data())
def test_inputs_untouched_dtype_and_shape_kept(preset: str, dtype: str, data: Any) -> None:
    kw = data.draw(hyperparameters(preset))
    params, grads = data.draw(problems(steps=2, dtype=dtype))
    for tree in (params, *grads):
        for leaf in tree.values():
            leaf.setflags(write=False)  # any in-place write raises
    copies = [{k: v.copy() for k, v in t.items()} for t in (params, *grads)]
    opt = make(preset, kw)
    state = opt.init(params)
    for g in grads:
        updates, new_state = opt.update(g, state, params)
        for k, v in params.items():
            assert updates[k].dtype == v.dtype
            assert updates[k].shape == v.shape
        state = new_state
    for tree, copy in zip((params, *grads), copies):
        for k in tree:
            np.testing.assert_array_equal(tree[k], copy[k])


@given(shapes=tree_shapes())
def test_state_is_one_moment_per_parameter_plus_one_scalar_per_layer(shapes: Any) -> None:
    params = {k: np.zeros(s) for k, s in shapes.items()}
    state = P.optax(0.1).init(params)
    n_params = sum(v.size for v in params.values())
    assert sum(m.size for m in state.mu.values()) == n_params
    assert all(v.shape == () for v in state.nu.values())
    # every value the state holds, counted from its arrays (Adam: 2 * n_params + 1)
    stored = sum(math.prod(a.shape) for a in flatten(state)[0])
    assert stored == n_params + len(params) + 1  # moments, one scalar per layer, the count
    assert state.nu_max is None


@pytest.mark.parametrize("preset", ["torch_optimizer", "timm", "nemo", "tfa"])
def test_amsgrad_state_adds_one_scalar_per_layer(preset: str) -> None:
    params = {"a": np.zeros((2, 3)), "b": np.zeros(4)}
    state = make(preset, {"amsgrad": True}).init(params)
    assert all(v.shape == () for v in state.nu_max.values())


def test_to_numpy_round_trip(backend: Backend) -> None:
    x = backend.from_numpy(np.arange(3.0))
    np.testing.assert_array_equal(to_numpy(x), np.arange(3.0))
