"""Every preset's float64 trajectory equals an independent plain-Python loop.

Tiny trees (a few layers of a few values), several steps, drawn hyperparameters and a
learning-rate schedule; agreement is required to ``rtol("float64", "scalar", steps)``
(8 ulps of relative error a step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref import presets as P
from novograd_ref._config import Config
from novograd_ref.testing import hyperparameters, relative_error, rtol, trajectory

from . import scalar_oracle as S
from .test_switches import PROBE_HYPER, accepted_switches

STEPS = 6
SHAPES = st.lists(st.sampled_from([(), (1,), (3,), (2, 2)]), min_size=1, max_size=3)
VALUES = st.floats(-10, 10, allow_nan=False, allow_subnormal=False).filter(
    lambda x: abs(x) > 1e-2)


@st.composite
def problems(draw: Any) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    shapes = draw(SHAPES)
    params = {f"l{i}": np.array(draw(st.lists(VALUES, min_size=int(np.prod(s)),
                                              max_size=int(np.prod(s))))).reshape(s)
              for i, s in enumerate(shapes)}
    grads = [{k: np.array(draw(st.lists(VALUES, min_size=v.size, max_size=v.size))
                          ).reshape(v.shape) for k, v in params.items()}
             for _ in range(STEPS)]
    return params, grads


def float32(x: float) -> float:
    """``x`` rounded to float32, as a C ``float`` parameter receives it."""
    return float(np.float32(x))


def schedule(k: int) -> float:
    return 0.05 * (k + 1) / STEPS if k < 3 else 0.05 / (k - 1)


def constant(k: int) -> float:
    return 0.05


def assert_matches_scalar_oracle(
        opt: ngr.NovoGrad, oracle: Callable[..., list[list[float]]],
        problem: tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]],
        lr: Callable[[int], float] = schedule, **oracle_kw: Any) -> None:
    """Each leaf's trajectory under ``opt`` equals, within the ``scalar`` tolerance of
    float64, the independent scalar loop ``oracle`` run element by element."""
    params, grads = problem
    core = trajectory(opt, params, grads)
    for name, p0 in params.items():
        expected = oracle(p0.ravel().tolist(), [g[name].ravel().tolist() for g in grads],
                          lr, **oracle_kw)
        for step, (got, want) in enumerate(zip(core, expected), start=1):
            err = relative_error(got[name].ravel(), np.array(want))
            assert err <= rtol("float64", "scalar", step), (name, step, err)


@given(problems(), hyperparameters("optax"))
def test_optax(problem: Any, kw: dict[str, Any]) -> None:
    assert_matches_scalar_oracle(P.optax(schedule, **kw), S.optax_like, problem, b1=kw["b1"],
                                 b2=kw["b2"], eps=kw["eps"], eps_root=kw["eps_root"],
                                 wd=kw["weight_decay"])


@given(problems(), hyperparameters("timm"))
def test_timm(problem: Any, kw: dict[str, Any]) -> None:
    (b1, b2), wd = kw["betas"], kw["weight_decay"]
    mode = ("corrected" if kw["corrected_weight_decay"] else "decoupled") if kw[
        "decoupled_decay"] else ""
    assert_matches_scalar_oracle(P.timm(lr=0.05, **kw), S.pytorch_family, problem, lr=constant,
                                 b1=b1, b2=b2, eps=kw["eps"], wd=wd,
                                 grad_averaging=kw["grad_averaging"], amsgrad=kw["amsgrad"],
                                 decoupled=mode, max_lr=0.05)


@given(problems(), hyperparameters("nemo"))
def test_nemo(problem: Any, kw: dict[str, Any]) -> None:
    (b1, b2) = kw["betas"]
    assert_matches_scalar_oracle(P.nemo(lr=0.05, **kw), S.pytorch_family, problem, lr=constant,
                                 b1=b1, b2=b2, eps=kw["eps"], wd=kw["weight_decay"],
                                 grad_averaging=kw["grad_averaging"], amsgrad=kw["amsgrad"],
                                 luc=(1e-3, 1e-8) if kw["luc"] else None)


@given(problems(), hyperparameters("torch_optimizer"))
def test_torch_optimizer(problem: Any, kw: dict[str, Any]) -> None:
    (b1, b2) = kw["betas"]
    assert_matches_scalar_oracle(P.torch_optimizer(lr=0.05, **kw), S.pytorch_family, problem,
                                 lr=constant, b1=b1, b2=b2, eps=kw["eps"], wd=kw["weight_decay"],
                                 grad_averaging=kw["grad_averaging"], amsgrad=kw["amsgrad"])


@given(problems(), hyperparameters("tfa"))
def test_tfa(problem: Any, kw: dict[str, Any]) -> None:
    assert_matches_scalar_oracle(P.tfa(schedule, **kw), S.tfa, problem, b1=kw["beta_1"],
                                 b2=kw["beta_2"], eps=kw["epsilon"], wd=kw["weight_decay"],
                                 grad_averaging=kw["grad_averaging"], amsgrad=kw["amsgrad"])


@given(problems(), hyperparameters("openseq2seq"))
def test_openseq2seq(problem: Any, kw: dict[str, Any]) -> None:
    assert_matches_scalar_oracle(P.openseq2seq(schedule, **kw), S.openseq2seq, problem,
                                 b1=kw["beta1"], b2=kw["beta2"], epsilon=kw["epsilon"],
                                 wd=kw["weight_decay"], grad_averaging=kw["grad_averaging"],
                                 graph=kw["mode"] == "graph")


@given(problems(), hyperparameters("openseq2seq"))
def test_clara_nesterov(problem: Any, kw: dict[str, Any]) -> None:
    """Clara's ``use_nesterov``: ``var -= lr g' + lr b1 accum`` (the ``b1`` factor and
    the sign of the look-ahead are pinned by the independent loop)."""
    assert_matches_scalar_oracle(P.clara(schedule, use_nesterov=True, **kw), S.openseq2seq, problem,
                                 b1=kw["beta1"], b2=kw["beta2"], epsilon=kw["epsilon"],
                                 wd=kw["weight_decay"], grad_averaging=kw["grad_averaging"],
                                 graph=kw["mode"] == "graph", nesterov=True)


@given(problems(), hyperparameters("timm"), st.sampled_from([0.02, 0.1, 0.5]))
def test_timm_corrected_weight_decay_with_max_lr(problem: Any, kw: dict[str, Any],
                                                 max_lr: float) -> None:
    """timm's ``corrected_weight_decay``: ``p *= 1 - lr_t**2 / max_lr * wd`` with a
    schedule and a ``max_lr`` unlike every rate (the factor is not ``lr_t * wd``)."""
    (b1, b2) = kw["betas"]
    kw = {**kw, "decoupled_decay": True, "corrected_weight_decay": True,
          "weight_decay": max(kw["weight_decay"], 0.05)}
    assert_matches_scalar_oracle(P.timm(lr=schedule, max_lr=max_lr, **kw), S.pytorch_family,
                                 problem, b1=b1, b2=b2, eps=kw["eps"], wd=kw["weight_decay"],
                                 grad_averaging=kw["grad_averaging"], amsgrad=kw["amsgrad"],
                                 decoupled="corrected", max_lr=max_lr)


@given(problems(), hyperparameters("apex"))
def test_apex(problem: Any, kw: dict[str, Any]) -> None:
    (b1, b2) = kw["betas"]
    oracle_kw = {k: kw[k] for k in ("bias_correction", "reg_inside_moment", "grad_averaging",
                                    "norm_type", "init_zero")}
    # The kernel takes lr, b1, b2 and weight_decay as C float: the loop gets them rounded,
    # unless hyper_dtype=None keeps them as written.
    rnd = float32 if kw.get("hyper_dtype", "float32") == "float32" else float
    assert_matches_scalar_oracle(P.apex(lr=0.05, **kw), S.apex, problem,
                                 lr=lambda k: rnd(constant(k)), b1=rnd(b1), b2=rnd(b2),
                                 eps=kw["eps"], wd=rnd(kw["weight_decay"]), **oracle_kw)


@given(problems(), hyperparameters("pytorch_optimizer"))
def test_pytorch_optimizer(problem: Any, kw: dict[str, Any]) -> None:
    (b1, b2) = kw["betas"]
    oracle_kw = {k: kw[k] for k in ("weight_decouple", "fixed_decay", "grad_averaging",
                                    "adam_debias", "maximize")}
    assert_matches_scalar_oracle(P.pytorch_optimizer(lr=0.05, **kw), S.pytorch_optimizer, problem,
                                 lr=constant, b1=b1, b2=b2, eps=kw["eps"], wd=kw["weight_decay"],
                                 **oracle_kw)


@given(problems(), hyperparameters("pytorch_optimizer"))
def test_pytorch_optimizer_3_is_a_first_input_moment(problem: Any, kw: dict[str, Any]
                                                     ) -> None:
    """pytorch_optimizer 2.9-3.9 (no preset; coupled weight decay, no maximize) is
    ``first_moment_init='first_input'`` with Adam's step size (or ``debias``) and
    ``(1 - b1)`` averaging from step 1."""
    (b1, b2) = kw["betas"]
    opt = ngr.novograd(0.05, b1=b1, b2=b2, eps=kw["eps"], weight_decay=kw["weight_decay"],
                       first_moment_init="first_input",
                       bias_correction="debias" if kw["adam_debias"] else "adam",
                       grad_averaging="always" if kw["grad_averaging"] else "off")
    assert_matches_scalar_oracle(opt, S.pytorch_optimizer_3, problem, lr=constant, b1=b1, b2=b2, eps=kw["eps"],
          wd=kw["weight_decay"], grad_averaging=kw["grad_averaging"],
          adam_debias=kw["adam_debias"])


@given(problems(), hyperparameters("paper"))
def test_flashlight(problem: Any, kw: dict[str, Any]) -> None:
    # flashlight's constructor takes float hyperparameters; a schedule is used as given.
    opt = P.flashlight(schedule, kw["b1"], kw["b2"], kw["eps"], kw["weight_decay"])
    assert_matches_scalar_oracle(opt, S.flashlight, problem, b1=float32(kw["b1"]),
                                 b2=float32(kw["b2"]), eps=kw["eps"],
                                 wd=float32(kw["weight_decay"]))


@given(problems(), accepted_switches(), st.sampled_from([0.8, 0.3]))
def test_every_accepted_configuration(problem: Any, switches: dict[str, Any],
                                      b2: float) -> None:
    """Every accepted combination of switches, against the plain-Python loop of
    ``Config``'s ten steps (non-zero weight decay, ``max_learning_rate`` unlike the
    rates, a trust ratio that clips, a schedule)."""
    hyper = {**PROBE_HYPER, "learning_rate": schedule, "b2": b2}
    cfg = Config(**hyper, **switches)
    assert_matches_scalar_oracle(ngr.NovoGrad(cfg), S.switches, problem, c=dataclasses.asdict(cfg))


FIXED = ({"a": np.array([0.5, -1.5, 2.0]), "b": np.array([[1.0, -0.25], [0.75, 3.0]])},
         [{"a": np.array([s, -2 * s, 0.5]), "b": np.array([[s, 1.0], [-0.5, 2 * s]])}
          for s in (3.0, 0.5, 2.0, 0.2, 1.0, 0.1)])


@pytest.mark.parametrize("switches", [
    {"bias_correction": "apex", "nesterov": True},
    {"bias_correction": "apex", "amsgrad": True, "momentum_input": "raw",
     "weight_decay_mode": "apex"},
    {"learning_rate_placement": "inside", "weight_decay_mode": "apex",
     "bias_correction": "adam", "nesterov": True},
    {"learning_rate_placement": "inside", "momentum_input": "raw",
     "weight_decay_mode": "decoupled", "normalization": "reciprocal"},
    {"momentum_input": "raw", "weight_decay_mode": "corrected", "max_learning_rate": 0.1,
     "update_clipping": "luc", "luc_trust": 1e-2, "bias_correction": "debias",
     "grad_averaging": "after_first_step"},
    {"norm": "apex_inf", "second_moment_init": "zero", "bias_correction": "apex",
     "learning_rate_placement": "inside", "maximize": True},
    {"first_moment_init": "first_input", "learning_rate_placement": "inside",
     "nesterov": True, "grad_averaging": "after_first_step"},
    {"first_moment_init": "first_input", "momentum_input": "raw",
     "weight_decay_mode": "apex", "bias_correction": "apex", "grad_averaging": "always"},
], ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_combinations_the_presets_do_not_use(switches: dict[str, Any]) -> None:
    """The combinations no framework has, on a fixed problem, against the loop."""
    cfg = Config(**{**PROBE_HYPER, "learning_rate": schedule, "b2": 0.8}, **switches)
    assert_matches_scalar_oracle(ngr.NovoGrad(cfg), S.switches, FIXED, c=dataclasses.asdict(cfg))
