"""Packaging: what ``import novograd_ref`` pulls in, and where ``backends/`` is installed."""

from __future__ import annotations

import subprocess
import sys
import tarfile
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


def build(kind: str, out: Path) -> Path:
    """Build the ``kind`` ("wheel" or "sdist") of the checkout into ``out`` with the PEP 517
    hooks of the setuptools installed here (offline: the ``test`` extra pins a setuptools
    that has its own ``bdist_wheel``, so no ``wheel`` package is needed)."""
    code = (f"from setuptools import build_meta; print(build_meta.build_{kind}({str(out)!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, f"building the {kind} failed:\n{result.stderr[-3000:]}"
    name = result.stdout.strip().splitlines()[-1]
    return out / name


@pytest.mark.slow
def test_wheel_installs_backends_under_the_package(tmp_path: Path) -> None:
    wheel = build("wheel", tmp_path / "wheel")
    site = tmp_path / "site"
    names = zipfile.ZipFile(wheel).namelist()
    assert "novograd_ref/backends/__init__.py" in names
    assert not any(n.startswith("backends/") for n in names)
    assert any(n.startswith("novograd_ref/vectors/data/records/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA")))
    assert b"License-Expression: Apache-2.0" in metadata
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(site), str(wheel)], capture_output=True,
                             text=True, check=False)
    assert install.returncode == 0, install.stderr
    code = ("import novograd_ref.backends as b, novograd_ref as n\n"
            f"print(b.__file__.startswith({str(site)!r}), n.backends.available()[0])")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    assert run_python(code, tmp_path, env=env) == "True numpy"


def tracked_files(*folders: str) -> set[str]:
    """The files git tracks under ``folders`` (empty outside a git checkout)."""
    result = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    return set(result.stdout.split()) if result.returncode == 0 else set()


@pytest.mark.slow
def test_sdist_carries_its_tests_and_they_collect(tmp_path: Path) -> None:
    sdist = build("sdist", tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            archive.extractall(tmp_path / "unpacked", filter="data")
        else:  # an archive built just above, from this checkout
            archive.extractall(tmp_path / "unpacked")
    (root,) = (tmp_path / "unpacked").iterdir()
    shipped = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    wanted = tracked_files("tests", "notebooks", "benchmarks", "docs", "scripts", "LICENSE")
    assert wanted <= shipped, f"missing from the sdist: {sorted(wanted - shipped)}"
    # Collected from outside the unpacked folder, so that ``novograd_ref`` is the installed
    # package (as after ``pip install`` of the sdist), not the unbuilt sources.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(root), "-c", str(root / "pyproject.toml"), str(root / "tests")],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " tests collected" in result.stdout


def test_documentation_url_is_stated_once_in_code_and_in_the_metadata() -> None:
    from novograd_ref._docs import DOCS_URL

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'Documentation = "{DOCS_URL}"' in pyproject
