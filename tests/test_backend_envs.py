"""The PyTorch and JAX backend tests, in each framework's own environment, from the suite.

The default test install holds no heavy framework, so ``python -m pytest`` in it skips
the torch and jax cases of the backend-parametrized modules. These tests run them
anyway: ``scripts/backend_tests.sh NAME`` makes (once, then reuses) the environment of
``scripts/make_env.sh NAME`` under ``.venv-envs/`` and runs those modules there for
that backend alone; it fails if a test fails or if the backend's tests did not pass
(skipped, or none collected). Dask is in the test extra, so its cases run in the
default suite itself.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from novograd_ref import backends

ROOT = Path(__file__).resolve().parents[1]


def test_dask_backend_runs_in_the_default_suite() -> None:
    """The test extra installs dask, so its backend cases are not skipped there."""
    test_extra = [r for r in importlib.metadata.requires("novograd-ref") or []
                  if 'extra == "test"' in r]
    assert any(r.startswith("novograd-ref[") and "dask" in r for r in test_extra), test_extra
    assert importlib.util.find_spec("dask") is not None, "the test extra is not installed"
    assert backends.get("dask").lazy


def _summary(stdout: str) -> dict[str, dict[str, object]]:
    """The JSON that scripts/backend_ran.py prints last."""
    start = stdout.rindex("\n{\n") + 1
    summary: dict[str, dict[str, object]] = json.loads(stdout[start:])
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["torch", "jax"])
def test_backend_tests_pass_in_the_frameworks_own_environment(name: str) -> None:
    result = subprocess.run(["bash", str(ROOT / "scripts" / "backend_tests.sh"), name],
                            cwd=ROOT, capture_output=True, text=True, timeout=2400,
                            check=False)
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    counts = _summary(result.stdout)[name]
    assert counts["ok"] is True, output
    assert isinstance(counts["passed"], int)
    assert counts["passed"] > 0, output
