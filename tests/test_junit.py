"""``--junit-xml``: one test case per comparison, written as the run goes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from novograd_ref import cli

ONE_CASE = ["--preset", "optax", "--dtype", "float64"]


def suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (found,) = root.findall("testsuite")
    return found


def counts(element: ET.Element) -> dict[str, int]:
    return {k: int(element.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")}


def test_a_mismatch_is_a_failure_per_case_with_where_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junit.xml"
    status = cli.main(["verify", "--impl", "tests.flawed_ports:v_from_zero", *ONE_CASE,
                       "--junit-xml", str(path)])
    out = capsys.readouterr().out
    assert status == 1
    found = suite(path)
    cases = found.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    line = next(li for li in out.splitlines() if " passed, " in li).split()
    assert counts(found)["tests"] == len(cases) == sum(int(w) for w in line[0:8:2])
    assert counts(found)["failures"] == len(failures) == int(line[2])
    assert {c.get("name") for c in cases} >= {"const_lr[float64]", "quadratic[float64]"}
    text = failures[0].find("failure").text or ""  # type: ignore[union-attr]
    assert text.startswith("first divergence: step 1")
    assert "elements marked * differ" in text


def test_an_error_of_the_implementation_carries_its_failure_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junit.xml"
    assert cli.main(["verify", "--impl", "tests.flawed_ports:update_raises", *ONE_CASE,
                     "--junit-xml", str(path)]) == 3
    capsys.readouterr()
    errors = [c.find("error") for c in suite(path).findall("testcase")]
    errors = [e for e in errors if e is not None]
    assert errors
    assert errors[0].get("message", "").startswith("raised (step 3, in update()): ")
    assert "RuntimeError: update exploded" in (errors[0].text or "")


def test_skipped_cases_are_skipped_with_the_reason(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junit.xml"
    assert cli.main(["verify", "--impl", "tests.flawed_ports:factory_unsupported", *ONE_CASE,
                     "--junit-xml", str(path)]) == 4
    capsys.readouterr()
    found = suite(path)
    assert counts(found)["skipped"] == counts(found)["tests"] > 0
    assert found.find("testcase/skipped").get("message") == (  # type: ignore[union-attr]
        "Unsupported: not implemented yet")


def test_identify_has_a_case_per_preset(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junit.xml"
    assert cli.main(["identify", "--impl", "tests.flawed_ports:numpy_optax", "--preset", "optax",
                     "--junit-xml", str(path)]) == 0
    capsys.readouterr()
    cases = {c.get("name"): c for c in suite(path).findall("testcase")}
    assert cases["optax"].find("failure") is None
    assert cases["nemo"].find("failure") is not None


def test_a_run_cut_short_leaves_a_report_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    child = subprocess.Popen(
        [sys.executable, "-m", "novograd_ref", "verify", "--impl",
         "tests.flawed_ports:one_case_sleep", *ONE_CASE, "--junit-xml", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.exists() and b"const_lr[float64]" in path.read_bytes():
                break
            time.sleep(0.2)
        else:
            pytest.fail("no case was reported within 120 s")
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    found = suite(path)
    complete = [c for c in found.findall("testcase") if c.get("name") == "complete"]
    assert complete
    assert "did not complete" in complete[0].find("error").get("message", "")  # type: ignore[union-attr]


def test_an_unwritable_junit_folder_is_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_CASE, "--junit-xml",
                     str(tmp_path / "missing" / "junit.xml")]) == 2
    assert "--junit-xml" in capsys.readouterr().err
