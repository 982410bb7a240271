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
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ... import presets, vectors
from ...testing import rtol
from ..adapters._loader import PresetAdapter
from ..adapters._protocol import (
    Adapter,
    Failure,
    ImplementationFailed,
    check_leaves,
    check_unchanged,
    raised,
)
from ._divergence import (
    Divergence,
    excerpt,
    first_divergence,
    layers_coincide,
    peak,
    shown_ulps,
    ulps,
)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How one adapter's trajectory compares with a reference on one case and dtype.

    Its :attr:`status` is ``pass`` (worst error within the tolerance), ``mismatch``,
    ``skip`` (the implementation does not have the case's options: ``skipped`` says
    why) or ``error`` (the implementation failed: ``failure`` says how). Skipped
    and errored comparisons carry no error figures (NaN).

    >>> Comparison.skip("port / const_lr / float64", "const_lr", "float64", "no amsgrad").status
    'skip'
    """

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
    failure: Failure | None = None  # how the implementation failed on this case, if it did
    divergence: Divergence | None = None  # where a mismatch starts (earliest step first)
    excerpt: str = ""  # that step of that leaf, the differing elements marked
    input_size: int = 0  # steps x parameter elements of the input: how small it is
    one_element_layers: bool = False  # every leaf has one element (per-element and
    #                                   per-layer normalization coincide there)

    @classmethod
    def skip(cls, label: str, case: str, dtype: str, reason: str) -> Comparison:
        """A comparison that did not run because the implementation lacks an option."""
        return cls(label, case, dtype, math.nan, math.nan, rtol(dtype, "framework"), "", 0,
                   skipped=reason)

    @classmethod
    def errored(cls, label: str, case: str, dtype: str, failure: Failure) -> Comparison:
        """A comparison that did not run because the implementation failed."""
        return cls(label, case, dtype, math.nan, math.nan, rtol(dtype, "framework"), "",
                   failure.step or 0, failure=failure)

    @property
    def status(self) -> str:
        """``pass``, ``mismatch``, ``skip`` or ``error`` (NaN/inf must sit alike)."""
        if self.failure is not None:
            return "error"
        if self.skipped:
            return "skip"
        return "pass" if self.error <= self.tolerance else "mismatch"

    @property
    def passed(self) -> bool:
        """Whether the comparison ran and the worst error is within the tolerance."""
        return self.status == "pass"

    @property
    def shown_ulps(self) -> str:
        """The ulps as printed, with ``-`` next to a gross (or non-finite) error."""
        return shown_ulps(self.error, self.ulps)

    def first_and_peak(self) -> str:
        """``first divergence: step 1, leaf 'w', element [3]; peak: step 10, relative
        error 2.48`` (a mismatch only; ``""`` otherwise)."""
        if self.status != "mismatch":
            return ""
        first = (f"first divergence: {self.divergence.describe()}; "
                 if self.divergence is not None else "")
        ulps = self.shown_ulps
        return (f"{first}peak: step {self.step}, leaf {self.leaf!r}, relative error "
                f"{self.error:.3g} > {self.tolerance:.3g}"
                + ("" if ulps == "-" else f" ({ulps} ulps)"))


Watch = Callable[[str, int], None]


def run_trajectory(adapter: Adapter, params0: Mapping[str, np.ndarray],
                   learning_rate: float | np.ndarray,
                   grads_at: Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]],
                   steps: int, watch: Watch | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Step ``adapter``; returns the parameter and gradient trajectories per leaf.

    ``grads_at(k, params)`` gives the gradients of step ``k + 1`` from the parameters
    before it. Parameters come back as ``(steps + 1, *shape)`` arrays (row 0 initial).
    The adapter is handed copies (always ``numpy.ndarray``, 0-d included) while the kit
    keeps its own; what it returns is checked against the protocol. An exception it
    raises (``sys.exit`` included), an output of the wrong kind, shape or dtype, or a
    change to an array it was handed raises :class:`ImplementationFailed` naming the
    call, step and leaf. ``watch(call, step)``, if given, is told before each call.
    """
    tell = watch or (lambda call, step: None)
    params = {k: np.array(v, copy=True) for k, v in params0.items()}
    rows: dict[str, list[np.ndarray]] = {k: [v] for k, v in params.items()}
    fed: dict[str, list[np.ndarray]] = {k: [] for k in params}
    initial, handed_params = params, _copies(params)
    with np.errstate(all="ignore"):  # overflow to inf / NaN is part of some cases
        tell("init()", 0)
        try:
            state = adapter.init(handed_params, learning_rate)
        except (Exception, SystemExit) as exc:
            raise raised(exc, "init()", 0) from exc
        if state is None:
            raise ImplementationFailed("init() returned None as state", "init()", 0)
        check_unchanged(handed_params, params, "params", "init()", 0)
        for k in range(steps):
            grads = _copies(grads_at(k, params))
            handed = _copies(grads)
            tell("update()", k + 1)
            try:
                result = adapter.update(handed, state)
            except (Exception, SystemExit) as exc:
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
            reproducer: str = "", ulp_dtype: str | None = None, full: bool = False
            ) -> Comparison:
    """Worst per-leaf error of ``actual`` against ``desired`` trajectories, and where
    a mismatch starts.

    A leaf's error is the largest difference over all steps divided by the largest
    magnitude of the desired trajectory, so a leaf converging towards 0 is not judged
    by its smallest values. The leaf and step reported are the peak
    (the divergence module's ``peak``); its ulps
    are those of ``ulp_dtype``, the precision the run is held to (default: the dtype of
    ``desired``). A mismatch also gets its first divergence (the earliest step, then
    leaf, then element beyond the tolerance, :func:`~novograd_ref.conformance.first_divergence`) and
    an excerpt of that step of that leaf with the differing elements marked, cut around
    them unless ``full``. With no leaves nothing is compared, which never passes
    (infinite error).
    """
    if not desired:
        return Comparison(label, case, dtype, float("inf"), float("inf"), tolerance, "", 0,
                          reproducer)
    step, leaf, error = peak(actual, desired)
    worst_ulps = ulps(np.asarray(actual[leaf])[step], desired[leaf][step],
                      ulp_dtype or desired[leaf].dtype)
    found = text = None
    if not error <= tolerance:
        found = first_divergence(actual, desired, tolerance)
        text = excerpt(actual, desired, found, tolerance, full) if found else None
    first = next(iter(desired.values()))
    size = (first.shape[0] - 1) * sum(int(np.asarray(w[0]).size) for w in desired.values())
    return Comparison(label, case, dtype, error, worst_ulps, tolerance, leaf, step, reproducer,
                      divergence=found, excerpt=text or "", input_size=size,
                      one_element_layers=layers_coincide({n: w[0] for n, w in
                                                          desired.items()}))


