"""The implementation under test runs in a child process: each way a port can misbehave
is an error of that one case, with where and why, and the verdict is earned.

The ``one_case_*`` ports (``tests/flawed_ports.py``) misbehave on one case only
(zero_first_grads, at step 2); the other 13 optax cases must still pass and the 2 with
``eps_root`` are skipped (the port raises ``Unsupported``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from novograd_ref import cli
from novograd_ref.conformance import Report, implementation, verify_implementation
from novograd_ref.conformance.isolation._runner import remove_abandoned_folders

pytestmark = pytest.mark.slow  # child processes, one per misbehaving port: the full suite

ONE_DTYPE = ["--preset", "optax", "--dtype", "float64"]
OTHERS = {"passed": 13, "skipped": 2}  # the cases where the one_case_* ports behave


def verify(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
           ) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "report.json"
    status = cli.main(["verify", "--impl", spec, *ONE_DTYPE, "--report", str(report), *extra])
    err = capsys.readouterr().err
    return status, json.loads(report.read_text(), parse_constant=pytest.fail), err


def errored(data: dict[str, Any]) -> dict[str, Any]:
    rows = [c for c in data["comparisons"] if c["status"] == "error"]
    assert [c["case"] for c in rows] == ["zero_first_grads"]
    return rows[0]


MISBEHAVIOURS = [
    # mode, extra options, cause, message, in traceback or output
    ("exit0", [], "exit", "update() called sys.exit(0)", "SystemExit: 0"),
    ("os_exit", [], "exit", "the child process exited with status 0", ""),
    ("exit_message", [], "exit", "update() called sys.exit('bye')", "SystemExit: bye"),
    ("sleep", ["--timeout", "2"], "timeout", "no answer within 2 s", ""),
    ("segfault", [], "signal", "the child process was killed by SIGSEGV",
     "Fatal Python error: Segmentation fault"),
    ("allocate", ["--memory-limit", "1G"], "memory", "update() raised MemoryError", "np.ones"),
    ("order", [], "raised", "RuntimeError: leaves ['late', 'gap', 'always']",
     "tests/flawed_ports.py"),  # the leaves arrive in the case's order, not sorted
    ("mutate", [], "protocol", "the implementation modified grads[", ""),
]


@pytest.mark.parametrize(("mode", "extra", "cause", "message", "evidence"),
                         MISBEHAVIOURS, ids=[g[0] for g in MISBEHAVIOURS])
def test_a_misbehaving_case_is_an_error_and_the_run_goes_on(
        mode: str, extra: list[str], cause: str, message: str, evidence: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "allocate":
        if not sys.platform.startswith("linux"):
            pytest.skip("the address-space limit is tested on Linux")
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # keep the child's baseline small
    status, data, err = verify(f"tests.flawed_ports:one_case_{mode}", tmp_path, capsys, *extra)
    assert status == 3
    assert data["complete"] is True
    assert data["summary"] == {**OTHERS, "failed": 0, "errors": 1, "verdict": "error"}
    assert data["passed"] is False
    row = errored(data)
    failure = row["failure"]
    assert failure["cause"] == cause
    assert message in failure["message"]
    assert (failure["call"], failure["step"]) == ("update()", 2)
    assert evidence in failure["traceback"] + failure["output"]
    assert row["error"] is None
    assert row["nonfinite"] is False
    assert "the implementation failed (case zero_first_grads, float64, step 2, in update())" \
        in err
    assert f"[{cause}]" in err


def test_stdout_noise_does_not_confuse_the_kit(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, data, _ = verify("tests.flawed_ports:prints_noise", tmp_path, capsys)
    assert status == 0
    assert data["summary"] == {"passed": 14, "failed": 0, "errors": 0, "skipped": 2,
                               "verdict": "pass"}


def test_nan_results_are_a_mismatch(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, data, _ = verify("tests.flawed_ports:one_case_nan", tmp_path, capsys)
    assert status == 1
    assert data["summary"] == {**OTHERS, "failed": 1, "errors": 0, "verdict": "mismatch"}
    row = next(c for c in data["comparisons"] if c["status"] == "mismatch")
    assert (row["case"], row["error"], row["nonfinite"]) == ("zero_first_grads", None, True)


def test_a_port_that_exits_on_import_errors_every_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, data, err = verify("tests.port_exits_on_import:make", tmp_path, capsys)
    assert status == 3
    assert data["summary"]["errors"] == 16
    assert data["summary"]["verdict"] == "error"
    failure = data["comparisons"][0]["failure"]
    assert (failure["cause"], failure["call"]) == ("exit", "import")
    assert "this port exits on import" in failure["message"]
    assert "in import" in err


def test_in_process_keeps_the_old_behaviour_for_debugging(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, data, _ = verify("tests.flawed_ports:one_case_exit_message", tmp_path, capsys,
                             "--in-process")
    assert status == 3
    assert errored(data)["failure"]["cause"] == "exit"


def test_the_report_is_written_as_the_run_goes() -> None:
    snapshots: list[dict[str, Any]] = []
    report = verify_implementation("tests.flawed_ports:numpy_optax", "optax", ["float64"],
                                   on_update=lambda r: snapshots.append(r.to_json()))
    assert report.passed
    assert [len(s["comparisons"]) for s in snapshots] == [*range(1, 17), 16]
    assert [s["complete"] for s in snapshots] == [False] * 16 + [True]
    assert snapshots[0]["summary"]["verdict"] == "pass"


def test_a_killed_run_leaves_every_finding_so_far(tmp_path: Path) -> None:
    """The port hangs on zero_first_grads (the 10th case); the run is killed there."""
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "novograd_ref.cli", "verify", "--impl",
               "tests.flawed_ports:one_case_sleep", *ONE_DTYPE, "--report", str(report)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(rows) < 9:
            time.sleep(0.2)
            if report.exists():
                rows = json.loads(report.read_text())["comparisons"]
        assert len(rows) == 9
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    data = json.loads(report.read_text())
    assert data["complete"] is False
    assert [c["case"] for c in data["comparisons"]][:2] == ["const_lr", "schedule_lr"]
    assert data["summary"]["passed"] == 8
    # Killed, the kit could not remove its folder; the next kit run removes it.
    left = list(Path(tempfile.gettempdir()).glob(f"novograd-ref-run-{run.pid}-*"))
    assert len(left) == 1
    assert left[0] in remove_abandoned_folders("run")
    assert not left[0].exists()


def test_verdicts_live_in_the_library() -> None:
    """Nothing checked is not a pass; only Unsupported / NotImplementedError skip."""
    unsupported = verify_implementation("tests.flawed_ports:factory_unsupported", "optax",
                                        ["float64"])
    assert (unsupported.verdict, unsupported.passed) == ("nothing_checked", False)
    assert {c.status for c in unsupported.comparisons} == {"skip"}
    builtin = verify_implementation("tests.flawed_ports:factory_not_implemented", "optax",
                                    ["float64"], in_process=True)
    assert builtin.verdict == "nothing_checked"
    assert builtin.comparisons[0].skipped == "NotImplementedError: no such option"
    value_error = verify_implementation(implementation("tests.flawed_ports:factory_raises_value"),
                                        "optax", ["float64"], in_process=True)
    assert (value_error.verdict, value_error.passed) == ("error", False)
    assert value_error.summary() == {"passed": 0, "failed": 0, "errors": 16, "skipped": 0,
                                     "verdict": "error"}
    assert Report("x", "optax", []).verdict == "nothing_checked"


def test_identify_leaves_out_the_case_that_crashed(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["identify", "--impl", "tests.flawed_ports:one_case_segfault", "--preset",
                       "optax"])
    captured = capsys.readouterr()
    assert status == 3
    assert "optax" in captured.out.split("reproduces: ")[1].split(", ")
    assert ("the implementation failed (case zero_first_grads, float64, step 2, in update()) "
            "[signal]") in captured.err


def test_a_bug_of_the_kit_is_not_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from novograd_ref.conformance.live import _identify as _live

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the kit")

    monkeypatch.setattr(_live, "judge", broken)
    status = cli.main(["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_DTYPE])
    err = capsys.readouterr().err
    assert status == cli.INTERNAL_ERROR == 5
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: a bug in the kit" in err


@pytest.mark.parametrize("argv", [
    ["--timeout", "0"], ["--timeout", "nan"], ["--memory-limit", "-1"],
    ["--memory-limit", "lots"]])
def test_bad_limits_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["verify", "--impl", "tests.flawed_ports:numpy_optax", *argv])
    assert info.value.code == 2


def test_a_report_path_that_is_a_directory_is_refused_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_DTYPE,
                       "--report", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 2
    assert "is a directory" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(("argv", "message"), [
    (["verify", "--report", "r.json"], "--report needs --impl"),
    (["verify", "--timeout", "5"], "--timeout needs --impl"),
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--in-process", "--timeout", "5"],
     "--in-process has none"),
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--data", "."],
     "they do not apply with --impl"),
])
def test_switches_a_combination_would_ignore_are_refused(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
