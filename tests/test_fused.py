"""The fused in-place step (``novograd_ref.fused``) against the reference core.

It is checked as any port is: the conformance kit drives it, through
``novograd_ref.fused.ports``, over every preset's standard cases and generated ones.
Then every switch value of ``Config`` (and hypothesis-drawn combinations of them) is
compared with the reference over a few steps, float16 parameters included; every
refusal names its leaf and leaves everything untouched.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref import cli
from novograd_ref._config import SWITCH_TYPES, Config
from novograd_ref.conformance import implementation, verify_implementation
from novograd_ref.testing import assert_trees_close, rtol

from .test_fused_fuzz import KINDS, SWITCHES, assert_same, extreme_trees

fused = pytest.importorskip("novograd_ref.fused", reason="numba is not installed")

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"a": (5,), "b": (2, 3), "c": ()}
STEPS = 4


# ------------------------------------------------------------------ the kit, as a port


@pytest.mark.slow
@pytest.mark.parametrize("preset", ngr.presets.names())
def test_kit_passes_the_fused_port_of_every_preset(preset: str) -> None:
    """Every standard case the preset can express, float64 and float32, and a batch of
    generated ones: all checked, all within the kit's tolerance."""
    report = verify_implementation(implementation(f"novograd_ref.fused.ports:{preset}"),
                                   preset, examples=5)
    standard = [c for c in report.comparisons if c.case != "generated"]
    assert standard
    assert not [c.label for c in standard if c.skipped]
    failed = [(c.label, c.error, c.tolerance) for c in report.comparisons if not c.passed]
    assert not failed


