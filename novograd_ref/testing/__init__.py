"""Tools for test suites that check NovoGrad: tolerances, assertions, strategies.

Other projects use these in their own CI: ``rtol`` and ``relative_error`` state how
close two implementations must be, ``assert_trees_close`` compares trees leaf by leaf
and names the leaf, step and error in ulps on failure, and the hypothesis strategies
(imported lazily, as hypothesis is a test dependency) draw trees, gradient sequences
with bounded magnitudes and valid hyperparameters for each preset.

>>> from novograd_ref.testing import rtol
>>> rtol("float64", "framework") < 1e-12
True
"""

from __future__ import annotations

from typing import Any

from ._assertions import assert_trees_close, to_numpy
from ._tolerances import KINDS, dtype_name, eps, relative_error, rtol, ulp_error
from ._trajectory import trajectory

_STRATEGIES = ("bounded_arrays", "gradient_sequences", "hyperparameters", "leaf_shapes",
               "preset_names_with_strategies", "tree_shapes", "trees")

__all__ = ("KINDS", "assert_trees_close", "bounded_arrays", "dtype_name", "eps",
           "gradient_sequences", "hyperparameters", "leaf_shapes",
           "preset_names_with_strategies", "relative_error", "rtol", "to_numpy",
           "trajectory", "tree_shapes", "trees", "ulp_error")


def __getattr__(name: str) -> Any:
    if name in _STRATEGIES:
        from . import _strategies

        return getattr(_strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
