"""Every accepted configuration is computed as printed: no switch is silently ignored.

Hypothesis draws configurations that :class:`~novograd_ref.Config` accepts; flipping
any one switch to any other value must then either be refused at construction (by
the compatibility table, with a message naming both switches) or change the
trajectory on a probing input built to exercise every switch: a changing learning
rate, non-zero weight decay with ``max_learning_rate`` != the rate, a layer whose
first gradient is zero, gradient norms that rise and fall (amsgrad), a trust ratio
that clips some layers and not others (update clipping), eight steps.

The switches are the convention switches and flags, the hyperparameters that only one
switch value reads (``eps_root``, ``luc_trust``, ``luc_eps``, ``max_learning_rate``:
their default against a probe value), and the dtype switches (``state_dtype``,
``mu_dtype``, ``hyper_dtype``). The probe runs on float64 and on float32 parameters,
and a flip must change the trajectory on one of the two. Two values of a dtype switch
are one configuration, and must give the same bits on every probe, exactly where the
docstring of ``Config`` says so:

- ``state_dtype=None`` / ``mu_dtype=None`` mean "the parameter dtype": on float64
  parameters ``None`` and ``"float64"`` are one configuration, on float32 parameters
  ``None`` and ``"float32"`` (on the other parameter dtype they differ);
- ``mu_dtype`` is the dtype ``m`` is stored in; the moment is accumulated in the dtype
  of the moment input (the parameters' dtype, or a wider ``state_dtype`` when the
  input is divided by the state's denominator), so every ``mu_dtype`` at least that
  wide stores the same values: one configuration (on float32 parameters with a
  float32 state, ``None``, ``"float32"`` and ``"float64"``);
- ``hyper_dtype=None`` means "as given": the hyperparameters are Python floats, so
  ``None`` and ``"float64"`` are one configuration on any parameters.

``"bfloat16"`` is not a NumPy dtype (NumPy refuses it at ``init``): its flips are
checked on PyTorch by :func:`test_bfloat16_state_and_moment_change_the_trajectory`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, get_args

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref._config import COMPATIBILITY, SET, SWITCH_TYPES, Config, Rule, _takes

#: Every switch and its values (the boolean switches too), the default first.
SWITCH_VALUES: dict[str, tuple[Any, ...]] = {
    **{name: get_args(kind) for name, kind in SWITCH_TYPES.items()},
    "amsgrad": (False, True), "nesterov": (False, True), "maximize": (False, True),
    # Hyperparameters only one switch value reads: the default and a probe value
    # (a trust ratio that clips the smaller layers, a max_lr unlike every rate, an
    # eps_root no float16 rounding of v absorbs).
    "eps_root": (0.0, 0.5), "luc_trust": (1e-3, 1e-2), "luc_eps": (1e-8, 1e-2),
    "max_learning_rate": (None, 0.1),
}

#: The dtype switches and the values NumPy has (see the module docstring).
DTYPE_VALUES: dict[str, tuple[Any, ...]] = {
    "state_dtype": (None, "float16", "float32", "float64"),
    "mu_dtype": (None, "float16", "float32", "float64"),
    "hyper_dtype": (None, "float32", "float64"),
}

RATES = (0.05, 0.02, 0.08, 0.03, 0.06, 0.01, 0.04, 0.07)


def probe_rate(step: int) -> float:
    """A learning rate that changes every step (``inside`` differs from ``outside``)."""
    return RATES[step]


#: Hyperparameters of the probe that every configuration reads: all non-zero.
PROBE_HYPER: dict[str, Any] = {
    "learning_rate": probe_rate, "b1": 0.9, "eps": 1e-3, "weight_decay": 0.01,
}


def probe() -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Five layers, eight steps. Layer ``z`` gets a zero gradient on step 1; the
    gradient norms rise and fall, so a running maximum differs from the moment; the
    layers' sizes span 1e-4 to 1e3, so the trust ratio of update clipping clips the
    step of some layers and not of others, whatever the size of the direction."""
    rng = np.random.default_rng(11)
    params = {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2)),
              "z": rng.standard_normal(4), "big": 1e3 * rng.standard_normal(3),
              "tiny": 1e-4 * rng.standard_normal(2)}
    scales = (3.0, 0.5, 2.0, 0.2, 1.0, 0.1, 4.0, 0.3)
    grads = [{k: s * rng.standard_normal(v.shape) for k, v in params.items()}
             for s in scales]
    grads[0]["z"] = np.zeros(4)
    return params, grads


PARAMS, GRADS = probe()
PROBE_DTYPES = (np.float64, np.float32)


