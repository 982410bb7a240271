"""Golden vectors: standard input cases and trajectories recorded from real frameworks.

The data live in this package (``novograd_ref/vectors/data``)::

    manifest.json                       schema_version, cases, records
    cases/<case>.npz                    inputs, float64
    records/<framework>__<case>__<dtype>[__<tag>].npz
                                        a framework's parameter trajectory

``docs/vectors.md`` specifies the format for readers in any language. Every array is
read with ``numpy.load(..., allow_pickle=False)`` and every file's sha256 is checked
against the manifest; any problem raises ``ValueError`` naming the file.

Example::

    from novograd_ref import vectors

    case = vectors.load_case("const_lr")
    for entry in vectors.record_entries(framework="optax", case="const_lr"):
        rec = vectors.load_record(entry)
        rec.params["conv"][-1]        # parameters after the last step
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _hyper
from ._files import UnsafePath, out_directory, read_inside, write_inside
from ._manifest import (
    DTYPES,
    GRAD_KINDS,
    LR_KINDS,
    RECORD_DTYPES,
    SCHEMA_VERSION,
    WEIGHT_DECAY_MODES,
    MalformedData,
    case_filename,
    manifest_problems,
    merge_records,
    read_manifest,
    record_filename,
    record_key,
    validate_manifest,
    write_manifest,
)
from ._npz import PathLike, content_sha256, npz_bytes, parse_npz, read_npz, sha256_file, write_npz

__all__ = [
    "DTYPES",
    "GRAD_KINDS",
    "LR_KINDS",
    "NOT_RECORDED",
    "RECORD_DTYPES",
    "SCHEMA_VERSION",
    "WEIGHT_DECAY_MODES",
    "Case",
    "MalformedData",
    "Record",
    "UnsafePath",
    "case_entries",
    "case_entry",
    "case_filename",
    "content_sha256",
    "data_root",
    "load_case",
    "load_manifest",
    "load_record",
    "manifest_problems",
    "merge_records",
    "npz_bytes",
    "out_directory",
    "parse_npz",
    "quadratic_grad",
    "read_inside",
    "read_npz",
    "record_entries",
    "record_filename",
    "record_key",
    "sha256_file",
    "validate_manifest",
    "verify_files",
    "write_inside",
    "write_manifest",
    "write_npz",
]

NOT_RECORDED: dict[str, str] = {
    "apex": "FusedNovoGrad needs a CUDA build of Apex",
    "clara": "Clara Train 3.1 is not distributed",
    "dle": "DeepLearningExamples' Novograd computes torch_optimizer's math",
    "flashlight": "flashlight is C++",
    "monai": "MONAI's Novograd computes torch_optimizer's math",
    "paper": "the paper's algorithm is the optax recurrence with the paper's defaults",
}
"""Why each of these presets has no bundled record (no framework of it could be run and
recorded; it is checked by the equivalence tests and hand-derived vectors instead)."""


def data_root() -> Path:
    """The directory of the bundled vectors (``manifest.json``, ``cases/``, ``records/``)."""
    root = importlib.resources.files(__name__) / "data"
    return Path(os.fspath(root))  # type: ignore[call-overload]


def _root(root: PathLike | None) -> Path:
    return data_root() if root is None else Path(root)


@functools.lru_cache(maxsize=8)
def _read_manifest_once(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """The validated manifest of the folder ``path``, read once per modification time and
    size (the arguments after ``path`` only key the cache). Never handed out as is:
    callers get copies, so nobody can change the cached one."""
    return read_manifest(path)


def _manifest(root: PathLike | None) -> dict[str, Any]:
    """The cached, validated manifest of ``root``: read only (see :func:`load_manifest`)."""
    folder = _root(root)
    try:
        stat = (folder / "manifest.json").stat()
    except OSError:
        return read_manifest(folder)  # raises the usual "manifest not found" error
    return _read_manifest_once(os.fspath(folder.resolve()), stat.st_mtime_ns, stat.st_size)


def load_manifest(root: PathLike | None = None) -> dict[str, Any]:
    """Read and validate the manifest of ``root`` (default: the bundled vectors).

    The file is parsed and validated once per path and modification time; each call
    returns a fresh copy, which the caller may change.

    >>> load_manifest()["schema_version"]
    1
    """
    return copy.deepcopy(_manifest(root))


def case_entries(root: PathLike | None = None) -> list[dict[str, Any]]:
    """All case entries of the manifest, in manifest order (copies), their ``hyper`` in
    the canonical names (``novograd_ref._hyper.from_stored``)."""
    return [_read_entry(e) for e in _manifest(root)["cases"]]


def _read_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a case entry, its ``hyper`` translated from the file's spelling."""
    out = copy.deepcopy(dict(entry))
    out["hyper"] = _hyper.from_stored(out["hyper"])
    return out


