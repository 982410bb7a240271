"""``explain`` on ports it was not tuned on (``tests/unseen_ports.py``), and on random
configurations one to five moves from a random preset.

For each port: the presets it matches, the configuration that reproduces it (rebuilt
here from the nearest preset and the expected differences), the differences (Config
field, port's value, preset's value) and the anomaly codes, asserted exactly. The ports
run in this process (``in_process``): the child processes are tested in
``test_explain.py``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from novograd_ref import Config, presets
from novograd_ref.conformance import (
    ANOMALIES,
    Unsupported,
    explain,
    implementation,
    preset_kwargs_for,
    presets_with_keywords,
)
from novograd_ref.conformance.adapters._loader import Implementation
from novograd_ref.conformance.diagnosis._experiments import case_runs

pytestmark = pytest.mark.slow  # a search per port

TORCH_FAMILY = {"dle", "monai", "nemo", "timm", "torch_optimizer"}
EPS_INSIDE = {("eps", 0.0, 1e-08), ("eps_root", 1e-08, 0.0)}
ZERO = ("second_moment_init", "zero", "first_step")
DEBIAS = ("bias_correction", "debias", "none")
ADAM = ("bias_correction", "adam", "none")
ALWAYS = ("grad_averaging", "always", "off")
AFTER_FIRST = ("grad_averaging", "after_first_step", "off")
NESTEROV = ("nesterov", True, False)
DECOUPLED = ("weight_decay_mode", "decoupled", "inside")
FIXED = ("weight_decay_mode", "fixed", "inside")
T_ZERO = ("second_moment_init", "zero", "when_zero")
T_FIRST = ("second_moment_init", "first_step", "when_zero")
FIRST_INPUT = ("first_moment_init", "first_input", "zero")

# port -> (nearest preset, presets matched, differences, anomaly codes)
EXPECTED: dict[str, tuple[str, set[str], set[tuple[str, Any, Any]], set[str]]] = {
    # optax's keywords, inside the switch space (one to five moves)
    "o_reciprocal": ("optax", {"optax", "paper", "pytorch_optimizer"}, set(), set()),
    "o_debias": ("optax", set(), {DEBIAS}, set()),
    "o_adam_bias": ("optax", set(), {ADAM}, set()),
    "o_after_first": ("optax", set(), {AFTER_FIRST}, set()),
    "o_nesterov": ("optax", set(), {NESTEROV}, set()),
    "o_when_zero": ("dle", TORCH_FAMILY, set(), set()),
    "o_decoupled": ("optax", set(), {DECOUPLED}, set()),
    "o_fixed_decay": ("optax", set(), {FIXED}, set()),
    "o_eps_inside_zero": ("optax", set(), {*EPS_INSIDE, ZERO}, set()),
    # the rate inside the momentum is tfa's (two moves from it), but tfa cannot express
    # one run the port completed: three moves from optax express and reproduce all
    "o_three": ("optax", set(), {ALWAYS, DEBIAS,
                                 ("learning_rate_placement", "inside", "outside")}, set()),
    "o_four": ("optax", set(), {ZERO, DEBIAS, ALWAYS, DECOUPLED}, set()),
    "o_four_nesterov": ("optax", set(), {NESTEROV, ALWAYS, *EPS_INSIDE, ADAM}, set()),
    # five moves from optax, four from dle (whose second moment starts while 0)
    "o_five": ("dle", set(), {ADAM, AFTER_FIRST, FIXED, *EPS_INSIDE}, set()),
    # the first moment from the first moment input (pytorch_optimizer 2.9 to 3.9)
    "o_momentum_first_input": ("optax", set(), {FIRST_INPUT}, set()),
    # pytorch_optimizer 3's moment and step size, decoupled decay, eps inside the root
    "o_first_input_four": ("optax", set(), {FIRST_INPUT, ADAM, DECOUPLED, *EPS_INSIDE},
                           set()),
    # optax's keywords, outside the switch space
    "o_one_beta": ("optax", set(), set(), {"second_moment_wrong_beta"}),
    "o_global_debias": ("optax", set(), {DEBIAS}, {"global_normalization"}),
    "o_elementwise": ("optax", set(), set(), {"elementwise_normalization"}),
    "o_decay_sign_zero": ("optax", set(), {ZERO}, {"weight_decay_sign"}),
    "o_late_start_debias": ("optax", set(), {DEBIAS}, {"no_first_step_update"}),
    "o_float32_zero": ("optax", set(), {ZERO}, {"float32_arithmetic"}),
    "o_no_first_eps_always": ("optax", set(), {ALWAYS}, {"first_step_without_eps"}),
    "o_unnormalized": ("optax", set(), set(), {"not_normalized"}),
    "o_mean_norm_debias": ("optax", set(), {DEBIAS}, {"mean_normalization"}),
    "o_lr_twice": ("optax", set(), set(), {"learning_rate_squared"}),
    "o_decay_after_step": ("optax", set(), set(), {"weight_decay_after_step"}),
    # a second moment starting at a constant, read off the first step's size; the rest
    # of the port (its weight decay) still explained
    "o_v_constant": ("optax", set(), set(), {"second_moment_constant_start"}),
    "o_v_constant_decoupled": ("optax", set(), {DECOUPLED}, {"second_moment_constant_start"}),
    # a mean of squares against a layer normalized in chunks (both depend on the size)
    "o_mean_norm": ("optax", set(), set(), {"mean_normalization"}),
    "o_chunked": ("optax", set(), set(), {"chunked_normalization"}),
    "o_chunked_debias": ("optax", set(), {DEBIAS}, {"chunked_normalization"}),
    # torch-optimizer's keywords
    "t_first_step": ("optax", {"optax", "paper"}, set(), set()),
    "t_inverted": ("torch_optimizer", set(), set(), {"grad_averaging_inverted"}),
    "t_swapped": ("torch_optimizer", set(), set(), {"betas_swapped"}),
    "t_momentum_b2": ("torch_optimizer", set(), set(), {"momentum_wrong_beta"}),
    "t_four": ("torch_optimizer", set(),
               {T_ZERO, ("weight_decay_mode", "decoupled", "inside"), DEBIAS, NESTEROV},
               set()),
    # the first input counted 1 + b1 times, (1 - b1) on the input when averaging
    "t_first_input": ("torch_optimizer", set(), {FIRST_INPUT}, set()),
    # PyTorch tensors, torch-optimizer's keywords
    "torch_decoupled_debias": ("torch_optimizer", set(), {DECOUPLED, DEBIAS}, set()),
    "torch_global": ("torch_optimizer", set(), set(), {"global_normalization"}),
    "torch_zero_adam_always": ("torch_optimizer", set(), {T_ZERO, ALWAYS, ADAM}, set()),
    "torch_five": ("torch_optimizer", set(),
                   {*EPS_INSIDE, T_FIRST, DECOUPLED, DEBIAS, NESTEROV}, set()),
}


def _language(port: str) -> str:
    return "torch_optimizer" if port.startswith("t") else "optax"


def _const_lr_config(preset: str) -> Config:
    """``preset``'s configuration for case ``const_lr``'s hyperparameters."""
    run = next(r for r in case_runs() if r.name == "case const_lr")
    kwargs = preset_kwargs_for(preset, run.hyper)
    assert kwargs is not None
    return presets.from_keywords(preset, run.rate, kwargs).config


def _expected_config(preset: str, diffs: set[tuple[str, Any, Any]]) -> str:
    """The repr of ``preset``'s configuration for case ``const_lr`` with ``diffs``."""
    cfg = _const_lr_config(preset)
    for switch, _port, was in diffs:
        assert getattr(cfg, switch) == was, (switch, getattr(cfg, switch), was)
    return repr(dataclasses.replace(cfg, **{s: value for s, value, _ in diffs}))


