"""The fused step keeps the reference's promises at its edges.

- Every refusal (a step count at its dtype's maximum or negative, a schedule's bad value
  or its own exception, a wrong dtype or shape, a buffer shared with another leaf or with
  the state, a read-only or strided buffer) is a TypeError or ValueError naming the
  argument or leaf, raised before anything is written: parameters, gradients and state
  are compared byte for byte before and after. Where the reference refuses the same
  input, the fused step raises the reference's error, word for word.
- At the extremes (float16, float32 and float64 maxima, subnormals, infinities, NaN) the
  fused step gives the reference's answer: NaN and infinities at the same places, the
  finite values within the kit's tolerance (a hypothesis property).
- A fuzz of hostile inputs (hypothesis: a fixed-seed profile in the fast lane, a larger
  one under the ``nightly`` profile) asserts the same promises over many combinations,
  each call under a time limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import signal
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref._tree import flatten
from novograd_ref.testing import rtol

fused = pytest.importorskip("novograd_ref.fused", reason="numba is not installed")


# --------------------------------------------------------------------- helpers


def snapshot(*trees: Any) -> list[tuple[Any, ...]]:
    """Every leaf's bytes, dtype and shape (NaN compares equal to itself this way)."""
    out = []
    for tree in trees:
        leaves, _ = flatten(tree)
        for leaf in leaves:
            if isinstance(leaf, np.ndarray):
                out.append((leaf.dtype.str, leaf.shape, leaf.tobytes()))
            else:
                out.append((repr(leaf),))
    return out


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (not hang) when the block runs longer than ``seconds`` (SIGALRM, Unix)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the fused step ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(call: Callable[[], Any]) -> BaseException | None:
    """The TypeError or ValueError ``call`` raised, or None; anything else escapes."""
    try:
        with time_limit(120), np.errstate(all="ignore"):
            call()
    except (TypeError, ValueError) as exc:
        return exc
    return None


def reference_error(opt: ngr.NovoGrad, params: Any, grads: Any, state: Any) -> str | None:
    """The message of the reference's refusal of the same update, or None."""
    try:
        with np.errstate(all="ignore"):
            opt.update(grads, state, params)
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclasses.dataclass
class Setup:
    opt: ngr.NovoGrad
    fast: Any
    params: dict[str, Any]
    grads: dict[str, Any]
    state: Any


def setup(rate: Any = 0.1, dtype: str = "float64", **switches: Any) -> Setup:
    opt = ngr.novograd(rate, weight_decay=0.1, **switches)
    fast = fused.from_optimizer(opt)
    params = {"a": np.ones((2, 3), dtype=dtype), "b": np.linspace(1.0, 2.0, 4).astype(dtype)}
    grads = {"a": np.full((2, 3), 0.5, dtype=dtype), "b": np.full(4, -0.25, dtype=dtype)}
    return Setup(opt, fast, params, grads, fast.init(params))


# --------------------------------------------------------- refusals, one by one


def _count(dtype: Any, value: int) -> Callable[[Setup], None]:
    def spoil(s: Setup) -> None:
        s.state = s.state._replace(count=np.array(value, dtype=dtype))
    return spoil


def _with_rate(s: Setup, rate: Any) -> None:
    """The setup's configuration with another learning rate."""
    s.opt = ngr.NovoGrad(dataclasses.replace(s.opt.config, learning_rate=rate))
    s.fast = fused.from_optimizer(s.opt)


def _rate(value: Any) -> Callable[[Setup], None]:
    def spoil(s: Setup) -> None:
        _with_rate(s, lambda step: value)
    return spoil


def _raising_schedule(s: Setup) -> None:
    def warmup(step: int) -> float:
        return {1: 0.1}[step]  # KeyError at step 0

    _with_rate(s, warmup)


def _same_array_twice(s: Setup) -> None:
    s.params["c"] = s.params["b"]
    s.grads["c"] = s.grads["b"].copy()
    s.state = s.fast.init({"a": s.params["a"], "b": s.params["b"], "c": s.params["b"].copy()})


