"""The manifest of the golden vectors: schema, validation, naming and merging.

``docs/vectors.md`` is the normative description; this module checks it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import _hyper
from .._json import file_text, parse_file_text
from ._files import read_inside, write_inside
from ._npz import PathLike

SCHEMA_VERSION = 1

DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
# the run dtypes a record may hold: NumPy has no bfloat16
RECORD_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")
# bounds a manifest may declare, checked before any array is allocated
MAX_STEPS = 100_000
MAX_ELEMENTS = 1 << 26
MAX_INT_DIGITS = 19  # a JSON integer of a manifest fits 64 bits (:func:`bounded_int`)
LR_KINDS: tuple[str, ...] = ("constant", "schedule")
GRAD_KINDS: tuple[str, ...] = ("fixed", "quadratic")
WEIGHT_DECAY_MODES: tuple[str, ...] = _hyper.WEIGHT_DECAY_MODES

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_SHA = re.compile(r"^[0-9a-f]{64}$")

CASE_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "leaves": list,
    "T": int,
    "lr_kind": str,
    "hyper": dict,
    "grad_kind": str,
    "tags": list,
    "file": str,
    "sha256": str,
    "content_sha256": str,
}

RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "framework": str,
    "preset": str,
    "case": str,
    "dtype": str,
    "tag": str,
    "file": str,
    "sha256": str,
    "constructor_kwargs": dict,
    "learning_rate_keyword": str,
    "preset_kwargs": dict,
    "settings": dict,
    "provenance": dict,
}

PROVENANCE_KEYS: tuple[str, ...] = (
    "framework_version",
    "versions",
    "platform",
    "command",
    "recorded_at",
)


def record_filename(framework: str, case: str, dtype: str, tag: str = "") -> str:
    """The record file name ``<framework>__<case>__<dtype>[__<tag>].npz``."""
    stem = f"{framework}__{case}__{dtype}"
    return f"{stem}__{tag}.npz" if tag else f"{stem}.npz"


def case_filename(case: str) -> str:
    """The case file name, relative to the data root: ``cases/<case>.npz``."""
    return f"cases/{case}.npz"


def record_key(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    """The identity of a record entry: ``(framework, case, dtype, tag)``."""
    return (entry["framework"], entry["case"], entry["dtype"], entry.get("tag", ""))


class MalformedData(ValueError):
    """A vectors directory with malformed entries: one line per entry in ``problems``,
    each naming the entry and the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _check_types(where: str, obj: Any, spec: dict[str, Any]) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: not a JSON object")  # noqa: TRY004
    for key, typ in spec.items():
        if key not in obj:
            raise ValueError(f"{where}: missing key {key!r}")
        value = obj[key]
        ok = isinstance(value, typ)
        if ok and typ in ((int, float), int) and isinstance(value, bool):
            ok = False
        if not ok:
            raise ValueError(f"{where}: key {key!r} has the wrong type ({type(value).__name__})")


def validate_hyper(where: str, hyper: dict[str, Any]) -> None:
    """Check a case's canonical ``hyper`` mapping (the canonical names of ``novograd_ref.presets.build``)."""
    _hyper.validate(hyper, where + ".hyper")


def _check_name(where: str, key: str, value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(f"{where}: key {key!r} must match {_NAME.pattern}, got {value!r}")


def validate_case_entry(entry: dict[str, Any]) -> None:
    """Check one case entry of the manifest (structure only, no file access)."""
    name = entry.get("name", "?") if isinstance(entry, dict) else "?"
    where = f"case {name!r}"
    _check_types(where, entry, CASE_KEYS)
    _check_name(where, "name", entry["name"])
    if entry["file"] != case_filename(entry["name"]):
        raise ValueError(f"{where}: key 'file' must be {case_filename(entry['name'])!r}")
    for key in ("sha256", "content_sha256"):
        if not _SHA.match(entry[key]):
            raise ValueError(f"{where}: key {key!r} must be 64 lowercase hex digits")
    if not 1 <= entry["T"] <= MAX_STEPS:
        raise ValueError(f"{where}: key 'T' must be between 1 and {MAX_STEPS}")
    if entry["lr_kind"] not in LR_KINDS:
        raise ValueError(f"{where}: key 'lr_kind' must be one of {LR_KINDS}")
    if entry["grad_kind"] not in GRAD_KINDS:
        raise ValueError(f"{where}: key 'grad_kind' must be one of {GRAD_KINDS}")
    names = []
    for leaf in entry["leaves"]:
        ok = (
            isinstance(leaf, list)
            and len(leaf) == 2
            and isinstance(leaf[0], str)
            and isinstance(leaf[1], list)
            and len(leaf[1]) <= 8
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_ELEMENTS
                    for d in leaf[1])
            and math.prod(leaf[1]) <= MAX_ELEMENTS
        )
        if not ok or not _NAME.match(leaf[0]):
            raise ValueError(f"{where}: key 'leaves' has a bad leaf {leaf!r} (expected "
                             f"[name, [dims...]], at most {MAX_ELEMENTS} elements)")
        names.append(leaf[0])
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{where}: key 'leaves': leaf names must be non-empty and unique")
    if not all(isinstance(t, str) for t in entry["tags"]):
        raise ValueError(f"{where}: key 'tags' must hold strings")
    validate_hyper(where, entry["hyper"])


