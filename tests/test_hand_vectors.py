"""The hand-checked vectors A-D of the variant reference, float64, for every preset
(and for pytorch_optimizer 3, which no preset builds, as its configuration).

The reference tables print 12 decimals, so B-D are compared to 1e-12 absolute (their
own rounding); A is the optax docstring example, checked to 1e-15 relative. The tables
are float64 math with the hyperparameters as written, so Apex and flashlight, whose
kernels take C ``float`` hyperparameters, run here with ``hyper_dtype=None`` (and Apex
with ``state_dtype=None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref import presets as P

TABLE_ROUNDING = 1e-12  # the reference tables print 12 decimals


def objective_trajectory(opt: ngr.NovoGrad, lr_steps: int = 5) -> list[float]:
    """Minimize sum(x**2) from [1, 2, 3]; the objective after each step."""
    x = np.array([1.0, 2.0, 3.0])
    state, out = opt.init(x), []
    for _ in range(lr_steps):
        updates, state = opt.update(2 * x, state, x)
        x = ngr.apply_updates(x, updates)
        out.append(float(np.sum(x**2)))
    return out


def test_optax_docstring_example_to_1e15() -> None:
    expected = [13.977559058676952, 13.93497535374016, 13.874357252693496,
                13.797632429108546, 13.706558641726376]
    got = objective_trajectory(P.optax(0.003))
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert " ".join(f"{v:.2E}" for v in got) == "1.40E+01 1.39E+01 1.39E+01 1.38E+01 1.37E+01"


def test_optax_docstring_example_float32() -> None:
    expected = [13.977559089660645, 13.934974670410156, 13.874356269836426,
                13.797632217407227, 13.706558227539062]
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    opt = P.optax(0.003)
    state = opt.init(x)
    for want in expected:
        updates, state = opt.update(2 * x, state, x)
        x = ngr.apply_updates(x, updates)
        assert x.dtype == np.float32
        assert float(np.sum(x**2, dtype=np.float32)) == want


B_PAPER_CLASS = [13.924987602096, 13.779488927064, 13.568496546613, 13.297359892820,
                 12.971683868081]
TORCH_KW: dict[str, Any] = {"lr": 0.01, "betas": (0.95, 0.98), "eps": 1e-8,
                            "weight_decay": 1e-3}
OS2S_ARGS = (0.01, 0.95, 0.98, 1e-8, 1e-3)

VECTOR_B: dict[str, tuple[Any, list[float]]] = {
    "optax": (lambda: P.optax(0.01, b1=0.95, b2=0.98, eps=1e-8, weight_decay=1e-3),
              B_PAPER_CLASS),
    "paper": (lambda: P.paper(0.01, weight_decay=1e-3), B_PAPER_CLASS),
    "torch_optimizer": (lambda: P.torch_optimizer(**TORCH_KW), B_PAPER_CLASS),
    "dle": (lambda: P.dle(**TORCH_KW), B_PAPER_CLASS),
    "monai": (lambda: P.monai(**TORCH_KW), B_PAPER_CLASS),
    "timm": (lambda: P.timm(**TORCH_KW), B_PAPER_CLASS),
    "nemo": (lambda: P.nemo(**TORCH_KW), B_PAPER_CLASS),
    "tfa": (lambda: P.tfa(0.01, 0.95, 0.98, 1e-8, 1e-3), B_PAPER_CLASS),
    "pytorch_optimizer": (lambda: P.pytorch_optimizer(**TORCH_KW), B_PAPER_CLASS),
    "apex_paper_corner": (lambda: P.apex(**TORCH_KW, reg_inside_moment=True,
                                         bias_correction=False, grad_averaging=False,
                                         state_dtype=None, hyper_dtype=None), B_PAPER_CLASS),
    "openseq2seq_graph": (lambda: P.openseq2seq(*OS2S_ARGS, state_dtype=None), [
        13.924987602003, 13.779293733925, 13.567551726888, 13.294622484572,
        12.965529645835]),
    "clara_graph": (lambda: P.clara(*OS2S_ARGS, state_dtype=None), [
        13.924987602003, 13.779293733925, 13.567551726888, 13.294622484572,
        12.965529645835]),
    "openseq2seq_eager": (lambda: P.openseq2seq(*OS2S_ARGS, mode="eager", state_dtype=None), [
        13.924987602003, 13.779488926791, 13.568496546083, 13.297359891962,
        12.971683866836]),
    "apex_defaults": (lambda: P.apex(**TORCH_KW, state_dtype=None, hyper_dtype=None), [
        13.989139101988, 13.973980443132, 13.955584362325, 13.934510569012,
        13.911123553148]),
    "apex_init_zero": (lambda: P.apex(**TORCH_KW, init_zero=True, state_dtype=None,
                                      hyper_dtype=None), [
        13.924987602096, 13.850179071436, 13.775575471018, 13.701177854587,
        13.626987265801]),
    "flashlight": (lambda: P.flashlight(*OS2S_ARGS, hyper_dtype=None), [
        13.973541000371, 13.929661403225, 13.872683270687, 13.805343445701,
        13.729598862133]),
}


#: pytorch_optimizer 2.9-3.9 (no preset): the first moment starts at the first input.
PYTORCH_OPTIMIZER_3 = {"b1": 0.95, "b2": 0.98, "eps": 1e-8, "weight_decay": 1e-3,
                       "first_moment_init": "first_input", "bias_correction": "adam"}
VECTOR_B["pytorch_optimizer_3"] = (lambda: ngr.novograd(0.01, **PYTORCH_OPTIMIZER_3), [
    13.588783281639, 13.163519829734, 12.713362468029, 12.240691653494, 11.749721766039])


@pytest.mark.parametrize("name", sorted(VECTOR_B))
def test_vector_b(name: str) -> None:
    make, expected = VECTOR_B[name]
    np.testing.assert_allclose(objective_trajectory(make()), expected, rtol=0,
                               atol=TABLE_ROUNDING * 10)


C_PAPER_CLASS = [0.428849012126, 1.843840182588, 2.767034135456]
C_GRADS = [np.array([1.0, 2.0, 3.0]), np.array([10.0, 0.0, 0.0]), np.array([0.1, 0.1, 0.1])]
C_TORCH_KW: dict[str, Any] = {**TORCH_KW, "lr": 0.1}
C_OS2S = (0.1, 0.95, 0.98, 1e-8, 1e-3)

VECTOR_C: dict[str, tuple[Any, list[float]]] = {
    "optax": (lambda: P.optax(0.1, b1=0.95, b2=0.98, eps=1e-8, weight_decay=1e-3),
              C_PAPER_CLASS),
    "torch_optimizer": (lambda: P.torch_optimizer(**C_TORCH_KW), C_PAPER_CLASS),
    "timm": (lambda: P.timm(**C_TORCH_KW), C_PAPER_CLASS),
    "nemo": (lambda: P.nemo(**C_TORCH_KW), C_PAPER_CLASS),
    "tfa": (lambda: P.tfa(*C_OS2S), C_PAPER_CLASS),
    "pytorch_optimizer": (lambda: P.pytorch_optimizer(**C_TORCH_KW), C_PAPER_CLASS),
    "apex_paper_corner": (lambda: P.apex(**C_TORCH_KW, reg_inside_moment=True,
                                         bias_correction=False, grad_averaging=False,
                                         state_dtype=None, hyper_dtype=None), C_PAPER_CLASS),
    "openseq2seq_graph": (lambda: P.openseq2seq(*C_OS2S, state_dtype=None),
                          [0.670468935405, 1.788652888087, 2.711846840779]),
    "openseq2seq_eager": (lambda: P.openseq2seq(*C_OS2S, mode="eager", state_dtype=None),
                          [0.428849010860, 1.843840182229, 2.767034134921]),
    "apex_defaults": (lambda: P.apex(**C_TORCH_KW, state_dtype=None, hyper_dtype=None),
                      [0.944992377236, 1.982826317047, 2.974347772162]),
    "flashlight": (lambda: P.flashlight(*C_OS2S, hyper_dtype=None),
                   [0.908032489260, 1.945700300411, 2.918717881319]),
}


VECTOR_C["pytorch_optimizer_3"] = (lambda: ngr.novograd(0.1, **PYTORCH_OPTIMIZER_3),
                                  [-0.256514163338, 1.335474579142, 2.005377800550])


@pytest.mark.parametrize("name", sorted(VECTOR_C))
def test_vector_c(name: str) -> None:
    make, expected = VECTOR_C[name]
    opt = make()
    x = np.array([1.0, 2.0, 3.0])
    state = opt.init(x)
    for g in C_GRADS:
        updates, state = opt.update(g, state, x)
        x = ngr.apply_updates(x, updates)
    np.testing.assert_allclose(x, expected, rtol=0, atol=TABLE_ROUNDING)


D_VARS = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
D_GRADS = [np.array([0.1, 0.2]), np.array([0.3, 0.4])]


@pytest.mark.parametrize(("kwargs", "steps", "expected"), [
    ({}, 1, [[0.9552786425, 1.9105572849], [2.9400000012, 3.9200000016]]),
    ({"weight_decay": 0.1}, 1, [[0.945278642, 1.8905572849], [2.9100000012, 3.8800000016]]),
    ({"grad_averaging": True}, 2, [[0.9105572849, 1.8211145698],
                                   [2.8800000024, 3.8400000032]]),
])
def test_vector_d_tfa_unit_test(kwargs: dict[str, Any], steps: int,
                                expected: list[list[float]]) -> None:
    """TensorFlow Addons' own unit-test expectations (rounded to 10 digits there)."""
    opt = P.tfa(0.1, epsilon=1e-8, **kwargs)
    x = list(D_VARS)
    state = opt.init(x)
    for _ in range(steps):
        updates, state = opt.update(D_GRADS, state, x)
        x = ngr.apply_updates(x, updates)
    for got, want in zip(x, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9)


