"""``explain`` claims only what some run needs, and each claim carries its evidence.

The port's observations are taken in this process (no child) once per port; the
search's pruning, its float32 rule and the evidence attached to each claim are checked
on them."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from novograd_ref.conformance import explain, implementation
from novograd_ref.conformance.diagnosis._experiments import Observation, case_runs, observe
from novograd_ref.conformance.diagnosis._explain_port import _expressed
from novograd_ref.conformance.diagnosis._explanation import INEXPRESSIBLE
from novograd_ref.conformance.diagnosis._probes import probe_runs, read_probes
from novograd_ref.conformance.diagnosis._search import Candidate, Search, moves
from novograd_ref.conformance.isolation._runner import open_runner


@cache
def _observed(spec: str, language: str) -> tuple[Observation, ...]:
    runs = [*case_runs(), *probe_runs()]
    out = []
    with open_runner(spec, in_process=True) as runner:
        for run in runs:
            run, kwargs = _expressed(language, run)
            out.append(Observation(run, skipped=INEXPRESSIBLE) if kwargs is None
                       else observe(runner, kwargs, run))
    return tuple(out)


def _search(spec: str, language: str) -> Search:
    observed = _observed(spec, language)
    _findings, quirks = read_probes({o.run.name: o for o in observed})
    return Search(observed, quirks, language)


def _move(name: str) -> Any:
    return next(m for m in moves() if m.name == name)


@pytest.mark.parametrize("name", ["second_moment_update='lerp'",
                                  "normalization='reciprocal'"])
def test_a_move_no_run_needs_is_pruned(name: str) -> None:
    """lerp against the blend, 1/den against a division: within the tolerance on every
    run of a faithful port, so the pruning pass drops them."""
    search = _search("tests.flawed_ports:numpy_optax", "optax")
    padded = search.evaluate(Candidate("optax", (_move(name),)))
    assert padded is not None
    assert not padded.failed
    assert search.prune(padded).candidate == Candidate("optax")


def test_a_needed_move_is_kept_with_the_runs_that_need_it() -> None:
    search = _search("tests.flawed_ports:v_from_zero", "optax")
    zero = _move("second_moment_init='zero'")
    lerp = _move("second_moment_update='lerp'")
    outcome = search.evaluate(Candidate("optax", (zero, lerp)))
    assert outcome is not None
    assert not outcome.failed
    assert search.prune(outcome).candidate == Candidate("optax", (zero,))
    needed = search.needed_by(outcome, zero)
    assert "probe zero_first_gradient" not in outcome.failed
    assert len(needed) >= 10
    assert not search.needed_by(outcome, lerp)


@pytest.mark.parametrize("name", ["state_dtype='float32'", "mu_dtype='float32'"])
def test_float32_moments_are_not_claimed_for_a_float64_port(name: str) -> None:
    """Held to the float64 tolerance without evidence: a float32 moment does not pass
    a float64 port's runs merely by loosening the comparison."""
    search = _search("tests.flawed_ports:numpy_optax", "optax")
    narrow = search.evaluate(Candidate("optax", (_move(name),)))
    assert narrow is not None
    assert len(narrow.failed) > len(narrow.configs) // 2
    assert not any(search.rounds_to_float32(c) for c in narrow.configs.values())


@pytest.mark.parametrize(("spec", "language", "cand"), [
    ("tests.flawed_ports:float32_norm", "optax", Candidate("apex")),
    ("tests.flawed_ports:float32_norm", "optax", Candidate("optax", (_move(
        "state_dtype='float32'"),))),
])
def test_float32_moments_are_claimed_on_evidence(spec: str, language: str,
                                                 cand: Candidate) -> None:
    """A port that rounds its second moment to float32: some run fails the float64
    moment and passes the float32 one, both judged at float32's tolerance."""
    search = _search(spec, language)
    outcome = search.evaluate(cand)
    assert outcome is not None
    assert not outcome.failed
    assert all(search.rounds_to_float32(c) for c in outcome.configs.values())
    wide = search.evaluate(Candidate("optax"))
    assert wide is not None
    assert wide.failed


def test_the_torch_float32_state_is_claimed_on_evidence() -> None:
    pytest.importorskip("torch")
    search = _search("tests.flawed_ports:torch_float32_state", "torch_optimizer")
    outcome = search.evaluate(Candidate("torch_optimizer", (_move("state_dtype='float32'"),)))
    assert outcome is not None
    assert not outcome.failed


@pytest.mark.parametrize(("spec", "language"), [
    ("tests.flawed_ports:zero_debias_late_averaging", "optax"),
    ("tests.flawed_ports:b1_in_second_moment_no_first_update_decay_flipped", "torch_optimizer"),
    ("tests.flawed_ports:eps_inside_sqrt", "optax"),
])
def test_every_claim_carries_its_evidence(spec: str, language: str) -> None:
    """Each difference and anomaly names the runs or probes that show it; a difference's
    evidence is a run that fails without it."""
    found = explain(implementation(spec), language, in_process=True).to_json()
    assert found["differences"] or found["anomalies"]
    for claim in [*found["differences"], *found["anomalies"]]:
        assert claim["evidence"], claim
        assert all(e["run"] for e in claim["evidence"])
    runs = {r["run"]: r for r in found["runs"]}
    for diff in found["differences"]:
        first = diff["evidence"][0]
        assert runs[first["run"]]["passed"], first  # passes with it
        assert first["step"] is not None  # and leaves the answer without it there


