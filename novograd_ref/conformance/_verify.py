"""Replay trajectories through an adapter and measure how far it lands from them.

A trajectory is replayed step by step with the gradients that were actually fed to the
implementation that produced it (recorded per step), so only the optimizer is compared,
never a feedback loop. The error of one leaf is ``max over steps of
max|a - b|``, divided by the largest ``|b|`` of the leaf's trajectory
(:func:`novograd_ref.testing.relative_error` over the whole trajectory), reported with
the largest difference in ulps at the step where it peaks; the tolerance is the ``"framework"`` entry of the tolerance
table for the narrowest dtype the run computes in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .. import vectors
from ..testing import relative_error, rtol, ulp_error
from ._adapter import (
    Adapter,
    ImplementationFailed,
    check_leaves,
    check_unchanged,
    raised,
)
from ._oracle import PresetAdapter


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How one adapter's trajectory compares with a reference on one case and dtype."""

    label: str  # e.g. "timm / wd_decoupled / float64"
    case: str
    dtype: str
    error: float  # worst relative error over leaves and steps
    ulps: float  # worst difference in ulps at that leaf
    tolerance: float
    leaf: str  # the leaf with the worst error
    step: int  # the step (1-based) with the worst error
    reproducer: str = ""
    skipped: str = ""  # why the implementation could not run this case, if it could not

    @property
    def passed(self) -> bool:
        """Whether the worst error is within the tolerance (NaN/inf must sit alike)."""
        return bool(self.skipped) or self.error <= self.tolerance


def run_trajectory(adapter: Adapter, params0: Mapping[str, np.ndarray],
                   learning_rate: float | np.ndarray,
                   grads_at: Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]],
                   steps: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Step ``adapter``; returns the parameter and gradient trajectories per leaf.

    ``grads_at(k, params)`` gives the gradients of step ``k + 1`` from the parameters
    before it. Parameters come back as ``(steps + 1, *shape)`` arrays (row 0 initial).
    The adapter is handed copies (always ``numpy.ndarray``, 0-d included) while the kit
    keeps its own; what it returns is checked against the protocol. An exception it
    raises, an output of the wrong kind, shape or dtype, or a change to an array it was
    handed raises :class:`ImplementationFailed` naming the call, step and leaf.
    """
    params = {k: np.array(v, copy=True) for k, v in params0.items()}
    rows: dict[str, list[np.ndarray]] = {k: [v] for k, v in params.items()}
    fed: dict[str, list[np.ndarray]] = {k: [] for k in params}
    initial, handed_params = params, _copies(params)
    with np.errstate(all="ignore"):  # overflow to inf / NaN is part of some cases
        try:
            state = adapter.init(handed_params, learning_rate)
        except Exception as exc:
            raise raised(exc, "init()", 0) from exc
        if state is None:
            raise ImplementationFailed("init() returned None as state", "init()", 0)
        check_unchanged(handed_params, params, "params", "init()", 0)
        for k in range(steps):
            grads = _copies(grads_at(k, params))
            handed = _copies(grads)
            try:
                result = adapter.update(handed, state)
            except Exception as exc:
                raise raised(exc, "update()", k + 1) from exc
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ImplementationFailed(
                    f"update() returned {type(result).__name__}, expected a (params, state) "
                    "pair", "update()", k + 1)
            new, state = result
            check_leaves(new, params, "params", "update()", k + 1)
            if state is None:
                raise ImplementationFailed("update() returned None as state", "update()",
                                           k + 1)
            check_unchanged(handed, grads, "grads", "update()", k + 1)
            check_unchanged(handed_params, initial, "params", "update()", k + 1)
            params = _copies(new)
            for name, row in rows.items():
                row.append(params[name])
                fed[name].append(grads[name])
    return ({k: np.stack(v) for k, v in rows.items()},
            {k: np.stack(v) for k, v in fed.items()})


def _copies(leaves: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in leaves.items()}


def replay(fed: Mapping[str, np.ndarray]
           ) -> Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A ``grads_at`` that feeds recorded per-step gradients ``(steps, *shape)`` back."""
    return lambda k, _params: {name: np.asarray(g[k]) for name, g in fed.items()}


def compare(label: str, case: str, dtype: str, actual: Mapping[str, np.ndarray],
            desired: Mapping[str, np.ndarray], tolerance: float,
            reproducer: str = "", ulp_dtype: str | None = None) -> Comparison:
    """Worst per-leaf error of ``actual`` against ``desired`` trajectories.

    A leaf's error is the largest difference over all steps divided by the largest
    magnitude of the desired trajectory, so a leaf converging towards 0 is not judged
    by its smallest values. The step reported is where the difference peaks; its ulps
    are those of ``ulp_dtype``, the precision the run is held to (default: the dtype of
    ``desired``). With no leaves nothing is compared, which never passes (infinite
    error).
    """
    if not desired:
        return Comparison(label, case, dtype, float("inf"), float("inf"), tolerance, "", 0,
                          reproducer)
    worst = (-1.0, 0.0, "", 0)
    for name, want in desired.items():
        got = np.asarray(actual[name])
        err = relative_error(got[1:], want[1:])
        if err > worst[0]:
            diff = np.abs(got[1:].astype(np.float64) - want[1:])
            diff = np.where(np.isnan(diff), np.inf, diff).reshape(diff.shape[0], -1)
            step = int(np.argmax(diff.max(axis=1))) + 1 if diff.size else 1
            worst = (err, ulp_error(got[step], want[step], ulp_dtype), name, step)
    return Comparison(label, case, dtype, worst[0], worst[1], tolerance, worst[2], worst[3],
                      reproducer)


def run_dtype(entry: Mapping[str, Any]) -> str:
    """The narrowest dtype a record's run computes in (its state may be float32).

    Hyperparameters rounded through float32 (``hyper_dtype``) are exact inputs of a
    float64 computation, so they do not widen the tolerance.
    """
    state_dtype = entry.get("preset_kwargs", {}).get("state_dtype")
    return "float32" if "float32" in (state_dtype, entry["dtype"]) else str(entry["dtype"])


def verify_record(entry: Mapping[str, Any], adapter: Adapter | None = None) -> Comparison:
    """Replay one bundled record through ``adapter`` (default: its oracle preset)."""
    record = vectors.load_record(entry)
    case = vectors.load_case(entry["case"])
    if adapter is None:
        adapter = PresetAdapter(entry["preset"], **entry["preset_kwargs"])
    params0 = {name: record.params[name][0] for name, _ in case.leaves}
    lr = case.learning_rate()
    actual, _ = run_trajectory(adapter, params0, lr, replay(record.grads), case.T)
    tag = f" [{entry['tag']}]" if entry.get("tag") else ""
    label = f"{entry['framework']}{tag} / {entry['case']} / {entry['dtype']}"
    repro = (f"novograd-ref verify --record {entry['file'].removeprefix('records/')}")
    return compare(label, entry["case"], entry["dtype"], actual, record.params,
                   rtol(run_dtype(entry), "framework"), repro, ulp_dtype=run_dtype(entry))


def verify_bundled(entries: Iterable[Mapping[str, Any]] | None = None,
                   progress: Callable[[Iterable[Any]], Iterable[Any]] = iter
                   ) -> list[Comparison]:
    """Check every bundled record (or ``entries``) against its oracle preset."""
    chosen = list(entries) if entries is not None else vectors.record_entries()
    return [verify_record(e) for e in progress(chosen)]