@pytest.mark.slow
def test_verify_command_passes_the_fused_port(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["verify", "--impl", "novograd_ref.fused.ports:nemo", "--preset", "nemo",
                       "--examples", "5"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert " 0 failed" in out


# ------------------------------------------------------------- every switch, directly


def _tree(rng: np.random.Generator, dtype: str, scale: float = 1.0) -> dict[str, Any]:
    return {k: np.asarray(scale * rng.standard_normal(s)).astype(dtype)
            for k, s in SHAPES.items()}


def _run_both(cfg: Config, dtype: str, seed: int = 0, zero_first: bool = False,
              threads: int = 1) -> tuple[Any, Any]:
    """(reference trajectory, fused trajectory): params and state after each step."""
    rng = np.random.default_rng(seed)
    params = _tree(rng, dtype)
    grads = [_tree(rng, dtype) for _ in range(STEPS)]
    if zero_first:
        grads[0]["a"][...] = 0
    opt = ngr.NovoGrad(cfg)
    fast = fused.from_optimizer(cfg, threads=threads)
    ref_p, ref_s = params, opt.init(params)
    fast_p = {k: v.copy() for k, v in params.items()}
    fast_s = fast.init(fast_p)
    ref, got = [], []
    with np.errstate(all="ignore"):
        for g in grads:
            updates, ref_s = opt.update(g, ref_s, ref_p)
            ref_p = ngr.apply_updates(ref_p, updates)
            fast.step_(fast_p, g, fast_s)
            ref.append((ref_p, ref_s.mu, ref_s.nu, ref_s.nu_max))
            got.append(_copy((fast_p, fast_s.mu, fast_s.nu, fast_s.nu_max)))
    return ref, got


def _copy(tree: Any) -> Any:
    from novograd_ref._tree import tree_map

    return tree_map(lambda a: np.array(a, copy=True), tree)


def _tolerance(cfg: Config, dtype: str) -> float:
    """The kit's tolerance for a run: the narrowest of the parameter and state dtypes."""
    names = [dtype, cfg.state_dtype or dtype, cfg.mu_dtype or dtype]
    return max(rtol(name, "framework") for name in names)


def _assert_same_run(cfg: Config, dtype: str, **kwargs: Any) -> None:
    ref, got = _run_both(cfg, dtype, **kwargs)
    tol = _tolerance(cfg, dtype)
    for step, (want, have) in enumerate(zip(ref, got), start=1):
        for (name, w), h in zip(zip(("params", "mu", "nu", "nu_max"), want), have):
            if w is not None:
                assert_trees_close({name: _as_arrays(h)}, {name: _as_arrays(w)},
                                   rtol_value=tol, step=step)


def _as_arrays(tree: Any) -> Any:
    from novograd_ref._tree import tree_map

    return tree_map(np.asarray, tree)


def _valid(**switches: Any) -> Config | None:
    """A Config with these switches and weight decay, or None if the core refuses it."""
    base: dict[str, Any] = {"learning_rate": _schedule, "b1": 0.9, "b2": 0.7,
                            "eps": 1e-6, "weight_decay": 0.01}
    if switches.get("weight_decay_mode") == "corrected":
        base["max_learning_rate"] = 0.05
    try:
        return Config(**{**base, **switches})
    except ValueError:
        return None


def _schedule(step: int) -> float:
    return 0.01 * (1 + step % 3)


_PARTNERS: dict[tuple[str, Any], dict[str, Any]] = {
    ("norm", "apex_l2"): {"second_moment_init": "first_step_blend"},
    ("norm", "apex_inf"): {"second_moment_init": "zero"},
    ("momentum_input", "raw"): {"weight_decay_mode": "apex"},
    ("second_moment_init", "first_step_blend"): {"norm": "apex_l2"},
}


def _one_switch_configs() -> list[Any]:
    """Each value of each switch, on top of the defaults (with the partners a value
    needs), and each bool switch on."""
    out = []
    for name, choices in SWITCH_TYPES.items():
        for value in get_args(choices):
            switches = {name: value, **_PARTNERS.get((name, value), {})}
            cfg = _valid(**switches)
            assert cfg is not None, switches
            out.append(pytest.param(cfg, id=f"{name}={value}"))
    for name in ("amsgrad", "nesterov", "maximize"):
        out.append(pytest.param(_valid(**{name: True}), id=f"{name}"))
    extra = [{"nesterov": True, "learning_rate_placement": "inside"},
             {"update_clipping": "luc", "weight_decay_mode": "decoupled"},
             {"bias_correction": "apex", "norm": "apex_l2", "momentum_input": "raw",
              "weight_decay_mode": "apex", "second_moment_init": "first_step_blend"},
             {"amsgrad": True, "second_moment_update": "lerp", "maximize": True},
             {"eps_root": 1e-4, "normalization": "reciprocal"},
             {"hyper_dtype": "float32", "grad_averaging": "after_first_step"},
             {"first_moment_init": "first_input", "nesterov": True},
             {"first_moment_init": "first_input", "nesterov": True,
              "learning_rate_placement": "inside", "grad_averaging": "always"},
             {"first_moment_init": "first_input", "bias_correction": "apex",
              "norm": "apex_l2", "momentum_input": "raw", "weight_decay_mode": "apex",
              "second_moment_init": "first_step_blend", "nesterov": True}]
    for switches in extra:
        cfg = _valid(**switches)
        assert cfg is not None, switches
        out.append(pytest.param(cfg, id=",".join(f"{k}={v}" for k, v in switches.items())))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", _one_switch_configs())
def test_every_switch_value_matches_the_reference(cfg: Config, dtype: str) -> None:
    _assert_same_run(cfg, dtype, zero_first=True)


STATE_DTYPES = [(None, None), ("float32", None), ("float64", None), ("float32", "float32"),
                (None, "float64")]


@given(data=st.data())
def test_drawn_configurations_match_the_reference(data: st.DataObject) -> None:
    """Any combination of switches the core accepts, with state dtypes of their own."""
    switches = {name: data.draw(st.sampled_from(get_args(choices)), label=name)
                for name, choices in SWITCH_TYPES.items()}
    switches |= {name: data.draw(st.booleans(), label=name)
                 for name in ("amsgrad", "nesterov", "maximize")}
    state_dtype, mu_dtype = data.draw(st.sampled_from(STATE_DTYPES), label="state dtypes")
    cfg = _valid(**switches, state_dtype=state_dtype, mu_dtype=mu_dtype,
                 eps_root=data.draw(st.sampled_from([0.0, 1e-4]), label="eps_root"))
    assume(cfg is not None)
    assert cfg is not None
    dtype = data.draw(st.sampled_from(["float64", "float32"]), label="dtype")
    _assert_same_run(cfg, dtype, seed=data.draw(st.integers(0, 99), label="seed"),
                     zero_first=data.draw(st.booleans(), label="zero first gradient"))


@pytest.mark.parametrize(("preset", "kwargs"), [
    ("optax", {}), ("nemo", {"state_dtype": "float32"}), ("apex", {}),
    ("torch_optimizer", {"betas": (0.9, 0.98), "weight_decay": 0.01}),
])
def test_float16_parameters_match_the_reference(preset: str, kwargs: dict[str, Any]) -> None:
    """float16 parameters, with float16 or float32 state (Apex keeps float32)."""
    keyword = ngr.presets.spec(preset).learning_rate_keyword
    opt = ngr.presets.get(preset)(**{keyword: 0.01}, **kwargs)
    _assert_same_run(opt.config, "float16")
    mixed = dataclasses.replace(opt.config, state_dtype="float32", mu_dtype="float32")
    _assert_same_run(mixed, "float16")


@pytest.mark.parametrize("nesterov", [False, True])
def test_a_first_input_moment_does_not_read_the_moment_given_on_step_one(
        nesterov: bool) -> None:
    """``first_moment_init='first_input'``: on the first step the reference does not
    read the moment of the state; neither does the fused step, whatever it holds."""
    cfg = ngr.novograd(0.1, b1=0.9, first_moment_init="first_input", nesterov=nesterov,
                       weight_decay=0.01).config
    rng = np.random.default_rng(2)
    params, grads = _tree(rng, "float64"), _tree(rng, "float64")
    opt, fast = ngr.NovoGrad(cfg), fused.from_optimizer(cfg)
    state = opt.init(params)
    state = state._replace(mu={k: np.full_like(v, 7.0) for k, v in state.mu.items()})
    updates, want = opt.update(grads, state, params)
    fast_p = {k: v.copy() for k, v in params.items()}
    fast_s = fast.init(fast_p)
    for m in fast_s.mu.values():
        m[...] = 7.0
    fast.step_(fast_p, grads, fast_s)
    tol = _tolerance(cfg, "float64")
    assert_trees_close(fast_p, ngr.apply_updates(params, updates), rtol_value=tol)
    assert_trees_close(fast_s.mu, want.mu, rtol_value=tol)


def test_float16_conversions_are_exact_round_trips() -> None:
    """Every float16 bit pattern converts to float32 as NumPy does and back unchanged;
    float64 values round to float16 as NumPy rounds them."""
    from novograd_ref.fused import _cpu

    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    want = bits.view(np.float16).astype(np.float32)
    got = np.array([_cpu.half_to_float(b) for b in bits], dtype=np.float32)
    assert np.array_equal(got, want, equal_nan=True)
    finite = ~np.isnan(want)
    back = np.array([_cpu.float_to_half(x) for x in want[finite]], dtype=np.uint16)
    assert np.array_equal(back, bits[finite])
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-9, 6, 2000),
                        [65519.9, 65520.0, 1e9, -1e9, 2.0**-25, 3 * 2.0**-26, 0.0, -0.0]])
    got16 = np.array([_cpu.float_to_half(v) for v in x], dtype=np.uint16)
    with np.errstate(over="ignore"):
        want16 = x.astype(np.float16).view(np.uint16)
    assert np.array_equal(got16, want16)


