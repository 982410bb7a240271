"""Packaging: what ``import novograd_ref`` pulls in, where ``backends/`` is installed, and
the first hour of a new user: after ``pip install .`` into a fresh virtual environment,
``import novograd_ref``, ``python -m novograd_ref`` and the README's example work in the
checkout root and in an unpacked sdist, where the source tree shadows the install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARRAY_LIBRARIES = ("torch", "jax", "cupy", "dask", "array_api_strict", "tensorflow",
                   "optax", "hypothesis")


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None,
               python: Path | str = sys.executable) -> str:
    result = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True,
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


def unpacked_sdist(tmp_path: Path) -> Path:
    """The sdist of the checkout, built and unpacked under ``tmp_path``: its root folder."""
    sdist = build("sdist", tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            archive.extractall(tmp_path / "unpacked", filter="data")
        else:  # an archive built just above, from this checkout
            archive.extractall(tmp_path / "unpacked")
    (root,) = (tmp_path / "unpacked").iterdir()
    return root


@pytest.mark.slow
def test_sdist_carries_its_tests_and_they_collect(tmp_path: Path) -> None:
    root = unpacked_sdist(tmp_path)
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


# ------------------------------------------------------------------- the first hour


def fresh_venv(path: Path) -> Path:
    """A new ``python -m venv`` that finds this environment's packages *after* its own
    (a ``.pth`` line), so that installing novograd-ref into it needs no download; its
    python is returned. It has no pip: this environment's pip installs into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = run_python("import sysconfig; print(sysconfig.get_paths()['purelib'])", path,
                      env={"PATH": "/usr/bin:/bin"}, python=python)
    outer = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site) / "_outer_environment.pth").write_text("\n".join(outer) + "\n")
    return python


def pip_install(python: Path, source: Path) -> None:
    """``pip install SOURCE`` into ``python``'s environment, offline, as the README does
    (the dependencies are already visible there)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", "--no-build-isolation", str(source)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def readme_example(readme: Path) -> str:
    """The README's first Python example."""
    match = re.search(r"```python\n(.*?)```", readme.read_text(), re.DOTALL)
    assert match is not None, f"{readme} has no Python example"
    return match.group(1)


def assert_first_hour_works(python: Path, root: Path) -> None:
    """In ``root`` (a checkout or an unpacked sdist, installed into ``python``'s
    environment), with no PYTHONPATH: ``import novograd_ref`` (the source tree, with its
    own ``backends/``), ``python -m novograd_ref --help``, the ``novograd-ref`` command
    and the README's example."""
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    code = ("import novograd_ref as n\n"
            "print(n.__file__); print(n.backends.__file__); print(n.backends.available()[0])")
    assert run_python(code, root, env=env, python=python).splitlines() == [
        str(root / "novograd_ref" / "__init__.py"), str(root / "backends" / "__init__.py"),
        "numpy"]
    for command in ([str(python), "-m", "novograd_ref", "--help"],
                    [str(python.parent / "novograd-ref"), "--help"]):
        result = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env,
                                check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: novograd-ref"), result.stdout[:300]
    assert "Config(" in run_python(readme_example(root / "README.md"), root, env=env,
                                   python=python)


@pytest.mark.slow
def test_first_hour_in_the_checkout_root(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, ROOT)
    assert_first_hour_works(python, ROOT)


@pytest.mark.slow
def test_first_hour_in_an_unpacked_sdist(tmp_path: Path) -> None:
    root = unpacked_sdist(tmp_path)
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, root)
    assert_first_hour_works(python, root)


def test_documentation_url_is_stated_once_in_code_and_in_the_metadata() -> None:
    from novograd_ref.links import DOCS_URL

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'Documentation = "{DOCS_URL}"' in pyproject
