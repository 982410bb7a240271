"""Shared fixtures: one ``backend`` / ``xp`` fixture over every installed array library,
and the hypothesis profiles (``ci`` by default; ``NOVOGRAD_REF_HYPOTHESIS_PROFILE``
selects ``dev`` or ``nightly``). ``NOVOGRAD_REF_BACKENDS`` (a JSON list) restricts the
backends.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from novograd_ref import backends

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    max_examples=30, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("NOVOGRAD_REF_HYPOTHESIS_PROFILE", "ci"))


def _selected_backends() -> list[Any]:
    wanted = os.environ.get("NOVOGRAD_REF_BACKENDS")
    chosen = json.loads(wanted) if wanted else backends.names()
    params = []
    for name in chosen:
        try:
            backends.get(name)
            params.append(pytest.param(name, id=name))
        except ImportError as exc:
            params.append(pytest.param(name, id=name, marks=pytest.mark.skip(
                reason=f"{name} is not installed: {exc}")))
    return params


@pytest.fixture(params=_selected_backends())
def backend(request: pytest.FixtureRequest) -> backends.Backend:
    """Each installed array library in turn (skipped, with the reason, if missing)."""
    return backends.get(request.param)


@pytest.fixture
def xp(backend: backends.Backend) -> Any:
    """The Array API namespace of ``backend``."""
    return backend.xp


def pytest_report_header(config: pytest.Config) -> str:
    return f"novograd-ref backends installed: {', '.join(backends.available())}"
