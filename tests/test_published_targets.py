"""Optimizers checked as published: ``torch:``, ``optax:`` and ``keras:`` targets.

The optimizers are in ``tests/published_optimizers.py``; each run goes through the
command line as a user types it (the implementation in the kit's child process).
"""

from __future__ import annotations

import importlib.util

import pytest

from novograd_ref import cli
from novograd_ref.conformance.targets import TargetError, parse, with_options
from novograd_ref.conformance.targets._constructor_keywords import constructor_keywords

HERE = "tests.published_optimizers"
ONE_DTYPE = ["--dtype", "float64"]
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed")
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed")
needs_keras = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or (importlib.util.find_spec("jax") is None
                                                  and importlib.util.find_spec("torch")
                                                  is None),
    reason="keras 3 with a jax or torch backend is not installed")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def passed(out: str) -> int:
    line = next(li for li in out.splitlines() if " passed, " in li)
    return int(line.split()[0])


# -- the keyword filling, without any framework


def test_betas_split_and_spellings_found() -> None:
    def NovoGrad(params, learning_rate=1e-3, beta_1=0.9, beta_2=0.99, epsilon=1e-7):
        ...

    filled = constructor_keywords(NovoGrad, "NovoGrad", "torch_optimizer", {
        "betas": (0.8, 0.7), "eps": 1e-6, "weight_decay": 0.0, "amsgrad": False})
    assert filled == {"beta_1": 0.8, "beta_2": 0.7, "epsilon": 1e-6}


def test_a_parameter_carries_one_hyperparameter_the_commonest_meaning_first() -> None:
    def NovoGrad(params, lr=1e-3, b1=0.9, b2=0.99, epsilon=1e-7):
        ...

    # optax's keywords: eps is epsilon's usual meaning; eps_root = 0 is off
    filled = constructor_keywords(NovoGrad, "NovoGrad", "optax", {
        "b1": 0.9, "b2": 0.98, "eps": 1e-8, "eps_root": 0.0, "weight_decay": 0.0})
    assert filled == {"b1": 0.9, "b2": 0.98, "epsilon": 1e-8}


def test_a_value_the_constructor_cannot_take_skips_the_case_with_the_reason() -> None:
    def NovoGrad(params, lr=1e-3, betas=(0.9, 0.99)):
        ...

    from novograd_ref.conformance import Unsupported

    with pytest.raises(Unsupported, match=r"takes no keyword for eps=1e-08 \(tried eps, "
                                          r"epsilon"):
        constructor_keywords(NovoGrad, "NovoGrad", "torch_optimizer",
                             {"betas": (0.9, 0.99), "eps": 1e-8})


def test_the_preset_named_decides_what_a_keyword_means() -> None:
    """``epsilon`` is outside the root for TFA and inside it for OpenSeq2Seq: a
    constructor's ``eps`` gets TFA's, and OpenSeq2Seq's reaches only a parameter that
    means ``eps_root``."""
    def NovoGrad(params, lr=1e-3, beta1=0.95, beta2=0.98, eps=1e-8):
        ...

    assert constructor_keywords(NovoGrad, "NovoGrad", "tfa", {
        "beta_1": 0.9, "epsilon": 1e-6}) == {"beta1": 0.9, "eps": 1e-6}
    from novograd_ref.conformance import Unsupported

    with pytest.raises(Unsupported, match=r"takes no keyword for epsilon=1e-06 \(tried "
                                          r"epsilon, eps_root\)"):
        constructor_keywords(NovoGrad, "NovoGrad", "openseq2seq",
                             {"beta1": 0.9, "epsilon": 1e-6})


def test_tuning_keywords_of_a_switched_off_feature_are_left_out() -> None:
    def NovoGrad(params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8):
        ...

    filled = constructor_keywords(NovoGrad, "NovoGrad", "nemo", {
        "betas": (0.9, 0.99), "eps": 1e-8, "luc": False, "luc_trust": 1e-3,
        "luc_eps": 1e-8})
    assert filled == {"betas": (0.9, 0.99), "eps": 1e-8}


def test_map_and_kw_reach_the_constructor() -> None:
    def NovoGrad(params, lr=1e-3, momentum=0.9, beta2=0.99, eps=1e-8, foreach=None):
        ...

    filled = constructor_keywords(NovoGrad, "NovoGrad", "torch_optimizer",
                                  {"betas": (0.5, 0.6), "eps": 1e-8},
                                  fixed={"foreach": False}, mapping={"momentum": "b1"})
    assert filled == {"momentum": 0.5, "beta2": 0.6, "eps": 1e-8, "foreach": False}


@pytest.mark.parametrize(("spec", "message"), [
    ("torch:my optim:NovoGrad", "is not a module name"),
    ("torch:my_optim:", "is not a"),
    ("torch:my_optim", "expected KIND:MODULE:NAME"),
    ("optax:m:f?kw.x", "is not kw.NAME=VALUE"),
    ("optax:m:f?map.x=1", "OURS must be a hyperparameter name"),
    ("torch:" + ".".join(["a"] * 40) + ":C", "at most 32 deep"),
])
def test_malformed_targets_are_named(spec: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse(spec)


def test_options_are_written_into_the_target_so_reports_reproduce_the_run() -> None:
    spec = with_options("torch:m:C", ["foreach=False"], ["momentum=b1"])
    assert parse(spec).keywords == {"foreach": False}
    assert parse(spec).mapping == {"momentum": "b1"}
    with pytest.raises(TargetError, match="apply to torch:, optax: and keras: targets"):
        with_options("my_port:make", ["a=1"])


# -- usage errors: one line, exit 2


@pytest.mark.parametrize(("impl", "message"), [
    pytest.param(f"torch:{HERE}:Nope", "has no 'Nope'", marks=needs_torch),
    ("torch:tests.no_such_module:NovoGrad", "cannot import 'tests.no_such_module': no such"),
    ("torch:tests.published", "expected KIND:MODULE:NAME"),
])
def test_a_target_that_names_nothing_is_a_usage_error(
        impl: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["verify", "--impl", impl, *ONE_DTYPE], capsys)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="torch is installed")