def validate_record_entry(entry: dict[str, Any], case_names: Iterable[str]) -> None:
    """Check one record entry of the manifest (structure only, no file access)."""
    file = entry.get("file", "?") if isinstance(entry, dict) else "?"
    where = f"record {file!r}"
    _check_types(where, entry, RECORD_KEYS)
    for key in ("framework", "preset", "case"):
        _check_name(where, key, entry[key])
    if entry["tag"]:
        _check_name(where, "tag", entry["tag"])
    if entry["case"] not in set(case_names):
        raise ValueError(f"{where}: key 'case': unknown case {entry['case']!r}")
    if entry["dtype"] not in RECORD_DTYPES:
        raise ValueError(f"{where}: key 'dtype' must be one of {RECORD_DTYPES}, "
                         f"got {entry['dtype']!r}")
    expected = "records/" + record_filename(
        entry["framework"], entry["case"], entry["dtype"], entry["tag"]
    )
    if entry["file"] != expected:
        raise ValueError(f"{where}: key 'file' must be {expected!r}")
    if not _SHA.match(entry["sha256"]):
        raise ValueError(f"{where}: key 'sha256' must be 64 lowercase hex digits")
    lr_kw = entry["learning_rate_keyword"]
    if lr_kw in entry["constructor_kwargs"] or lr_kw in entry["preset_kwargs"]:
        raise ValueError(f"{where}: key 'preset_kwargs': the learning rate must not be in "
                         "the kwargs")
    missing = [k for k in PROVENANCE_KEYS if k not in entry["provenance"]]
    if missing:
        raise ValueError(f"{where}: key 'provenance' is missing {missing}")


def manifest_problems(manifest: Any) -> list[str]:
    """Every problem of a manifest's structure, one line per malformed entry (naming
    the entry and the field); empty when it is well formed."""
    if not isinstance(manifest, dict):
        return ["manifest: not a JSON object"]
    version = manifest.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        return [(f"manifest: schema_version {version!r} is not supported (this version "
                f"reads {SCHEMA_VERSION})")]
    if not isinstance(manifest.get("cases"), list) or not isinstance(manifest.get("records"),
                                                                     list):
        return ["manifest: 'cases' and 'records' must be lists"]
    problems = []
    names: list[str] = []
    for i, entry in enumerate(manifest["cases"]):
        try:
            validate_case_entry(entry)
        except ValueError as exc:
            problems.append(f"cases[{i}]: {exc}")
        else:
            if entry["name"] in names:
                problems.append(f"cases[{i}]: case {entry['name']!r}: key 'name' is a "
                                "duplicate")
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names.append(entry["name"])  # its records are not also reported
    keys = set()
    for i, entry in enumerate(manifest["records"]):
        try:
            validate_record_entry(entry, names)
        except ValueError as exc:
            problems.append(f"records[{i}]: {exc}")
            continue
        key = record_key(entry)
        if key in keys:
            problems.append(f"records[{i}]: record {entry['file']!r}: duplicate record {key}")
        keys.add(key)
    return problems


def validate_manifest(manifest: Any) -> None:
    """Check a whole manifest's structure; raise :class:`MalformedData` (a
    ``ValueError``) listing every malformed entry."""
    problems = manifest_problems(manifest)
    if problems:
        raise MalformedData(problems)


def bounded_int(text: str) -> int:
    """A JSON integer of a manifest, refused (``ValueError``) beyond 64 bits: no field
    holds a larger one, and a huge one must not reach the checks as a number.

    >>> bounded_int("-12")
    -12
    >>> bounded_int("9" * 5000)
    Traceback (most recent call last):
    ...
    ValueError: integer 99999999999999999999... (5000 digits) is out of range (at most 2**63 - 1 in magnitude)
    """
    digits = text.lstrip("-")
    if len(digits) > MAX_INT_DIGITS or abs(int(text)) >= 1 << 63:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(digits)} digits)"
        raise ValueError(f"integer {shown} is out of range (at most 2**63 - 1 in magnitude)")
    return int(text)


def read_manifest(root: PathLike) -> dict[str, Any]:
    """Read and validate ``<root>/manifest.json`` (a regular file, not a link)."""
    where = os.fspath(Path(root) / "manifest.json")
    try:
        data = read_inside(root, "manifest.json")
    except ValueError as exc:
        message = str(exc).replace("vector file not found", "manifest not found")
        raise MalformedData([message]) from None
    except OSError as exc:
        raise MalformedData([f"{os.fspath(root)}: cannot open ({exc.strerror})"]) from None
    try:
        manifest = parse_file_text(data.decode("utf-8"), parse_int=bounded_int)
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and range errors
        raise MalformedData([f"{where}: not valid JSON ({exc})"]) from None
    digest = hashlib.sha256(data).digest()
    if digest not in _WELL_FORMED:
        problems = manifest_problems(manifest)
        if problems:
            raise MalformedData([f"{where}: {p}" for p in problems])
        _WELL_FORMED.add(digest)
    return manifest


_WELL_FORMED: set[bytes] = set()  # digests of manifests already found well formed


def write_manifest(root: PathLike, manifest: dict[str, Any]) -> None:
    """Validate and atomically write ``<root>/manifest.json`` (stable order, one
    trailing newline), never through a link."""
    records = sorted(manifest["records"], key=record_key)
    out = {"schema_version": SCHEMA_VERSION, "cases": manifest["cases"], "records": records}
    validate_manifest(out)
    Path(root).mkdir(parents=True, exist_ok=True)
    text = file_text(out)
    write_inside(root, "manifest.json", text.encode("utf-8"))


def merge_records(
    manifest: dict[str, Any], new_entries: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """Return a manifest whose records are ``manifest``'s with ``new_entries`` merged in.

    An entry replaces an older one with the same ``(framework, case, dtype, tag)``.
    """
    merged = {record_key(e): e for e in manifest["records"]}
    for entry in new_entries:
        merged[record_key(entry)] = entry
    return {**manifest, "records": sorted(merged.values(), key=record_key)}
