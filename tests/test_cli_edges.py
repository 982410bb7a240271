"""The command line's edges, one pinned case each: nothing of the implementation under
test runs in the kit's process, output files are checked before the run and only a
regular file is ever replaced, user input never ends in an internal error (exit 5),
and every sub-command maps verdicts to the same exit statuses.

``tests/test_cli_fuzz.py`` draws combinations of the same hostile inputs.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from novograd_ref import cli, vectors
from novograd_ref.conformance import ImplementationError
from novograd_ref.conformance.adapters._loader import check_spec, find_module
from novograd_ref.conformance.isolation._runner import IsolatedRunner, Problem
from tests.hostile import (
    BEHAVIOURS,
    PATH_KINDS,
    devnull_untouched,
    importers,
    make_path,
    run_cli,
    snapshot,
    write_package,
)

ONE_DTYPE = ["--preset", "optax", "--dtype", "float64"]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# ------------------------------------------------------------------ isolation

def test_the_spec_is_checked_without_importing_its_packages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_package(tmp_path, "exit", nested=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    check_spec(spec)  # found: no error, and nothing of it ran here
    assert importers(tmp_path, spec) == set()
    assert "hostile_exit" not in sys.modules
    assert find_module("hostile_exit.inner.port") is not None
    assert find_module("hostile_exit.inner.nothing") is None
    with pytest.raises(ImplementationError, match=r"cannot import 'hostile_exit\.nope': no such module"):
        check_spec("hostile_exit.nope:make")


@pytest.mark.parametrize("behaviour", [
    pytest.param(b, marks=[] if b == "exit" else [pytest.mark.slow]) for b in BEHAVIOURS])
def test_a_package_misbehaving_on_import_is_an_error_of_every_case(
        behaviour: str, tmp_path: Path) -> None:
    """``sys.exit(0)`` in a package's ``__init__`` once gave exit 0 with nothing checked;
    a raise gave exit 5, a sleep hung past --timeout."""
    spec = write_package(tmp_path, behaviour)
    result = run_cli(["verify", "--impl", spec, *ONE_DTYPE, "--timeout", "2",
                      "--report", "r.json"], tmp_path)
    assert result.returncode == 3, result.stderr
    assert "in import" in result.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    failures = [c["failure"] for c in data["comparisons"]]
    assert failures
    assert all(f is not None and f["call"] == "import" for f in failures)
    assert {f["cause"] for f in failures} == {BEHAVIOURS[behaviour][1]}
    assert importers(tmp_path, spec)  # it ran, in the child only
    assert result.pid not in importers(tmp_path, spec)


def test_a_child_that_cannot_start_is_not_blamed_on_the_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kit's own child failing before it loads the port (here: an interpreter that
    exits at once) is a usage error under a memory limit, a bug of the kit otherwise;
    never an error of the port."""
    import numpy as np

    from novograd_ref.conformance.isolation import _runner

    monkeypatch.setattr(_runner.sys, "executable", "/bin/false")
    problem = Problem("p", {"w": np.ones(2)}, 0.1, 1, grads={"w": np.ones((1, 2))})
    limited = IsolatedRunner("tests.flawed_ports:numpy_optax", timeout=20, memory_limit=1 << 30)
    try:
        with pytest.raises(ImplementationError, match=r"--memory-limit .* cannot start"):
            limited.run({}, "float64", problem)
    finally:
        limited.close()
    plain = IsolatedRunner("tests.flawed_ports:numpy_optax", timeout=20)
    try:
        with pytest.raises(RuntimeError, match="the kit's child process did not start"):
            plain.run({}, "float64", problem)
    finally:
        plain.close()


def test_the_port_own_missing_dependency_is_its_error_a_missing_port_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_package(tmp_path, "missing_dependency")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["verify", "--impl", spec, *ONE_DTYPE, "--in-process"]) == 3
    assert "ModuleNotFoundError" in capsys.readouterr().err
    assert cli.main(["verify", "--impl", "tests.no_such_port:make", *ONE_DTYPE]) == 2
    assert "cannot import 'tests.no_such_port': no such module" in one_line_error(capsys)


# --------------------------------------------------------------- output paths

