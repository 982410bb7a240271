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
    size = max(math.prod(shape), 1)
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
    return st.fixed_dictionaries({k: bounded_arrays(s, dtype, magnitude)
                                  for k, s in shapes.items()})


def gradient_sequences(shapes: dict[str, tuple[int, ...]], steps: int,
                       dtype: str = "float64", magnitude: float = 1e3
                       ) -> st.SearchStrategy[list[dict[str, Any]]]:
    """``steps`` gradient trees, each layer non-zero (at least one entry away from 0)."""
    def nonzero_tree() -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({
            k: bounded_arrays(s, dtype, magnitude).filter(lambda a: bool((abs(a) > 1e-3).any()))
            for k, s in shapes.items()})

    return st.lists(nonzero_tree(), min_size=steps, max_size=steps)


_PRESET_HYPER: dict[str, Any] = {
    # preset -> strategy of keyword arguments valid for it (rate excluded)
    "paper": lambda: st.fixed_dictionaries({"b1": _beta(), "b2": _beta(), "eps": _eps(),
                                            "weight_decay": _wd()}),
    "optax": lambda: st.fixed_dictionaries({"b1": _beta(), "b2": _beta(), "eps": _eps(),
                                            "eps_root": _eps(), "weight_decay": _wd()}),
    "tfa": lambda: st.fixed_dictionaries({
        "beta_1": _beta(), "beta_2": _beta(), "epsilon": _eps(positive=True),
        "weight_decay": _wd(), "grad_averaging": st.booleans(), "amsgrad": st.booleans()}),
    "openseq2seq": lambda: st.fixed_dictionaries({
        "beta1": _beta(), "beta2": _beta(), "epsilon": _eps(), "weight_decay": _wd(),
        "grad_averaging": st.booleans(), "mode": st.sampled_from(["graph", "eager"]),
        "state_dtype": st.just(None)}),
    "apex": lambda: st.fixed_dictionaries({
        "betas": st.tuples(_beta(), _beta()), "eps": _eps(positive=True),
        "weight_decay": _wd(), "bias_correction": st.booleans(),
        "reg_inside_moment": st.booleans(), "grad_averaging": st.booleans(),
        "norm_type": st.sampled_from([0, 2]), "init_zero": st.booleans(),
        "state_dtype": st.just(None)}),
    "nemo": lambda: st.fixed_dictionaries({
        "betas": st.tuples(_beta(), _beta()), "eps": _eps(), "weight_decay": _wd(),
        "grad_averaging": st.booleans(), "amsgrad": st.booleans(), "luc": st.booleans()}),
    "timm": lambda: st.fixed_dictionaries({
        "betas": st.tuples(_beta(), _beta()), "eps": _eps(), "weight_decay": _wd(),
        "grad_averaging": st.booleans(), "amsgrad": st.booleans(),
        "decoupled_decay": st.booleans(), "corrected_weight_decay": st.booleans()}),
    "torch_optimizer": lambda: st.fixed_dictionaries({
        "betas": st.tuples(_beta(), _beta()), "eps": _eps(), "weight_decay": _wd(),
        "grad_averaging": st.booleans(), "amsgrad": st.booleans()}),
    "pytorch_optimizer": lambda: st.fixed_dictionaries({
        "betas": st.tuples(_beta(), _beta()), "eps": _eps(), "weight_decay": _wd(),
        "weight_decouple": st.booleans(), "fixed_decay": st.booleans(),
        "grad_averaging": st.booleans(), "adam_debias": st.booleans(),
        "maximize": st.booleans()}),
}


def _beta() -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.98, 0.999])


def _eps(positive: bool = False) -> st.SearchStrategy[float]:
    return st.sampled_from([1e-8, 1e-6, 1e-3] if positive else [0.0, 1e-8, 1e-6, 1e-3])


def _wd() -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 1e-3, 0.1])


def hyperparameters(preset: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments (without the learning rate) valid for ``preset``."""
    if preset in ("clara",):
        preset = "openseq2seq"
    if preset in ("dle", "monai"):
        preset = "torch_optimizer"
    if preset not in _PRESET_HYPER:
        raise ValueError(f"no hyperparameter strategy for preset {preset!r}")
    strategy: st.SearchStrategy[dict[str, Any]] = _PRESET_HYPER[preset]()
    return strategy


def preset_names_with_strategies() -> list[str]:
    """Presets :func:`hyperparameters` can draw for."""
    return sorted(_PRESET_HYPER)
