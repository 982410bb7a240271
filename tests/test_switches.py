"""Every accepted configuration is computed as printed: no switch is silently ignored.

Hypothesis draws configurations that :class:`~novograd_ref.Config` accepts; flipping
any one switch to any other value must then either be refused at construction (by
the compatibility table, with a message naming both switches) or change the
trajectory on a probing input built to exercise every switch: a changing learning
rate, non-zero weight decay with ``max_learning_rate`` != the rate, a layer whose
first gradient is zero, gradient norms that rise and fall (amsgrad), a trust ratio
that clips some layers and not others (update clipping), eight steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import novograd_ref as ngr
from novograd_ref._config import _SWITCHES, COMPATIBILITY, Config

#: Every switch and its values (the boolean switches too).
SWITCH_VALUES: dict[str, tuple[Any, ...]] = {
    **{name: get_args(kind) for name, kind in _SWITCHES.items()},
    "amsgrad": (False, True), "nesterov": (False, True), "maximize": (False, True),
}

RATES = (0.05, 0.02, 0.08, 0.03, 0.06, 0.01, 0.04, 0.07)


def probe_rate(step: int) -> float:
    """A learning rate that changes every step (``inside`` differs from ``outside``)."""
    return RATES[step]


#: Hyperparameters of the probe: all non-zero, ``max_learning_rate`` unlike every
#: rate, a trust ratio that clips the smaller layers.
PROBE_HYPER: dict[str, Any] = {
    "learning_rate": probe_rate, "b1": 0.9, "eps": 1e-3, "weight_decay": 0.1,
    "max_learning_rate": 0.1, "luc_trust": 1e-2, "luc_eps": 1e-8,
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


def run(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Under ``cfg``, the probe's parameters after each step, and the updates and
    state moments of each step, flattened (steps x values)."""
    opt, params = ngr.NovoGrad(cfg), PARAMS
    state, steps, outputs = opt.init(params), [], []
    with np.errstate(all="raise"):
        for g in GRADS:
            updates, state = opt.update(g, state, params)
            params = ngr.apply_updates(params, updates)
            steps.append(np.concatenate([params[k].ravel() for k in sorted(params)]))
            outputs.append(np.concatenate([np.ravel(tree[k]) for tree in (
                updates, state.mu, state.nu) for k in sorted(params)]))
    return np.stack(steps), np.stack(outputs)


def rounding_only(name: str, a: Any, b: Any, cfg: Config) -> bool:
    """Flips whose two sides are the same algebra, told apart by rounding: division
    against multiplication by the reciprocal, torch's ``lerp`` against the EMA, Apex's
    norm ``n`` against ``v = n**2`` (the state differs), Apex's weight decay
    against decoupled decay when the step size is the plain rate. The parameters
    rarely see rounding (a step is much smaller than a parameter, ``v`` passes a
    square root), so these are judged by the updates and the state."""
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

configurations = st.fixed_dictionaries(
    {name: st.sampled_from(values) for name, values in SWITCH_VALUES.items()})


@st.composite
def accepted_switches(draw: Any) -> dict[str, Any]:
    """Switch values the table accepts: drawn freely, then each broken rule repaired,
    by drawing again either its other switch among the values the rule allows, or
    its own switch among the values the rule does not constrain."""
    switches = draw(configurations)
    for _ in range(4 * len(COMPATIBILITY)):
        broken = [r for r in COMPATIBILITY if r.violated_by_values(switches)]
        if not broken:
            return switches
        rule = broken[0]
        if draw(st.booleans()):
            allowed = [v for v in SWITCH_VALUES[rule.other]
                       if (v in rule.other_values) == (rule.kind == "requires")]
            switches[rule.other] = draw(st.sampled_from(allowed))
        else:
            free = [v for v in SWITCH_VALUES[rule.switch] if v not in rule.values]
            switches[rule.switch] = draw(st.sampled_from(free))
    raise AssertionError(f"the table cannot be satisfied from {switches}")


@given(switches=configurations, b2=st.sampled_from([0.8, 0.3]))
def test_every_switch_flip_is_refused_or_changes_the_trajectory(
        switches: dict[str, Any], b2: float) -> None:
    """``b2`` 0.8 and 0.3 take both branches of torch's ``lerp``."""
    cfg = build(b2, switches)
    assume(cfg is not None)
    assert cfg is not None
    base = run(cfg)
    for name, values in SWITCH_VALUES.items():
        for value in values:
            if value == switches[name]:
                continue
            flipped = build(b2, {**switches, name: value})
            if flipped is None:
                continue
            assert changed(name, switches[name], value, cfg, base, run(flipped)), (
                f"{name}: {switches[name]!r} -> {value!r} changes nothing for {cfg!r}")


@pytest.mark.parametrize("rule", COMPATIBILITY, ids=lambda r: f"{r.switch}-{r.other}")
def test_each_rule_refuses_with_both_switches_named(rule: Any) -> None:
    """Every row of the table refuses a combination, naming both switches."""
    other_values = SWITCH_VALUES[rule.other]
    bad = rule.other_values[0] if rule.kind == "excludes" else next(
        v for v in other_values if v not in rule.other_values)
    switches = {rule.switch: rule.values[0], rule.other: bad}
    if rule.switch == "norm" and rule.other != "second_moment_init":
        switches["second_moment_init"] = "zero"
    with pytest.raises(ValueError, match=rule.other) as info:
        Config(learning_rate=0.1, **switches)
    message = str(info.value)
    assert message.startswith(f"{rule.switch}={rule.values[0]!r} {rule.kind} {rule.other}")
    assert f"got {rule.other}={bad!r}" in message


def test_help_shows_the_table() -> None:
    doc = Config.__doc__ or ""
    for rule in COMPATIBILITY:
        assert f"``{rule.switch}=" in doc
        assert f"{rule.kind} ``{rule.other} " in doc
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
    assert repr(Config(learning_rate=0.1, eps_root=1e-3, luc_trust=0.5)) == (
        "Config(learning_rate=0.1, b1=0.95, b2=0.98, eps=1e-08, eps_root=0.001, "
        "luc_trust=0.5)")


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