def test_two_threads_give_the_same_bits_as_one() -> None:
    """A layer large enough to be split over threads: the blocks of the norm's sum do
    not depend on the thread count, so neither does any bit of the result."""
    from novograd_ref.fused import _cpu

    if _cpu.max_threads() < 2:
        pytest.skip(f"numba runs {_cpu.max_threads()} thread here")
    rng = np.random.default_rng(1)
    n = _cpu.PARALLEL_MIN + 12345
    params = {"w": rng.standard_normal(n, dtype=np.float32)}
    grads = {"w": rng.standard_normal(n, dtype=np.float32)}
    out = []
    for threads in (1, 2):
        fast = fused.from_optimizer(ngr.presets.nemo(luc=True), threads=threads)
        p = {"w": params["w"].copy()}
        state = fast.init(p)
        for _ in range(2):
            fast.step_(p, grads, state)
        out.append((p["w"], state.mu["w"], state.nu["w"]))
    for a, b in zip(*out):
        assert np.array_equal(a, b)
    opt = ngr.presets.nemo(luc=True)
    ref_p, ref_s = params, opt.init(params)
    for _ in range(2):
        updates, ref_s = opt.update(grads, ref_s, ref_p)
        ref_p = ngr.apply_updates(ref_p, updates)
    assert_trees_close(out[0][0], ref_p["w"], kind="framework")