@pytest.mark.parametrize("kind", PATH_KINDS)
@pytest.mark.parametrize("argv", [
    ["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_DTYPE, "--report"],
    ["identify", "--impl", "tests.flawed_ports:numpy_optax", "--json"],
    ["explain", "--impl", "tests.flawed_ports:numpy_optax", "--json"]],
    ids=["verify-report", "identify-json", "explain-json"])
def test_an_output_that_is_not_a_regular_file_is_refused_first(
        kind: str, argv: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = make_path(tmp_path, kind)
    if path is None:
        pytest.skip(f"this system cannot make a {kind} here")
    before = snapshot(tmp_path)
    with devnull_untouched():
        assert cli.main([*argv, path]) == 2
    assert "novograd-ref: " in one_line_error(capsys)
    assert snapshot(tmp_path) == before


def test_a_report_replaces_a_regular_file_and_a_link_to_one_atomically(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.json"
    old.write_text("old report")
    kept = tmp_path / "kept.json"
    kept.write_text("the link's target")
    link = tmp_path / "link.json"
    link.symlink_to(kept)
    for path in (old, link):
        assert cli.main(["verify", "--impl", "preset:optax", *ONE_DTYPE, "--report",
                         str(path)]) == 0
        assert json.loads(path.read_text())["summary"]["verdict"] == "pass"
    assert not link.is_symlink()
    assert kept.read_text() == "the link's target"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "link.json",
                                                          "old.json"]  # no temporary


def test_a_write_never_replaces_a_device_planted_after_the_check(tmp_path: Path) -> None:
    """The check is made again as the file is moved into place."""
    fifo = tmp_path / "records" / "planted.npz"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(vectors.UnsafePath, match="is a FIFO"):
        vectors.write_inside(tmp_path, "records/planted.npz", b"data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in fifo.parent.iterdir()] == ["planted.npz"]


def test_a_fifo_planted_after_the_check_is_refused_when_the_report_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    monkeypatch.setattr(cli, "check_output_file", lambda path, option: None)  # planted later
    assert cli.main(["verify", "--impl", "preset:optax", *ONE_DTYPE, "--report",
                     str(fifo)]) == 2
    assert "is a FIFO" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("setup", ["proc", "fifo_manifest", "linked_records"])
def test_export_refuses_a_folder_it_cannot_fill_before_writing(
        setup: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if setup == "fifo_manifest":
        os.mkfifo(out / "manifest.json")
    elif setup == "linked_records":
        (out / "records").symlink_to(tmp_path)
    target = "/proc" if setup == "proc" else str(out)
    before = snapshot(tmp_path)
    assert cli.main(["export", "--preset", "optax", "--out", target]) == 2
    assert one_line_error(capsys).startswith("novograd-ref: ")
    assert snapshot(tmp_path) == before


# --------------------------------------------------- numbers, names and values

@pytest.mark.parametrize(("argv", "option"), [
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--timeout", "1e18"], "--timeout"),
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--memory-limit", str(2**63)],
     "--memory-limit"),
    (["identify", "--impl", "tests.flawed_ports:numpy_optax", "--memory-limit", "2000P"],
     "--memory-limit"),
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--examples",
      "99999999999999999999999"], "--examples"),
    (["diff", "optax", "tfa", "--examples", "9" * 5000], "--examples"),
    (["verify", "--impl", ""], "--impl"),
    (["verify", "--preset", ""], "--preset"),
    (["identify", "--impl", "tests.flawed_ports:numpy_optax", "--json", ""], "--json"),
    (["verify", "--impl", "tests.flawed_ports:numpy_optax", "--report", ""], "--report"),
])
def test_values_out_of_range_or_empty_are_usage_errors(
        argv: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err
    assert "Traceback" not in err
    assert len(err.splitlines()[-1]) < 300  # a huge value is not echoed whole


@pytest.mark.parametrize("spec", [".".join(["a"] * 400) + ":make", "a:b:c", "a..b:make",
                                  "x" * 2000 + ":make", "9a:make", "a:"])
def test_an_impl_of_the_wrong_shape_is_a_usage_error(
        spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--impl", spec, *ONE_DTYPE]) == 2
    assert len(one_line_error(capsys)) < 300


def test_a_manifest_with_a_huge_integer_is_malformed_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vectors"
    assert cli.main(["export", "--preset", "optax", "--out", str(out)]) == 0
    capsys.readouterr()
    manifest = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(manifest.replace('"T": ', '"T": ' + "9" * 5000 + ", "
                                                        '"was_T": ', 1))
    assert cli.main(["verify", "--data", str(out)]) == 2
    assert "out of range" in one_line_error(capsys)


def test_oracle_keywords_the_preset_refuses_are_an_error_of_the_port(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.json"
    assert cli.main(["verify", "--impl", "tests.flawed_ports:declares_unknown_oracle_keyword",
                     *ONE_DTYPE, "--report", str(report)]) == 3
    assert "refuses the oracle keywords" in capsys.readouterr().err
    data = json.loads(report.read_text())
    causes = {(c["failure"]["cause"], c["failure"]["call"]) for c in data["comparisons"]
              if c["failure"]}
    assert causes == {("protocol", "factory")}
    assert cli.main(["identify", "--impl", "tests.flawed_ports:declares_unknown_oracle_keyword",
                     "--preset", "optax"]) == 3


def test_a_path_the_terminal_cannot_encode_is_printed_with_escapes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = os.path.join(str(tmp_path), "vectors-\udcff")
    assert cli.main(["export", "--preset", "optax", "--out", out]) == 0
    assert "vectors-\\udcff" in capsys.readouterr().out
    assert (Path(out) / "manifest.json").is_file()


def test_record_refuses_an_unknown_case_as_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["record", "optax", "--cases", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown cases: 'nope'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_identify_with_every_case_skipped_checked_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["identify", "--impl", "tests.flawed_ports:factory_unsupported",
                     "--preset", "optax"]) == 4
    assert "nothing was checked" in capsys.readouterr().out


def test_what_a_port_prints_is_not_an_error_and_stays_out_of_the_kit_output(
        capfd: pytest.CaptureFixture[str]) -> None:
    """The README's promise: a port printing to stdout and stderr (a line that looks
    like the kit's protocol included) passes, and none of it reaches the kit's output."""
    assert cli.main(["verify", "--impl", "tests.flawed_ports:prints_noise", *ONE_DTYPE]) == 0
    captured = capfd.readouterr()
    assert "verdict: pass" in captured.out
    assert "noise on" not in captured.out + captured.err
