r"""Where two trajectories part: the first divergence, the peak, ulps in the dtype the
quantity lives in, and a compact excerpt with the differing elements marked.

A trajectory is one ``(steps + 1, *shape)`` array per leaf (row 0: the initial
parameters). An element *differs* at a step when
``|actual - desired| > tol * max|desired|`` over the leaf's trajectory (the scale
:func:`novograd_ref.testing.relative_error` uses), or when exactly one of the two is
NaN, or they are unequal infinities.

- :func:`first_divergence`: the earliest step, then the first leaf (in tree order),
  then the first element (in C order) that differs: where the port starts to go wrong.
- :func:`peak`: the leaf with the largest relative error and the step where its
  difference peaks: where the port is most wrong (what a comparison reports).
- :func:`ulps`: the difference in units of the spacing of a given dtype (the dtype the
  computation is limited to, e.g. float32 for a float32 second moment under float64
  parameters); :func:`shown_ulps` prints it only where it means something.
- :func:`excerpt`: one step of one leaf, expected against measured, differing elements
  marked with ``*``; large leaves are cut to the differing elements and their
  neighbours unless ``full``; the other leaves differing at that step are named (or
  shown, with ``full``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...testing import relative_error

Trajectory = Mapping[str, np.ndarray]

#: Above this relative error a difference is a plain mismatch: ulps say nothing more.
GROSS = 1e-3
#: Above this many ulps a difference is not a rounding one: the count is not shown.
MAX_SHOWN_ULPS = 2.0**20


@dataclasses.dataclass(frozen=True)
class Divergence:
    """One element at one step: where a trajectory leaves its reference."""

    step: int  # 1-based
    leaf: str
    element: tuple[int, ...]
    expected: float
    measured: float

    def where(self) -> str:
        """``step 3, leaf w[1, 0]``."""
        index = f"[{', '.join(map(str, self.element))}]" if self.element else ""
        return f"step {self.step}, leaf {self.leaf}{index}"

    def describe(self) -> str:
        """``step 1, leaf 'w', element [3]: expected 0.5, measured 0.7``.

        >>> Divergence(1, "w", (3,), 0.5, 0.7).describe()
        "step 1, leaf 'w', element [3]: expected 0.5, measured 0.7"
        """
        return (f"{self.place()}: expected {self.expected:.10g}, measured "
                f"{self.measured:.10g}")

    def place(self) -> str:
        """``step 1, leaf 'w', element [3]``."""
        element = f", element [{', '.join(map(str, self.element))}]" if self.element else ""
        return f"step {self.step}, leaf {self.leaf!r}{element}"


def _differs(actual: np.ndarray, desired: np.ndarray, bound: float) -> np.ndarray:
    a = np.asarray(actual, dtype=np.float64)
    d = np.asarray(desired, dtype=np.float64)
    with np.errstate(all="ignore"):
        close = np.abs(a - d) <= bound
    same = (a == d) | (np.isnan(a) & np.isnan(d))
    return ~(close | same)


def _scale(desired: np.ndarray) -> float:
    rows = np.asarray(desired[1:], dtype=np.float64)
    finite = rows[np.isfinite(rows)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def differing(actual: np.ndarray, desired: np.ndarray, step: int, tol: float) -> np.ndarray:
    """The boolean mask of the elements of one leaf that differ at ``step``.

    >>> differing(np.array([[0.0, 0], [1, 2]]), np.array([[0.0, 0], [1, 2.5]]), 1, 1e-9)
    array([False,  True])
    """
    bound = tol * max(_scale(desired), np.finfo(np.float64).tiny)
    return _differs(actual[step], desired[step], bound)


def first_divergence(actual: Trajectory, desired: Trajectory, tol: float
                     ) -> Divergence | None:
    """The earliest step, then leaf, then element where ``actual`` leaves ``desired``
    by more than ``tol`` relative; ``None`` when it never does.

    >>> want = {"w": np.array([[1.0, 1.0], [0.5, 0.9], [0.2, 0.7]])}
    >>> got = {"w": np.array([[1.0, 1.0], [0.5, 0.9], [0.2, 0.8]])}
    >>> first_divergence(got, want, 1e-12).where()
    'step 2, leaf w[1]'
    """
    steps = next(iter(desired.values())).shape[0] - 1 if desired else 0
    for step in range(1, steps + 1):
        for name, want in desired.items():
            mask = differing(np.asarray(actual[name]), want, step, tol)
            if mask.any():
                flat = int(np.argmax(mask.reshape(-1)))
                element = tuple(int(i) for i in np.unravel_index(flat, mask.shape)) \
                    if mask.shape else ()
                return Divergence(step, name, element,
                                  float(np.asarray(want[step]).reshape(-1)[flat]),
                                  float(np.asarray(actual[name][step]).reshape(-1)[flat]))
    return None


def peak(actual: Trajectory, desired: Trajectory) -> tuple[int, str, float]:
    """``(step, leaf, relative error)`` where ``actual`` is furthest from ``desired``.

    The leaf is the one with the largest relative error
    (:func:`novograd_ref.testing.relative_error` over its trajectory after row 0: the
    largest difference over all steps divided by the largest desired magnitude; NaN or
    infinities that do not sit alike make it infinite), the first in tree order on a
    tie; the step (1-based) is where that leaf's difference peaks (NaN counting as
    infinite). ``(0, "", -1.0)`` for no leaves.

    >>> want = {"w": np.array([[1.0], [0.5], [0.2]])}
    >>> peak({"w": np.array([[1.0], [0.5], [0.1]])}, want)
    (2, 'w', 0.2)
    """
    best = (0, "", -1.0)
    for name, want in desired.items():
        got = np.asarray(actual[name])
        err = relative_error(got[1:], want[1:])
        if err > best[2]:
            diff = np.abs(got[1:].astype(np.float64) - want[1:])
            diff = np.where(np.isnan(diff), np.inf, diff).reshape(diff.shape[0], -1)
            step = int(np.argmax(diff.max(axis=1))) + 1 if diff.size else 1
            best = (step, name, err)
    return best


def ulps(actual: np.ndarray, desired: np.ndarray, dtype: Any) -> float:
    """The largest ``|actual - desired|`` in units of the spacing of ``dtype`` at the
    desired values (what one rounding in ``dtype`` can move them): for a quantity
    computed in float32 and stored in float64, pass ``"float32"``.

    >>> ulps(np.array([1.0 + 2**-23]), np.array([1.0]), "float32")
    1.0
    """
    a = np.asarray(actual, dtype=np.float64).reshape(-1)
    d = np.asarray(desired, dtype=np.float64).reshape(-1)
    finite = np.isfinite(a) & np.isfinite(d)
    if not finite.any():
        return 0.0
    kind = np.dtype(dtype)
    spacing = np.spacing(np.abs(d[finite]).astype(kind)).astype(np.float64)
    spacing = np.where(spacing > 0, spacing, float(np.finfo(kind).smallest_subnormal))
    return float(np.max(np.abs(a[finite] - d[finite]) / spacing))


def shown_ulps(error: float, count: float) -> str:
    """``count`` as printed next to a relative ``error``: ``-`` where ulps mean nothing:
    an error that is not finite, a gross mismatch (above :data:`GROSS`), or a count above
    :data:`MAX_SHOWN_ULPS`, which no rounding difference reaches (a float64 error of
    1e-5 is 4.5e10 ulps: a wrong formula, not a rounding).

    >>> shown_ulps(2e-7, 3.0), shown_ulps(0.5, 1e15), shown_ulps(1.4e-5, 6.9e10)
    ('3', '-', '-')
    """
    if not (np.isfinite(error) and np.isfinite(count)) or error > GROSS \
            or count > MAX_SHOWN_ULPS:
        return "-"
    return f"{count:.3g}"


def excerpt(actual: Trajectory, desired: Trajectory, at: Divergence, tol: float,
            full: bool = False, context: int = 2) -> str:
    """Step ``at.step`` of leaf ``at.leaf``: expected and measured side by side, the
    differing elements marked ``*``; without ``full``, a leaf of more than
    ``2 * context + 1`` elements is cut around its differing elements (``...``).
    The other leaves that differ at that step follow: each in full with ``full``,
    else named with their count of differing elements.

    >>> want = {"w": np.array([[0.0, 0, 0], [1.0, 2.0, 3.0]]), "b": np.array([[0.0], [4.0]])}
    >>> got = {"w": np.array([[0.0, 0, 0], [1.0, 2.5, 3.0]]), "b": np.array([[0.0], [5.0]])}
    >>> print(excerpt(got, want, first_divergence(got, want, 1e-9), 1e-9))
    step 1, leaf w (shape (3,)), elements marked * differ:
      [0]   expected 1                 measured 1
      [1] * expected 2                 measured 2.5
      [2]   expected 3                 measured 3
    also differing at step 1: leaf b (1 of 1 elements)
    """
    lines = _leaf_excerpt(actual, desired, at.step, at.leaf, tol, full, context)
    others = []
    for name, want in desired.items():
        if name != at.leaf:
            mask = differing(np.asarray(actual[name]), np.asarray(want), at.step, tol)
            if mask.any():
                others.append((name, int(mask.sum()), mask.size))
    if full:
        for name, _, _ in others:
            lines += _leaf_excerpt(actual, desired, at.step, name, tol, full, context)
    elif others:
        named = ", ".join(f"leaf {name} ({count} of {size} elements)"
                          for name, count, size in others[:_NAMED_LEAVES])
        more = len(others) - _NAMED_LEAVES
        lines.append(f"also differing at step {at.step}: {named}"
                     + (f" and {more} more leaves" if more > 0 else ""))
    return "\n".join(lines)


#: How many other differing leaves the compact excerpt names.
_NAMED_LEAVES = 5


def _leaf_excerpt(actual: Trajectory, desired: Trajectory, step: int, leaf: str,
                  tol: float, full: bool, context: int) -> list[str]:
    want = np.asarray(desired[leaf])
    got = np.asarray(actual[leaf])
    mask = differing(got, want, step, tol).reshape(-1)
    shape = want.shape[1:]
    keep = np.ones(mask.shape, dtype=bool)
    if not full and mask.size > 2 * context + 1:
        keep = np.zeros(mask.shape, dtype=bool)
        for i in np.flatnonzero(mask)[:8]:
            keep[max(0, i - context):i + context + 1] = True
    exp_row = want[step].reshape(-1)
    got_row = got[step].reshape(-1)
    lines = [f"step {step}, leaf {leaf} (shape {shape}), elements marked * differ:"]
    skipped = False
    for i in range(mask.size):
        if not keep[i]:
            if not skipped:
                lines.append("  ...")
            skipped = True
            continue
        skipped = False
        index = [int(j) for j in np.unravel_index(i, shape)] if shape else []
        label = f"[{', '.join(map(str, index))}]"
        mark = "*" if mask[i] else " "
        lines.append(f"  {label} {mark} expected {float(exp_row[i]):<17.10g} "
                     f"measured {float(got_row[i]):.10g}")
    hidden = int(mask.sum()) - int((mask & keep).sum())
    if hidden:
        lines.append(f"  ({hidden} more differing elements not shown)")
    return lines


def layers_coincide(params0: Mapping[str, Any]) -> bool:
    """Whether per-element and per-layer normalization are the same on these
    parameters: every leaf holds at most one element.

    >>> layers_coincide({"a": np.zeros(1), "b": np.zeros(())}), layers_coincide({"a": np.zeros(2)})
    (True, False)
    """
    return all(np.asarray(p).size <= 1 for p in params0.values())
