"""Every installed array library against the NumPy float64 reference (backend isolation).

For each backend and each preset case: three steps give the same updates, parameters
and state as NumPy in float64 within a few ulps; float32, float16 and bfloat16 inputs
agree with the float64 reference within a small multiple of their own eps; outputs
stay in the inputs' namespace, dtype and device; the state dtypes follow the preset.

Tolerances are the project's ``rtol(dtype, "backend", steps)`` (16 eps of the compared
dtype per step), against the largest magnitude in the whole tree (NovoGrad normalizes
per layer, so errors scale with the layer size, not with the element). Every Dask run
happens under a scheduler that refuses to compute: ``update`` only builds graphs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import array_api_compat
import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref import backends
from novograd_ref._tree import flatten, unflatten
from novograd_ref.testing import eps, rtol

Tree = Any
DtypeOf = Callable[[str], Any]

# ----------------------------------------------------------------------- tolerances
# The project's table (novograd_ref.testing): ``rtol(dtype, "backend", steps)``, 16 eps
# a step, for every dtype. The error is measured against the largest magnitude in the
# whole tree (see assert_close_at_tree_scale). Largest errors observed over all cases, 3 seeds,
# 3 steps: 2.4 eps of the compared dtype (float64: 2.1 eps); see benchmarks/RESULTS.md.


def max_abs(tree: Tree) -> float:
    return max((float(np.max(np.abs(x), initial=0.0)) for x in flatten(tree)[0]), default=0.0)


def assert_close_at_tree_scale(actual: Tree, expected: Tree, dtype_name: str, what: str,
                               steps: int, per_leaf: bool = False) -> None:
    """``max|actual - expected| <= rtol(dtype_name, "backend", steps) * scale`` leaf by
    leaf (structures and shapes equal, dtypes not compared); the message gives eps.

    ``scale`` is the largest magnitude in the whole expected tree: NovoGrad normalizes
    each layer, so every layer's moment and update are of one size, and a leaf whose
    value cancels (``b1 m + u`` with opposite signs) is judged against the size of its
    terms rather than of its result. ``per_leaf`` scales each leaf by itself instead
    (sums of squares and norms, which never cancel). The per-leaf measure of
    ``novograd_ref.testing.relative_error`` sees up to 460 float32 eps on a 0-d leaf
    whose moment cancels, where this one sees 2.
    """
    a_leaves, a_def = flatten(actual)
    e_leaves, e_def = flatten(expected)
    assert a_def == e_def, f"{what}: tree structures differ"
    tol, tree_scale = rtol(dtype_name, "backend", steps), max_abs(expected)
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        assert a.shape == e.shape, f"{what}, leaf {i}: shape {a.shape} != {e.shape}"
        diff = float(np.max(np.abs(a - e), initial=0.0))
        if diff == 0.0:
            continue
        scale = max_abs(e) if per_leaf else tree_scale
        err = diff / scale if scale > 0 else float("inf")
        assert err <= tol, (f"{what}, leaf {i}: error {err:.3g} = {err / eps(dtype_name):.1f} "
                            f"eps({dtype_name}) > {tol / eps(dtype_name):g} eps")


# ---------------------------------------------------------------------------- cases

LR = 0.01


def lr_schedule(step: Any) -> Any:
    """A learning-rate schedule that works on Python ints and on lazy 0-d arrays."""
    return LR / (1 + step)


#: Every preset with each of its flags that changes the math set to a non-default
#: value at least once, with weight decay, and with a learning-rate schedule.
_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("paper", {"learning_rate": lr_schedule, "weight_decay": 0.01}),
    ("optax", {"eps_root": 1e-8, "weight_decay": 0.01}),
    ("optax", {"learning_rate": lr_schedule, "weight_decay": 0.01}),
    ("openseq2seq", {"mode": "eager", "grad_averaging": True, "weight_decay": 0.01}),
    ("openseq2seq", {"learning_rate": lr_schedule, "weight_decay": 0.01, "state_dtype": None}),
    ("clara", {"use_nesterov": True}),
    ("clara", {"use_nesterov": True, "mode": "eager", "grad_averaging": True,
               "weight_decay": 0.01, "learning_rate": lr_schedule, "state_dtype": None}),
    ("tfa", {"amsgrad": True, "grad_averaging": True, "weight_decay": 0.01}),
    ("tfa", {"decay": 0.1, "hyper_dtype": "float32"}),
    ("tfa", {"learning_rate": lr_schedule, "grad_averaging": True, "weight_decay": 0.01,
             "hyper_dtype": "float32"}),
    ("apex", {"weight_decay": 1e-3}),
    ("apex", {"norm_type": 0, "weight_decay": 0.01, "lr": lr_schedule}),
    ("apex", {"init_zero": True, "reg_inside_moment": True, "weight_decay": 0.01}),
    ("apex", {"bias_correction": False, "grad_averaging": False, "weight_decay": 0.01,
              "lr": lr_schedule}),
    ("apex", {"norm_type": 0, "init_zero": True, "weight_decay": 0.01, "state_dtype": None,
              "hyper_dtype": None}),
    ("apex", {"weight_decay": 1e-3, "lr": lr_schedule, "state_dtype": None}),
    ("nemo", {"state_dtype": "float32"}),
    ("nemo", {"amsgrad": True, "weight_decay": 0.01, "lr": lr_schedule}),
    ("nemo", {"luc": True, "weight_decay": 0.01, "grad_averaging": True}),
    ("nemo", {"luc": True, "luc_trust": 0.05, "luc_eps": 1e-6, "lr": lr_schedule}),
    ("timm", {"decoupled_decay": True, "weight_decay": 0.01, "state_dtype": "float32"}),
    ("timm", {"decoupled_decay": True, "corrected_weight_decay": True, "weight_decay": 0.01}),
    ("timm", {"decoupled_decay": True, "corrected_weight_decay": True, "max_lr": 0.02,
              "weight_decay": 0.01, "grad_averaging": True, "amsgrad": True,
              "lr": lr_schedule}),
    ("torch_optimizer", {"amsgrad": True}),
    ("torch_optimizer", {"grad_averaging": True, "weight_decay": 0.01, "lr": lr_schedule,
                         "state_dtype": "float32"}),
    ("dle", {"amsgrad": True, "grad_averaging": True, "weight_decay": 0.01,
             "lr": lr_schedule}),
    ("monai", {"amsgrad": True, "grad_averaging": True, "weight_decay": 0.01,
               "lr": lr_schedule, "state_dtype": "float32"}),
    ("pytorch_optimizer", {"weight_decouple": True, "fixed_decay": True,
                           "adam_debias": True, "maximize": True, "weight_decay": 0.01}),
    ("pytorch_optimizer", {"weight_decouple": True, "grad_averaging": True,
                           "weight_decay": 0.01, "lr": lr_schedule}),
    ("pytorch_optimizer", {"betas": (0.9, 0.3), "weight_decay": 0.01, "adam_debias": True,
                           "lr": lr_schedule}),  # the other branch of torch's lerp
    ("flashlight", {"weightDecay": 0.01}),
    ("flashlight", {"weightDecay": 0.01, "learningRate": lr_schedule, "hyper_dtype": None}),
]

#: Every preset with its defaults, then the variants above (flags that change the math).
CASES: list[tuple[str, dict[str, Any]]] = [(n, {}) for n in ngr.presets.names()] + _VARIANTS


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = case
    return "-".join([name, *(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items())])


CASE_PARAMS = [pytest.param(c, id=case_id(c)) for c in CASES]

#: Half precision: every preset's defaults (float32 state for apex, openseq2seq and
#: clara) and the PyTorch family with a float32 state, as their users run it.
HALF_CASES: list[tuple[str, dict[str, Any]]] = [(n, {}) for n in ngr.presets.names()] + [
    c for c in _VARIANTS if c[1].get("state_dtype") == "float32"]
HALF_PARAMS = [pytest.param(c, id=case_id(c)) for c in HALF_CASES]



def make(name: str, kwargs: dict[str, Any]) -> ngr.NovoGrad:
    """The preset ``name`` with learning rate ``LR`` (unless given) and ``kwargs``."""
    hyper = ngr.presets.spec(name).canonical(**kwargs)
    return ngr.presets.build(name, **{"learning_rate": LR, **hyper})


def full_precision(opt: ngr.NovoGrad) -> ngr.NovoGrad:
    """The same conventions with every state in the parameter dtype (the reference)."""
    return ngr.NovoGrad(dataclasses.replace(opt.config, state_dtype=None, mu_dtype=None))


#: Lazy backends (Dask, JAX) rebuild a graph or compile for every case, so beyond
#: float64 they run a subset: the presets' defaults in float32, and in half precision
#: the presets that keep a float32 state. Their lazy code path is shared; the full
#: matrix runs on the eager backends.
LAZY_FLOAT32_CASES = [(n, {}) for n in ngr.presets.names()]
LAZY_HALF_CASES = [c for c in HALF_CASES if make(*c).config.state_dtype == "float32"]


def skip_if_lazy_subset(backend: backends.Backend, case: tuple[str, dict[str, Any]],
                        subset: list[tuple[str, dict[str, Any]]]) -> None:
    if backend.lazy and case not in subset:
        pytest.skip("lazy backends run a subset of the cases here (time); see LAZY_*_CASES")


# ----------------------------------------------------------------------- trees, runs

STEPS = 3


def numpy_tree(rng: np.random.Generator, scale: float = 1.0) -> Tree:
    """A small float64 tree: a matrix, vectors, a 3-d leaf, a 0-d leaf, a ``None``."""
    def leaf(*shape: int) -> np.ndarray:
        return np.asarray(scale * rng.standard_normal(shape))

    return {"w": leaf(4, 5), "b": leaf(5), "layers": [leaf(3, 2, 2), None, leaf(7)],
            "scale": leaf()}


def tree_map(fn: Callable[[Any], Any], tree: Tree) -> Tree:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fn(x) for x in leaves])


def to_backend(backend: backends.Backend, tree: Tree, dtype: Any, device: Any = None) -> Tree:
    """``tree`` in ``backend``, rounded to ``dtype`` there, on ``device``."""
    xp = backend.xp
    return tree_map(lambda a: xp.astype(backend.from_numpy(a, device=device), dtype), tree)


def to_numpy64(backend: backends.Backend, tree: Tree) -> Tree:
    """Every leaf as a float64 NumPy array (exact for every float dtype), computed once."""
    leaves, treedef = flatten(tree)
    if backend.name == "dask":
        import dask

        leaves = list(dask.compute(*leaves, scheduler="synchronous"))
    return unflatten(treedef, [np.asarray(backend.to_numpy(x)).astype(np.float64)
                               for x in leaves])


def run(opt: ngr.NovoGrad, params: Tree, grads: Sequence[Tree]
        ) -> tuple[Tree, ngr.NovoGradState, list[Tree]]:
    """``len(grads)`` steps from ``opt.init(params)``: final params, state, every update."""
    state = opt.init(params)
    updates = []
    for g in grads:
        u, state = opt.update(g, state, params)
        params = ngr.apply_updates(params, u)
        updates.append(u)
    return params, state, updates


def inputs(seed: int) -> tuple[Tree, list[Tree]]:
    rng = np.random.default_rng(seed)
    return numpy_tree(rng), [numpy_tree(rng) for _ in range(STEPS)]


def check_against_numpy(backend: backends.Backend, opt: ngr.NovoGrad, dtype: Any,
                        dtype_name: str, params: Tree, grads: list[Tree],
                        device: Any = None, same_config: bool = False
                        ) -> ngr.NovoGradState:
    """Run ``opt`` on ``backend`` in ``dtype`` and compare every output with NumPy float64.

    The reference runs :func:`full_precision` of ``opt`` (``same_config``: ``opt``
    itself, state dtypes included) on the backend's rounded inputs, so only the
    arithmetic differs. Returns the backend's final state.
    """
    b_params = to_backend(backend, params, dtype, device)
    b_grads = [to_backend(backend, g, dtype, device) for g in grads]
    with no_compute() if backend.name == "dask" else contextlib.nullcontext():
        out_params, state, updates = run(opt, b_params, b_grads)
    got = to_numpy64(backend, (out_params, state.mu, state.nu, state.nu_max, updates))
    ref_params = to_numpy64(backend, b_params)
    ref_grads = [to_numpy64(backend, g) for g in b_grads]
    r_params, r_state, r_updates = run(opt if same_config else full_precision(opt),
                                       ref_params, ref_grads)
    for k in range(STEPS):
        assert_close_at_tree_scale(got[4][k], r_updates[k], dtype_name, f"updates of step {k + 1}",
                                   steps=k + 1)
    assert_close_at_tree_scale(got[0], r_params, dtype_name, "parameters", STEPS)
    assert_close_at_tree_scale(got[1], r_state.mu, dtype_name, "state.mu", STEPS)
    assert_close_at_tree_scale(got[2], r_state.nu, dtype_name, "state.nu", STEPS, per_leaf=True)
    assert_close_at_tree_scale(got[3], r_state.nu_max, dtype_name, "state.nu_max", STEPS,
                               per_leaf=True)
    assert int(backend.to_numpy(state.count)) == STEPS
    return state


@dataclasses.dataclass
class RaisingScheduler:
    """A Dask scheduler that counts each request to compute and refuses it."""

    calls: int = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError(f"a Dask graph was computed (keys {keys!r})")


@contextlib.contextmanager
def no_compute() -> Iterator[RaisingScheduler]:
    """Within the block, computing any Dask collection raises ``AssertionError``.

    Every Dask run of this module (init, update, apply_updates) happens inside it, so
    a hidden ``bool()``, ``float()``, ``int()`` or ``compute()`` on a Dask array fails.
    """
    import dask

    scheduler = RaisingScheduler()
    with dask.config.set(scheduler=scheduler):
        yield scheduler
    assert scheduler.calls == 0


def assert_namespace_dtype_device(xp: Any, tree: Tree, dtype: Any, device: Any, what: str) -> None:
    """Every leaf is an array of ``xp`` with ``dtype`` on ``device``."""
    for i, leaf in enumerate(flatten(tree)[0]):
        assert array_api_compat.array_namespace(leaf) is xp, f"{what}[{i}]: namespace"
        assert leaf.dtype == dtype, f"{what}[{i}]: dtype {leaf.dtype}, expected {dtype}"
        assert array_api_compat.device(leaf) == device, (
            f"{what}[{i}]: device {array_api_compat.device(leaf)}, expected {device}")


# ---------------------------------------------------------------------------- tests


def test_registry_knows_every_library() -> None:
    assert set(backends.names()) >= {"numpy", "array_api_strict", "dask", "torch", "jax", "cupy"}
    assert {"numpy", "array_api_strict"} <= set(backends.available())


def test_backend_round_trip(backend: backends.Backend, backend_dtype: DtypeOf) -> None:
    a = np.arange(6.0).reshape(2, 3)
    for name in backend.float_dtypes:
        x = backend.xp.astype(backend.from_numpy(a), backend_dtype(name))
        assert x.dtype == backend_dtype(name)
        np.testing.assert_array_equal(np.asarray(backend.to_numpy(x), np.float64), a)
    backend.synchronize()


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_presets_float64_match_numpy(backend: backends.Backend, backend_dtype: DtypeOf,
                                     case: tuple[str, dict[str, Any]]) -> None:
    """Float64 parameters, the preset as configured (a float32 state included): every
    backend, eager or lazy, agrees with NumPy within 16 float64 eps a step."""
    if "float64" not in backend.float_dtypes:
        pytest.skip(f"{backend.name} has no float64")
    opt = make(*case)
    params, grads = inputs(seed=CASES.index(case))
    state = check_against_numpy(backend, opt, backend_dtype("float64"), "float64", params,
                                grads, same_config=True)
    nu_dtype = backend_dtype(opt.config.state_dtype or "float64")
    assert_namespace_dtype_device(backend.xp, state.nu, nu_dtype,
                                  array_api_compat.device(state.count), "state.nu")


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_presets_float32_match_float64_reference(backend: backends.Backend,
                                                 backend_dtype: DtypeOf,
                                                 case: tuple[str, dict[str, Any]]) -> None:
    """Float32 parameters with the preset's own state dtypes, against float64."""
    skip_if_lazy_subset(backend, case, LAZY_FLOAT32_CASES)
    opt = make(*case)
    params, grads = inputs(seed=100 + CASES.index(case))
    state = check_against_numpy(backend, opt, backend_dtype("float32"), "float32", params,
                                grads)
    f32 = backend_dtype("float32")
    device = array_api_compat.device(state.count)
    assert_namespace_dtype_device(backend.xp, state.mu, f32, device, "state.mu")
    assert_namespace_dtype_device(backend.xp, state.nu, f32, device, "state.nu")


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize("case", HALF_PARAMS)
def test_presets_low_precision(backend: backends.Backend, backend_dtype: DtypeOf,
                               dtype_name: str, case: tuple[str, dict[str, Any]]) -> None:
    """Half-precision parameters; the per-layer state is float32 where the preset says."""
    if dtype_name not in backend.float_dtypes:
        pytest.skip(f"{backend.name} has no {dtype_name}")
    skip_if_lazy_subset(backend, case, LAZY_HALF_CASES)
    opt = make(*case)
    params, grads = inputs(seed=200 + HALF_CASES.index(case))
    dtype = backend_dtype(dtype_name)
    state = check_against_numpy(backend, opt, dtype, dtype_name, params, grads)
    device = array_api_compat.device(state.count)
    nu_dtype = backend_dtype(opt.config.state_dtype) if opt.config.state_dtype else dtype
    assert_namespace_dtype_device(backend.xp, state.mu, dtype, device, "state.mu")
    assert_namespace_dtype_device(backend.xp, state.nu, nu_dtype, device, "state.nu")


