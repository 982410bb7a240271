"""``explain`` on the flawed ports: each porting mistake or variant is named.

Every port is explained from scratch (its runs, the probes, the switch search); the
tests assert the presets it reproduces, the switch differences (Config field names and
values) and the exact set of anomaly codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from novograd_ref import cli
from novograd_ref.conformance import ANOMALIES, explain, implementation, presets_with_keywords

pytestmark = pytest.mark.slow  # child processes, a search per flawed port: the full suite

PYTORCH_FAMILY = {"torch_optimizer", "timm", "nemo", "dle", "monai"}

# (port, keywords it takes, presets it must reproduce, differences, anomaly codes)
EXPECTED_ANSWERS: list[tuple[str, str, set[str], set[tuple[str, Any, Any]], set[str]]] = [
    # NumPy ports, one porting mistake each (tests/flawed_ports.py)
    ("tests.flawed_ports:numpy_optax", "optax", {"optax", "paper"}, set(), set()),
    ("tests.flawed_ports:numpy_torch", "torch_optimizer", PYTORCH_FAMILY, set(), set()),
    ("tests.flawed_ports:eps_inside_sqrt", "optax", set(),
     {("eps", 0.0, 1e-8), ("eps_root", 1e-8, 0.0)}, set()),
    ("tests.flawed_ports:extra_one_minus_b1", "optax", set(),
     {("grad_averaging", "always", "off")}, set()),
    ("tests.flawed_ports:lr_inside_momentum", "optax", {"tfa"}, set(), set()),
    ("tests.flawed_ports:v_from_zero", "optax", set(),
     {("second_moment_init", "zero", "first_step")}, set()),
    # squares summed in float32 under float64 parameters: Apex's kernel arithmetic, whose
    # float32 state puts the comparison at float32 tolerance
    ("tests.flawed_ports:float32_norm", "optax", {"apex"}, set(), set()),
    ("tests.flawed_ports:missing_one_minus_b1", "torch_optimizer", set(), set(),
     {"grad_averaging_inverted"}),
    ("tests.flawed_ports:second_moment_with_b1", "optax", set(), set(),
     {"second_moment_wrong_beta"}),
    ("tests.flawed_ports:swapped_betas", "optax", set(), set(), {"betas_swapped"}),
    ("tests.flawed_ports:no_eps_first_step", "optax", set(), set(),
     {"first_step_without_eps"}),
    ("tests.flawed_ports:global_norm", "optax", set(), set(),
     {"global_normalization"}),
    ("tests.flawed_ports:float32_math", "optax", set(), set(), {"float32_arithmetic"}),
    ("tests.flawed_ports:crashes_on_0d", "optax", {"optax", "paper"}, set(), {"crash"}),
    ("tests.flawed_ports:weight_decay_sign_flipped", "torch_optimizer", set(), set(),
     {"weight_decay_sign"}),
    ("tests.flawed_ports:b1_in_second_moment_no_first_update_decay_flipped",
     "torch_optimizer", set(), set(),
     {"second_moment_wrong_beta", "no_first_step_update", "weight_decay_sign"}),
    # published variants behind another setting's keywords
    ("tests.flawed_ports:apex_raw_momentum", "apex", set(),
     {("momentum_input", "raw", "normalized"), ("weight_decay_mode", "apex", "inside")},
     set()),
    ("tests.flawed_ports:apex_bias_correction", "apex", set(),
     {("bias_correction", "apex", "none")}, set()),
    ("tests.flawed_ports:nemo_with_luc", "nemo", set(), {("update_clipping", "luc", "none")},
     set()),
    ("tests.flawed_ports:tfa_float32_hyper", "tfa", set(), {("hyper_dtype", "float32", None)},
     set()),
    ("tests.flawed_ports:pytorch_optimizer_debias", "pytorch_optimizer", set(),
     {("bias_correction", "debias", "none")}, set()),
    ("tests.flawed_ports:timm_with_optax_keywords", "optax", PYTORCH_FAMILY, set(), set()),
    # the reference with several switches set
    ("tests.flawed_ports:zero_debias_late_averaging", "optax", set(),
     {("second_moment_init", "zero", "first_step"), ("bias_correction", "debias", "none"),
      ("grad_averaging", "after_first_step", "off")}, set()),
    ("tests.flawed_ports:when_zero_always_averaging", "optax", set(),
     {("second_moment_init", "when_zero", "first_step"),
      ("grad_averaging", "always", "off")}, set()),
    # PyTorch ports
    ("tests.flawed_ports:torch_faithful", "torch_optimizer", PYTORCH_FAMILY, set(), set()),
    ("tests.flawed_ports:torch_v_from_zero", "torch_optimizer", set(),
     {("second_moment_init", "zero", "when_zero")}, set()),
    ("tests.flawed_ports:torch_v_per_element", "torch_optimizer", set(), set(),
     {"elementwise_normalization"}),
    ("tests.flawed_ports:torch_no_first_step_update", "torch_optimizer", set(), set(),
     {"no_first_step_update"}),
    ("tests.flawed_ports:torch_float32_state", "torch_optimizer", set(),
     {("state_dtype", "float32", None)}, set()),
    ("tests.flawed_ports:torch_adam_bias_correction", "torch_optimizer", set(),
     {("bias_correction", "adam", "none")}, set()),
]


def _needs_torch(spec: str) -> None:
    if ":torch_" in spec:
        pytest.importorskip("torch")


@pytest.mark.parametrize(("spec", "language", "matches", "diffs", "codes"),
                         EXPECTED_ANSWERS, ids=[g[0].split(":")[1] for g in EXPECTED_ANSWERS])
def test_each_port_is_explained(spec: str, language: str, matches: set[str],
                                diffs: set[tuple[str, Any, Any]], codes: set[str]) -> None:
    _needs_torch(spec)
    found = explain(implementation(spec), language).to_json()
    assert json.loads(json.dumps(found, allow_nan=False)) == found
    assert matches <= set(found["matches"])
    assert (bool(matches) == bool(found["matches"]))
    got = {(d["switch"], d["port"], d["preset"]) for d in found["differences"]}
    assert got == diffs, found["differences"]
    assert {a["code"] for a in found["anomalies"]} == codes, found["anomalies"]
    assert codes <= set(ANOMALIES)
    assert all(d["evidence"] for d in found["differences"]), found["differences"]
    if diffs and not codes:  # inside the switch space: an exact configuration
        assert found["verdict"] == "reproduced"
        assert found["call"].startswith("ngr.novograd(")
        assert found["nearest"] == language
    elif codes - {"crash"}:
        assert found["verdict"] == "differs"
        assert found["reproduced_by"] is None
        assert all(a["evidence"] for a in found["anomalies"])
    else:
        assert found["verdict"] == "matches"


def test_the_call_printed_reproduces_the_port() -> None:
    """The ``ngr.novograd(...)`` line, evaluated, rebuilds the configuration."""
    import novograd_ref as ngr

    found = explain(implementation("tests.flawed_ports:v_from_zero"), "optax")
    assert found.call is not None
    assert found.reproduced_by is not None
    rebuilt = eval(found.call, {"ngr": ngr})  # our own printed line
    assert repr(rebuilt.config) == found.reproduced_by


def test_crash_keeps_explaining_from_the_other_runs() -> None:
    found = explain(implementation("tests.flawed_ports:crashes_on_0d"), "optax")
    crash = next(a for a in found.anomalies if a["code"] == "crash")
    assert "0-d" in crash["message"]
    assert "len() of unsized object" in crash["message"]
    crashed = {e["run"] for e in found.errors}
    assert "case tree_mixed" in crashed
    assert "case const_lr" not in crashed
    assert all(r["status"] == "crash" for r in found.runs if r["run"] in crashed)
    assert any(r["passed"] for r in found.runs)


def test_evidence_names_probe_step_and_leaf() -> None:
    found = explain(implementation("tests.flawed_ports:second_moment_with_b1"), "optax")
    beta = next(a for a in found.anomalies if a["code"] == "second_moment_wrong_beta")
    item = beta["evidence"][0]
    assert item["run"] == "probe betas"
    assert item["step"] >= 1
    assert item["leaf"]
    assert item["expected"] != item["measured"]
    probes = {p["convention"]: p for p in found.probes}
    assert probes["normalization scope"]["finding"].startswith("per layer")
    assert "first_divergence" in found.to_json()


@pytest.mark.parametrize("preset", presets_with_keywords())
def test_every_preset_explained_as_itself_in_one_line(preset: str) -> None:
    found = explain(implementation(f"preset:{preset}"), preset)
    assert preset in found.matches
    assert not found.anomalies
    assert len(found.summary().splitlines()) == 1
    assert found.seconds < 30


def test_cli_explain_writes_json_and_exits_by_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.json"
    assert cli.main(["explain", "--impl", "tests.flawed_ports:global_norm", "--preset", "optax",
                     "--json", str(out)]) == 1
    text = capsys.readouterr()
    summary = text.out.split("\n\n")[0].splitlines()
    assert len(summary) <= 25
    assert any("global_normalization" in line for line in summary)
    assert "explain:" in text.err  # progress on stderr
    data = json.loads(out.read_text())
    for key in ("matches", "reproduced_by", "nearest", "differences", "anomalies", "probes",
                "errors"):
        assert key in data
    assert data["schema"] == "novograd-ref/explain/1"
    assert cli.main(["explain", "--impl", "tests.flawed_ports:numpy_optax"]) == 0
    assert cli.main(["explain", "--impl", "tests.flawed_ports:numpy_optax", "--json",
                     str(tmp_path / "missing" / "e.json")]) == 2


def test_too_few_runs_conclude_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """A port that refuses every keyword set, or fails on nearly every run, is not said
    to reproduce anything; the command says why and exits 4 when nothing ran, 3 when
    the port failed (an error of the implementation, as in verify)."""
    refused = explain(implementation("tests.flawed_ports:factory_unsupported"), "optax")
    assert refused.verdict == "not_run"
    assert not refused.matches
    assert not refused.anomalies
    assert "not implemented yet" in refused.summary()
    for spec in ("tests.flawed_ports:factory_raises_value", "tests.flawed_ports:update_raises"):
        crashing = explain(implementation(spec), "optax")
        assert crashing.verdict == "not_run"
        assert not crashing.matches
        assert [a["code"] for a in crashing.anomalies] == ["crash"]
    assert "not implemented yet" in explain("tests.flawed_ports:factory_raises_value",
                                            "optax").anomalies[0]["message"]
    assert cli.main(["explain", "--impl", "tests.flawed_ports:update_raises"]) == 3
    assert "too few to explain" in capsys.readouterr().out
    assert cli.main(["explain", "--impl", "tests.flawed_ports:factory_unsupported"]) == 4


@pytest.mark.parametrize(("mode", "extra", "cause"), [
    ("os_exit", [], "exit"), ("segfault", [], "signal"), ("sleep", ["--timeout", "2"],
                                                           "timeout")])
def test_a_port_dying_on_one_run_is_a_crash_and_explain_goes_on(
        mode: str, extra: list[str], cause: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The port runs in a child process: ``os._exit``, a segmentation fault or a hang
    on the one standard case with a leaf named ``late`` ends that run only; the crash
    anomaly names it and the faithful rest of the port is still recognized."""
    out = tmp_path / "e.json"
    status = cli.main(["explain", "--impl", f"tests.flawed_ports:one_case_{mode}", "--preset",
                       "optax", "--json", str(out), *extra])
    text = capsys.readouterr().out
    found = json.loads(out.read_text())
    assert status == 0
    assert {"optax", "paper"} <= set(found["matches"])
    assert [a["code"] for a in found["anomalies"]] == ["crash"]
    assert [(e["run"], e["cause"]) for e in found["errors"]] == [
        ("case zero_first_grads", cause)]
    assert found["errors"][0]["where"] == "step 2, in update()"
    assert "[crash] the port failed on 1 of" in text
    assert "case zero_first_grads" in found["anomalies"][0]["message"]


