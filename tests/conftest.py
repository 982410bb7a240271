"""Shared fixtures: one ``backend`` / ``xp`` fixture over every installed array library,
a ``device`` fixture giving a non-default device, and the hypothesis profiles (``ci``
by default; ``NOVOGRAD_REF_HYPOTHESIS_PROFILE`` selects ``dev`` or ``nightly``).
``NOVOGRAD_REF_BACKENDS`` (a JSON list) restricts the backends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from novograd_ref import backends

# Two host devices for JAX, so that device propagation is tested without a GPU. It must
# be set before JAX is first imported, and does not change the default device.
if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get(
        "XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("NOVOGRAD_REF_HYPOTHESIS_PROFILE", "ci"))


# Backends whose cases are ``slow`` (JAX compiles, Dask builds graphs): the fast lane,
# ``pytest -m "not slow"``, runs every property on NumPy, array-api-strict and PyTorch.
SLOW_BACKENDS = ("jax", "dask")


def _selected_backends() -> list[Any]:
    wanted = os.environ.get("NOVOGRAD_REF_BACKENDS")
    chosen = json.loads(wanted) if wanted else backends.names()
    params = []
    for name in chosen:
        try:
            backends.get(name)
            marks = [pytest.mark.slow] if name in SLOW_BACKENDS else []
            params.append(pytest.param(name, id=name, marks=marks))
        except ImportError as exc:
            params.append(pytest.param(name, id=name, marks=pytest.mark.skip(
                reason=f"backend {name} unavailable: {exc}")))
    return params


@pytest.fixture(params=_selected_backends())
def backend(request: pytest.FixtureRequest) -> backends.Backend:
    """Each installed array library in turn (skipped, with the reason, if missing)."""
    return backends.get(request.param)


@pytest.fixture
def xp(backend: backends.Backend) -> Any:
    """The Array API namespace of ``backend``."""
    return backend.xp


@pytest.fixture
def device(backend: backends.Backend) -> Any:
    """A non-default device of ``backend`` where it has one, else its default device.

    array-api-strict: ``Device("device1")``; JAX: the second host device; torch: a GPU
    if present, else ``"meta"`` (shapes, dtypes and devices without values; tests must
    not read values there); NumPy and Dask: ``"cpu"``.
    """
    if len(backend.devices) > 1:
        return backend.devices[1]
    if backend.name == "torch":
        import torch

        return torch.device("meta")
    return backend.devices[0]


def dtype_of(backend: backends.Backend, name: str) -> Any:
    """The dtype object called ``name`` in ``backend`` (NumPy's for Dask's float16)."""
    dtype = getattr(backend.xp, name, None)
    if dtype is None and backend.name == "dask":
        import numpy

        dtype = numpy.dtype(name)
    if dtype is None:
        raise TypeError(f"{backend.name} has no dtype {name!r}")
    return dtype


@pytest.fixture
def backend_dtype(backend: backends.Backend) -> Any:
    """``backend_dtype(name)``: the dtype object called ``name`` in ``backend``."""
    return lambda name: dtype_of(backend, name)


def pytest_report_header(config: pytest.Config) -> str:
    return f"novograd-ref backends installed: {', '.join(backends.available())}"


# What building the documentation site needs (the ``docs`` extra).
DOCS_MISSING = [m for m in ("sphinx", "myst_nb", "furo", "matplotlib")
                if importlib.util.find_spec(m) is None]


def build_site(out: Path) -> subprocess.CompletedProcess[str]:
    """``sphinx-build -W -n`` of docs/ into ``out`` (every warning is an error, and every
    cross-reference must resolve)."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(Path(__file__).resolve().parents[1] / "docs"),
        str(out)],
        capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site (once per test session)."""
    if DOCS_MISSING:
        pytest.skip(f"the docs extra is not installed (missing: {', '.join(DOCS_MISSING)})")
    out = tmp_path_factory.mktemp("site")
    result = build_site(out)
    assert result.returncode == 0, f"sphinx-build -W failed:\n{result.stderr[-4000:]}"
    return out