def held_dtype(dtype: str, computed_in: Iterable[str | None] = ()) -> str:
    """The dtype a run with ``dtype`` parameters is held to (its tolerance and the dtype
    its ulps are counted in): float32 when the run, or anything it computes in
    (``computed_in``: the dtypes of its moments, of its arithmetic), is float32.

    >>> held_dtype("float64", ("float32", None)), held_dtype("float64")
    ('float32', 'float64')
    """
    return "float32" if "float32" in (dtype, *computed_in) else dtype


def run_dtype(preset: str, oracle_kwargs: Mapping[str, Any], dtype: str) -> str:
    """The dtype a run that the oracle ``preset`` models with ``oracle_kwargs`` is held
    to (:func:`held_dtype`): float32 when the preset keeps a float32 moment under these
    keywords (its own default, as Apex's, or a keyword), or the run is float32.

    Hyperparameters rounded through float32 (``hyper_dtype``) are exact inputs of a
    float64 computation, so they do not narrow it.

    >>> run_dtype("apex", {}, "float64"), run_dtype("optax", {}, "float64")
    ('float32', 'float64')
    """
    hyper = presets.spec(preset).canonical(**oracle_kwargs)
    return held_dtype(dtype, (hyper.get("state_dtype"), hyper.get("mu_dtype")))


def run_tolerance(preset: str, oracle_kwargs: Mapping[str, Any], dtype: str) -> float:
    """The ``"framework"`` tolerance of such a run: that of :func:`run_dtype`."""
    return rtol(run_dtype(preset, oracle_kwargs, dtype), "framework")


def verify_record(entry: Mapping[str, Any] | vectors.Record, adapter: Adapter | None = None,
                  root: vectors.PathLike | None = None) -> Comparison:
    """Replay one record (a manifest entry of ``root``, default the bundled vectors, or
    a loaded :class:`~novograd_ref.vectors.Record`) through ``adapter`` (default: its
    oracle preset). The record is checked against its case first; the run starts from
    the case's parameters."""
    record = entry if isinstance(entry, vectors.Record) else vectors.load_record(entry, root)
    entry = record.entry
    case = vectors.load_case(entry["case"], root)
    if adapter is None:
        adapter = PresetAdapter(entry["preset"], **entry["preset_kwargs"])
    params0 = case.params0_as(entry["dtype"])
    actual, _ = run_trajectory(adapter, params0, case.learning_rate(), replay(record.grads),
                               case.T)
    tag = f" [{entry['tag']}]" if entry.get("tag") else ""
    label = f"{entry['framework']}{tag} / {entry['case']} / {entry['dtype']}"
    where = f" --data {root}" if root is not None else ""
    repro = f"novograd-ref verify{where} --record {entry['file'].removeprefix('records/')}"
    held = run_dtype(entry["preset"], entry["preset_kwargs"], entry["dtype"])
    return compare(label, entry["case"], entry["dtype"], actual, record.params,
                   rtol(held, "framework"), repro, ulp_dtype=held)


def oracle_problem(entry: Mapping[str, Any], case: vectors.Case) -> str:
    """Why the oracle cannot be built from a record entry's ``preset`` and
    ``preset_kwargs`` for its ``case`` (one line naming the entry and field), or ``""``.
    The oracle is started exactly as :func:`verify_record` starts it."""
    where = f"record {entry['file']!r}"
    if entry["preset"] not in presets.names():
        return f"{where}: key 'preset': unknown preset {entry['preset']!r}"
    try:
        adapter = PresetAdapter(entry["preset"], **entry["preset_kwargs"])
        adapter.init(case.params0_as(entry["dtype"]), case.learning_rate())
    except Exception as exc:  # noqa: BLE001 (any refusal of the keywords is reported)
        return f"{where}: key 'preset_kwargs': {type(exc).__name__}: {exc}"
    return ""


def verify_bundled(entries: Iterable[Mapping[str, Any] | vectors.Record] | None = None,
                   progress: Callable[[Iterable[Any]], Iterable[Any]] = iter,
                   root: vectors.PathLike | None = None) -> list[Comparison]:
    """Check every record of ``root`` (default: the bundled vectors), or ``entries``,
    against its oracle preset."""
    chosen = list(entries) if entries is not None else vectors.record_entries(root)
    return [verify_record(e, root=root) for e in progress(chosen)]