def _param_is_its_moment(s: Setup) -> None:
    s.state.mu["b"] = s.params["b"]


def _overlapping_views(s: Setup) -> None:
    dtype = s.params["b"].dtype
    buffer = np.linspace(0.0, 1.0, 7).astype(dtype)
    s.params["b"], s.params["c"] = buffer[:4], buffer[3:]
    s.grads["c"] = np.full(4, 0.5, dtype=dtype)
    s.state = s.fast.init({k: v.copy() for k, v in s.params.items()})


def _grad_is_another_param(s: Setup) -> None:
    s.grads["b"] = s.params["b"].copy()
    s.grads["a"] = s.params["a"]  # its own parameter: allowed
    s.params["c"] = np.ones(4, dtype=s.params["b"].dtype)
    s.grads["c"] = s.params["b"]  # another leaf's parameter, written before c is read
    s.state = s.fast.init({k: v.copy() for k, v in s.params.items()})


def _moment_views_of_one_buffer(s: Setup) -> None:
    flat = np.zeros(10, dtype=s.state.mu["a"].dtype)
    s.state.mu["a"] = flat[:6].reshape(2, 3)
    s.state.mu["b"] = flat[5:9]


def _nu_max_is_nu(s: Setup) -> None:
    opt = ngr.novograd(0.1, amsgrad=True)
    s.opt, s.fast = opt, fused.from_optimizer(opt)
    s.state = opt.init(s.params)  # the reference's nu_max starts as nu's very arrays


def _grads_float32(s: Setup) -> None:
    s.grads["b"] = s.grads["b"].astype(np.float32)


def _grads_int(s: Setup) -> None:
    s.grads["b"] = np.ones(4, dtype=np.int64)


def _params_shape(s: Setup) -> None:
    s.params["b"] = np.ones(5)


def _mu_dtype(s: Setup) -> None:
    s.state.mu["b"] = s.state.mu["b"].astype(np.float32)


def _nu_shape(s: Setup) -> None:
    s.state.nu["b"] = np.zeros(1)


def _longdouble(s: Setup) -> None:
    for tree in (s.params, s.grads, s.state.mu):
        tree["b"] = tree["b"].astype(np.longdouble)
    s.state.nu["b"] = s.state.nu["b"].astype(np.longdouble)


def _read_only_count(s: Setup) -> None:
    s.state.count.setflags(write=False)


def _strided_moment(s: Setup) -> None:
    s.state.mu["b"] = np.zeros(8, dtype=s.state.mu["b"].dtype)[::2]