def test_norm_is_summed_in_float64() -> None:
    """A float32 layer of 2**20 values: the stored squared norm is the float64 sum
    rounded once (the reference's pairwise float32 sum is a few eps away)."""
    rng = np.random.default_rng(2)
    g = rng.standard_normal(1 << 20, dtype=np.float32) * 3
    fast = fused.from_optimizer(ngr.novograd(0.01))
    params = {"w": np.zeros_like(g)}
    state = fast.init(params)
    fast.step_(params, {"w": g}, state)
    exact = np.float32(np.sum(g.astype(np.float64) ** 2))
    assert state.nu["w"] == exact


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_division_by_zero_gives_what_the_reference_gives(dtype: str) -> None:
    """eps = 0 and a zero gradient: 0/0 and x/0 are NaN and inf, as in NumPy (never a
    ZeroDivisionError)."""
    for switches in ({"eps": 0.0}, {"eps": 0.0, "normalization": "reciprocal"},
                     {"eps": 0.0, "norm": "apex_inf", "second_moment_init": "zero",
                      "momentum_input": "raw", "weight_decay_mode": "apex"}):
        cfg = _valid(**switches)
        assert cfg is not None
        _assert_same_run(cfg, dtype, zero_first=True)


def test_nested_trees_with_none_leaves_match_the_reference() -> None:
    """Lists, tuples, nested dicts and ``None`` (an empty subtree) take the general tree
    walk; the result is the reference's."""
    rng = np.random.default_rng(4)

    def tree() -> Any:
        return {"layer": [rng.standard_normal(3), rng.standard_normal((2, 2))],
                "bias": (rng.standard_normal(1), None), "head": {"w": rng.standard_normal(4)}}

    params, grads = tree(), tree()
    opt = ngr.presets.timm(lr=0.01, weight_decay=0.1)
    updates, ref_state = opt.update(grads, opt.init(params), params)
    want = ngr.apply_updates(params, updates)
    fast = fused.from_optimizer(opt)
    state = fast.init(params)
    fast.step_(params, grads, state)
    assert_trees_close(params, want, kind="framework")
    assert_trees_close(_as_arrays(state.nu), _as_arrays(ref_state.nu), kind="framework")


def _unaligned(values: np.ndarray) -> np.ndarray:
    """A writeable copy of ``values`` at an odd address (``flags.aligned`` false)."""
    buffer = np.frombuffer(bytearray(values.nbytes + 1), dtype=values.dtype,
                           offset=1, count=values.size)
    buffer[...] = values.ravel()
    out = buffer.reshape(values.shape)
    assert not out.flags.aligned
    assert out.flags.writeable
    return out


def test_leaves_of_every_kind_match_the_reference_step_after_step() -> None:
    """The kernels are compiled per kind of leaf (dtypes, read-only gradients): a tree of
    read-only float32 gradients (its own compiled kind), trees whose leaves differ in
    kind, an unaligned gradient, and a tree whose kind changes from one step to the
    next all give the reference's step."""
    rng = np.random.default_rng(5)
    params = {"a": rng.standard_normal(7).astype(np.float32),
              "b": rng.standard_normal((2, 3)).astype(np.float32),
              "c": rng.standard_normal(5)}
    opt = ngr.presets.nemo(lr=0.01, weight_decay=0.01)
    fast = fused.from_optimizer(opt)
    state, ref_params, ref_state = fast.init(params), params, opt.init(params)

    def grads(spoil: str) -> dict[str, np.ndarray]:
        out = {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}
        if spoil == "read-only":
            for v in out.values():
                v.setflags(write=False)
        if spoil == "unaligned":
            out["b"] = _unaligned(out["b"])
        return out

    for spoil in ("float32", "float32", "read-only", "mixed", "unaligned", "float32"):
        if spoil in ("float32", "read-only"):  # float32 leaves only: one kind
            params.pop("c", None)
            ref_params = {k: v for k, v in ref_params.items() if k != "c"}
            state = state._replace(mu={k: state.mu[k] for k in params},
                                   nu={k: state.nu[k] for k in params})
            ref_state = ref_state._replace(mu={k: ref_state.mu[k] for k in params},
                                           nu={k: ref_state.nu[k] for k in params})
        else:
            params.setdefault("c", rng.standard_normal(5))
            ref_params = {**ref_params, "c": params["c"].copy()}
            state.mu.setdefault("c", np.zeros(5))
            state.nu.setdefault("c", np.zeros(()))
            ref_state = ref_state._replace(mu={**ref_state.mu, "c": state.mu["c"].copy()},
                                           nu={**ref_state.nu, "c": state.nu["c"].copy()})
        g = grads(spoil)
        updates, ref_state = opt.update(g, ref_state, ref_params)
        ref_params = ngr.apply_updates(ref_params, updates)
        fast.step_(params, g, state)
        assert_trees_close(params, ref_params, kind="framework", step=int(state.count))
        assert_trees_close(state.mu, ref_state.mu, kind="framework", step=int(state.count))
    from novograd_ref.fused import _cpu

    assert ("leaf_step", (np.dtype(np.float32),) * 3 + (False,)) in _cpu._COMPILED