#: Configurations no preset builds: the first moment from the first input (its
#: first-step selection of the moment must stay lazy under Dask and traceable by JAX).
FIRST_INPUT_CASES: list[dict[str, Any]] = [
    {"first_moment_init": "first_input", "bias_correction": "adam", "weight_decay": 0.01,
     "learning_rate": lr_schedule},
    {"first_moment_init": "first_input", "learning_rate_placement": "inside",
     "nesterov": True, "grad_averaging": "after_first_step", "weight_decay": 0.01,
     "learning_rate": lr_schedule},
    {"first_moment_init": "first_input", "momentum_input": "raw",
     "weight_decay_mode": "apex", "weight_decay": 0.01, "grad_averaging": "always",
     "state_dtype": "float32"},
]
FIRST_INPUT_PARAMS = [pytest.param(c, id="-".join(
    f"{k}={getattr(v, '__name__', v)}" for k, v in c.items())) for c in FIRST_INPUT_CASES]


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
@pytest.mark.parametrize("switches", FIRST_INPUT_PARAMS)
def test_a_first_input_moment_matches_numpy(backend: backends.Backend,
                                            backend_dtype: DtypeOf, dtype_name: str,
                                            switches: dict[str, Any]) -> None:
    """``first_moment_init='first_input'`` on every backend, eager or lazy, against
    NumPy (float64: the configuration as it is; float32: against float64)."""
    if dtype_name not in backend.float_dtypes:
        pytest.skip(f"{backend.name} has no {dtype_name}")
    opt = ngr.novograd(**{"learning_rate": LR, **switches})
    params, grads = inputs(seed=400 + FIRST_INPUT_CASES.index(switches))
    check_against_numpy(backend, opt, backend_dtype(dtype_name), dtype_name, params, grads,
                        same_config=dtype_name == "float64")