@pytest.mark.parametrize("port", sorted(EXPECTED))
def test_an_unseen_port_is_explained_exactly(port: str) -> None:
    if port.startswith("torch_"):
        pytest.importorskip("torch")
    nearest, matches, diffs, codes = EXPECTED[port]
    found = explain(implementation(f"tests.unseen_ports:{port}"), _language(port),
                    in_process=True).to_json()
    assert json.loads(json.dumps(found, allow_nan=False)) == found
    got = {(d["switch"], d["port"], d["preset"]) for d in found["differences"]}
    assert (found["nearest"], set(found["matches"]), got,
            {a["code"] for a in found["anomalies"]}) == (nearest, matches, diffs, codes)
    assert codes <= set(ANOMALIES)
    assert all(claim["evidence"] for claim in [*found["differences"], *found["anomalies"]])
    if matches:
        assert (found["verdict"], found["reproduced_by"]) == ("matches", None)
    elif not codes:
        assert found["verdict"] == "reproduced"
        assert found["reproduced_by"] == _expected_config(nearest, diffs)
    else:
        assert (found["verdict"], found["reproduced_by"]) == ("differs", None)
    inexpressible = sum(r["status"] == "ok" and r["error"] is None for r in found["runs"])
    reproduced = found["reproduced_runs"] + inexpressible == found["total_runs"]
    assert reproduced == ("unexplained" not in codes)