#: (spoil, error, message, whether the reference refuses it too)
REFUSALS: dict[str, tuple[Callable[[Setup], None], type, str, bool]] = {
    "count int64 max": (_count(np.int64, 2**63 - 1), ValueError,
                        r"state\.count: expected 0 <= count < 9223372036854775807", True),
    "count int8 max": (_count(np.int8, 127), ValueError,
                       r"state\.count: expected 0 <= count < 127 \(its int8 maximum", True),
    "count uint8 max": (_count(np.uint8, 255), ValueError,
                        r"state\.count: expected 0 <= count < 255 \(its uint8", True),
    "count negative": (_count(np.int64, -1), ValueError, r"state\.count: .* got -1", True),
    "count float": (_count(np.float64, 1), TypeError, r"state\.count: expected a 0-d integer",
                    True),
    "count read-only": (_read_only_count, TypeError,
                        r"state\.count: expected a writeable 0-d integer NumPy array", False),
    "rate str array": (_rate(np.array("0.5")), TypeError,
                       r"learning_rate schedule returned a ndarray of shape \(\) and dtype <U3",
                       True),
    "rate bool array": (_rate(np.array(True)), TypeError,
                        r"learning_rate schedule returned .* dtype bool at step 0", True),
    "rate huge int": (_rate(10**5000), ValueError,
                      r"learning_rate schedule returned an int of 5001 digits at step 0", True),
    "rate Decimal": (_rate(Decimal("sNaN")), TypeError,
                     r"learning_rate schedule returned Decimal\('sNaN'\)", True),
    "rate negative": (_rate(-1.0), ValueError, r"returned -1.0 at step 0", True),
    "rate nan": (_rate(math.nan), ValueError, r"returned nan at step 0", True),
    "schedule raises": (_raising_schedule, ValueError,
                        r"learning_rate schedule .*warmup raised KeyError at step 0", True),
    "same array twice": (_same_array_twice, ValueError,
                         r"params\['c'\]: shares its buffer with params\['b'\]", False),
    "param is its moment": (_param_is_its_moment, ValueError,
                            r"state\.mu\['b'\]: shares its buffer with params\['b'\]", False),
    "overlapping views": (_overlapping_views, ValueError,
                          r"params\['c'\]: shares its buffer with params\['b'\]", False),
    "grad is another param": (_grad_is_another_param, ValueError,
                              r"grads\['c'\]: shares its buffer with params\['b'\]", False),
    "moments of one buffer": (_moment_views_of_one_buffer, ValueError,
                              r"state\.mu\['b'\]: shares its buffer with state\.mu\['a'\]",
                              False),
    "nu_max is nu": (_nu_max_is_nu, ValueError,
                     r"state\.nu_max\['a'\]: shares its buffer with state\.nu\['a'\]", False),
    "grads float32": (_grads_float32, ValueError,
                      r"grads\['b'\] and params\['b'\] must have one shape and dtype", True),
    "grads int": (_grads_int, ValueError, r"grads\['b'\] and params\['b'\]", True),
    "params shape": (_params_shape, ValueError, r"grads\['b'\] and params\['b'\] must have",
                     True),
    "mu dtype": (_mu_dtype, TypeError, r"grads\['b'\]: expected dtype float32 like the state",
                 True),
    "nu shape": (_nu_shape, TypeError, r"state\.nu\['b'\]: expected a 0-d float64", True),
    "longdouble": (_longdouble, TypeError,
                   r"params\['b'\]: expected float16, float32 or float64", False),
    "strided moment": (_strided_moment, ValueError,
                       r"state\.mu\['b'\]: expected a C-contiguous array", False),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_every_refusal_names_its_leaf_and_changes_nothing(name: str) -> None:
    spoil, error, message, reference_refuses = REFUSALS[name]
    s = setup()
    spoil(s)
    keep = (s.params, s.grads, s.state)
    before = snapshot(*keep)
    exc = outcome(lambda: s.fast.step_(s.params, s.grads, s.state))
    assert isinstance(exc, error), f"{name}: expected {error.__name__}, got {exc!r}"
    assert exc is not None
    assert re.search(message, str(exc)), str(exc)
    assert snapshot(*keep) == before, f"{name}: something was written before the refusal"
    if reference_refuses:  # the same input, the reference's own words
        assert reference_error(s.opt, s.params, s.grads, s.state) == \
            f"{type(exc).__name__}: {exc}"


def test_a_schedules_own_exception_is_the_cause() -> None:
    s = setup()
    _raising_schedule(s)
    exc = outcome(lambda: s.fast.step_(s.params, s.grads, s.state))
    assert isinstance(exc, ValueError)
    assert isinstance(exc.__cause__, KeyError)


def test_a_gradient_may_be_its_own_parameters_buffer() -> None:
    """Each value is read before it is written: the reference's answer."""
    s = setup()
    want_p = {k: v.copy() for k, v in s.params.items()}
    updates, _ = s.opt.update(want_p, s.opt.init(want_p), want_p)
    want = ngr.apply_updates(want_p, updates)
    s.fast.step_(s.params, s.params, s.state)
    for k in want:
        np.testing.assert_allclose(s.params[k], want[k], rtol=1e-15)


def test_the_step_count_just_below_its_maximum_still_steps() -> None:
    s = setup()
    s.state = s.state._replace(count=np.array(126, dtype=np.int8))
    s.fast.step_(s.params, s.grads, s.state)
    assert int(s.state.count) == 127


# ------------------------------------------------------------------ extremes


def _specials(dtype: str) -> list[float]:
    info = np.finfo(dtype)
    big, tiny, sub = float(info.max), float(info.tiny), float(info.smallest_subnormal)
    return [big, -big, big / 2, tiny, -tiny, sub, -sub, 3 * sub, math.inf, -math.inf,
            math.nan, 0.0, -0.0, 1.0, -0.5, 3.0]


#: (parameter dtype, state and moment dtype): float16 with float32 state as the
#: PyTorch family keeps it, and each dtype with its own.
KINDS = [("float16", "float32"), ("float16", None), ("float32", None), ("float64", None)]

SWITCHES = [
    {}, {"update_clipping": "luc"}, {"weight_decay": 0.1},
    {"weight_decay": 0.1, "weight_decay_mode": "decoupled", "update_clipping": "luc"},
    {"norm": "apex_inf", "second_moment_init": "zero"},
    {"norm": "apex_l2", "second_moment_init": "first_step_blend", "bias_correction": "apex",
     "momentum_input": "raw", "weight_decay_mode": "apex", "weight_decay": 0.1},
    {"amsgrad": True}, {"second_moment_init": "when_zero", "grad_averaging": "always"},
    {"learning_rate_placement": "inside", "nesterov": True},
    {"bias_correction": "adam", "eps": 0.0}, {"normalization": "reciprocal", "maximize": True},
    {"momentum_input": "raw", "weight_decay_mode": "decoupled", "weight_decay": 0.1,
     "update_clipping": "luc"},
    {"momentum_input": "raw", "learning_rate_placement": "inside", "nesterov": True,
     "weight_decay_mode": "apex"},
    {"first_moment_init": "first_input", "nesterov": True, "weight_decay": 0.1},
]


@st.composite
def extreme_trees(draw: st.DrawFn, dtype: str, sizes: list[int]) -> dict[str, np.ndarray]:
    """A tree of leaves of ``sizes`` values, each special (a maximum, subnormal,
    infinity, NaN, zero) or ordinary."""
    value = st.one_of(st.sampled_from(_specials(dtype)), st.floats(-10, 10, width=16))
    tree = {}
    for i, n in enumerate(sizes):
        values = draw(st.lists(value, min_size=n, max_size=n))
        with np.errstate(over="ignore"):
            tree[f"w{i}"] = np.array(values, dtype=np.float64).astype(dtype)
    return tree


def assert_same(got: np.ndarray, want: np.ndarray, tol: float, what: str) -> None:
    """NaN and infinities at the same places (with the same signs); finite values within
    ``tol`` relative to the leaf's largest finite value, or within a few subnormal units
    (the fused norm sums in float64, once rounded; the reference in the layer dtype)."""
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    assert np.array_equal(np.isnan(got64), np.isnan(want64)), f"{what}: NaN at {got} vs {want}"
    finite = np.isfinite(want64)
    assert np.array_equal(got64[~finite & ~np.isnan(want64)],
                          want64[~finite & ~np.isnan(want64)]), f"{what}: {got} vs {want}"
    assert np.array_equal(np.isfinite(got64), finite), f"{what}: {got} vs {want}"
    if finite.any():
        scale = float(np.max(np.abs(want64[finite])))
        floor = 4 * float(np.finfo(want.dtype).smallest_subnormal)
        diff = np.abs(got64[finite] - want64[finite])
        assert np.all(diff <= np.maximum(tol * scale, floor)), f"{what}: {got} vs {want}"


@given(data=st.data())
def test_extreme_values_give_the_reference_answer(data: st.DataObject) -> None:
    dtype, state_dtype = data.draw(st.sampled_from(KINDS), label="dtype, state dtype")
    switches = data.draw(st.sampled_from(SWITCHES), label="switches")
    steps = data.draw(st.integers(1, 3), label="steps")
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2), label="sizes")
    params = data.draw(extreme_trees(dtype, sizes), label="params")
    grads = [data.draw(extreme_trees(dtype, sizes), label=f"grads {i}") for i in range(steps)]
    shapes = {k: v.shape for k, v in params.items()}
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    opt = ngr.novograd(data.draw(st.sampled_from([0.1, 1e-3]), label="rate"),
                       **{**switches, **kw})
    fast = fused.from_optimizer(opt)
    ref_p, ref_s = params, opt.init(params)
    fast_p = {k: v.copy() for k, v in params.items()}
    fast_s = fast.init(fast_p)
    tol = max(rtol(name, "framework") for name in (dtype, state_dtype or dtype))
    with np.errstate(all="ignore"):
        for step, g in enumerate(grads, start=1):
            note(f"step {step}: grads {g}")
            updates, ref_s = opt.update(g, ref_s, ref_p)
            ref_p = ngr.apply_updates(ref_p, updates)
            fast.step_(fast_p, g, fast_s)
            for k in shapes:
                assert_same(fast_p[k], ref_p[k], tol, f"params[{k!r}] at step {step}")
                assert_same(fast_s.mu[k], np.asarray(ref_s.mu[k]), tol,
                            f"state.mu[{k!r}] at step {step}")
                assert_same(np.asarray(fast_s.nu[k]), np.asarray(ref_s.nu[k]), tol,
                            f"state.nu[{k!r}] at step {step}")
    if any(not np.all(np.isfinite(v)) for v in fast_p.values()):
        event("non-finite parameters")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_at_the_maximum_take_no_step(dtype: str) -> None:
    """The squared norm overflows to inf and g / sqrt(inf) is 0: the reference, as the
    frameworks, takes no step (a compensated sum must not turn inf into NaN)."""
    top = np.finfo(dtype).max
    opt = ngr.novograd(0.1)
    fast = fused.from_optimizer(opt)
    params = {"w": np.ones(3, dtype=dtype)}
    state = fast.init(params)
    with np.errstate(over="ignore"):
        fast.step_(params, {"w": np.full(3, top, dtype=dtype)}, state)
    np.testing.assert_array_equal(params["w"], np.ones(3, dtype=dtype))
    assert np.isinf(state.nu["w"])


