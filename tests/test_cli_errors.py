"""What ``novograd-ref verify --impl`` says when the implementation, not its numbers,
is at fault: nothing checked, modified inputs, exceptions, malformed outputs, bad
options and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from novograd_ref import cli
from novograd_ref.conformance import implementation, verify_implementation

ONE_CASE = ["--preset", "optax", "--dtype", "float64"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_nothing_checked_is_not_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", "tests.flawed_ports:factory_unsupported", *ONE_CASE],
                         capsys)
    assert status == 4
    assert "nothing was checked" in out
    assert "0 passed" in out
    assert "verdict: nothing_checked" in out


def test_skip_reasons_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    _status, out, _ = run(["verify", "--impl", "tests.flawed_ports:factory_unsupported", *ONE_CASE],
                         capsys)
    assert "skipped 16: Unsupported: not implemented yet" in out


def test_generated_row_is_not_a_pass_when_no_example_ran(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["verify", "--impl", "tests.flawed_ports:factory_unsupported",
                          *ONE_CASE, "--examples", "3"], capsys)
    assert status == 4
    generated = [line for line in out.splitlines() if line.startswith("generated")]
    assert generated
    assert "skip" in generated[0]
    assert "pass" not in generated[0]
    assert "none of 3 generated examples ran" in out


def test_factory_returning_no_adapter_is_an_implementation_failure(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["verify", "--impl", "tests.flawed_ports:factory_returns_none",
                          *ONE_CASE], capsys)
    assert status == 3
    assert "returned NoneType" in err


def test_modified_grads_are_reported_not_blamed_as_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["verify", "--impl", "tests.flawed_ports:zeroes_grads", *ONE_CASE],
                           capsys)
    assert status == 3
    assert "the implementation modified grads['" in err
    assert "passed to update(); the adapter protocol forbids this" in err
    assert "first mismatch" not in out


def test_0d_gradients_are_handed_over_as_ndarrays() -> None:
    report = verify_implementation(implementation("tests.flawed_ports:requires_array_grads"),
                                   "optax", ["float64"])
    assert report.passed


@pytest.mark.parametrize(("spec", "where", "trace"), [
    ("init_raises", "in init()", "KeyError: 'no such slot'"),
    ("update_raises", "step 3, in update()", "RuntimeError: update exploded"),
    ("factory_raises_key", "in factory", "KeyError: 'b1'"),
    ("factory_raises_value", "in factory", "ValueError: not implemented yet"),
])
def test_exceptions_of_the_implementation_are_reported_with_traceback(
        spec: str, where: str, trace: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["verify", "--impl", f"tests.flawed_ports:{spec}", *ONE_CASE], capsys)
    assert status == 3
    assert "the implementation failed (case " in err
    assert "float64" in err
    assert where in err
    assert "traceback of the implementation" in err
    assert trace in err
    assert "tests/flawed_ports.py" in err


def test_a_failure_repeated_on_every_case_is_printed_once_with_its_count(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A factory that refuses the preset's keywords fails every case the same way: one
    message and one traceback, then the count of the cases that failed alike."""
    status, _, err = run(["verify", "--impl", "tests.flawed_ports:factory_raises_key"], capsys)
    assert status == 3
    assert err.count("the implementation failed (case ") == 1
    assert err.count("traceback of the implementation") == 1
    assert "the same failure in " in err
    count = int(err.split("the same failure in ")[1].split()[0])
    assert count >= 10  # every standard case of the preset, in both dtypes


def test_exit_statuses_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out
    assert "3  the implementation raised, exited, crashed" in out
    assert "5  an internal error of novograd-ref" in out


@pytest.mark.parametrize(("spec", "message"), [
    ("returns_wrong_shape", "update() returned params['vec'] with shape (1,), expected (7,)"),
    ("returns_float16",
     "update() returned params['bias'] with dtype float16, expected float64"),
    ("drops_a_leaf", "update() returned params with missing leaves"),
    ("returns_a_list", "update() returned params as list, expected a dict of NumPy arrays"),
    ("returns_none_state", "update() returned None as state"),
])
def test_malformed_outputs_are_named(spec: str, message: str) -> None:
    report = verify_implementation(implementation(f"tests.flawed_ports:{spec}"), "optax",
                                   ["float64"], in_process=True)
    assert report.verdict == "error"
    failures = [c.failure for c in report.comparisons if c.failure is not None]
    assert failures
    assert all(f.cause == "protocol" for f in failures)
    assert any(message in f.message for f in failures)


@pytest.mark.parametrize("argv", [
    ["verify", "--impl", "tests.flawed_ports:numpy_optax", "--examples", "-1"],
    ["diff", "optax", "tfa", "--examples", "0"],
])
def test_bad_example_counts_are_usage_errors(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_report_folder_is_checked_first(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing" / "out.json"
    status, out, err = run(["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_CASE,
                            "--report", str(path)], capsys)
    assert status == 2
    assert "does not exist" in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_nan_report_is_strict_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.json"
    status, out, _ = run(["verify", "--impl", "tests.flawed_ports:returns_nan", *ONE_CASE,
                          "--report", str(path)], capsys)
    assert status == 1
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    row = data["comparisons"][0]
    assert row["error"] is None
    assert row["nonfinite"] is True
    table = [line for line in out.splitlines() if line.startswith("const_lr")]
    assert table
    assert " 0 " not in table[0].split("nan", 1)[-1]