def test_the_first_moment_start_is_read_on_the_betas_probe() -> None:
    """The port whose first moment starts at its first input: the reading of the
    ``betas`` probe names that start alone, and shows where the zero start leaves it."""
    found = explain(implementation("tests.unseen_ports:o_momentum_first_input"), "optax",
                    in_process=True).to_json()
    start = next(p for p in found["probes"] if p["convention"] == "first-moment start")
    assert start["finding"] == "consistent with first_moment_init='first_input'"
    assert start["evidence"][0]["run"] == "probe betas"
    assert start["evidence"][0]["note"] == "ruled out: first_moment_init='zero'"


# ------------------------------------------------------------ the property
#: Switch settings a port may take (each a move; eps placement moves two fields).
SETTINGS: list[dict[str, Any]] = [
    {"second_moment_init": "zero"}, {"second_moment_init": "when_zero"},
    {"second_moment_init": "first_step"}, {"grad_averaging": "always"},
    {"grad_averaging": "after_first_step"}, {"grad_averaging": "off"},
    {"bias_correction": "debias"}, {"bias_correction": "adam"},
    {"weight_decay_mode": "decoupled"}, {"weight_decay_mode": "fixed"},
    {"learning_rate_placement": "inside"}, {"nesterov": True},
    {"eps_placement": "inside"}, {"eps_placement": "outside"},
]


class SwitchedPort:
    """``ngr.novograd`` with a preset's switches (as it sets them for case
    ``const_lr``) and some more, taking optax's keywords (``eps_placement`` puts eps
    inside or outside the root)."""

    name = "switched-port"

    def __init__(self, hyper: dict[str, float], switches: dict[str, Any]) -> None:
        self.hyper, self.switches = dict(hyper), dict(switches)
        eps = self.hyper["eps"] + self.hyper["eps_root"]
        placement = self.switches.pop("eps_placement", None)
        if placement == "inside":
            self.hyper.update(eps=0.0, eps_root=eps)
        elif placement == "outside":
            self.hyper.update(eps=eps, eps_root=0.0)

    def init(self, params: Any, learning_rate: Any) -> Any:
        import numpy as np

        import novograd_ref as ngr

        table = [float(x) for x in np.atleast_1d(learning_rate)]
        rate = (lambda k: table[int(k)]) if isinstance(learning_rate, np.ndarray) else \
            float(learning_rate)
        opt = ngr.novograd(rate, **self.hyper, **self.switches)
        return opt, dict(params), opt.init(dict(params))

    def update(self, grads: Any, state: Any) -> Any:
        import novograd_ref as ngr

        opt, params, opt_state = state
        updates, opt_state = opt.update(dict(grads), opt_state, params)
        params = ngr.apply_updates(params, updates)
        return dict(params), (opt, params, opt_state)


_SWITCH_FIELDS = ("second_moment_init", "grad_averaging", "bias_correction",
                  "weight_decay_mode", "learning_rate_placement", "nesterov",
                  "momentum_input", "norm", "normalization", "second_moment_update",
                  "amsgrad", "state_dtype", "mu_dtype", "hyper_dtype")


def _factory(base: str, moved: dict[str, Any]) -> Any:
    start = _const_lr_config(base)
    switches = {f: getattr(start, f) for f in _SWITCH_FIELDS}
    switches.update(moved)

    def make(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
             weight_decay: float = 0.0) -> SwitchedPort:
        port = SwitchedPort({"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root,
                             "weight_decay": weight_decay}, switches)
        try:  # a combination the configuration refuses is an option the port lacks
            Config(0.01, **port.hyper, **port.switches)
        except ValueError as exc:
            raise Unsupported(str(exc)) from None
        return port

    return make