@pytest.mark.parametrize("state_dtype", [None, "float32"])
def test_float16_update_clipping_divides_as_the_reference(state_dtype: str | None) -> None:
    """A float16 gradient whose square overflows: the direction is 0, and the reference's
    clip divides by ``|d| + luc_eps`` in float16, where 1e-8 is 0 (NaN); with float32
    state it is 1e-8 (finite)."""
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    opt = ngr.novograd(0.1, update_clipping="luc", **kw)
    fast = fused.from_optimizer(opt)
    params = {"w": np.array([0.0, 6.1e-5], dtype=np.float16)}
    grads = {"w": np.array([65504.0, -0.5], dtype=np.float16)}
    with np.errstate(all="ignore"):
        updates, _ = opt.update(grads, opt.init(params), params)
        want = ngr.apply_updates(params, updates)
        state = fast.init(params)
        fast.step_(params, grads, state)
    assert np.array_equal(params["w"], want["w"], equal_nan=True), (params, want)
    assert np.isnan(want["w"]).all() == (state_dtype is None)


@pytest.mark.parametrize("state_dtype", [None, "float32"])
def test_float16_raw_moment_overflows_as_the_reference(state_dtype: str | None) -> None:
    """Apex's raw-gradient moment is computed in the gradient's dtype: a float16 moment
    near 65504 divided by ``1 - b1`` overflows there (NaN or -inf after the norm), as in
    the reference, not in the kernels' float32."""
    kw = {"state_dtype": state_dtype, "mu_dtype": state_dtype} if state_dtype else {}
    opt = ngr.novograd(0.1, norm="apex_l2", second_moment_init="first_step_blend",
                       bias_correction="apex", momentum_input="raw",
                       weight_decay_mode="apex", weight_decay=0.1, **kw)
    fast = fused.from_optimizer(opt)
    params = {"w": np.array([65504.0, 1.0], dtype=np.float16)}
    grads = {"w": np.array([65504.0, 0.5], dtype=np.float16)}
    with np.errstate(all="ignore"):
        updates, _ = opt.update(grads, opt.init(params), params)
        want = ngr.apply_updates(params, updates)
        state = fast.init(params)
        fast.step_(params, grads, state)
    assert not np.isfinite(want["w"][0])
    assert np.array_equal(params["w"], want["w"], equal_nan=True), (params, want)


