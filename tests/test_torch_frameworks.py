"""The PyTorch-family framework adapters against hand-checked vectors.

These run only where torch and the framework in question are importable (the
``scripts/make_env.sh torch`` environment); elsewhere they are skipped. The expected
values are the float64 test vectors B and C of the variant matrix, which every
implementation in the paper's equivalence class reproduces.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from novograd_ref.conformance.frameworks import load

pytest.importorskip("torch")

FRAMEWORKS = ("torch_optimizer", "timm", "pytorch_optimizer", "nemo")
DEFAULT_DTYPE_FRAMEWORKS = ("torch_optimizer", "timm", "nemo")

HYPER: dict[str, Any] = {
    "b1": 0.95,
    "b2": 0.98,
    "eps": 1e-8,
    "eps_root": 0.0,
    "weight_decay": 1e-3,
    "weight_decay_mode": "inside",
    "averaging": False,
    "amsgrad": False,
}
F64 = {"torch_default_dtype": "float64"}

# Vector C: fixed gradients, lr 0.1, x after three steps.
C_GRADS = ([1.0, 2.0, 3.0], [10.0, 0.0, 0.0], [0.1, 0.1, 0.1])
C_X3 = np.array([0.428849012126, 1.843840182588, 2.767034135456])

# Vector B: f(x) = sum(x**2), lr 0.01, objective after steps 1..5.
B_OBJECTIVES = np.array(
    [13.924987602096, 13.779488927064, 13.568496546613, 13.297359892820, 12.971683868081]
)


def framework(name: str) -> Any:
    """The framework plug-in, skipping the test where the framework is missing."""
    module = load(name)
    if not module.available():
        pytest.skip(f"{name} is not installed here")
    return module


def run(
    module: Any,
    hyper: dict[str, Any],
    params: dict[str, np.ndarray],
    grads: list[dict[str, np.ndarray]],
    lr: Any,
    settings: dict[str, Any] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Step an adapter through ``grads`` and return the parameters after each step."""
    kw = module.kwargs_for(hyper)
    assert kw is not None
    adapter = module.make(F64 if settings is None else settings, **kw)
    state = adapter.init(params, lr)
    out = []
    for g in grads:
        p, state = adapter.update(g, state)
        out.append(p)
    return out


def vector_c(module: Any, settings: dict[str, Any] | None = None) -> np.ndarray:
    """x after the three steps of vector C."""
    grads = [{"x": np.array(g)} for g in C_GRADS]
    return run(module, HYPER, {"x": np.array([1.0, 2.0, 3.0])}, grads, 0.1, settings)[-1]["x"]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_vector_c(name: str) -> None:
    """Three fixed gradients reproduce vector C to the printed 12 digits."""
    np.testing.assert_allclose(vector_c(framework(name)), C_X3, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_vector_b(name: str) -> None:
    """The quadratic f(x) = sum(x**2) reproduces vector B's objectives."""
    module = framework(name)
    kw = module.kwargs_for(HYPER)
    adapter = module.make(F64, **kw)
    x = np.array([1.0, 2.0, 3.0])
    state = adapter.init({"x": x}, np.full(5, 0.01))
    objectives = []
    for _ in range(5):
        out, state = adapter.update({"x": 2.0 * x}, state)
        x = out["x"]
        objectives.append(float(np.sum(x * x)))
    np.testing.assert_allclose(objectives, B_OBJECTIVES, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", DEFAULT_DTYPE_FRAMEWORKS)
def test_float32_state_under_float32_default(name: str) -> None:
    """With torch's float32 default the second moment is float32: close, not equal."""
    module = framework(name)
    x3 = vector_c(module, {"torch_default_dtype": "float32"})
    assert not np.array_equal(x3, vector_c(module))
    np.testing.assert_allclose(x3, C_X3, rtol=1e-6)
    kw = module.kwargs_for(HYPER)
    variants = dict(module.recording_variants("float64"))
    assert module.preset_kwargs(kw, "float64", variants["f32state"])["state_dtype"] == "float32"
    assert "state_dtype" not in module.preset_kwargs(kw, "float64", variants[""])


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_state_arrays(name: str) -> None:
    """The recorded state: ``mu`` like the parameter, ``nu`` a scalar in the state dtype."""
    module = framework(name)
    hyper = {**HYPER, "amsgrad": name != "pytorch_optimizer"}
    adapter = module.make({"torch_default_dtype": "float32"}, **module.kwargs_for(hyper))
    state = adapter.init({"x": np.array([1.0, 2.0, 3.0])}, 0.1)
    _, state = adapter.update({"x": np.array([3.0, 0.0, 4.0])}, state)
    arrays = adapter.state_arrays(state)
    assert arrays["mu__x"].shape == (3,)
    assert arrays["mu__x"].dtype == np.float64
    assert arrays["nu__x"].shape == ()
    expected = np.float64 if name == "pytorch_optimizer" else np.float32
    assert arrays["nu__x"].dtype == expected
    assert arrays["nu__x"] == 25.0
    assert ("nu_max__x" in arrays) == (name != "pytorch_optimizer")


def test_pytorch_optimizer_state_ignores_default_dtype() -> None:
    """pytorch_optimizer keeps its state in the parameter dtype."""
    module = framework("pytorch_optimizer")
    np.testing.assert_array_equal(
        vector_c(module, {"torch_default_dtype": "float32"}), vector_c(module)
    )
    assert [tag for tag, _ in module.recording_variants("float64")] == [""]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_inputs_untouched_and_dtype_kept(name: str) -> None:
    """The adapter copies its inputs and returns arrays of the parameter dtype."""
    module = framework(name)
    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.5], np.float32)}
    grads = {"w": np.ones((2, 3), np.float32), "b": np.array([2.0], np.float32)}
    before = {k: v.copy() for k, v in [*params.items(), *(("g" + k, v) for k, v in grads.items())]}
    out = run(module, HYPER, params, [grads, grads], 0.1, {"torch_default_dtype": "float32"})
    for k, v in params.items():
        np.testing.assert_array_equal(v, before[k])
        np.testing.assert_array_equal(grads[k], before["g" + k])
        assert out[-1][k].dtype == np.float32
        assert out[-1][k].shape == v.shape


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_learning_rate_table(name: str) -> None:
    """A table feeds each step its own rate; a constant table equals the constant."""
    module = framework(name)
    params = {"x": np.array([1.0, 2.0, 3.0])}
    grads = [{"x": np.array(g)} for g in C_GRADS]
    constant = run(module, HYPER, params, grads, 0.1)
    table = run(module, HYPER, params, grads, np.full(3, 0.1))
    np.testing.assert_array_equal(table[-1]["x"], constant[-1]["x"])
    paused = run(module, HYPER, params, grads, np.array([0.1, 0.0, 0.1]))
    np.testing.assert_array_equal(paused[1]["x"], paused[0]["x"])


