"""The public API under fuzzing: every call either succeeds and leaves its inputs as they
were, or raises ``TypeError`` / ``ValueError`` whose message names the offending argument
(or the leaf's path in its tree).

- Presets: each preset's own keywords, and every keyword of ``novograd()``, are fed
  ``None``, strings, arrays, tuples of the wrong length, NaN, infinities, negatives, huge
  integers, bools and plain good values. An accepted configuration then runs a step on a
  small NumPy tree; a refused one must name a keyword it was given, or the canonical
  field that keyword sets (found by experiment: the fields of ``opt.config`` that change
  when only that keyword changes).
- ``init`` / ``update`` / ``apply_updates`` on NumPy, array-api-strict, PyTorch, Dask and
  JAX (where importable): a small tree, a preset, a constant rate or a schedule whose
  value may be good or bad, and at most one defect (a leaf of the wrong shape, dtype or
  library, a non-array, a changed structure, a cycle, a deep nesting, a bad step count,
  missing parameters). Good input must succeed (Dask results computed); each defect
  must be refused with its name in the message; nothing handed in is ever modified.

Then one regression test for each failure the fuzzing found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import array_api_strict as xs
import numpy as np
import pytest
from hypothesis import currently_in_test_context, event, given, note
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref import Config, _hyper, backends
from novograd_ref import presets as P

HUGE = 10**400

#: Values no hyperparameter, flag, pair or switch should take silently, and good ones.
ODD_VALUES: list[Any] = [
    None, "0.1", "", "float32", "graph", b"1", np.array([1.0, 2.0]), np.array(0.5),
    np.array([[0.9, 0.9]]), (), (0.9,), (0.9, 0.9, 0.9), [0.5, 0.5], (0.5, 0.25),
    ("0.9", 0.9), (math.nan, 0.9), (0.9, HUGE), math.nan, math.inf, -math.inf, -1.0,
    -1e-300, -1, HUGE, -HUGE, 2**63, True, False, 1e39, 1e308, 5e-324, 0, 0.0, 0.5, 1.0,
    2, 0.99999999, np.float32(0.5), np.float64(math.nan), np.int64(2), Fraction(1, 3),
    complex(1, 0), object(), {"a": 1}, lambda step: 0.1,
    10**5000, -(10**5000), Decimal("sNaN"), Decimal("NaN"), Decimal("0.5"), np.bool_(True),
    np.array("0.5"), [None], frozenset({0.5}),
]
odd_values = st.sampled_from(ODD_VALUES)


def shown(value: Any) -> str:
    """``repr(value)``, or a stand-in where it fails (an int past the int-to-str limit)."""
    try:
        return repr(value)
    except ValueError:
        return f"<{type(value).__name__} without a repr>"


@contextlib.contextmanager
def quiet_numerics() -> Iterator[None]:
    """Overflow to inf in a step with extreme but valid values is numerics, not misuse."""
    with np.errstate(all="ignore"):
        yield


def signature_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """Keyword -> default (``inspect.Parameter.empty`` if required), ``**kwargs`` left out."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.kind is not inspect.Parameter.VAR_KEYWORD}


def required(fn: Callable[..., Any]) -> dict[str, Any]:
    """A good value for each required keyword (the learning rate of some presets)."""
    return {k: 0.01 for k, d in signature_defaults(fn).items() if d is inspect.Parameter.empty}


def changed_fields(a: Config, b: Config) -> set[str]:
    return {f.name for f in dataclasses.fields(Config) if getattr(a, f.name) != getattr(b, f.name)}


def _alternatives(default: Any) -> list[Any]:
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, tuple):
        return [(0.5, 0.25)]
    if isinstance(default, (int, float)):
        return [0.25 if default != 0.25 else 0.5, 0]
    return ["float64", "float32", "eager", 0.5]


@functools.cache
def canonical_fields(preset: str, keyword: str) -> frozenset[str]:
    """The Config fields that ``keyword`` of ``preset`` sets, by experiment: build the
    preset with and without a changed ``keyword``, alone and next to each flag switched
    on, and collect the fields that differ."""
    fn = P.get(preset)
    defaults = signature_defaults(fn)
    base = required(fn)
    contexts = [{}] + [{k: not d} for k, d in defaults.items() if isinstance(d, bool)]
    fields: set[str] = set()
    for context in contexts:
        if keyword in context:
            continue
        for alternative in _alternatives(defaults[keyword]):
            try:
                before = fn(**base, **context).config
                after = fn(**{**base, **context, keyword: alternative}).config
            except (TypeError, ValueError):
                continue
            fields |= changed_fields(before, after)
    return frozenset(fields)


def outcome(call: Callable[[], Any]) -> tuple[Any, TypeError | ValueError | None]:
    """``(result, None)``, or ``(None, error)`` for a TypeError or ValueError; any other
    exception escapes and fails the test."""
    try:
        return call(), None
    except (TypeError, ValueError) as exc:
        return None, exc


def assert_names_one_of(exc: BaseException, names: set[str]) -> None:
    message = str(exc)
    if currently_in_test_context():
        event(f"refused: {type(exc).__name__}")
    assert any(name in message for name in names), (
        f"{type(exc).__name__}({message!r}) names none of {sorted(names)}")


