"""The command line as a new user meets it: --version, python -m, help texts with their
defaults, unknown presets, options that would do nothing, ports in the current
directory, nothing left behind in the working directory."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import novograd_ref
from novograd_ref import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def novograd_ref_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``novograd-ref`` script (its folder is not on ``sys.path``)."""
    script = Path(sys.executable).with_name("novograd-ref")
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True,
                          check=False)


def test_version_and_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "novograd_ref", "--version"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"novograd-ref {novograd_ref.__version__}"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_every_option_has_help_that_states_its_default(command: str) -> None:
    sub = subparsers()[command]
    formatter = sub._get_formatter()
    for action in sub._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        assert action.help, f"{command} {action.dest} has no help text"
        text = formatter._expand_help(action)
        if action.option_strings and not action.required and action.default is not False:
            assert "default" in text, f"{command} {action.option_strings}: {text!r}"
    assert "scripts/" not in sub.format_help()
    assert "docs/" not in sub.format_help()


@pytest.mark.parametrize("argv", [
    ["verify", "--preset", "optx"],
    ["verify", "--impl", "preset:optax", "--preset", "optx"],
    ["identify", "--impl", "preset:optax", "--preset", "optx"],
    ["export", "--preset", "optx", "--out", "x"],
    ["diff", "optax", "optx"],
])
def test_unknown_presets_are_called_unknown(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'optx'; known: apex, clara" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["verify", "--examples", "5"], "--examples needs --impl"),
    (["verify", "--report", "r.json"], "--report needs --impl"),
    (["verify", "--impl", "preset:optax", "--record", "timm__const_lr__float64.npz"],
     "--record selects a bundled record"),
    (["verify", "--preset", "clara"], "preset 'clara' has no bundled records"),
])
def test_options_that_would_do_nothing_are_refused(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_bundled_verify_of_one_dtype_explains_its_table(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--preset", "timm", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("timm ")]
    assert rows
    assert all(" float64 " in row for row in rows)
    assert "[f32state]: float64 parameters" in out
    assert "ulps = " in out
    # held to float32: a few float32 ulps, not billions of float64 ones
    f32state = next(row for row in rows if "[f32state]" in row)
    assert float(f32state.split()[6]) < 1000


def test_a_port_in_the_current_directory_is_found_and_nothing_is_left_behind(
        tmp_path: Path) -> None:
    (tmp_path / "numpy_port.py").write_text((EXAMPLES / "numpy_port.py").read_text())
    result = novograd_ref_command("verify", "--impl", "numpy_port:make", "--preset", "optax",
                                  "--dtype", "float64", "--examples", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed, 0 failed" in result.stdout
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert left == ["numpy_port.py"]


def test_diff_leaves_no_hypothesis_folder(tmp_path: Path) -> None:
    result = novograd_ref_command("diff", "optax", "torch_optimizer", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "differ" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_options_without_a_sub_command_go_to_verify(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--preset", "tfa", "--dtype", "float32", "--record",
                     "tfa__const_lr__float32.npz"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