def test_explain_in_process_runs_the_port_here(capsys: pytest.CaptureFixture[str]) -> None:
    """``--in-process`` has no child: the same answer, and no time limit to set."""
    assert cli.main(["explain", "--impl", "tests.flawed_ports:numpy_optax", "--in-process"]) == 0
    assert "reproduces optax, paper" in capsys.readouterr().out
    assert cli.main(["explain", "--impl", "tests.flawed_ports:numpy_optax", "--in-process",
                     "--timeout", "5"]) == 2


def test_a_factory_declares_its_oracle_keywords() -> None:
    """A float32 second moment fails float64 verification unless the factory declares
    ``state_dtype='float32'`` (the keyword explain names for it)."""
    pytest.importorskip("torch")
    from novograd_ref.conformance import verify_implementation

    plain = verify_implementation(implementation("tests.flawed_ports:torch_float32_state"),
                                  "torch_optimizer", ["float64"])
    declared = verify_implementation(
        implementation("tests.flawed_ports:torch_float32_state_declared"), "torch_optimizer",
        ["float64"])
    assert not plain.passed
    assert declared.passed


def test_declared_oracle_keywords_are_checked() -> None:
    from novograd_ref.conformance import ImplementationError
    from novograd_ref.conformance.adapters._loader import declared_oracle_kwargs

    def make(**kwargs: Any) -> None: ...

    make.oracle_kwargs = ["state_dtype"]  # type: ignore[attr-defined]
    with pytest.raises(ImplementationError, match="oracle_kwargs must be a dict"):
        declared_oracle_kwargs("port:make", make)
    make.oracle_kwargs = lambda kwargs, dtype: {"state_dtype": "float32"} if (  # type: ignore[attr-defined]
        dtype == "float64") else {}
    assert declared_oracle_kwargs("port:make", make)({}, "float64") == {"state_dtype": "float32"}
    assert declared_oracle_kwargs("port:make", make)({}, "float32") == {}