# ------------------------------------------------------------------- the fuzz


def _count_near_an_end(s: Setup, data: st.DataObject) -> None:
    """A count of some integer dtype at its maximum or one below, at 0, or -1."""
    dtype = np.dtype(data.draw(st.sampled_from(["int8", "uint8", "int32", "int64",
                                                "uint64"])))
    top = int(np.iinfo(dtype).max)
    value = data.draw(st.sampled_from([top, top - 1, 0] + ([-1] if dtype.kind == "i" else [])))
    _count(dtype, value)(s)


DEFECTS: dict[str, Callable[[Setup, Any], Any]] = {
    "none": lambda s, d: None,
    "count": lambda s, d: _count_near_an_end(s, d),
    "rate": lambda s, d: _rate(d.draw(st.sampled_from(
        [np.array("0.5"), np.array(True), np.array(0.1), np.float32(0.01), 10**5000,
         Decimal("sNaN"), -0.0, math.inf, None, "0.1", np.ones(2), 1e-300])))(s),
    "schedule raises": lambda s, d: _raising_schedule(s),
    "shared": lambda s, d: d.draw(st.sampled_from(
        [_same_array_twice, _param_is_its_moment, _overlapping_views,
         _grad_is_another_param, _moment_views_of_one_buffer, _nu_max_is_nu]))(s),
    "dtype or shape": lambda s, d: d.draw(st.sampled_from(
        [_grads_float32, _grads_int, _params_shape, _mu_dtype, _nu_shape, _longdouble]))(s),
    "layout": lambda s, d: d.draw(st.sampled_from([_read_only_count, _strided_moment]))(s),
    "not an array": lambda s, d: s.grads.__setitem__(
        d.draw(st.sampled_from(["a", "b"])),
        d.draw(st.sampled_from([0.5, None, "g", [1.0, 2.0], np.float64(1.0)]))),
    "structure": lambda s, d: d.draw(st.sampled_from([
        lambda: s.grads.pop("a"), lambda: s.params.__setitem__("z", np.ones(1)),
        lambda: s.state.mu.__setitem__("b", {"x": np.zeros(4)})]))(),
}