# ------------------------------------------- Apex: what the CUDA kernel does in float32


def test_apex_takes_its_hyperparameters_as_c_float() -> None:
    """``lr, b1, b2, weight_decay`` arrive in the kernel as C ``float``."""
    cfg = P.apex(lr=0.1, betas=(0.95, 0.999), weight_decay=1e-3).config
    assert (cfg.learning_rate, cfg.b1, cfg.b2, cfg.weight_decay) == tuple(
        float(np.float32(x)) for x in (0.1, 0.95, 0.999, 1e-3))
    assert P.apex(hyper_dtype=None).config.b2 == 0.999
    # printed as the decimals a user typed, which round back to the same config
    assert repr(cfg).startswith("Config(learning_rate=0.1, b1=0.95, b2=0.999, eps=1e-08,")
    assert eval(repr(cfg), {"Config": ngr.Config}) == cfg


def test_apex_sums_half_precision_squares_in_float32() -> None:
    """|g|^2 = 90000 overflows float16; the kernel squares and sums in float32."""
    opt = P.apex(lr=0.01)
    params = np.array([1.0, 2.0, 3.0], dtype=np.float16)
    updates, state = opt.update(np.array([300.0, 0.0, 0.0], dtype=np.float16),
                                opt.init(params), params)
    assert state.nu.dtype == np.float32  # one layer: a 0-d norm
    assert float(state.nu) == 300.0
    assert updates.dtype == np.float16
    assert np.all(np.isfinite(updates))
    assert updates[0] < 0