def test_float32_state_named_in_the_issue(backend: backends.Backend,
                                          backend_dtype: DtypeOf) -> None:
    """``nemo(state_dtype="float32")`` and ``apex()`` keep float32 norms for half params."""
    half = next((d for d in ("bfloat16", "float16") if d in backend.float_dtypes), None)
    if half is None:
        pytest.skip(f"{backend.name} has no half-precision dtype")
    params, grads = inputs(seed=300)
    for opt in (ngr.presets.nemo(lr=0.1, state_dtype="float32"), ngr.presets.apex(lr=0.1)):
        state = check_against_numpy(backend, opt, backend_dtype(half), half, params, grads)
        for leaf in flatten(state.nu)[0]:
            assert leaf.dtype == backend_dtype("float32")


@pytest.mark.parametrize("case", [("nemo", {"luc": True, "weight_decay": 0.01}),
                                  ("apex", {}), ("optax", {"learning_rate": lr_schedule}),
                                  ("tfa", {"amsgrad": True})], ids=case_id)
def test_outputs_stay_in_namespace_and_on_device(backend: backends.Backend, device: Any,
                                                 backend_dtype: DtypeOf,
                                                 case: tuple[str, dict[str, Any]]) -> None:
    """init / update / apply_updates on a non-default device keep namespace and device."""
    xp, f32 = backend.xp, backend_dtype("float32")
    opt = make(*case)
    params, grads = inputs(seed=400)
    b_params = to_backend(backend, params, f32, device)
    b_grads = to_backend(backend, grads[0], f32, device)
    state = opt.init(b_params)
    assert_namespace_dtype_device(xp, state.mu, f32, device, "state.mu")
    assert_namespace_dtype_device(xp, state.nu, f32, device, "state.nu")
    assert array_api_compat.device(state.count) == device
    values = str(device) != "meta"
    if not values:  # a meta tensor holds no step count to read: keep that one on the host
        state = state._replace(count=xp.asarray(0, dtype=xp.int32, device="cpu"))
    updates, state = opt.update(b_grads, state, b_params)
    new_params = ngr.apply_updates(b_params, updates)
    for what, tree in (("updates", updates), ("params", new_params), ("state.mu", state.mu),
                       ("state.nu", state.nu), ("state.nu_max", state.nu_max)):
        assert_namespace_dtype_device(xp, tree, f32, device, what)
    if values and device != backend.devices[0]:
        check_against_numpy(backend, opt, f32, "float32", params, grads, device=device)
