"""Every docstring example of the package runs (doctest), including presets.optax's
reproduction of the optax docstring example."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import novograd_ref

MODULES = sorted(
    {"novograd_ref"} | {m.name for m in pkgutil.walk_packages(novograd_ref.__path__,
                                                               "novograd_ref.")})


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