def test_unsupported_cases() -> None:
    """Each module declines what its framework cannot express."""
    to, tm, po, nm = (load(n) for n in FRAMEWORKS)
    assert to.kwargs_for({**HYPER, "weight_decay_mode": "decoupled"}) is None
    assert tm.kwargs_for({**HYPER, "weight_decay_mode": "fixed"}) is None
    assert po.kwargs_for({**HYPER, "weight_decay_mode": "corrected"}) is None
    assert po.kwargs_for({**HYPER, "amsgrad": True}) is None
    assert nm.kwargs_for({**HYPER, "weight_decay_mode": "decoupled"}) is None
    for module in (to, tm, po, nm):
        assert module.kwargs_for({**HYPER, "eps_root": 1e-8}) is None
    for module in (to, tm, po):
        assert module.kwargs_for({**HYPER, "update_clipping": "luc"}) is None
    assert nm.kwargs_for({**HYPER, "update_clipping": "luc"}) is not None


def test_timm_decoupled_first_step() -> None:
    """timm decoupled decay: p1 = p0 * (1 - lr*wd) - lr * g / (||g|| + eps)."""
    module = framework("timm")
    hyper = {**HYPER, "weight_decay": 0.1, "weight_decay_mode": "decoupled"}
    p0, g = np.array([1.0, 2.0, 3.0]), np.array([3.0, 0.0, 4.0])
    out = run(module, hyper, {"x": p0}, [{"x": g}], 0.5)
    np.testing.assert_allclose(out[0]["x"], p0 * (1 - 0.05) - 0.5 * g / (5 + 1e-8), rtol=1e-15)


def test_pytorch_optimizer_flags_first_step() -> None:
    """adam_debias scales the step by sqrt(1 - b2**t); maximize negates the gradient."""
    module = framework("pytorch_optimizer")
    hyper = {**HYPER, "weight_decay": 0.0, "adam_debias": True, "maximize": True}
    p0, g = np.array([1.0, 2.0, 3.0]), np.array([3.0, 0.0, 4.0])
    out = run(module, hyper, {"x": p0}, [{"x": g}], 0.5)
    step = 0.5 * np.sqrt(1 - 0.98)
    np.testing.assert_allclose(out[0]["x"], p0 + step * g / (5 + 1e-8), rtol=1e-15)


def test_nemo_luc_first_step() -> None:
    """NeMo luc: the step is min(trust * ||p|| / (||m|| + luc_eps), lr)."""
    module = framework("nemo")
    hyper = {**HYPER, "weight_decay": 0.0, "update_clipping": "luc", "luc_trust": 0.01, "luc_eps": 0.0}
    p0, g = np.array([1.0, 2.0, 2.0]), np.array([3.0, 0.0, 4.0])
    out = run(module, hyper, {"x": p0}, [{"x": g}], 0.5)
    m = g / (5 + 1e-8)
    factor = 0.01 * 3.0 / np.linalg.norm(m)
    np.testing.assert_allclose(out[0]["x"], p0 - factor * m, rtol=1e-15)


def test_timm_loaded_without_the_timm_package() -> None:
    """Only timm's optimizer files run; the ``timm`` package is never imported."""
    framework("timm")
    code = (
        "import sys\n"
        "from novograd_ref.conformance.frameworks import timm\n"
        "timm.load_nvnovograd()\n"
        "assert 'timm' not in sys.modules and 'torchvision' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