def test_a_torch_target_without_torch_is_a_usage_error(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    status, _, err = run(["verify", "--impl", f"torch:{HERE}:TorchNovoGrad", *ONE_DTYPE],
                         capsys)
    assert status == 2
    assert "torch: targets need PyTorch, which is not installed here" in err


@pytest.mark.skipif(importlib.util.find_spec("jax") is not None, reason="jax is installed")
def test_an_optax_target_without_jax_is_a_usage_error(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    status, _, err = run(["verify", "--impl", f"optax:{HERE}:optax_novograd", *ONE_DTYPE],
                         capsys)
    assert status == 2
    assert "optax: targets need JAX, which is not installed here" in err


@needs_torch
@pytest.mark.slow
def test_a_class_that_is_not_a_torch_optimizer_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["verify", "--impl", f"torch:{HERE}:NotAnOptimizer", *ONE_DTYPE],
                         capsys)
    assert status == 2
    assert "not a torch.optim.Optimizer subclass" in err


def test_kw_on_an_adapter_factory_is_a_usage_error(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    status, _, err = run(["verify", "--impl", "tests.flawed_ports:v_from_zero", "--kw", "a=1"],
                         capsys)
    assert status == 2
    assert "--kw and --map apply to" in err


# -- torch


@needs_torch
@pytest.mark.slow
def test_a_torch_class_as_published_passes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"torch:{HERE}:TorchNovoGrad", "--preset",
                          "nemo"], capsys)
    assert status == 0
    assert passed(out) >= 30
    assert "takes no keyword for luc=True" in out  # skipped with the reason
    assert "verdict: pass" in out


@needs_torch
@pytest.mark.slow
def test_other_spellings_in_a_torch_class_are_found_by_signature(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"torch:{HERE}:TorchNovoGradSpelled",
                          "--preset", "nemo", *ONE_DTYPE], capsys)
    assert status == 0
    assert passed(out) >= 10
    assert "takes no keyword for amsgrad=True" in out


@needs_torch
@pytest.mark.slow
def test_an_unknown_spelling_in_a_torch_class_is_skipped_until_mapped(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    impl = f"torch:{HERE}:TorchNovoGradMomentum"
    status, out, _ = run(["verify", "--impl", impl, "--preset", "nemo", *ONE_DTYPE], capsys)
    assert status == 4
    assert "takes no keyword for b1=" in out
    status, out, _ = run(["verify", "--impl", impl, "--preset", "nemo", *ONE_DTYPE,
                          "--map", "momentum=b1"], capsys)
    assert status == 0
    assert passed(out) >= 10


@needs_torch
@pytest.mark.slow
def test_a_torch_step_that_requires_a_closure_gets_one(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"torch:{HERE}:TorchNovoGradClosure",
                          "--preset", "nemo", *ONE_DTYPE], capsys)
    assert status == 0
    assert passed(out) >= 10


@needs_torch
@pytest.mark.slow
def test_a_wrong_torch_class_is_a_mismatch_at_its_first_step(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"torch:{HERE}:TorchNovoGradFromZero",
                          "--preset", "nemo", *ONE_DTYPE], capsys)
    assert status == 1
    assert "first divergence: " in out
    assert "step 1, leaf" in out


@needs_torch
@pytest.mark.slow
def test_identify_names_the_presets_of_a_torch_class(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    status, out, _ = run(["identify", "--impl", f"torch:{HERE}:TorchNovoGrad", "--preset",
                          "nemo"], capsys)
    assert status == 0
    assert "reproduces: " in out
    assert "nemo" in out.split("reproduces: ")[1].splitlines()[0]


# -- optax


@needs_jax
@pytest.mark.slow
@pytest.mark.parametrize("function", ["optax_novograd", "scale_by_novograd"])
def test_an_optax_function_on_jax_as_published_passes(function: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"optax:{HERE}:{function}", "--preset",
                          "optax"], capsys)
    assert status == 0
    assert passed(out) >= 30


@needs_jax
@pytest.mark.slow
def test_a_jax_function_returning_no_transformation_is_an_error_of_the_implementation(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["verify", "--impl", f"optax:{HERE}:not_a_transformation",
                            "--preset", "optax", *ONE_DTYPE], capsys)
    assert status == 3
    assert "not a GradientTransformation" in out + err


# -- keras


@needs_keras
@pytest.mark.slow
def test_a_keras_optimizer_on_jax_as_published_passes(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", f"keras:{HERE}:KerasNovoGrad", "--preset",
                          "optax", "--map", "weight_decay_inside=weight_decay"], capsys)
    assert status == 0
    assert passed(out) >= 25
    assert "takes no keyword for eps_root=" in out