def test_the_json_schema_and_codes_are_documented() -> None:
    """Every top-level key of the JSON and every anomaly code is in docs/explain.md."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "explain.md").read_text()
    found = explain(implementation("preset:optax"), "optax").to_json()
    for key in found:
        assert f'"{key}"' in doc, key
    for code in ANOMALIES:
        assert f"`{code}`" in doc, code


def test_the_anomaly_list_of_the_docs_is_the_table() -> None:
    """docs/explain.md lists every anomaly exactly as the one table in the code words
    it (code, plain words, example, what detects it)."""
    from novograd_ref.conformance.diagnosis._explanation import anomaly_reference

    doc = (Path(__file__).resolve().parents[1] / "docs" / "explain.md").read_text()
    listed = doc.split("<!-- anomaly table: begin -->\n")[1].split(
        "<!-- anomaly table: end -->")[0]
    assert listed == anomaly_reference()
    for code, anomaly in ANOMALIES.items():
        assert f"`{code}`\n: {anomaly.words}." in listed
        assert anomaly.probe
        assert anomaly.example


@pytest.mark.parametrize(("spec", "language", "variant"), [
    ("tests.flawed_ports:torch_float32_state", "torch_optimizer",
     "torch_optimizer with state_dtype='float32'"),
    ("tests.flawed_ports:float32_math", "optax", "optax computed in float32"),
])
def test_float32_variants_are_found(spec: str, language: str, variant: str) -> None:
    """What identify adds: a preset reproduced with a float32 second moment, or with
    float32 arithmetic, under float64 parameters."""
    from novograd_ref.conformance import preset_kwargs_for
    from novograd_ref.conformance.diagnosis._experiments import case_runs, observe
    from novograd_ref.conformance.diagnosis._search import float32_variants
    from novograd_ref.conformance.isolation._runner import open_runner

    _needs_torch(spec)

    def observed(spec: str, language: str) -> list[Any]:
        with open_runner(spec, in_process=True) as runner:
            return [observe(runner, kwargs, run) for run in case_runs()
                    if (kwargs := preset_kwargs_for(language, run.hyper)) is not None]

    assert variant in float32_variants(observed(spec, language), language)
    assert not float32_variants(observed("tests.flawed_ports:numpy_optax", "optax"), "optax")


def test_jobs_run_the_port_in_parallel_children_with_the_same_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--jobs 2`` spreads the runs over two child processes: the same explanation as
    one child, run for run; ``--jobs 0`` is a usage error."""
    answers = []
    for jobs in ("1", "2"):
        out = tmp_path / f"e{jobs}.json"
        assert cli.main(["explain", "--impl", "tests.flawed_ports:second_moment_with_b1",
                         "--preset", "optax", "--jobs", jobs, "--json", str(out)]) == 1
        answers.append({k: v for k, v in json.loads(out.read_text()).items()
                        if k != "seconds"})
    assert answers[0] == answers[1]
    assert "2 at a time" in capsys.readouterr().err
    assert cli.main(["explain", "--impl", "tests.flawed_ports:second_moment_with_b1",
                     "--jobs", "0"]) == 2
    with pytest.raises(ValueError, match="jobs must be"):
        explain("tests.flawed_ports:second_moment_with_b1", "optax", jobs=0)
