"""What ``verify`` and ``identify`` say about a port that is off: where it starts to go
wrong apart from where it is most wrong, the smallest failing input with the differing
elements marked, ulps only where they mean something, and float32 variants named."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from novograd_ref import cli
from novograd_ref.conformance import compare, implementation, verify_implementation


def _verify(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str
            ) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    status = cli.main(["verify", *argv, "--report", str(report)])
    return status, capsys.readouterr().out, json.loads(report.read_text())


def test_first_divergence_and_peak_are_reported_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second moment started at zero makes the first step 7.07 times too large: the
    divergence starts at step 1, the error peaks at step 10."""
    status, out, data = _verify(capsys, tmp_path, "--impl", "tests.flawed_ports:v_from_zero",
                                "--preset", "optax", "--dtype", "float64")
    assert status == 1
    row = next(c for c in data["comparisons"] if c["case"] == "const_lr")
    assert (row["divergence"]["step"], row["divergence"]["leaf"],
            row["divergence"]["element"]) == (1, "bias", [0])
    assert (row["step"], row["leaf"]) == (10, "bias")
    assert row["error"] == pytest.approx(2.48, abs=0.01)
    assert data["first_divergence"]["step"] == 1
    assert data["peak"]["step"] > 1
    assert ("first divergence: tests.flawed_ports:v_from_zero / const_lr / float64, step 1, "
            "leaf 'bias', element [0]: expected") in out
    assert "peak: tests.flawed_ports:v_from_zero / warmup_decay / float64, step 14" in out
    table = out.split("\n\n")[0]
    assert "step 1, leaf bias[0]" in table  # the first divergence column
    assert "step 10, bias" in table  # the peak column