def test_the_fused_step_pickles_after_it_has_run() -> None:
    """Nothing compiled is kept on the object: it pickles and copies as its config."""
    import copy
    import pickle

    fast = fused.from_optimizer(ngr.presets.nemo(lr=0.01), threads=1)
    params = {"w": np.ones(3, dtype=np.float32)}
    state = fast.init(params)
    fast.step_(params, {"w": np.full(3, 0.5, dtype=np.float32)}, state)
    for twin in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast)):
        assert twin == fast
        twin.step_(params, {"w": np.full(3, 0.5, dtype=np.float32)}, state)
    assert int(state.count) == 3


def test_empty_tree_and_empty_leaf_step() -> None:
    fast = fused.from_optimizer(ngr.novograd(0.1))
    state = fast.init({})
    fast.step_({}, {}, state)
    assert int(state.count) == 1
    params = {"e": np.zeros(0), "s": np.array(2.0)}
    state = fast.init(params)
    fast.step_(params, {"e": np.zeros(0), "s": np.array(4.0)}, state)
    assert params["s"] == pytest.approx(2.0 - 0.1 * 4.0 / (4.0 + 1e-8))


# ------------------------------------------------------------------------ refusals


def _setup(**kwargs: Any) -> tuple[Any, dict[str, Any], dict[str, Any], Any]:
    fast = fused.from_optimizer(ngr.novograd(0.1, weight_decay=0.1, **kwargs))
    params = {"a": np.ones((2, 3)), "b": np.ones(4)}
    state = fast.init(params)
    grads = {"a": np.full((2, 3), 0.5), "b": np.full(4, 0.5)}
    return fast, params, grads, state


def _snapshot(*trees: Any) -> Any:
    return _copy(trees)


@pytest.mark.parametrize(("spoil", "error", "message"), [
    (lambda p, g, s: p["b"].setflags(write=False), ValueError,
     r"params\['b'\]: expected a writeable array, got a read-only one"),
    (lambda p, g, s: s.mu["b"].setflags(write=False), ValueError,
     r"state.mu\['b'\]: expected a writeable array"),
    (lambda p, g, s: g.__setitem__("b", np.ones(8)[::2]), ValueError,
     r"grads\['b'\]: expected a C-contiguous array, got strides \(16,\)"),
    (lambda p, g, s: g.__setitem__("b", g["b"].astype(np.float32)), ValueError,
     r"grads\['b'\] and params\['b'\] must have one shape and dtype, got \(4,\) float32"),
    (lambda p, g, s: g.__setitem__("b", np.ones(5)), ValueError,
     r"grads\['b'\] and params\['b'\] must have one shape and dtype, got \(5,\) float64"),
    (lambda p, g, s: g.__setitem__("b", 0.5), TypeError,
     r"grads\['b'\]: expected an array, got float"),
    (lambda p, g, s: s.nu.__setitem__("b", np.float64(0.0)), TypeError,
     r"state.nu\['b'\]: expected a NumPy array .* got numpy.float64"),
    (lambda p, g, s: g.__setitem__("c", np.ones(1)), ValueError,
     r"params differs from grads in structure"),
])
def test_bad_buffers_are_refused_and_nothing_changes(spoil: Any, error: type,
                                                     message: str) -> None:
    fast, params, grads, state = _setup()
    spoil(params, grads, state)
    before = _snapshot(params, grads, state.mu, state.nu, state.count)
    with pytest.raises(error, match=message):
        fast.step_(params, grads, state)
    after = _snapshot(params, grads, state.mu, state.nu, state.count)
    assert_trees_close(after, before, rtol_value=0.0)


@pytest.mark.parametrize(("rate", "error", "message"), [
    (-0.1, ValueError, r"learning_rate schedule returned -0.1 at step 0: expected a finite"),
    (float("nan"), ValueError, r"returned nan at step 0"),
    ("0.1", TypeError, r"returned '0.1' \(str\) at step 0: expected a real number"),
])
def test_a_bad_scheduled_rate_is_refused_before_anything_moves(rate: Any, error: type,
                                                                message: str) -> None:
    fast = fused.from_optimizer(ngr.novograd(lambda step: rate))
    params = {"w": np.ones(3)}
    state = fast.init(params)
    with pytest.raises(error, match=message):
        fast.step_(params, {"w": np.ones(3)}, state)
    assert np.array_equal(params["w"], np.ones(3))
    assert int(state.count) == 0