def one_step_on_numpy(opt: ngr.NovoGrad) -> None:
    """An accepted configuration computes a step; its inputs stay as they were."""
    params = {"w": np.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": np.array(0.5)}
    grads = {"w": np.full((2, 3), 0.25), "b": np.array(-1.0)}
    copies = [np.copy(x) for x in (*params.values(), *grads.values())]
    with quiet_numerics():
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)
        new = ngr.apply_updates(params, updates)
    assert new["w"].shape == (2, 3)
    if currently_in_test_context():
        event("accepted")
    for before, after in zip(copies, (*params.values(), *grads.values())):
        np.testing.assert_array_equal(before, after)


@st.composite
def preset_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any], set[str]]:
    """A preset, its keywords (1-3 of them with odd values, required ones always given)
    and the names of those fuzzed."""
    name = draw(st.sampled_from(P.names()))
    fn = P.get(name)
    defaults = signature_defaults(fn)
    chosen = draw(st.lists(st.sampled_from(sorted(defaults)), min_size=1, max_size=3,
                           unique=True))
    kwargs = required(fn)
    for keyword in chosen:
        good = [] if defaults[keyword] is inspect.Parameter.empty else [defaults[keyword]]
        good += _alternatives(defaults[keyword])
        kwargs[keyword] = draw(st.one_of(odd_values, st.sampled_from(good)))
    if draw(st.booleans()) and draw(st.booleans()):
        kwargs["no_such_keyword"] = 1.0
        chosen.append("no_such_keyword")
    return name, kwargs, set(chosen)


@given(call=preset_calls())
def test_every_preset_keyword_is_checked_or_works(
        call: tuple[str, dict[str, Any], set[str]]) -> None:
    name, kwargs, fed = call
    note(f"presets.{name}(**{shown(kwargs)})")
    fn = P.get(name)
    opt, exc = outcome(lambda: fn(**kwargs))
    if exc is None:
        one_step_on_numpy(opt)
        return
    names = set(fed)
    for keyword in fed & set(signature_defaults(fn)):
        names |= canonical_fields(name, keyword)
    assert_names_one_of(exc, names)


@pytest.mark.parametrize("name", P.names())
def test_each_preset_keyword_alone_with_each_odd_value(name: str) -> None:
    """Exhaustive for one keyword at a time (the fuzz above mixes them)."""
    fn = P.get(name)
    for keyword in signature_defaults(fn):
        for value in ODD_VALUES:
            opt, exc = outcome(lambda: fn(**{**required(fn), keyword: value}))  # noqa: B023
            if exc is None:
                one_step_on_numpy(opt)
            else:
                assert_names_one_of(exc, {keyword} | canonical_fields(name, keyword))


NOVOGRAD_KEYWORDS = sorted(f.name for f in dataclasses.fields(Config))


def test_each_novograd_keyword_alone_with_each_odd_value() -> None:
    for keyword in NOVOGRAD_KEYWORDS:
        for value in ODD_VALUES:
            kwargs = {"learning_rate": 0.01, keyword: value}
            opt, exc = outcome(lambda: ngr.novograd(**kwargs))  # noqa: B023
            if exc is None:
                one_step_on_numpy(opt)
            else:
                assert_names_one_of(exc, {keyword})


@given(kwargs=st.dictionaries(st.sampled_from(NOVOGRAD_KEYWORDS), odd_values, min_size=1,
                              max_size=3))
