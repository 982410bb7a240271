"""Hypothesis strategies for NovoGrad inputs: trees, gradient sequences, hyperparameters.

Magnitudes are bounded so that a layer's sum of squares cannot overflow
(``|g| <= sqrt(finfo.max / n) / 4`` for ``n`` values) nor become subnormal (non-zero
values have ``|g| >= sqrt(finfo.tiny)``; some libraries flush subnormals to zero);
zero, tiny and huge gradients have their own explicit tests.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import presets

_MAX = {"float16": 65504.0, "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
_TINY = {"float16": 6.103515625e-05, "float32": 1.1754943508222875e-38,
         "float64": 2.2250738585072014e-308}


def leaf_shapes(max_rank: int = 4, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of one layer, from 0-d (scalar-like) up to ``max_rank`` dimensions."""
    return hnp.array_shapes(min_dims=0, max_dims=max_rank, min_side=1, max_side=max_side)


def tree_shapes(max_leaves: int = 4) -> st.SearchStrategy[dict[str, tuple[int, ...]]]:
    """Named leaf shapes of a small tree: ``{"l0": (3,), "l1": (2, 2), ...}``."""
    return st.lists(leaf_shapes(), min_size=1, max_size=max_leaves).map(
        lambda shapes: {f"l{i}": s for i, s in enumerate(shapes)})


def bounded_arrays(shape: tuple[int, ...], dtype: str = "float64",
                   magnitude: float = 1e3, zero_ok: bool = True) -> st.SearchStrategy[Any]:
    """NumPy arrays of ``shape`` with finite values in ``[-magnitude, magnitude]``."""
    _check_dtype(dtype)
    size = max(math.prod(_checked_shape(shape)), 1)
    bound = min(magnitude, math.sqrt(_MAX[dtype] / size) / 4)
    floor = math.sqrt(_TINY[dtype])  # squares of smaller values would be subnormal
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False, width=64 if dtype == "float64" else 32
                         ).map(lambda x: 0.0 if abs(x) < floor else x)
    if not zero_ok:
        elements = elements.filter(lambda x: abs(x) > bound * 1e-6)
    return hnp.arrays(dtype, shape, elements=elements)


def trees(shapes: dict[str, tuple[int, ...]], dtype: str = "float64",
          magnitude: float = 1e3) -> st.SearchStrategy[dict[str, Any]]:
    """A dict tree of NumPy arrays with the given leaf shapes."""
    _check_shapes(shapes)
    return st.fixed_dictionaries({k: bounded_arrays(s, dtype, magnitude)
                                  for k, s in shapes.items()})


def gradient_sequences(shapes: dict[str, tuple[int, ...]], steps: int,
                       dtype: str = "float64", magnitude: float = 1e3
                       ) -> st.SearchStrategy[list[dict[str, Any]]]:
    """``steps`` gradient trees, each layer non-zero (at least one entry away from 0)."""
    _check_shapes(shapes)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}"[:120])
    def nonzero_tree() -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({
            k: bounded_arrays(s, dtype, magnitude).filter(lambda a: bool((abs(a) > 1e-3).any()))
            for k, s in shapes.items()})

    return st.lists(nonzero_tree(), min_size=steps, max_size=steps)


def hyperparameters(preset: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments (without the learning rate) valid for ``preset``: its
    :meth:`~novograd_ref.presets.PresetSpec.strategy`, which draws every switch it has.

    >>> from hypothesis import find
    >>> sorted(find(hyperparameters("flashlight"), lambda kw: True))
    ['beta1', 'beta2', 'epsilon', 'hyper_dtype', 'weightDecay']
    """
    strategy: st.SearchStrategy[dict[str, Any]] = presets.spec(preset).strategy()
    return strategy


def preset_names_with_strategies() -> list[str]:
    """Presets :func:`hyperparameters` can draw for: every preset.

    >>> "flashlight" in preset_names_with_strategies()
    True
    """
    return presets.names()


def _check_dtype(dtype: object) -> None:
    if not isinstance(dtype, str) or dtype not in _MAX:
        raise ValueError(f"dtype must be one of {tuple(_MAX)}, got "
                         f"{type(dtype).__name__ if not isinstance(dtype, str) else dtype!r}")


def _checked_shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise TypeError(f"shape must be a tuple of ints >= 0, got {type(shape).__name__}")
    return shape


def _check_shapes(shapes: object) -> None:
    if not isinstance(shapes, dict):
        raise TypeError(f"shapes must be a dict of leaf name -> shape, got "
                        f"{type(shapes).__name__}")
    for shape in shapes.values():
        _checked_shape(shape)