def test_a_state_from_the_reference_update_is_refused() -> None:
    """The reference returns NumPy scalars for 0-d results: not buffers to write."""
    opt = ngr.novograd(0.1)
    params = {"w": np.ones(3)}
    _, state = opt.update(params, opt.init(params), params)
    with pytest.raises(TypeError, match=r"state.count: expected a writeable 0-d integer"):
        fused.from_optimizer(opt).step_(params, params, state)


def test_shared_amsgrad_buffers_are_refused() -> None:
    opt = ngr.novograd(0.1, amsgrad=True)
    params = {"w": np.ones(3)}
    state = opt.init(params)  # the reference's nu_max starts as nu's very arrays
    with pytest.raises(ValueError, match=r"state.nu_max\['w'\]: shares its buffer"):
        fused.from_optimizer(opt).step_(params, params, state)


def test_bfloat16_is_refused_by_name() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    fast = fused.from_optimizer(ngr.novograd(0.1))
    params = {"w": np.ones(3, dtype=ml_dtypes.bfloat16)}
    state = ngr.NovoGradState(np.zeros((), np.int32), {"w": np.zeros(3, params["w"].dtype)},
                              {"w": np.zeros((), params["w"].dtype)}, None)
    with pytest.raises(TypeError, match=r"grads\['w'\]: expected a real floating dtype, "
                                        r"got bfloat16"):
        fast.step_(params, params, state)


@pytest.mark.parametrize(("args", "message"), [
    ((object(),), "opt: expected a NovoGrad optimizer"),
    ((ngr.novograd(0.1), 0), "threads must be an int >= 1, got 0"),
    ((ngr.novograd(0.1), 10**6), "threads must be at most"),
])
def test_bad_constructor_arguments_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        fused.from_optimizer(*args)


# ------------------------------------------------------------- install and disk cache


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env}, check=False, timeout=300)


def test_without_numba_one_line_says_what_to_install() -> None:
    proc = _python("import sys; sys.modules['numba'] = None\n"
                   "import novograd_ref as ngr\n"
                   "try:\n    ngr.fused\nexcept ImportError as e:\n    print(e)")
    assert proc.stdout == "novograd_ref.fused needs numba: pip install numba (the fast extra)\n"


def test_a_new_process_loads_the_compiled_kernels_from_disk() -> None:
    code = ("import numpy as np, novograd_ref as ngr\n"
            "from novograd_ref.fused import _cpu\n"
            "fast = ngr.fused.from_optimizer(ngr.presets.optax(0.1))\n"
            "p = {'w': np.ones(3, np.float32)}\n"
            "fast.step_(p, p, fast.init(p))\n"
            "print(sum(_cpu.leaf_step.stats.cache_hits.values()),"
            " sum(_cpu.leaf_step.stats.cache_misses.values()))")
    first = _python(code)
    assert first.returncode == 0, first.stderr
    second = _python(code)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["1", "0"]


# --------------------------------------------------------------------------- GPU


#: (parameter dtype, state dtype): each dtype with its own state, float64 and float32
#: with the other's, float16 with float32 state (as the PyTorch family keeps it) and
#: with float64 state
_HOST_KINDS = [("float64", None), ("float32", None), ("float64", "float32"),
               ("float32", "float64"), ("float16", None), ("float16", "float32"),
               ("float16", "float64")]


