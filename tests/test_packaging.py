"""Packaging: what ``import novograd_ref`` pulls in, and where ``backends/`` is installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARRAY_LIBRARIES = ("torch", "jax", "cupy", "dask", "array_api_strict", "tensorflow",
                   "optax", "hypothesis")


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                            text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_pulls_in_no_array_library_but_numpy(tmp_path: Path) -> None:
    code = ("import sys, novograd_ref, novograd_ref.presets, novograd_ref.backends\n"
            f"print(','.join(m for m in {ARRAY_LIBRARIES!r} if m in sys.modules))")
    assert run_python(code, tmp_path) == ""


def test_backends_is_a_subpackage_from_outside_the_repository(tmp_path: Path) -> None:
    code = ("import importlib.util, novograd_ref.backends as b\n"
            "print(b.__name__, importlib.util.find_spec('backends') is None)")
    assert run_python(code, tmp_path) == "novograd_ref.backends True"


@pytest.mark.slow
def test_wheel_installs_backends_under_the_package(tmp_path: Path) -> None:
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("novograd_ref-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "novograd_ref/backends/__init__.py" in names
    assert not any(n.startswith("backends/") for n in names)
    assert any(n.startswith("novograd_ref/vectors/data/") for n in names)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    code = ("import novograd_ref.backends as b, novograd_ref as n\n"
            f"print(b.__file__.startswith({str(site)!r}), n.backends.available()[0])")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    assert run_python(code, tmp_path, env=env) == "True numpy"