def _distance(base: str, moved: dict[str, Any]) -> int | None:
    """How many moves the port of ``moved`` is from preset ``base`` on case
    ``const_lr``: the Config fields that differ, eps and eps_root counted once (a
    placement); ``None`` when Config refuses the port's configuration."""
    run = next(r for r in case_runs() if r.name == "case const_lr")
    kwargs = preset_kwargs_for("optax", run.hyper)
    assert kwargs is not None
    try:
        port = _factory(base, moved)(**kwargs)
    except Unsupported:
        return None
    mine = Config(run.rate, **port.hyper, **port.switches)
    theirs = _const_lr_config(base)
    fields = {f.name for f in dataclasses.fields(Config)} - {"learning_rate"}
    changed = {f for f in fields if getattr(mine, f) != getattr(theirs, f)}
    return len(changed - {"eps_root"} if "eps" in changed else changed)


@st.composite
def _configurations(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A preset and one to five settings that each move the port away from it (a
    setting the preset already has is not drawn; the port's eps placement counts when it
    differs from the preset's), the port a configuration Config accepts."""
    const_lr = next(r for r in case_runs() if r.name == "case const_lr")
    base = draw(st.sampled_from(sorted(p for p in presets_with_keywords()
                                       if preset_kwargs_for(p, const_lr.hyper))))
    start = _const_lr_config(base)
    options = [s for s in SETTINGS
               if next(iter(s)) == "eps_placement" or
               getattr(start, next(iter(s))) != next(iter(s.values()))]
    picks = draw(st.lists(st.sampled_from(options), min_size=1, max_size=5,
                          unique_by=lambda s: next(iter(s))))
    moved = {k: v for s in picks for k, v in s.items()}
    distance = _distance(base, moved)
    assume(distance is not None and 1 <= distance <= 5)
    return base, moved


def _explained(base: str, moved: dict[str, Any]) -> dict[str, Any]:
    make = _factory(base, moved)
    port = Implementation(f"switched:{base}+{moved}", lambda kwargs, _dtype: make(**kwargs))
    found: dict[str, Any] = explain(port, "optax", in_process=True).to_json()
    return found


@settings(max_examples=3)
@given(_configurations())
def test_a_random_configuration_gets_only_true_needed_claims(
        drawn: tuple[str, dict[str, Any]]) -> None:
    """One to five switch moves from a random preset: explain reproduces every run it
    can express, with no anomaly, and every difference it claims is a switch the port
    really has, at its value, with the runs that need it (no unnecessary move)."""
    base, moved = drawn
    found = _explained(base, moved)
    truth = {**{f: getattr(_const_lr_config(base), f) for f in _SWITCH_FIELDS}, **moved}
    for d in found["differences"]:
        assert d["evidence"], d
        if d["switch"] in truth:
            assert d["port"] == truth[d["switch"]], (d, truth)
    inexpressible = sum(r["status"] == "ok" and r["error"] is None for r in found["runs"])
    assert found["verdict"] in ("matches", "reproduced"), (base, moved, found["anomalies"])
    assert found["reproduced_runs"] + inexpressible == found["total_runs"]
    assert not found["anomalies"]


@pytest.mark.parametrize(("base", "moved"), [
    ("dle", {"grad_averaging": "always", "nesterov": True}),
    ("optax", {"second_moment_init": "zero", "bias_correction": "debias",
               "weight_decay_mode": "decoupled", "grad_averaging": "always"}),
    # three moves that cancel on the first step (a zero start, Adam's bias correction
    # and (1 - b1) averaging) with a fourth
    ("dle", {"grad_averaging": "always", "nesterov": True, "second_moment_init": "zero",
             "bias_correction": "adam"}),
])
def test_a_configuration_moves_from_a_preset_is_reproduced(
        base: str, moved: dict[str, Any]) -> None:
    """Configurations drawn by the property above, two to four moves from a preset:
    every run reproduced and no anomaly."""
    found = _explained(base, moved)
    assert found["verdict"] in ("matches", "reproduced"), found["anomalies"]
    inexpressible = sum(r["status"] == "ok" and r["error"] is None for r in found["runs"])
    assert found["reproduced_runs"] + inexpressible == found["total_runs"]