# -------------------------------- the first moment from the first input, by hand

def _rate(step: int) -> float:
    return (0.1, 0.2)[step]


@pytest.mark.parametrize(("switches", "m1", "p1", "p2"), [
    # u_1 = [3, 4] / 5 = [0.6, 0.8]; u_2 = [0, 5] / 5 = [0, 1] (v_2 = 25 too).
    # zero: m_1 = u_1, m_2 = 0.5 m_1 + u_2 = [0.3, 1.4]
    ({}, [0.6, 0.8], [0.94, 1.92], [0.88, 1.64]),
    # m_0 = u_1, m_1 = 0.5 m_0 + u_1 = [0.9, 1.2]; m_2 = [0.45, 1.6]
    ({"first_moment_init": "first_input"}, [0.9, 1.2], [0.91, 1.88], [0.82, 1.56]),
    # averaged: m_1 = 0.5 m_0 + 0.5 u_1 = u_1; m_2 = 0.5 m_1 + 0.5 u_2 = [0.3, 0.9]
    ({"first_moment_init": "first_input", "grad_averaging": "always"},
     [0.6, 0.8], [0.94, 1.92], [0.88, 1.74]),
    # step 1 not averaged: m_1 = 1.5 u_1, m_2 = 0.5 m_1 + 0.5 u_2 = [0.45, 1.1]
    ({"first_moment_init": "first_input", "grad_averaging": "after_first_step"},
     [0.9, 1.2], [0.91, 1.88], [0.82, 1.66]),
    # the rate inside: m_0 = -0.1 u_1, m_1 = 0.5 m_0 - 0.1 u_1 = [-0.09, -0.12],
    # m_2 = 0.5 m_1 - 0.2 u_2 = [-0.045, -0.26], p += m
    ({"first_moment_init": "first_input", "learning_rate_placement": "inside"},
     [-0.09, -0.12], [0.91, 1.88], [0.865, 1.62]),
    # Nesterov: d_1 = 0.5 m_1 + u_1 = [1.05, 1.4]; d_2 = 0.5 m_2 + u_2 = [0.225, 1.8]
    ({"first_moment_init": "first_input", "nesterov": True},
     [0.9, 1.2], [0.895, 1.86], [0.85, 1.5]),
    # the raw gradient: m_1 = 1.5 g_1 = [4.5, 6], divided by den = 5 after the moment;
    # m_2 = 0.5 m_1 + g_2 = [2.25, 8], d_2 = [0.45, 1.6]
    ({"first_moment_init": "first_input", "momentum_input": "raw",
      "weight_decay_mode": "apex"}, [4.5, 6.0], [0.91, 1.88], [0.82, 1.56]),
], ids=lambda x: str(x) if isinstance(x, dict) else "")
def test_the_first_moment_from_the_first_input_by_hand(
        switches: dict[str, Any], m1: list[float], p1: list[float], p2: list[float]) -> None:
    """One layer ``p = [1, 2]``, ``g_1 = [3, 4]`` and ``g_2 = [0, 5]`` (both of norm 5),
    ``b1 = b2 = 0.5``, ``eps = 0``, rates 0.1 then 0.2: steps 1 and 2 worked out by
    hand (the comments), against the zero start."""
    opt = ngr.novograd(_rate, b1=0.5, b2=0.5, eps=0.0, **switches)
    p = np.array([1.0, 2.0])
    state = opt.init(p)
    updates, state = opt.update(np.array([3.0, 4.0]), state, p)
    p = ngr.apply_updates(p, updates)
    np.testing.assert_allclose(state.mu, m1, rtol=1e-15)
    np.testing.assert_allclose(p, p1, rtol=1e-15)
    updates, state = opt.update(np.array([0.0, 5.0]), state, p)
    np.testing.assert_allclose(ngr.apply_updates(p, updates), p2, rtol=1e-15)