@pytest.fixture(scope="module")
def gpu_math_on_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CuPy kernels' device functions compiled for the host (g++), driven by
    ``tests/gpu_math_host.cpp``; CuPy's float16 is the compiler's ``_Float16``."""
    import shutil

    from novograd_ref.fused import _gpu

    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ to compile the kernels' device functions for the host")
    build = tmp_path_factory.mktemp("gpu_math")
    (build / "gpu_preamble.h").write_text(_gpu._PREAMBLE)
    (build / "main.cpp").write_text((ROOT / "tests" / "gpu_math_host.cpp").read_text())
    exe = build / "gpu_math_host"
    proc = subprocess.run([compiler, "-O1", "-ffp-contract=off", "-std=c++17", "-o", str(exe),
                           str(build / "main.cpp")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return exe


def gpu_math_run(exe: Path, cfg: Config, p0: np.ndarray, grads: list[np.ndarray]
                 ) -> list[np.ndarray]:
    """One layer's steps through the host-compiled kernels, from ``p0`` and zero state:
    after each step, ``p``, ``m`` and ``v`` as one float64 array."""
    from novograd_ref.fused import _plan

    dtype = p0.dtype
    bits = [8 * np.dtype(d or dtype).itemsize for d in (dtype, cfg.state_dtype, cfg.mu_dtype)]
    lines = [f"{bits[0]} {bits[1]} {bits[2]} {p0.size} {len(grads)}",
             " ".join(map(str, _plan.flags(cfg))), " ".join(repr(float(x)) for x in p0)]
    for step, g in enumerate(grads):
        rate = cfg.learning_rate
        lr = float(rate(step) if callable(rate) else rate)
        lines.append(" ".join(repr(float(x)) for x in _plan.coefficients(cfg, step, lr)))
        lines.append(" ".join(repr(float(x)) for x in g))
    proc = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, check=False, timeout=60)
    if proc.returncode == 3:
        pytest.skip("the host compiler has no _Float16 to stand in for CuPy's float16")
    assert proc.returncode == 0, f"the host-compiled kernels exited {proc.returncode}"
    out = [np.array(line.split(), dtype=np.float64) for line in proc.stdout.splitlines()]
    assert len(out) == len(grads), proc.stdout
    assert all(row.size == 2 * p0.size + 1 for row in out), proc.stdout
    return out


def reference_run(cfg: Config, p0: np.ndarray, grads: list[np.ndarray]
                  ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The reference's ``(p, m, v)`` after each step of one layer from ``p0``."""
    opt = ngr.NovoGrad(cfg)
    params, state = {"w": p0}, opt.init({"w": p0})
    out = []
    with np.errstate(all="ignore"):
        for g in grads:
            updates, state = opt.update({"w": g}, state, params)
            params = ngr.apply_updates(params, updates)
            out.append((params["w"], np.asarray(state.mu["w"]), np.asarray(state.nu["w"])))
    return out


@pytest.mark.parametrize("kind", _HOST_KINDS)
def test_gpu_kernel_math_matches_the_reference_on_the_host(
        gpu_math_on_host: Path, kind: tuple[str, str | None]) -> None:
    """Every switch value through the GPU kernels' own C++ (reduction in double, the
    per-layer scalars in the state dtype, the fused element update) on one layer,
    against the reference: the GPU's math, checked where there is no GPU."""
    dtype, state_dtype = kind
    for param in _one_switch_configs():
        (base,) = param.values
        cfg = dataclasses.replace(base, state_dtype=state_dtype)
        rng = np.random.default_rng(5)
        p0 = rng.standard_normal(6).astype(dtype)
        grads = [rng.standard_normal(6).astype(dtype) for _ in range(STEPS)]
        grads[0][...] = 0
        got = gpu_math_run(gpu_math_on_host, cfg, p0, grads)
        for step, want in enumerate(reference_run(cfg, p0, grads)):
            want64 = np.concatenate([w.astype(np.float64).reshape(-1) for w in want])
            assert_trees_close({"step": got[step]}, {"step": want64},
                               rtol_value=_tolerance(cfg, dtype), step=step + 1)


# The extremes the CPU kernels are pinned to (tests/test_fused_fuzz.py), through the GPU
# kernels' C++ on the host.


