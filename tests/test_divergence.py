"""First divergence against peak, ulps in the quantity's dtype, marked excerpts."""

from __future__ import annotations

import numpy as np

from novograd_ref.conformance.judging._divergence import (
    excerpt,
    first_divergence,
    layers_coincide,
    peak,
    shown_ulps,
    ulps,
)


def test_first_divergence_is_earliest_not_largest() -> None:
    """A port off by 1e-6 on step 1 that blows up on step 10: the divergence starts at
    step 1, the peak is step 10."""
    steps = 10
    want = {"a": np.ones((steps + 1, 3)), "b": np.ones((steps + 1, 2))}
    got = {k: v.copy() for k, v in want.items()}
    got["b"][1, 1] += 1e-6
    got["a"][10, 0] += 2.0
    found = first_divergence(got, want, 1e-12)
    assert found is not None
    assert (found.step, found.leaf, found.element) == (1, "b", (1,))
    assert peak(got, want)[:2] == (10, "a")
    assert first_divergence(want, want, 1e-12) is None


def test_nan_differs_only_from_a_number() -> None:
    want = {"w": np.array([[0.0], [np.nan], [1.0]])}
    assert first_divergence({"w": np.array([[0.0], [np.nan], [1.0]])}, want, 1e-12) is None
    found = first_divergence({"w": np.array([[0.0], [np.nan], [np.nan]])}, want, 1e-12)
    assert found is not None
    assert found.step == 2


def test_ulps_count_in_the_dtype_the_quantity_lives_in() -> None:
    """One float32 rounding of a float64 value is ~1 float32 ulp, ~5e8 float64 ulps."""
    x = np.array([0.1, 1 / 3, 7.0])
    rounded = x.astype(np.float32).astype(np.float64)
    assert ulps(rounded, x, "float32") <= 0.5
    assert ulps(rounded, x, "float64") > 1e7


def test_ulps_are_shown_only_where_they_mean_something() -> None:
    assert shown_ulps(3e-8, 2.0) == "2"
    assert shown_ulps(2.48, 1.24e16) == "-"
    assert shown_ulps(float("nan"), 0.0) == "-"


def test_excerpt_marks_the_differing_elements_and_cuts_the_rest() -> None:
    want = {"w": np.zeros((3, 40))}
    got = {"w": np.zeros((3, 40))}
    got["w"][2, 17] = 1.0
    found = first_divergence(got, want, 1e-12)
    assert found is not None
    text = excerpt(got, want, found, 1e-12)
    marked = [line for line in text.splitlines() if line.startswith("  [") and " * " in line]
    assert marked == ["  [17] * expected 0                 measured 1"]
    assert "..." in text
    assert len(text.splitlines()) < 10
    assert len(excerpt(got, want, found, 1e-12, full=True).splitlines()) == 41


def test_one_element_layers_hide_per_element_normalization() -> None:
    assert layers_coincide({"a": np.zeros(1), "b": np.zeros(())})
    assert not layers_coincide({"a": np.zeros(1), "b": np.zeros((2, 1))})