def test_scaling_laws_are_printed_beside_novograds() -> None:
    """A faithful port: each measured exponent equals NovoGrad's, the first step is the
    preset's; a port applying the rate twice shows exponent 2 against 1."""
    found = explain(implementation("tests.flawed_ports:numpy_optax"), "optax", in_process=True)
    laws = {p["convention"]: p["finding"] for p in found.to_json()["probes"]}
    assert laws["step against the learning rate"].endswith(
        "power layer a 1, layer b 1 (NovoGrad: 1)")
    assert laws["step against the layer's size"].endswith(
        "power layer a -0.5, layer b -0.5 (NovoGrad: -0.5)")
    assert "(NovoGrad: 0)" in laws["step against the layer's gradient"]
    assert "(NovoGrad: 0)" in laws["step against the parameters"]
    assert "(ratios 1, 1; per layer: 1)" in laws["normalization scope"]
    assert laws["chunks of a layer"].endswith("one norm for the whole layer")
    for p in found.to_json()["probes"]:  # every layer read, expected beside measured
        if p["convention"].startswith("step against the") and "preset" not in \
                p["convention"]:
            assert [e["leaf"] for e in p["evidence"]] == ["a", "b"], p
            assert all("exponent" in e["expected"] and "exponent" in e["measured"]
                       for e in p["evidence"]), p
    assert "step against the layer's size: the step scales as the layer's size to the " \
           "power layer a -0.5, layer b -0.5 (NovoGrad: -0.5)" in found.details()
    assert laws["first step against the nearest preset"].startswith("the first step is 1 ")
    twice = explain(implementation("tests.unseen_ports:o_lr_twice"), "optax",
                    in_process=True)
    rate = next(p for p in twice.probes if p["convention"] == "step against the learning rate")
    assert rate["anomaly"] == "learning_rate_squared"
    assert "exponent 2" in rate["evidence"][0]["measured"]
    assert "the step is quadratic in the learning rate" in twice.summary()


def test_the_cli_prints_every_difference_with_its_runs(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A reproduced port: exit 0, and below the summary each run that needs the
    difference, with its error without it."""
    from novograd_ref import cli

    assert cli.main(["explain", "--impl", "tests.unseen_ports:o_nesterov",
                     "--in-process"]) == 0
    out = capsys.readouterr().out
    assert "it is optax with nesterov=True" in out
    assert "nesterov: probe normalization, expected within the tolerance (without this, " \
           "from optax), measured" in out


@pytest.mark.slow
def test_a_chunked_layer_is_told_from_a_mean_of_squares() -> None:
    """Both make the step depend on the layer's size. A layer normalized in chunks: on
    the long layer the step per unit gradient jumps every 16 elements, and scaling the
    first half's gradient leaves the last quarter's step as it was; the probes alone
    name it, with the chunk size. A mean of squares: each layer's size exponent is 0
    (NovoGrad: -0.5) and the halves are coupled as NovoGrad's."""
    chunked = explain(implementation("tests.unseen_ports:o_chunked"), "optax",
                      in_process=True).to_json()
    chunks = next(p for p in chunked["probes"] if p["convention"] == "chunks of a layer")
    assert chunks["anomaly"] == "chunked_normalization"
    assert "chunks of 16 elements" in chunks["finding"]
    half = chunks["evidence"][-1]
    assert half["run"] == "probe normalization_long_half"
    assert half["measured"] == "1 times the step"
    assert [a["code"] for a in chunked["anomalies"]] == ["chunked_normalization"]
    mean = explain(implementation("tests.unseen_ports:o_mean_norm"), "optax",
                   in_process=True).to_json()
    laws = {p["convention"]: p for p in mean["probes"]}
    assert laws["step against the layer's size"]["finding"].endswith(
        "power layer a 0, layer b 0 (NovoGrad: -0.5)")
    assert not laws["chunks of a layer"]["anomaly"]
    anomaly = next(a for a in mean["anomalies"] if a["code"] == "mean_normalization")
    shown = {e["run"] for e in anomaly["evidence"]}
    assert {"probe normalization_wide", "probe normalization_wide_b",
            "probe normalization_long_half"} <= shown


@pytest.mark.slow
def test_a_constant_second_moment_start_is_read_off_the_first_step() -> None:
    """``v_0 = 0.01``, then blended: the first step is smaller than a zero start's and
    larger than a first-step start's; the constant is named with that evidence, and the
    port's decoupled weight decay is still found."""
    found = explain(implementation("tests.unseen_ports:o_v_constant_decoupled"), "optax",
                    in_process=True).to_json()
    anomaly = next(a for a in found["anomalies"]
                   if a["code"] == "second_moment_constant_start")
    assert "starts at 0.01," in anomaly["message"]
    first = anomaly["evidence"][0]
    assert (first["run"], first["step"]) == ("probe normalization", 1)
    zero, start = (float(x.split()[0]) for x in first["expected"].split(", "))
    assert start < float(first["measured"]) < zero
    assert [d["switch"] for d in found["differences"]] == ["weight_decay_mode"]
    assert found["reproduced_runs"] == found["total_runs"]
