"""Presets agree where the variant matrix says they are one algorithm, and differ
exactly where it says they differ (zero first gradient, schedules, grad averaging on
step 1, OpenSeq2Seq's graph mode)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from novograd_ref import presets as P
from novograd_ref.testing import (
    gradient_sequences,
    relative_error,
    rtol,
    trajectory,
    tree_shapes,
    trees,
)

B1, B2, EPS, WD, LR = 0.95, 0.98, 1e-8, 1e-3, 0.01
TORCH = {"lr": LR, "betas": (B1, B2), "eps": EPS, "weight_decay": WD}

PAPER_CLASS = {
    "paper": lambda: P.paper(LR, B1, B2, EPS, WD),
    "optax": lambda: P.optax(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WD),
    "torch_optimizer": lambda: P.torch_optimizer(**TORCH),
    "dle": lambda: P.dle(**TORCH),
    "monai": lambda: P.monai(**TORCH),
    "timm": lambda: P.timm(**TORCH),
    "nemo": lambda: P.nemo(**TORCH),
    "tfa": lambda: P.tfa(LR, B1, B2, EPS, WD),
    "pytorch_optimizer": lambda: P.pytorch_optimizer(**TORCH),
    "apex": lambda: P.apex(**TORCH, reg_inside_moment=True, bias_correction=False,
                           grad_averaging=False, state_dtype=None, hyper_dtype=None),
}
STEPS = 6


def largest_relative_error(a: list[Any], b: list[Any]) -> float:
    """The largest :func:`~novograd_ref.testing.relative_error` of any leaf at any step
    between two trajectories."""
    return max(relative_error(x[k], y[k]) for x, y in zip(a, b) for k in x)


@st.composite
def problems(draw: Any) -> Any:
    shapes = draw(tree_shapes())
    return draw(trees(shapes)), draw(gradient_sequences(shapes, STEPS))


@given(problems())
def test_paper_class_agrees(problem: Any) -> None:
    """Constant lr, no averaging, no amsgrad, non-zero first gradient: one algorithm."""
    params, grads = problem
    reference = trajectory(PAPER_CLASS["paper"](), params, grads)
    for name, make in PAPER_CLASS.items():
        err = largest_relative_error(trajectory(make(), params, grads), reference)
        assert err <= rtol("float64", "framework"), (name, err)  # same math, other formulas


def _two_leaf_problem(first_zero: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(0)
    params = {"a": rng.normal(size=5), "b": rng.normal(size=(2, 3))}
    grads = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(STEPS)]
    if first_zero:
        grads[0]["a"] = np.zeros(5)
    return params, grads


DIFFERS = 1e-6  # far beyond any rounding tolerance


def test_zero_first_gradient_separates_optax_from_the_pytorch_family() -> None:
    """optax blends from v = 0 after an all-zero first gradient; the PyTorch family
    (v == 0 test) re-initializes; TFA keys on the global first step like optax."""
    params, grads = _two_leaf_problem(first_zero=True)
    optax, torch = trajectory(PAPER_CLASS["optax"](), params, grads), trajectory(
        PAPER_CLASS["torch_optimizer"](), params, grads)
    assert largest_relative_error(optax, torch) > DIFFERS
    tfa = trajectory(PAPER_CLASS["tfa"](), params, grads)
    assert largest_relative_error(tfa, optax) <= rtol("float64", "backend", STEPS)
    for name in ("timm", "nemo", "dle"):
        same_as_torch = trajectory(PAPER_CLASS[name](), params, grads)
        assert largest_relative_error(same_as_torch, torch) <= rtol("float64", "backend", STEPS)


def test_schedule_separates_tfa_from_optax() -> None:
    """TFA multiplies the rate into the accumulator; optax multiplies the moment."""
    params, grads = _two_leaf_problem()
    sched = lambda k: LR * (k + 1) / STEPS
    optax = trajectory(P.optax(sched, b1=B1, b2=B2, eps=EPS, weight_decay=WD), params, grads)
    tfa = trajectory(P.tfa(sched, B1, B2, EPS, WD), params, grads)
    paper = trajectory(P.paper(sched, B1, B2, EPS, WD), params, grads)
    assert largest_relative_error(tfa, optax) > DIFFERS
    assert largest_relative_error(paper, optax) <= rtol("float64", "backend", STEPS)


@pytest.mark.parametrize(("name", "make"), [
    ("tfa", lambda: P.tfa(LR, B1, B2, EPS, WD, grad_averaging=True)),
    ("pytorch_optimizer", lambda: P.pytorch_optimizer(**TORCH, grad_averaging=True)),
])
def test_grad_averaging_on_step_one(name: str, make: Any) -> None:
    """NeMo / torch-optimizer scale by 1 - b1 from step 1; TFA and pytorch_optimizer 4
    skip step 1, so their first displacement is 1 / (1 - b1) times larger."""
    params, grads = _two_leaf_problem()
    nemo = trajectory(P.nemo(**TORCH, grad_averaging=True), params, grads[:1])
    other = trajectory(make(), params, grads[:1])
    for k, p in params.items():
        np.testing.assert_allclose(other[0][k] - p, (nemo[0][k] - p) / (1 - B1), rtol=1e-12,
                                   atol=8 * np.spacing(np.max(np.abs(p))))
    torch_averaged = trajectory(P.torch_optimizer(**TORCH, grad_averaging=True), params, grads)
    nemo_averaged = trajectory(P.nemo(**TORCH, grad_averaging=True), params, grads)
    assert largest_relative_error(torch_averaged, nemo_averaged) <= rtol("float64", "backend",
                                                                         STEPS)


def test_openseq2seq_graph_mode_ignores_beta2() -> None:
    params, grads = _two_leaf_problem()
    graph = trajectory(P.openseq2seq(LR, B1, B2, EPS, WD, state_dtype=None), params, grads)
    graph_b2_0 = trajectory(P.openseq2seq(LR, B1, 0.0, EPS, WD, state_dtype=None), params, grads)
    eager = trajectory(P.openseq2seq(LR, B1, B2, EPS, WD, mode="eager", state_dtype=None), params,
                grads)
    torch_b2_0 = trajectory(P.torch_optimizer(lr=LR, betas=(B1, 0.0), eps=0.0, weight_decay=WD),
                     params, grads)
    assert largest_relative_error(graph, graph_b2_0) == 0.0
    assert largest_relative_error(graph, eager) > DIFFERS
    # graph mode = beta2 0 with eps inside the root (tiny difference from eps placement)
    assert largest_relative_error(graph, torch_b2_0) < 1e-7
    eager_float32_state = trajectory(P.openseq2seq(LR, B1, B2, EPS, WD, mode="eager"), params,
                                     grads)  # float32 state by default
    assert largest_relative_error(eager, eager_float32_state) > 0.0