def test_every_novograd_keyword_is_checked_or_works(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("learning_rate", 0.01)
    note(f"novograd(**{shown(kwargs)})")
    opt, exc = outcome(lambda: ngr.novograd(**kwargs))
    if exc is None:
        one_step_on_numpy(opt)
    else:
        assert_names_one_of(exc, set(kwargs))


# ----------------------------------------------------------------- init/update fuzz

# JAX and Dask cases are in the slow lane, as the backend fixture's are (conftest).
LIBRARIES = ["numpy", "array_api_strict", "torch",
             pytest.param("dask", marks=pytest.mark.slow),
             pytest.param("jax", marks=pytest.mark.slow)]


def _backend(name: str) -> backends.Backend:
    try:
        return backends.get(name)
    except ImportError as exc:
        pytest.skip(f"backend {name} unavailable: {exc}")


@dataclasses.dataclass(frozen=True)
class RateValue:
    """What a schedule returns: a value made in the library ``xp`` (or plain), and
    whether it is a good rate."""

    label: str
    make: Callable[[Any], Any]
    good: bool


RATE_VALUES = [
    RateValue("0.1", lambda xp: 0.1, True),
    RateValue("int 0", lambda xp: 0, True),
    RateValue("np.float32", lambda xp: np.float32(0.05), True),
    RateValue("0-d float", lambda xp: xp.asarray(0.1, dtype=xp.float64), True),
    RateValue("None", lambda xp: None, False),
    RateValue("str", lambda xp: "0.1", False),
    RateValue("bool", lambda xp: True, False),
    RateValue("-1.0", lambda xp: -1.0, False),
    RateValue("nan", lambda xp: math.nan, False),
    RateValue("inf", lambda xp: math.inf, False),
    RateValue("10**400", lambda xp: HUGE, False),
    RateValue("0-d negative", lambda xp: xp.asarray(-0.5, dtype=xp.float64), False),
    RateValue("0-d nan", lambda xp: xp.asarray(math.nan, dtype=xp.float64), False),
    RateValue("(3,) array", lambda xp: xp.ones(3, dtype=xp.float64), False),
    RateValue("0-d int", lambda xp: xp.asarray(1, dtype=xp.int64), False),
    RateValue("numpy (3,)", lambda xp: np.ones(3), False),
]

#: Defect -> the name its message must contain ({path}: the damaged leaf's path).
DEFECTS = {
    "grad shape": "grads{path}",
    "grad int dtype": "grads{path}",
    "grad not an array": "grads{path}",
    "grad other library": "grads{path}",
    "param other library": "{path}",
    "leaf missing": "grads",
    "leaf added": "grads",
    "cycle": "grads{path}",
    "deep": "grads",
    "count None": "state.count",
    "count float": "state.count",
    "count at its maximum": "state.count",
    "count negative": "state.count",
    "count int8 at its maximum": "state.count",
    "count other library": "state.count",
    "mu leaf not an array": "state.mu",
    "mu leaf a string": "state.mu{path}",
    "nu leaf a string": "state.nu{path}",
    "param a string": "params{path}",
    "nu leaf shape": "state.nu{path}",
    "state not a state": "state",
    "params missing": "params",
}

SHAPES = [(), (3,), (2, 2)]


@st.composite
def update_cases(draw: st.DrawFn) -> dict[str, Any]:
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    return {
        "shapes": shapes,
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "seed": draw(st.integers(0, 2**16)),
        "preset": draw(st.sampled_from(P.names())),
        "weight_decay": draw(st.booleans()),
        "rate": draw(st.one_of(st.none(), st.sampled_from(RATE_VALUES))),
        "defect": draw(st.one_of(st.none(), st.none(), st.sampled_from(sorted(DEFECTS)))),
        "leaf": draw(st.integers(0, len(shapes) - 1)),
        "steps": draw(st.integers(1, 2)),
    }


def make_optimizer(case: dict[str, Any], xp: Any) -> ngr.NovoGrad:
    rate = case["rate"]
    lr = 0.01 if rate is None else (lambda step: rate.make(xp))
    return P.build(case["preset"], lr, **({"weight_decay": 0.01} if case["weight_decay"] else {}))


def snapshot(backend: backends.Backend, tree: Any) -> list[np.ndarray]:
    return [np.array(backend.to_numpy(x), copy=True) for x in leaves_of(tree)]


def leaves_of(tree: Any) -> list[Any]:
    if tree is None:
        return []
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in leaves_of(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [x for child in tree for x in leaves_of(child)]
    return [tree]


def damage(case: dict[str, Any], backend: backends.Backend, other: Any, grads: dict[str, Any],
           state: Any, params: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Apply the case's defect to fresh containers (never to the arrays themselves)."""
    defect, xp = case["defect"], backend.xp
    key = f"w{case['leaf']}"
    grads, params = dict(grads), dict(params)
    leaf = grads[key]
    if defect == "grad shape":
        grads[key] = xp.ones((5, 1), dtype=leaf.dtype)
    elif defect == "grad int dtype":
        grads[key] = xp.ones(leaf.shape, dtype=xp.int32)
    elif defect == "grad not an array":
        grads[key] = "gradient"
    elif defect == "grad other library":
        grads[key] = other(np.ones(tuple(leaf.shape)))
    elif defect == "param other library":
        params[key] = other(np.ones(tuple(leaf.shape)))
    elif defect == "leaf missing":
        del grads[key]
    elif defect == "leaf added":
        grads["extra"] = leaf
    elif defect == "cycle":
        loop: list[Any] = [leaf]
        loop.append(loop)
        grads[key] = loop
    elif defect == "deep":
        nested: Any = leaf
        for _ in range(500):
            nested = [nested]
        grads[key] = nested
    elif defect == "count None":
        state = state._replace(count=None)
    elif defect == "count float":
        state = state._replace(count=xp.asarray(1.0, dtype=xp.float64))
    elif defect == "count at its maximum":
        state = state._replace(count=xp.asarray(2**31 - 1, dtype=xp.int32))
    elif defect == "count negative":
        state = state._replace(count=xp.asarray(-1, dtype=xp.int64))
    elif defect == "count int8 at its maximum":
        state = state._replace(count=xp.asarray(127, dtype=xp.int8))
    elif defect == "count other library":
        state = state._replace(count=other(np.asarray(0)))
    elif defect == "mu leaf not an array":
        state = state._replace(mu={**state.mu, key: [1.0]})
    elif defect == "mu leaf a string":
        state = state._replace(mu={**state.mu, key: "moment"})
    elif defect == "nu leaf a string":
        state = state._replace(nu={**state.nu, key: "norm"})
    elif defect == "param a string":
        params[key] = "weights"
    elif defect == "nu leaf shape":
        state = state._replace(nu={**state.nu, key: xp.ones(3, dtype=xp.float64)})
    elif defect == "state not a state":
        state = {"count": 0}
    elif defect == "params missing":
        params = None
    return grads, state, params


def expected_failure(case: dict[str, Any], opt: ngr.NovoGrad, lazy: bool) -> set[str] | None:
    """The names one of which the error must carry, or None if the case must succeed.

    A lazy (Dask) count is checked when computed, after a bad schedule value is refused.
    """
    defect = case["defect"]
    bad_rate = case["rate"] is not None and not case["rate"].good
    reads_params = opt.config.weight_decay > 0 or opt.config.update_clipping != "none"
    if defect in ("params missing", "param other library", "param a string") and not reads_params:
        defect = None  # parameters not read: not walked, as in optax
    if defect is not None:
        names = {DEFECTS[defect].format(path=f"['w{case['leaf']}']")}
        if lazy and defect in ("count at its maximum", "count negative",
                               "count int8 at its maximum") and bad_rate:
            names.add("learning_rate")
        return names
    return {"learning_rate"} if bad_rate else None


def other_library(name: str) -> Callable[[np.ndarray], Any]:
    if name == "numpy":
        return lambda a: xs.asarray(a)
    return np.asarray


@pytest.mark.parametrize("library", LIBRARIES)
@given(case=update_cases())
def test_update_succeeds_unchanged_or_names_the_problem(library: str,
                                                        case: dict[str, Any]) -> None:
    backend = _backend(library)
    xp = backend.xp
    note(f"{library}: {case}")
    rng = np.random.default_rng(case["seed"])
    dtype = case["dtype"]
    params = {f"w{i}": backend.from_numpy(rng.standard_normal(s).astype(dtype))
              for i, s in enumerate(case["shapes"])}
    grads = {k: backend.from_numpy(rng.standard_normal(tuple(v.shape)).astype(dtype))
             for k, v in params.items()}
    opt = make_optimizer(case, xp)
    state = opt.init(params)
    before = [snapshot(backend, t) for t in (params, grads, state)]
    bad_grads, bad_state, bad_params = damage(case, backend, other_library(library), grads,
                                              state, params)
    expected = expected_failure(case, opt, backend.lazy)

    def steps() -> None:
        state = bad_state
        with quiet_numerics():
            for _ in range(case["steps"]):
                updates, state = opt.update(bad_grads, state, bad_params)
                new_params = ngr.apply_updates(params, updates)
                snapshot(backend, (updates, state, new_params))  # computes Dask graphs

    _, exc = outcome(steps)
    if exc is None:
        event("accepted")
        assert expected is None, f"bad input accepted (expected an error naming {expected!r})"
    else:
        assert expected is not None, f"good input refused: {type(exc).__name__}: {exc}"
        assert_names_one_of(exc, expected)
    after = [snapshot(backend, t) for t in (params, grads, state)]
    for b_tree, a_tree in zip(before, after):
        for b, a in zip(b_tree, a_tree):
            np.testing.assert_array_equal(a, b)  # NaN equals NaN here


# ------------------------------------------------------------ what the fuzzing found

W = {"w": np.array([1.0, -2.0, 3.0])}


def one_update(opt: ngr.NovoGrad, steps: int = 1) -> Any:
    state = opt.init(W)
    for _ in range(steps):
        updates, state = opt.update(W, state, W)
    return updates


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: ngr.novograd(0.1, b1=HUGE), ValueError, r"b1 must be a real number a float"),
    (lambda: ngr.novograd(HUGE), ValueError, r"learning_rate must be a real number a float"),
    (lambda: P.tfa(0.1, decay=-1.0), ValueError, r"decay must be in \[0.0, inf\), got -1.0"),
    (lambda: P.tfa(0.1, decay=None), TypeError, r"decay must be a real number, got None"),
    (lambda: ngr.novograd(0.1, b1=0.99999999, bias_correction="adam",
                          hyper_dtype="float32"),
     ValueError, r"b1 must be in \[0.0, 1.0\), got 1.0 \(0.99999999 rounded to float32"),
    (lambda: P.flashlight(1e39), ValueError,
     r"learning_rate must be in \[0.0, inf\), got inf \(1e\+39 rounded to float32"),
    (lambda: P.apex(betas=(0.99999999, 0.9)), ValueError,
     r"b1 must be in \[0.0, 1.0\), got 1.0 \(0.99999999 rounded to float32"),
    (lambda: P.apex(amsgrad=True), ValueError, "amsgrad: FusedNovoGrad does not support"),
    (lambda: P.apex(norm_type=1), ValueError, "norm_type: FusedNovoGrad only supports"),
    (lambda: P.apex(norm_type="2"), ValueError, "norm_type: .* got '2' \\(str\\)"),
    (lambda: P.apex(init_zero="yes"), TypeError, "init_zero must be True or False"),
    (lambda: P.nemo(betas=5), TypeError, r"betas must be a pair \(beta1, beta2\), got 5"),
    (lambda: P.nemo(betas=(0.9,)), ValueError, r"betas must be a pair"),
    (lambda: P.nemo(betas=("a", 0.9)), TypeError, r"betas\[0\] must be a real number"),
    (lambda: P.timm(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0.0, 1.0\)"),
    (lambda: P.torch_optimizer(lr=None), TypeError, "lr must be a real number, got None"),
    (lambda: P.torch_optimizer(eps="1e-8"), TypeError, "eps must be a real number"),
    (lambda: P.tfa(weight_decay=None), TypeError, "weight_decay must be a real number"),
    (lambda: P.openseq2seq(mode=np.array([1])), ValueError, "mode must be 'graph' or"),
    (lambda: P.nemo(grad_averaging=np.array([1, 2])), TypeError,
     "grad_averaging must be True or False"),
    (lambda: ngr.novograd(0.1, norm=np.array([1, 2])), ValueError,
     r"norm must be one of \('l2_squared', 'apex_l2', 'apex_inf'\), got array\(\[1, 2\]\)"),
    (lambda: ngr.novograd(0.1, state_dtype=[1]), ValueError, "state_dtype must be None or"),
    (lambda: ngr.novograd(0.1, b1=lambda k: 0.9), TypeError, "b1 must be a real number"),
])
def test_bad_arguments_are_refused_by_name(make: Callable[[], Any], error: type,
                                           message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_legacy_keras_decay_checks_the_rate_it_decays() -> None:
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0.0, inf\), got -1"):
        P.tfa(-1.0, decay=0.1)
    opt = P.tfa(lambda step: None, decay=0.1)
    with pytest.raises(TypeError, match="learning_rate schedule returned None at step 0"):
        one_update(opt)


def test_float32_schedule_values_are_checked_before_rounding() -> None:
    for value, error in ((None, TypeError), (HUGE, ValueError), (True, TypeError)):
        opt = P.tfa(lambda step, v=value: v, schedule_dtype="float32")
        with pytest.raises(error, match=r"learning_rate schedule returned .* at step 0"):
            one_update(opt)


def test_legacy_keras_decay_runs_past_the_step_where_a_negative_one_divided_by_zero() -> None:
    updates = one_update(P.tfa(0.1, decay=1.0), steps=3)
    assert np.all(np.isfinite(updates["w"]))


def test_rounding_that_stays_in_range_is_kept() -> None:
    cfg = P.apex(lr=1e-50, betas=(0.9999999, 0.5)).config  # lr underflows to 0: allowed
    assert cfg.learning_rate == 0.0
    assert cfg.b1 == float(np.float32(0.9999999)) < 1.0


@pytest.mark.parametrize("tree_of", ["params", "grads"])
def test_trees_too_deep_or_with_cycles_are_refused_with_their_path(tree_of: str) -> None:
    opt = P.optax(0.1)
    deep: Any = np.ones(2)
    for _ in range(500):
        deep = [deep]
    loop: list[Any] = [np.ones(2)]
    loop.append(loop)
    for bad, message in ((deep, r"\[0\]\[0\].*: containers nested more than 100 deep"),
                         ({"a": loop}, r"\['a'\]\[1\]: a list that contains itself")):
        args = (bad,) if tree_of == "params" else (bad, opt.init(W), W)
        call = opt.init if tree_of == "params" else opt.update
        with pytest.raises(ValueError, match=tree_of + message):
            call(*args)


def test_a_tree_nested_to_the_limit_still_works() -> None:
    deep: Any = W
    for _ in range(99):
        deep = [deep]
    opt = P.optax(0.1)
    updates, _ = opt.update(deep, opt.init(deep), deep)
    assert ngr.apply_updates(deep, updates) is not None


@pytest.mark.parametrize(("value", "error", "message"), [
    (HUGE, ValueError, r"returned 1000.*\(401 chars\) at step 2: expected a finite"),
    ("0.1", TypeError, r"returned '0.1' \(str\) at step 2: expected a real number"),
    (-1.0, ValueError, "returned -1.0 at step 2: expected a finite number >= 0"),
    (None, TypeError, "returned None at step 2"),
    (True, TypeError, "returned True at step 2"),
    (np.ones(3), TypeError, r"returned a ndarray of shape \(3,\) and dtype float64 at step 2"),
    (np.asarray(1), TypeError, "returned a ndarray of shape \\(\\) and dtype int64 at step 2"),
    (np.asarray(math.nan), ValueError, r"returned array\(nan\) \(ndarray\) at step 2"),
])
def test_schedule_values_are_checked_with_the_step(value: Any, error: type,
                                                   message: str) -> None:
    opt = ngr.novograd(lambda step: 0.1 if step < 2 else value)
    state = opt.init(W)
    for _ in range(2):
        _, state = opt.update(W, state)
    with pytest.raises(error, match="learning_rate schedule " + message):
        opt.update(W, state)


@pytest.mark.parametrize("library", ["torch", "array_api_strict",
                                     pytest.param("jax", marks=pytest.mark.slow),
                                     pytest.param("dask", marks=pytest.mark.slow)])
def test_schedule_of_the_wrong_shape_is_refused_on_every_library(library: str) -> None:
    backend = _backend(library)
    xp = backend.xp
    opt = ngr.novograd(lambda step: xp.ones(3, dtype=xp.float64) * 0.1)
    params = {"w": backend.from_numpy(np.ones(()))}
    with pytest.raises(TypeError, match=r"learning_rate schedule returned a .* of shape "
                                        r"\(3,\) and dtype"):
        opt.update(params, opt.init(params))


def test_schedule_under_jit_is_checked_at_trace_time() -> None:
    backend = _backend("jax")
    import jax

    xp = backend.xp
    params = {"w": backend.from_numpy(np.ones(2))}
    bad = ngr.novograd(lambda step: xp.ones(3) * 0.1)
    with pytest.raises(TypeError, match=r"schedule returned .* shape \(3,\) .*lazy step"):
        jax.jit(bad.update)(params, bad.init(params))
    as_int = ngr.novograd(lambda step: step)  # a traced integer count: not a rate
    with pytest.raises(TypeError, match="dtype int"):
        jax.jit(as_int.update)(params, as_int.init(params))
    good = ngr.novograd(lambda step: 0.1 / (1.0 + step))
    updates, _ = jax.jit(good.update)(params, good.init(params))
    assert np.all(np.isfinite(np.asarray(updates["w"])))


def test_dask_schedule_is_checked_lazily_without_computing() -> None:
    backend = _backend("dask")
    from .test_backends import no_compute

    xp = backend.xp
    opt = ngr.novograd(lambda step: 0.1 - 0.1 * step)  # negative from step 2 on
    params = {"w": backend.from_numpy(np.ones(3))}
    with no_compute():
        state = opt.init(params)
        results = []
        for _ in range(3):
            updates, state = opt.update(params, state)
            results.append(updates["w"])
    assert np.all(np.isfinite(results[1].compute()))
    with pytest.raises(ValueError, match=r"learning_rate schedule returned .* at step 2"):
        results[2].compute()
    with pytest.raises(TypeError, match="schedule returned"):
        ngr.novograd(lambda step: xp.ones(3) * step).update(params, opt.init(params))


def test_step_count_does_not_wrap() -> None:
    opt = P.optax(0.1)
    state = opt.init(W)
    assert state.count.dtype == np.int64
    at_max = state._replace(count=np.asarray(2**31 - 1, dtype=np.int32))
    with pytest.raises(ValueError, match=r"state.count: expected 0 <= count < 2147483647 "
                                         r"\(its int32 maximum"):
        opt.update(W, at_max)
    below = state._replace(count=np.asarray(2**31 - 2, dtype=np.int32))
    _, after = opt.update(W, below)
    assert int(after.count) == 2**31 - 1


def test_step_count_under_jit_turns_nan_instead_of_wrapping() -> None:
    backend = _backend("jax")
    import jax
    import jax.numpy as jnp

    opt = P.optax(0.1)
    params = {"w": backend.from_numpy(np.ones(2))}
    state = opt.init(params)
    step = jax.jit(opt.update)
    ok, _ = step(params, state._replace(count=jnp.asarray(2**31 - 2, dtype=jnp.int32)))
    assert np.all(np.isfinite(np.asarray(ok["w"])))
    wrapped, after = step(params, state._replace(count=jnp.asarray(2**31 - 1,
                                                                   dtype=jnp.int32)))
    assert np.all(np.isnan(np.asarray(wrapped["w"])))
    again, _ = step(params, after)  # the wrapped (negative) count stays NaN
    assert np.all(np.isnan(np.asarray(again["w"])))


def test_state_count_is_checked() -> None:
    opt = P.optax(0.1)
    state = opt.init(W)
    for count, message in ((None, "got None"), (np.asarray(1.0), "dtype float64"),
                           (np.zeros(2, dtype=np.int64), r"shape \(2,\)"),
                           (xs.asarray(0), "expected an array of")):
        with pytest.raises(TypeError, match=r"state\.count: expected"):
            opt.update(W, state._replace(count=count))
        with pytest.raises(TypeError, match=message):
            opt.update(W, state._replace(count=count))


def test_dask_step_count_is_checked_when_computed() -> None:
    backend = _backend("dask")
    import dask.array as da

    from .test_backends import no_compute

    opt = P.optax(0.1)
    params = {"w": backend.from_numpy(np.ones(3))}
    state = opt.init(params)
    assert state.count.dtype == np.int64
    at_max = state._replace(count=da.from_array(np.asarray(2**31 - 1, dtype=np.int32)))
    with no_compute():
        updates, after = opt.update(params, at_max)
    for result in (updates["w"], after.count):
        with pytest.raises(ValueError, match=r"state\.count: expected 0 <= count < 2147483647"):
            result.compute()


# ------------------------------------------- the registry and the helpers, at their edges

ENORMOUS = 10**5000  # past Python's int-to-str limit: a message must not write it out


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: P.build("monai", 0.1, weight_decay_mode="bogus"), ValueError,
     r"monai: weight_decay_mode must be one of .*, got 'bogus'"),
    (lambda: P.spec("monai").keywords(weight_decay_mode=-3), ValueError,
     r"monai: weight_decay_mode must be one of .*, got -3"),
    (lambda: P.spec("optax").keywords(weight_decay_mode=["inside"]), ValueError,
     r"weight_decay_mode must be one of"),
    (lambda: P.spec(["optax"]), TypeError, r"preset name must be a string, got \['optax'\]"),
    (lambda: P.build({"optax"}, 0.1), TypeError, r"preset name must be a string"),
    (lambda: P.spec("nemo").canonical(betas=0.5), TypeError,
     r"nemo: betas must be a pair \(beta1, beta2\), got 0.5"),
    (lambda: P.spec("nemo").canonical(betas=(0.9,)), ValueError, r"nemo: betas must be a pair"),
    (lambda: P.spec("timm").canonical(decoupled_decay=np.array([1, 0])), TypeError,
     r"timm: decoupled_decay must be True or False"),
    (lambda: P.build("optax", 0.1, b1=Decimal("sNaN")), TypeError,
     r"optax: b1 must be a real number, got Decimal\('sNaN'\)"),
    (lambda: P.build("optax", 0.1, eps=np.array([1.0, 2.0])), TypeError,
     r"optax: eps must be a real number"),
    (lambda: P.build("flashlight", 0.1, averaging=Decimal("NaN")), TypeError,
     r"flashlight: averaging must be True or False"),
    (lambda: P.build("optax", 0.1, amsgrad=np.bool_(True)), TypeError,
     r"optax: amsgrad must be True or False"),
    (lambda: P.build("optax", 0.1, weight_decay=ENORMOUS), ValueError,
     r"weight_decay must be a real number a float can hold, got an int of 5001 digits"),
    (lambda: P.build("optax", 0.1, no_such=1), ValueError,
     r"optax: unknown canonical hyperparameter 'no_such'"),
    (lambda: ngr.novograd(ENORMOUS), ValueError, r"learning_rate .* an int of 5001 digits"),
    (lambda: ngr.novograd(0.1, luc_trust=-ENORMOUS), ValueError, r"luc_trust .* 5001 digits"),
    (lambda: P.nemo(luc_trust=ENORMOUS), ValueError, r"luc_trust.*5001 digits"),
    (lambda: P.timm(lr=0.1, max_lr=ENORMOUS), ValueError, r"max_lr"),
    (lambda: P.torch_optimizer(lr=-ENORMOUS), ValueError, r"lr .*5001 digits"),
])
def test_registry_and_constructors_refuse_by_name(call: Callable[[], Any], error: type,
                                                  message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_a_known_mode_without_weight_decay_still_translates() -> None:
    """A mode the preset lacks is harmless while weight decay is 0 (a case's mode only
    counts where decay is on); an unknown one never is."""
    assert P.spec("nemo").keywords(weight_decay_mode="decoupled", weight_decay=0.0) == {
        "weight_decay": 0.0}
    with pytest.raises(ValueError, match="nemo: has no weight_decay_mode 'decoupled'"):
        P.spec("nemo").keywords(weight_decay_mode="decoupled", weight_decay=0.1)


@pytest.mark.parametrize("norm", ["l2_squared", "apex_l2", "apex_inf"])
@pytest.mark.parametrize("library", ["numpy", "array_api_strict", "torch",
                                     pytest.param("jax", marks=pytest.mark.slow)])
def test_empty_layers_step_under_every_norm(norm: str, library: str) -> None:
    """A 0-size leaf: its norm is 0 (a max of no magnitudes is 0), nothing raises."""
    backend = _backend(library)
    init = {"l2_squared": "first_step", "apex_l2": "first_step_blend", "apex_inf": "zero"}
    opt = ngr.novograd(0.1, norm=norm, second_moment_init=init[norm], weight_decay=0.1,
                       update_clipping="luc")
    params = {"e": backend.from_numpy(np.zeros((0, 3))), "w": backend.from_numpy(np.ones(2))}
    updates, state = opt.update(params, opt.init(params), params)
    assert tuple(updates["e"].shape) == (0, 3)
    assert float(backend.to_numpy(state.nu["e"])) == 0.0
    assert np.all(np.isfinite(backend.to_numpy(updates["w"])))


def test_a_meta_step_count_is_refused_by_name() -> None:
    torch = pytest.importorskip("torch")
    opt = ngr.novograd(0.1)
    params = {"w": torch.ones(3, device="meta")}
    with pytest.raises(TypeError, match=r"state\.count: expected a value that can be read"):
        opt.update(params, opt.init(params), params)
    meta_rate = ngr.novograd(lambda step: torch.tensor(0.1, device="meta"))
    params = {"w": torch.ones(3)}
    with pytest.raises(TypeError, match=r"learning_rate schedule's value at step 0"):
        meta_rate.update(params, meta_rate.init(params))


@pytest.mark.parametrize("keys", [
    [1, "a", (1,)], [Decimal("NaN"), 1, 2.5], [Decimal("NaN"), Decimal(1)],
    [complex(1, 2), complex(0, 1)],
])
def test_keys_that_do_not_compare_still_make_a_tree(keys: list[Any]) -> None:
    params = {k: np.ones(2) for k in keys}
    opt = ngr.novograd(0.1)
    updates, _ = opt.update(params, opt.init(params))
    assert set(updates) == set(keys)
    reordered = {k: np.ones(2) for k in reversed(keys)}  # same structure, other order
    opt.update(reordered, opt.init(params))


@pytest.mark.parametrize(("error", "message", "schedule"), [
    (ValueError, r"schedule .*<lambda> raised ZeroDivisionError at step 0: division by zero",
     lambda step: 1 / 0),
    (TypeError, r"schedule .*<lambda> raised TypeError at step 0", lambda: 0.1),
    (ValueError, r"schedule .*Warmup raised KeyError at step 0", None),
])
def test_a_schedules_own_exception_names_the_schedule_and_the_step(
        error: type, message: str, schedule: Any) -> None:
    class Warmup:
        def __call__(self, step: int) -> float:
            return {5: 0.1}[step]

    opt = ngr.novograd(schedule if schedule is not None else Warmup())
    with pytest.raises(error, match=message) as info:
        opt.update(W, opt.init(W))
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__name__ in ("ZeroDivisionError", "TypeError", "KeyError")


def test_testing_helpers_accept_what_they_document_and_name_the_rest() -> None:
    from novograd_ref.testing import (
        assert_trees_close,
        eps,
        relative_error,
        rtol,
        trajectory,
        ulp_error,
    )

    assert rtol(np.float32) == rtol("float32") == rtol(np.dtype("float32"))
    assert rtol(np.float32, "framework") == rtol("float32", "framework")
    assert eps(np.float16) == 2.0**-10
    assert_trees_close(1.0, 1.0)
    assert_trees_close({"a": 0.5, "b": [1.0, 2.0]}, {"a": 0.5, "b": [1.0, 2.0]})
    for call, error, message in [
        (lambda: rtol("int8", "framework"), ValueError, "dtype must be a floating dtype"),
        (lambda: rtol(np.int32), ValueError, "dtype must be a floating dtype"),
        (lambda: rtol("float32", "nope"), ValueError, "kind must be one of"),
        (lambda: rtol("float32", ["backend"]), ValueError, "kind must be one of"),
        (lambda: rtol("float32", "backend", steps="3"), TypeError, "steps must be an int"),
        (lambda: eps(ENORMOUS), ValueError, "dtype must be"),
        (lambda: trajectory(None, np.ones(2), [np.ones(2)]), TypeError,
         "opt: expected an optimizer"),
        (lambda: trajectory(ngr.novograd(0.1), np.ones(2), 5), TypeError,
         "grads: expected an iterable"),
        (lambda: assert_trees_close({"w": "text"}, {"w": "text"}), TypeError,
         r"actual\['w'\]: expected an array of numbers"),
        (lambda: assert_trees_close({"w": 1.0}, {"w": 1.0}, rtol_value="x"), TypeError,
         "rtol_value must be a real number"),
        (lambda: relative_error(["a"], [1.0]), TypeError, "actual: expected an array of real"),
        (lambda: relative_error(np.ones(2), np.ones(3)), ValueError, "differ in shape"),
        (lambda: ulp_error(np.ones(2), np.ones(3)), ValueError, "differ in shape"),
    ]:
        with pytest.raises(error, match=message):
            call()


def test_testing_helpers_on_torch_sparse_bfloat16_and_meta() -> None:
    torch = pytest.importorskip("torch")
    from novograd_ref.testing import assert_trees_close, to_numpy

    dense = torch.tensor([1.0, 0.0, 2.0])
    assert_trees_close(dense.to_sparse(), dense)
    half = torch.ones(3, dtype=torch.bfloat16)
    assert_trees_close(half, half)
    with pytest.raises(AssertionError, match="relative error"):
        assert_trees_close(half, half * 2)
    assert to_numpy(half).dtype == np.float32
    with pytest.raises(TypeError, match=r"actual\['w'\]: expected an array or a number.*meta"):
        assert_trees_close({"w": torch.ones(2, device="meta")}, {"w": torch.ones(2)})


# ------------------------------------------------------------ the registry, fuzzed


def _own_names(spec: Any, key: str) -> set[str]:
    """Names a refusal about canonical ``key`` may carry: the key, the preset's keyword
    for it (``betas`` for ``b1``/``b2``), and the preset's rate keyword."""
    names = {key, spec.vocabulary.names.get(key, key)}
    if key in ("b1", "b2"):
        names.add("betas")
    if key == "learning_rate":
        names.add(spec.learning_rate_keyword)
    return names


@given(name=st.sampled_from(P.names()),
       hyper=st.dictionaries(st.sampled_from(
           ["learning_rate", *_hyper.REQUIRED, *_hyper.OPTIONAL, "max_learning_rate",
            "no_such_key"]), odd_values, min_size=1, max_size=3))
def test_registry_translates_or_names_the_key(name: str, hyper: dict[str, Any]) -> None:
    """``build``, ``spec(...).keywords`` and ``spec(...).canonical`` on hostile values:
    a result, or a TypeError / ValueError naming one of the keys given."""
    spec = P.spec(name)
    note(f"{name}: {shown(hyper)}")
    names = set().union(*(_own_names(spec, k) for k in hyper))
    keywords, exc = outcome(lambda: spec.keywords(**hyper))
    if exc is not None:
        assert_names_one_of(exc, names)
    else:
        assert isinstance(keywords, dict)
        _, exc = outcome(lambda: spec.canonical(**keywords))
        if exc is not None:
            assert_names_one_of(exc, set(keywords) | names)
    rate = hyper.pop("learning_rate", 0.01)
    opt, exc = outcome(lambda: P.build(name, rate, **hyper))
    if exc is None:
        one_step_on_numpy(opt)
    else:
        fields = set()
        for keyword in set(signature_defaults(spec.function)) & set(keywords or {}):
            fields |= canonical_fields(name, keyword)
        assert_names_one_of(exc, names | fields | set(keywords or {}))


@given(own=st.dictionaries(st.sampled_from(sorted(
    {k for s in P.specs() for k in signature_defaults(s.function)} | {"no_such"})),
    odd_values, min_size=1, max_size=3), name=st.sampled_from(P.names()))
def test_canonical_of_any_keywords_is_a_mapping_or_names_the_keyword(
        name: str, own: dict[str, Any]) -> None:
    spec = P.spec(name)
    note(f"{name}: {shown(own)}")
    canonical, exc = outcome(lambda: spec.canonical(**own))
    if exc is None:
        assert isinstance(canonical, dict)
    else:
        assert_names_one_of(exc, set(own))


@given(args=st.lists(odd_values, min_size=1, max_size=3))
def test_testing_helpers_raise_only_named_errors(args: list[Any]) -> None:
    """Every ``novograd_ref.testing`` helper on hostile arguments: a result, an
    AssertionError of a comparison, or a TypeError / ValueError (never another error,
    never Python's int-to-str limit)."""
    from novograd_ref import testing

    note(shown(args))
    calls: list[Callable[[], Any]] = [
        lambda: testing.rtol(*args), lambda: testing.eps(args[0]),
        lambda: testing.dtype_name(args[0]),
        lambda: testing.relative_error(args[0], args[-1]),
        lambda: testing.ulp_error(args[0], args[-1]),
        lambda: testing.trajectory(args[0], W, [W]),
        lambda: testing.trajectory(ngr.novograd(0.1), W, args[0]),
    ]
    for call in calls:
        with quiet_numerics():
            _, exc = outcome(call)
        if exc is not None:
            str(exc)  # the message itself is printable
    for actual, desired in ((args[0], args[-1]), ({"w": args[0]}, {"w": 1.0})):
        try:
            with quiet_numerics():
                testing.assert_trees_close(actual, desired)
        except (AssertionError, TypeError, ValueError) as exc:
            str(exc)