def case_entry(name: str, root: PathLike | None = None) -> dict[str, Any]:
    """The manifest entry of case ``name`` (a copy, read as :func:`case_entries` reads
    it).

    Raises:
        ValueError: there is no such case.
    """
    for entry in _manifest(root)["cases"]:
        if entry["name"] == name:
            return _read_entry(entry)
    raise ValueError(f"unknown case {name!r}")


def record_entries(
    root: PathLike | None = None,
    *,
    framework: str | None = None,
    case: str | None = None,
    dtype: str | None = None,
    preset: str | None = None,
    tag: str | None = None,
) -> list[dict[str, Any]]:
    """The record entries of the manifest matching every filter that is given (copies)."""
    wanted = {"framework": framework, "case": case, "dtype": dtype, "preset": preset, "tag": tag}
    return copy.deepcopy([
        e
        for e in _manifest(root)["records"]
        if all(v is None or e.get(k) == v for k, v in wanted.items())
    ])


def quadratic_grad(
    params: Mapping[str, np.ndarray],
    target: Mapping[str, np.ndarray],
    curvature: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """The gradient of ``sum(curvature * (p - target)**2) / 2`` at ``params``.

    Computed elementwise in the dtype of each parameter as
    ``curvature_d * (p - target_d)``, where ``target_d`` and ``curvature_d`` are the
    float64 case arrays rounded to that dtype: first the subtraction, rounded, then the
    multiplication, rounded.
    """
    out = {}
    for name, p in params.items():
        dt = p.dtype
        diff = np.subtract(p, target[name].astype(dt), dtype=dt)
        out[name] = np.multiply(curvature[name].astype(dt), diff, dtype=dt)
    return out


@dataclass(frozen=True)
class Case:
    """The inputs of one standard case (float64 arrays, as stored)."""

    name: str
    entry: dict[str, Any]
    lr: np.ndarray
    params0: dict[str, np.ndarray]
    grads: dict[str, np.ndarray] | None = None
    target: dict[str, np.ndarray] | None = None
    curvature: dict[str, np.ndarray] | None = None

    @property
    def T(self) -> int:
        """The number of steps."""
        return int(self.entry["T"])

    @property
    def hyper(self) -> dict[str, Any]:
        """The canonical hyperparameters (the file's spelling translated)."""
        return _hyper.from_stored(self.entry["hyper"])

    @property
    def leaves(self) -> list[tuple[str, tuple[int, ...]]]:
        """Leaf names and shapes, in order."""
        return [(n, tuple(s)) for n, s in self.entry["leaves"]]

    def learning_rate(self) -> float | np.ndarray:
        """The rate to give an adapter: a float if constant, else the (T,) float64 table."""
        if self.entry["lr_kind"] == "constant":
            return float(self.lr[0])
        return self.lr.copy()

    def params0_as(self, dtype: str) -> dict[str, np.ndarray]:
        """The initial parameters rounded to ``dtype`` (ordered as the leaves)."""
        return {n: self.params0[n].astype(dtype) for n, _ in self.leaves}

    def grads_at(self, step: int, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The gradients of step ``step + 1`` (0-based ``step``) in the dtype of ``params``.

        ``params`` are the parameters before that step, as the implementation holds them.
        Fixed gradients are rounded from the stored float64 values; quadratic ones are
        computed from ``params`` by :func:`quadratic_grad`.
        """
        if self.grads is not None:
            return {n: self.grads[n][step].astype(p.dtype) for n, p in params.items()}
        assert self.target is not None
        assert self.curvature is not None
        return quadratic_grad(params, self.target, self.curvature)


@dataclass(frozen=True)
class Record:
    """A recorded trajectory of one framework on one case in one dtype."""

    entry: dict[str, Any]
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    lr: np.ndarray
    state: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def dtype(self) -> str:
        """The run dtype."""
        return str(self.entry["dtype"])


def _split(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _shapes(leaves: list[tuple[str, tuple[int, ...]]], prefix: str, lead: tuple[int, ...],
            dtype: str) -> dict[str, tuple[tuple[int, ...], str]]:
    return {f"{prefix}__{name}": (lead + shape, dtype) for name, shape in leaves}


def load_case(
    case: str | Mapping[str, Any], root: PathLike | None = None, *, verify: bool = True
) -> Case:
    """Load the inputs of a case, given its name or manifest entry.

    The file is read inside ``root`` without following links, and every member's
    declared shape is checked against the entry before anything is allocated.

    Raises:
        ValueError: the file is missing, malformed, fails its checksum, or its arrays do
            not match the entry.
    """
    entry = dict(case) if isinstance(case, Mapping) else case_entry(case, root)
    where = os.fspath(_root(root) / entry["file"])
    leaves = [(n, tuple(s)) for n, s in entry["leaves"]]
    T = int(entry["T"])
    shapes = {"lr": ((T,), "float64"), **_shapes(leaves, "params0", (), "float64")}
    if entry["grad_kind"] == "fixed":
        shapes |= _shapes(leaves, "grads", (T,), "float64")
    else:
        shapes |= _shapes(leaves, "target", (), "float64")
        shapes |= _shapes(leaves, "curvature", (), "float64")
    arrays = parse_npz(where, read_inside(_root(root), entry["file"]),
                       entry["sha256"] if verify else None, shapes=shapes)
    lr = arrays["lr"]
    if entry["lr_kind"] == "constant" and not np.all(lr == lr[0]):
        raise ValueError(f"{where}: lr_kind is constant but 'lr' varies")
    if not all(np.all(np.isfinite(a)) for a in arrays.values()):
        raise ValueError(f"{where}: case inputs must be finite")
    params0 = _split(arrays, "params0__")
    if entry["grad_kind"] == "fixed":
        return Case(entry["name"], entry, lr, params0, grads=_split(arrays, "grads__"))
    target = _split(arrays, "target__")
    curvature = _split(arrays, "curvature__")
    if not all(np.all(c > 0) for c in curvature.values()):
        raise ValueError(f"{where}: curvature must be positive")
    return Case(entry["name"], entry, lr, params0, target=target, curvature=curvature)


def load_record(
    record: str | Mapping[str, Any], root: PathLike | None = None, *, verify: bool = True,
    case: Case | None = None,
) -> Record:
    """Load a recorded trajectory, given its manifest entry or its file name, and check
    it against its case before it is trusted.

    The file name may be given with or without the ``records/`` prefix. The file is read
    inside ``root`` without following links; member shapes are checked against the case
    before anything is allocated; the starting parameters (row 0), the learning rates
    and the gradients fed must equal the case's (rounded to the run dtype; quadratic
    gradients recomputed from the recorded parameters). ``case``: the record's case,
    already loaded from ``root``.

    Raises:
        ValueError: unknown record, or the file is missing, malformed, fails its
            checksum, or does not match its case (the message names file and member).
    """
    if isinstance(record, Mapping):
        entry = dict(record)
    else:
        file = record if record.startswith("records/") else f"records/{record}"
        found = [e for e in _manifest(root)["records"] if e["file"] == file]
        if not found:
            raise ValueError(f"unknown record {record!r}")
        entry = copy.deepcopy(found[0])
    where = os.fspath(_root(root) / entry["file"])
    if case is None or case.name != entry["case"]:
        case = load_case(entry["case"], root)
    T, dtype = case.T, str(entry["dtype"])
    shapes = {"lr": ((T,), "float64"), **_shapes(case.leaves, "params", (T + 1,), dtype),
              **_shapes(case.leaves, "grads", (T,), dtype)}
    arrays = parse_npz(where, read_inside(_root(root), entry["file"]),
                       entry["sha256"] if verify else None, shapes=shapes,
                       extra_prefix="state__")
    params, grads = _split(arrays, "params__"), _split(arrays, "grads__")
    _check_against_case(where, case, dtype, params, grads, arrays["lr"])
    return Record(entry, params, grads, arrays["lr"], _split(arrays, "state__"))


def _check_against_case(where: str, case: Case, dtype: str, params: dict[str, np.ndarray],
                        grads: dict[str, np.ndarray], lr: np.ndarray) -> None:
    """Refuse a record whose inputs are not its case's: what it starts from, the
    learning rates and the gradients it was fed."""
    if not np.array_equal(lr, case.lr):
        raise ValueError(f"{where}: member 'lr' differs from case {case.name!r}")
    start = case.params0_as(dtype)
    with np.errstate(all="ignore"):
        for name, _ in case.leaves:
            if not np.array_equal(params[name][0], start[name]):
                raise ValueError(f"{where}: member 'params__{name}' row 0 differs from the "
                                 f"starting parameters of case {case.name!r}")
            if case.grads is not None:
                fed = case.grads[name].astype(dtype)
                if not np.array_equal(grads[name], fed, equal_nan=True):
                    raise ValueError(f"{where}: member 'grads__{name}' differs from the "
                                     f"gradients of case {case.name!r}")
        if case.grads is None:
            for step in range(case.T):
                before = {n: params[n][step] for n, _ in case.leaves}
                for name, g in case.grads_at(step, before).items():
                    if not np.array_equal(grads[name][step], g, equal_nan=True):
                        raise ValueError(
                            f"{where}: member 'grads__{name}' step {step + 1} is not the "
                            f"gradient of case {case.name!r} at the recorded parameters")


def verify_files(root: PathLike | None = None) -> list[str]:
    """Check every file of the manifest (checksum, loadability, shapes).

    Returns:
        One message per problem; empty when everything is in order.
    """
    manifest = _manifest(root)
    problems = []
    cases = {}
    for entry in manifest["cases"]:
        try:
            cases[entry["name"]] = load_case(entry, root)
        except ValueError as exc:
            problems.append(str(exc))
    for entry in manifest["records"]:
        try:
            if entry["case"] in cases:
                load_record(entry, root, case=cases[entry["case"]])
        except ValueError as exc:
            problems.append(str(exc))
    return problems