def _split(row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return row[:n], row[n:2 * n], row[2 * n:]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_kernel_math_takes_no_step_for_gradients_at_the_maximum(
        gpu_math_on_host: Path, dtype: str) -> None:
    """The squared norm overflows to inf, g / sqrt(inf) is 0: no step, v is inf."""
    cfg = ngr.novograd(0.1).config
    top = np.finfo(dtype).max
    (row,) = gpu_math_run(gpu_math_on_host, cfg, np.ones(3, dtype), [np.full(3, top, dtype)])
    p, _, v = _split(row, 3)
    np.testing.assert_array_equal(p, np.ones(3))
    assert np.isinf(v).all()


@pytest.mark.parametrize("state_dtype", [None, "float32"])
def test_gpu_kernel_math_clips_float16_updates_as_the_reference(
        gpu_math_on_host: Path, state_dtype: str | None) -> None:
    """The direction is 0 where the float16 gradient's square overflows, and the clip
    divides by ``|d| + luc_eps``: 0 / 0 in float16 (NaN), 1e-8 with float32 state."""
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    cfg = ngr.novograd(0.1, update_clipping="luc", **kw).config
    p0 = np.array([0.0, 6.1e-5], dtype=np.float16)
    grads = [np.array([65504.0, -0.5], dtype=np.float16)]
    (row,) = gpu_math_run(gpu_math_on_host, cfg, p0, grads)
    ((want, _, _),) = reference_run(cfg, p0, grads)
    assert np.isnan(want).all() == (state_dtype is None)
    assert np.array_equal(_split(row, 2)[0], want.astype(np.float64), equal_nan=True), (row, want)


@pytest.mark.parametrize("state_dtype", [None, "float32"])
def test_gpu_kernel_math_overflows_the_float16_raw_moment_as_the_reference(
        gpu_math_on_host: Path, state_dtype: str | None) -> None:
    """Apex's raw-gradient moment in the gradient's float16: a moment near 65504 over
    ``1 - b1`` overflows there, as in the reference, not in the kernels' float32."""
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    cfg = ngr.novograd(0.1, norm="apex_l2", second_moment_init="first_step_blend",
                       bias_correction="apex", momentum_input="raw",
                       weight_decay_mode="apex", weight_decay=0.1, **kw).config
    p0 = np.array([65504.0, 1.0], dtype=np.float16)
    grads = [np.array([65504.0, 0.5], dtype=np.float16)]
    (row,) = gpu_math_run(gpu_math_on_host, cfg, p0, grads)
    ((want, _, _),) = reference_run(cfg, p0, grads)
    assert not np.isfinite(want[0])
    assert np.array_equal(_split(row, 2)[0], want.astype(np.float64), equal_nan=True), (row, want)


@given(data=st.data())
def test_gpu_kernel_math_gives_the_reference_answer_at_the_extremes(
        gpu_math_on_host: Path, data: st.DataObject) -> None:
    """tests/test_fused_fuzz.py's extremes property, on one layer through the GPU
    kernels' C++: NaN and infinities where the reference has them, finite values
    within the kit's tolerance."""
    dtype, state_dtype = data.draw(st.sampled_from(KINDS), label="dtype, state dtype")
    switches = data.draw(st.sampled_from(SWITCHES), label="switches")
    steps = data.draw(st.integers(1, 3), label="steps")
    n = data.draw(st.integers(1, 4), label="size")
    p0 = data.draw(extreme_trees(dtype, [n]), label="params")["w0"]
    grads = [data.draw(extreme_trees(dtype, [n]), label=f"grads {i}")["w0"]
             for i in range(steps)]
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    cfg = ngr.novograd(data.draw(st.sampled_from([0.1, 1e-3]), label="rate"),
                       **{**switches, **kw}).config
    tol = max(rtol(name, "framework") for name in (dtype, state_dtype or dtype))
    got = gpu_math_run(gpu_math_on_host, cfg, p0, grads)
    for step, (row, want) in enumerate(zip(got, reference_run(cfg, p0, grads)), start=1):
        for name, have, w in zip(("params", "mu", "nu"), _split(row, n), want):
            w = np.asarray(w).reshape(-1)
            assert_same(have.astype(w.dtype), w, tol, f"{name} at step {step}")


def _cupy() -> Any:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        pytest.skip(f"no CUDA device: {exc}")
    return cupy


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_gpu_kernels_match_the_reference(dtype: str) -> None:
    """The CuPy kernels, every switch value, against the reference on NumPy."""
    cupy = _cupy()
    for param in _one_switch_configs():
        (cfg,) = param.values
        _assert_same_gpu_run(cupy, cfg, dtype)


def _assert_same_gpu_run(cupy: Any, cfg: Config, dtype: str) -> None:
    rng = np.random.default_rng(3)
    params = _tree(rng, dtype)
    grads = [_tree(rng, dtype) for _ in range(STEPS)]
    opt = ngr.NovoGrad(cfg)
    fast = fused.from_optimizer(cfg)
    dev_p = {k: cupy.asarray(v) for k, v in params.items()}
    dev_s = fast.init(dev_p)
    ref_p, ref_s = params, opt.init(params)
    tol = _tolerance(cfg, dtype)
    with np.errstate(all="ignore"):
        for step, g in enumerate(grads, start=1):
            updates, ref_s = opt.update(g, ref_s, ref_p)
            ref_p = ngr.apply_updates(ref_p, updates)
            fast.step_(dev_p, {k: cupy.asarray(v) for k, v in g.items()}, dev_s)
            got = {k: cupy.asnumpy(v) for k, v in dev_p.items()}
            assert_trees_close(got, ref_p, rtol_value=tol, step=step)
            assert_trees_close({k: cupy.asnumpy(v) for k, v in dev_s.nu.items()},
                               _as_arrays(ref_s.nu), rtol_value=tol, step=step)