def run(cfg: Config, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Under ``cfg``, on the probe in ``dtype``, the parameters after each step, and
    the updates and state moments of each step, flattened (steps x values)."""
    opt = ngr.NovoGrad(cfg)
    params = {k: v.astype(dtype) for k, v in PARAMS.items()}
    state, steps, outputs = opt.init(params), [], []
    with np.errstate(all="raise", under="ignore"):  # float16 state: underflow rounds
        for g in GRADS:
            g = {k: v.astype(dtype) for k, v in g.items()}
            updates, state = opt.update(g, state, params)
            params = ngr.apply_updates(params, updates)
            steps.append(np.concatenate([params[k].ravel() for k in sorted(params)]))
            outputs.append(np.concatenate([np.ravel(tree[k]).astype(np.float64) for tree in (
                updates, state.mu, state.nu) for k in sorted(params)]))
    return np.stack(steps), np.stack(outputs)


def run_all(cfg: Config) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`run` on each of :data:`PROBE_DTYPES`."""
    return [run(cfg, dtype) for dtype in PROBE_DTYPES]


def same_configuration(name: str, a: Any, b: Any, dtype: Any,
                       switches: dict[str, Any]) -> bool:
    """Whether two values of a dtype switch name one configuration on parameters of
    ``dtype`` under ``switches`` (the module docstring's definitions)."""
    if name == "hyper_dtype":
        return {a, b} == {None, "float64"}
    if name == "state_dtype":
        return {a, b} == {None, np.dtype(dtype).name}
    if name == "mu_dtype":
        state = np.dtype(switches["state_dtype"] or dtype)
        raw = switches["momentum_input"] == "raw"  # u = g: not divided by the state
        accumulated = np.dtype(dtype) if raw else np.result_type(dtype, state)

        def stored(value: Any) -> Any:  # a dtype that holds the accumulated m exactly
            kept = np.dtype(value or dtype)
            return "exact" if kept.itemsize >= accumulated.itemsize else kept

        return stored(a) == stored(b)
    return False


def rounding_only(name: str, a: Any, b: Any, cfg: Config) -> bool:
    """Flips whose two sides are the same algebra, told apart by rounding: division
    against multiplication by the reciprocal, torch's ``lerp`` against the EMA, Apex's
    norm ``n`` against ``v = n**2`` (the state differs), Apex's weight decay
    against decoupled decay when the step size is the plain rate. The parameters
    rarely see rounding (a step is much smaller than a parameter, ``v`` passes a
    square root), so these are judged by the updates and the state; so are the dtype
    switches, which only round."""
    if name in DTYPE_VALUES:
        return True
    pair = frozenset({a, b})
    if name == "weight_decay_mode" and pair == {"decoupled", "apex"}:
        return cfg.bias_correction in ("none", "apex") and cfg.update_clipping == "none"
    return (name, pair) in {("normalization", frozenset({"divide", "reciprocal"})),
                            ("second_moment_update", frozenset({"ema", "lerp"})),
                            ("norm", frozenset({"l2_squared", "apex_l2"}))}


def changed(name: str, a: Any, b: Any, cfg: Config, base: tuple[np.ndarray, np.ndarray],
            flipped: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether the parameters differ (for a rounding flip: the updates or the state)."""
    if not np.array_equal(base[0], flipped[0]):
        return True
    return rounding_only(name, a, b, cfg) and not np.array_equal(base[1], flipped[1])


def build(b2: float, switches: dict[str, Any]) -> Config | None:
    """The configuration, or ``None`` if construction refuses it."""
    refused = [r for r in COMPATIBILITY if r.violated_by_values(switches)]
    if refused:  # only the table refuses switch combinations
        with pytest.raises(ValueError, match=f"^{refused[0].switch}="):
            Config(b2=b2, **PROBE_HYPER, **switches)
        return None
    return Config(b2=b2, **PROBE_HYPER, **switches)


def repair(switches: dict[str, Any], choose: Callable[[Sequence[Any]], Any],
           values: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """``switches`` with each broken rule repaired, by choosing again either its other
    switch among the values the rule allows, or its own switch among the values the
    rule does not constrain (``choose`` picks from a list: hypothesis or a seeded
    generator)."""
    switches = dict(switches)
    for _ in range(4 * len(COMPATIBILITY)):
        broken = [r for r in COMPATIBILITY if r.violated_by_values(switches)]
        if not broken:
            return switches
        rule: Rule = broken[0]
        if choose([True, False]):
            allowed = [v for v in values[rule.other]
                       if _takes(rule.other, v, rule.other_values) == (
                           rule.kind == "requires")]
            switches[rule.other] = choose(allowed)
        else:
            free = [v for v in values[rule.switch] if not _takes(rule.switch, v, rule.values)]
            switches[rule.switch] = choose(free)
    raise AssertionError(f"the table cannot be satisfied from {switches}")


@st.composite
def accepted_switches(draw: Any, dtypes: bool = False) -> dict[str, Any]:
    """Switch values the table accepts (the dtype switches too if ``dtypes``): drawn
    freely, then repaired (:func:`repair`)."""
    values = {**SWITCH_VALUES, **(DTYPE_VALUES if dtypes else {})}
    switches = draw(st.fixed_dictionaries(
        {name: st.sampled_from(choices) for name, choices in values.items()}))
    return repair(switches, lambda choices: draw(st.sampled_from(list(choices))), values)


@given(switches=accepted_switches(dtypes=True), b2=st.sampled_from([0.8, 0.3]))
def test_every_switch_flip_is_refused_or_changes_the_trajectory(
        switches: dict[str, Any], b2: float) -> None:
    """``b2`` 0.8 and 0.3 take both branches of torch's ``lerp``. A flip must change
    the trajectory on the float64 or the float32 probe; two values that name one
    configuration (see the module docstring) must give the same bits there."""
    cfg = build(b2, switches)
    assert cfg is not None
    base = run_all(cfg)
    for name, values in {**SWITCH_VALUES, **DTYPE_VALUES}.items():
        for value in values:
            if value == switches[name] and type(value) is type(switches[name]):
                continue
            flipped = build(b2, {**switches, name: value})
            if flipped is None:
                continue
            flipped_runs = run_all(flipped)
            same = [same_configuration(name, switches[name], value, d, switches)
                    for d in PROBE_DTYPES]
            for is_same, b, f, dtype in zip(same, base, flipped_runs, PROBE_DTYPES):
                if is_same:
                    assert all(np.array_equal(x, y) for x, y in zip(b, f)), (
                        f"{name}: {switches[name]!r} and {value!r} are one configuration "
                        f"on {np.dtype(dtype).name} parameters but differ for {cfg!r}")
            if all(same):  # one configuration on every probe
                continue
            assert any(changed(name, switches[name], value, cfg, b, f)
                       for is_same, b, f in zip(same, base, flipped_runs) if not is_same), (
                f"{name}: {switches[name]!r} -> {value!r} changes nothing for {cfg!r}")


def test_bfloat16_state_and_moment_change_the_trajectory() -> None:
    """``"bfloat16"`` (a PyTorch dtype NumPy lacks) against every other value of
    ``state_dtype`` and ``mu_dtype``, on the probe in float32 on PyTorch."""
    torch = pytest.importorskip("torch")

    def trajectory(**dtypes: Any) -> np.ndarray:
        opt = ngr.NovoGrad(Config(b2=0.8, **PROBE_HYPER, **dtypes))
        params = {k: torch.asarray(v, dtype=torch.float32) for k, v in PARAMS.items()}
        state, trail = opt.init(params), []
        for g in GRADS:
            updates, state = opt.update(
                {k: torch.asarray(v, dtype=torch.float32) for k, v in g.items()},
                state, params)
            params = ngr.apply_updates(params, updates)
            trail.append(np.concatenate([params[k].numpy().ravel() for k in sorted(params)]))
        return np.stack(trail)

    for name in ("state_dtype", "mu_dtype"):
        bf16 = trajectory(**{name: "bfloat16"})
        for other in DTYPE_VALUES[name]:
            assert not np.array_equal(bf16, trajectory(**{name: other})), (name, other)


def _given_value(name: str, values: tuple[Any, ...] | str, inside: bool) -> Any:
    """A value of switch ``name`` that is (``inside``) or is not among ``values``."""
    return next(v for v in SWITCH_VALUES[name] if _takes(name, v, values) == inside)


@pytest.mark.parametrize("rule", COMPATIBILITY, ids=lambda r: f"{r.switch}-{r.other}")
def test_each_rule_refuses_with_both_switches_named(rule: Rule) -> None:
    """Every row of the table refuses a combination, naming both switches."""
    value = _given_value(rule.switch, rule.values, True)
    bad = _given_value(rule.other, rule.other_values, rule.kind == "excludes")
    switches = {rule.switch: value, rule.other: bad}
    if switches.get("norm", "l2_squared") != "l2_squared" and (
            rule.other != "second_moment_init"):
        switches["second_moment_init"] = "zero"  # Apex's norms need it
    with pytest.raises(ValueError, match=rule.other) as info:
        Config(learning_rate=0.1, **switches)
    message = str(info.value)
    assert message.startswith(f"{rule.switch}={value!r} {rule.kind} {rule.other}")
    assert f"got {rule.other}={bad!r}" in message


def test_help_shows_the_table() -> None:
    doc = Config.__doc__ or ""
    for rule in COMPATIBILITY:
        assert f"``{rule.switch}" in doc
        assert f"{rule.kind} ``{rule.other} " in doc
        assert rule.why in doc
        if rule.values == SET:
            assert f"``{rule.switch}`` set (not" in doc
    assert "{compatibility}" not in doc


def test_config_defaults_are_the_papers_and_the_line_shows_what_differs() -> None:
    """The defaults are the paper's recurrence (first value of every switch); the
    printed line always shows the rate, ``b1``, ``b2`` and ``eps``, and every other
    field only when it differs from its default."""
    cfg = Config(learning_rate=0.1)
    assert (cfg.b1, cfg.b2, cfg.eps, cfg.eps_root, cfg.weight_decay) == (
        0.95, 0.98, 1e-8, 0.0, 0.0)
    assert (cfg.luc_trust, cfg.luc_eps, cfg.max_learning_rate) == (1e-3, 1e-8, None)
    assert (cfg.state_dtype, cfg.mu_dtype, cfg.hyper_dtype) == (None, None, None)
    for name, values in SWITCH_VALUES.items():
        assert getattr(cfg, name) == values[0], name
    assert repr(cfg) == "Config(learning_rate=0.1, b1=0.95, b2=0.98, eps=1e-08)"
    assert repr(ngr.presets.nemo(lr=0.1, luc=True).config) == (
        "Config(learning_rate=0.1, b1=0.95, b2=0.98, eps=1e-08, "
        "second_moment_init='when_zero', update_clipping='luc')")
    assert repr(Config(learning_rate=0.1, eps_root=1e-3, update_clipping="luc",
                       luc_trust=0.5)) == (
        "Config(learning_rate=0.1, b1=0.95, b2=0.98, eps=1e-08, eps_root=0.001, "
        "update_clipping='luc', luc_trust=0.5)")


def test_hyper_dtype_rounds_and_prints_the_given_decimals() -> None:
    """``hyper_dtype="float32"`` rounds and prints the shortest decimal that rounds back;
    ``"float64"`` and no rounding print the float itself; ``"float16"`` is refused."""
    f32 = Config(learning_rate=0.1, b1=0.9, weight_decay=0.3, hyper_dtype="float32")
    assert f32.b1 == float(np.float32(0.9))
    assert f32.weight_decay == float(np.float32(0.3))
    assert "b1=0.9," in repr(f32)
    assert "weight_decay=0.3," in repr(f32)
    f64 = Config(learning_rate=0.1, b1=0.9000000001, b2=0.1, hyper_dtype="float64")
    assert (f64.b1, f64.b2) == (0.9000000001, 0.1)
    assert "b1=0.9000000001," in repr(Config(learning_rate=0.1, b1=0.9000000001))
    assert repr(Config(learning_rate=0.5, eps=0.0)) == (  # unrounded: Python's repr
        "Config(learning_rate=0.5, b1=0.95, b2=0.98, eps=0.0)")
    with pytest.raises(ValueError, match="hyper_dtype must be None or one of"):
        Config(learning_rate=0.1, hyper_dtype="float16")


def test_config_is_frozen_and_checks_bounds_and_types() -> None:
    """A Config cannot be changed after construction; ``b2 = 1`` and a boolean where a
    number belongs are refused."""
    cfg = Config(learning_rate=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.b1 = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"b2 must be in \[0.0, 1.0\), got 1.0"):
        Config(learning_rate=0.1, b2=1.0)
    with pytest.raises(TypeError, match="eps must be a real number, got True"):
        Config(learning_rate=0.1, eps=True)


def test_max_learning_rate_is_positive_and_a_choice_error_lists_the_choices() -> None:
    """The corrected decay divides by ``max_learning_rate``: 0 is refused; a dtype
    that is not one of the choices is refused with every choice listed."""
    with pytest.raises(ValueError, match=r"max_learning_rate must be > 0 .*got 0.0"):
        Config(learning_rate=0.1, weight_decay_mode="corrected", max_learning_rate=0.0)
    with pytest.raises(ValueError, match=r"state_dtype must be None or one of \('float16', "
                       r"'bfloat16', 'float32', 'float64'\), got 'int8'"):
        Config(learning_rate=0.1, state_dtype="int8")