#: names a refusal of each defect may carry
NAMES = {"count": ["state.count"], "rate": ["learning_rate"],
         "schedule raises": ["learning_rate schedule"], "shared": ["shares its buffer"],
         "dtype or shape": ["grads['b']", "params['b']", "state.mu['b']", "state.nu['b']",
                            "state.nu_max['b']"],
         "layout": ["state.count", "state.mu['b']"],
         "not an array": ["grads['a']", "grads['b']", "grads"],
         "structure": ["structure"]}


@given(data=st.data())
def test_fuzz_only_named_errors_and_nothing_written_on_refusal(data: st.DataObject) -> None:
    defect = data.draw(st.sampled_from(sorted(DEFECTS)), label="defect")
    dtype = data.draw(st.sampled_from(["float64", "float32", "float16"]), label="dtype")
    switches = data.draw(st.sampled_from(SWITCHES), label="switches")
    switches = {k: v for k, v in switches.items() if k != "weight_decay"}
    s = setup(dtype=dtype, **switches)
    DEFECTS[defect](s, data)
    keep = (s.params, s.grads, s.state)
    before = snapshot(*keep)
    grads_before = snapshot(s.grads)
    exc = outcome(lambda: s.fast.step_(s.params, s.grads, s.state))
    if exc is None:
        event("accepted")
        assert snapshot(s.grads) == grads_before, "the gradients were written"
        return
    event(f"refused: {type(exc).__name__}")
    assert snapshot(*keep) == before, f"written before {type(exc).__name__}: {exc}"
    if defect == "none":
        raise AssertionError(f"good input refused: {exc!r}")
    message = str(exc)
    assert any(name in message for name in NAMES[defect]), message