def test_ulps_are_shown_only_where_they_mean_something(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No ulps next to a gross mismatch (table and JSON)."""
    status, out, data = _verify(capsys, tmp_path, "--impl", "tests.flawed_ports:v_from_zero",
                                "--preset", "optax", "--dtype", "float64")
    assert status == 1
    failing = [c for c in data["comparisons"] if c["status"] == "mismatch"]
    assert failing
    assert all(c["ulps"] is None and not c["nonfinite"] for c in failing)
    assert "e+16" not in out
    assert "e+17" not in out
    passing = [c for c in data["comparisons"] if c["status"] == "pass"]
    assert all(isinstance(c["ulps"], (int, float)) for c in passing)


def test_ulps_count_in_float32_for_a_float32_second_moment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A port declaring ``state_dtype='float32'`` under float64 parameters passes at
    the float32 tolerance, its differences counted in float32 ulps (a few), not in
    float64 ones (billions)."""
    pytest.importorskip("torch")
    status, _out, data = _verify(capsys, tmp_path, "--impl",
                                 "tests.flawed_ports:torch_float32_state_declared", "--preset",
                                 "torch_optimizer", "--dtype", "float64")
    assert status == 0
    ran = [c for c in data["comparisons"] if c["status"] == "pass"]
    assert ran
    assert max(c["ulps"] for c in ran) < 1e3
    assert max(c["error"] for c in ran) > 1e-12  # float32 differences are there


def test_the_reproducer_is_the_smallest_failing_input_marked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per-element normalization: the shrunk generated case is printed, not a standard
    one, and it keeps a leaf of several elements (with one-element leaves per-element
    and per-layer normalization coincide); the differing elements are marked and the
    reproducer prints the same excerpt."""
    pytest.importorskip("torch")
    status, out, data = _verify(capsys, tmp_path, "--impl",
                                "tests.flawed_ports:torch_v_per_element", "--preset",
                                "torch_optimizer", "--dtype", "float64", "--examples", "25")
    assert status == 1
    generated = next(c for c in data["comparisons"] if c["case"] == "generated")
    assert generated["status"] == "mismatch"
    assert not generated["one_element_layers"]
    standard = [c["input_size"] for c in data["comparisons"]
                if c["status"] == "mismatch" and c["case"] != "generated"]
    assert generated["input_size"] < min(standard)
    assert data["smallest_failure"] == generated["label"]
    section = out.split("smallest failing input: ", 1)[1]
    assert section.startswith(generated["label"])
    marked = [line for line in section.splitlines() if line.startswith("  [") and " * " in line]
    assert marked
    snippet = section.split("prints the same excerpt):\n\n", 1)[1].split("\n\nverdict:")[0]
    assert "full=False" in snippet
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "<reproducer>", "exec"), {})  # noqa: S102 (our own snippet)
    assert " * expected" in printed.getvalue()
    assert len(out.splitlines()) < 80
    assert max(len(line) for line in section.splitlines()) < 400


def test_one_element_failures_are_set_aside_for_wider_ones() -> None:
    """The generated search keeps looking when every leaf of a failing input has one
    element, and shrinks a wider one."""
    from novograd_ref.conformance import generated_check

    found = generated_check("tests.flawed_ports:v_from_zero", "optax", "float64", 20)
    assert found.status == "mismatch"
    assert not found.one_element_layers
    assert found.divergence is not None


def test_full_prints_every_element_of_the_differing_leaf() -> None:
    """Compact by default: the differing element and its neighbours; ``full``: all."""
    want = {"w": np.zeros((3, 40))}
    want["w"][1:] = 1.0
    got = {"w": want["w"].copy()}
    got["w"][2, 17] = 1.5
    compact = compare("x", "x", "float64", got, want, 1e-12)
    full = compare("x", "x", "float64", got, want, 1e-12, full=True)
    assert compact.divergence is not None
    assert (compact.divergence.step, compact.divergence.element) == (2, (17,))
    assert len(compact.excerpt.splitlines()) < 10
    assert len(full.excerpt.splitlines()) == 41


def test_the_other_leaves_differing_at_that_step_are_named_or_shown() -> None:
    """The excerpt shows the first differing leaf, then names the others that differ at
    the same step (with their counts); ``full`` shows each of them."""
    want = {"a": np.zeros((3, 4)), "b": np.zeros((3, 20)), "c": np.zeros((3, 2))}
    for leaf in want.values():
        leaf[1:] = 1.0
    got = {name: leaf.copy() for name, leaf in want.items()}
    got["a"][2, 1] = 1.5
    got["b"][2, [3, 11, 12]] = 0.5
    got["c"][1, 0] = 2.0  # differs at step 1 only: not at the step shown
    got["c"][2, 0] = 1.0
    compact = compare("x", "x", "float64", got, want, 1e-12)
    assert compact.divergence is not None
    assert (compact.divergence.step, compact.divergence.leaf) == (1, "c")
    got["c"][1, 0] = 1.0
    compact = compare("x", "x", "float64", got, want, 1e-12)
    full = compare("x", "x", "float64", got, want, 1e-12, full=True)
    assert compact.divergence is not None
    assert (compact.divergence.step, compact.divergence.leaf) == (2, "a")
    assert compact.excerpt.splitlines()[-1] == \
        "also differing at step 2: leaf b (3 of 20 elements)"
    assert "leaf c" not in compact.excerpt
    headers = [line for line in full.excerpt.splitlines() if line.startswith("step 2")]
    assert headers == ["step 2, leaf a (shape (4,)), elements marked * differ:",
                       "step 2, leaf b (shape (20,)), elements marked * differ:"]
    assert len(full.excerpt.splitlines()) == 2 + 4 + 20


def test_full_flag_reaches_the_reproducer(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _data = _verify(capsys, tmp_path, "--impl", "tests.flawed_ports:v_from_zero",
                                 "--preset", "optax", "--dtype", "float64", "--full")
    assert status == 1
    assert "full=True" in out
    assert cli.main(["verify", "--full"]) == 2  # it concerns a live implementation
    assert "--full needs --impl" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["verify", "--help"])
    assert "--full" in capsys.readouterr().out


@pytest.mark.parametrize(("spec", "language", "variant"), [
    ("tests.flawed_ports:float32_math", "optax", "optax computed in float32"),
    ("tests.flawed_ports:torch_float32_state", "torch_optimizer",
     "torch_optimizer with state_dtype='float32'"),
])
def test_identify_names_a_float32_variant(spec: str, language: str, variant: str,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    if "torch" in spec:
        pytest.importorskip("torch")
    out_json = tmp_path / "id.json"
    status = cli.main(["identify", "--impl", spec, "--preset", language, "--json",
                       str(out_json)])
    out = capsys.readouterr().out
    assert status == 0
    line = next(x for x in out.splitlines() if x.startswith("in a float32 variant, it "
                                                            "reproduces: "))
    assert variant in line.split(": ", 1)[1].split(", ")
    data = json.loads(out_json.read_text())
    assert language not in data["matches"]
    assert variant in data["variants"]
    mine = next(p for p in data["presets"] if p["preset"] == language)
    assert mine["failed"]
    assert mine["first_divergence"]["step"] >= 1
    assert f"  {language} (" in out
    assert "first divergence: case" in out


def test_identify_lines_per_preset_and_the_verify_report_variants() -> None:
    from novograd_ref.conformance import identify

    found = identify(implementation("tests.flawed_ports:v_from_zero"), "optax", in_process=True)
    assert list(found) == []
    lines = {s.preset: s.line() for s in found.standings}
    assert "first divergence: case" in lines["optax"]
    assert "peak: case" in lines["optax"]
    report = verify_implementation("tests.flawed_ports:float32_math", "optax", ["float64"],
                                   identify=True, in_process=True)
    assert "optax computed in float32" in report.variants
    assert "optax computed in float32" in report.to_json()["variants"]
