"""The manifest of the golden vectors: schema, validation, naming and merging.

``docs/vectors.md`` is the normative description; this module checks it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import _hyper
from ._npz import PathLike

SCHEMA_VERSION = 1

DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
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


def _check_types(where: str, obj: dict[str, Any], spec: dict[str, Any]) -> None:
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
    """Check a case's canonical ``hyper`` mapping (see :mod:`novograd_ref._hyper`)."""
    _hyper.validate(hyper, where + ".hyper")


def validate_case_entry(entry: dict[str, Any]) -> None:
    """Check one case entry of the manifest (structure only, no file access)."""
    where = f"case {entry.get('name', '?')!r}"
    _check_types(where, entry, CASE_KEYS)
    if not _NAME.match(entry["name"]):
        raise ValueError(f"{where}: name must match {_NAME.pattern}")
    if entry["file"] != case_filename(entry["name"]):
        raise ValueError(f"{where}: file must be {case_filename(entry['name'])!r}")
    for key in ("sha256", "content_sha256"):
        if not _SHA.match(entry[key]):
            raise ValueError(f"{where}: {key} must be 64 lowercase hex digits")
    if entry["T"] < 1:
        raise ValueError(f"{where}: T must be >= 1")
    if entry["lr_kind"] not in LR_KINDS:
        raise ValueError(f"{where}: lr_kind must be one of {LR_KINDS}")
    if entry["grad_kind"] not in GRAD_KINDS:
        raise ValueError(f"{where}: grad_kind must be one of {GRAD_KINDS}")
    names = []
    for leaf in entry["leaves"]:
        ok = (
            isinstance(leaf, list)
            and len(leaf) == 2
            and isinstance(leaf[0], str)
            and isinstance(leaf[1], list)
            and all(isinstance(d, int) and d >= 0 for d in leaf[1])
        )
        if not ok or not _NAME.match(leaf[0]):
            raise ValueError(f"{where}: bad leaf {leaf!r} (expected [name, [dims...]])")
        names.append(leaf[0])
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{where}: leaf names must be non-empty and unique")
    if not all(isinstance(t, str) for t in entry["tags"]):
        raise ValueError(f"{where}: tags must be strings")
    validate_hyper(where, entry["hyper"])


def validate_record_entry(entry: dict[str, Any], case_names: Iterable[str]) -> None:
    """Check one record entry of the manifest (structure only, no file access)."""
    where = f"record {entry.get('file', '?')!r}"
    _check_types(where, entry, RECORD_KEYS)
    if entry["case"] not in set(case_names):
        raise ValueError(f"{where}: unknown case {entry['case']!r}")
    if entry["dtype"] not in DTYPES:
        raise ValueError(f"{where}: dtype must be one of {DTYPES}")
    if entry["tag"] and not _NAME.match(entry["tag"]):
        raise ValueError(f"{where}: tag must match {_NAME.pattern}")
    expected = "records/" + record_filename(
        entry["framework"], entry["case"], entry["dtype"], entry["tag"]
    )
    if entry["file"] != expected:
        raise ValueError(f"{where}: file must be {expected!r}")
    if not _SHA.match(entry["sha256"]):
        raise ValueError(f"{where}: sha256 must be 64 lowercase hex digits")
    lr_kw = entry["learning_rate_keyword"]
    if lr_kw in entry["constructor_kwargs"] or lr_kw in entry["preset_kwargs"]:
        raise ValueError(f"{where}: the learning rate must not be in the kwargs")
    missing = [k for k in PROVENANCE_KEYS if k not in entry["provenance"]]
    if missing:
        raise ValueError(f"{where}: provenance is missing {missing}")


def validate_manifest(manifest: Any) -> None:
    """Check a whole manifest's structure; raise ``ValueError`` on the first problem."""
    if not isinstance(manifest, dict):
        raise ValueError("manifest: not a JSON object")  # noqa: TRY004
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"manifest: schema_version {manifest.get('schema_version')!r} is not supported "
            f"(this version reads {SCHEMA_VERSION})"
        )
    if not isinstance(manifest.get("cases"), list) or not isinstance(manifest.get("records"), list):
        raise ValueError("manifest: 'cases' and 'records' must be lists")  # noqa: TRY004
    for entry in manifest["cases"]:
        validate_case_entry(entry)
    names = [c["name"] for c in manifest["cases"]]
    if len(set(names)) != len(names):
        raise ValueError("manifest: duplicate case names")
    keys = set()
    for entry in manifest["records"]:
        validate_record_entry(entry, names)
        key = record_key(entry)
        if key in keys:
            raise ValueError(f"manifest: duplicate record {key}")
        keys.add(key)


def read_manifest(root: PathLike) -> dict[str, Any]:
    """Read and validate ``<root>/manifest.json``."""
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{os.fspath(path)}: manifest not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON ({exc})") from exc
    try:
        validate_manifest(manifest)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from exc
    return manifest


def write_manifest(root: PathLike, manifest: dict[str, Any]) -> None:
    """Validate and write ``<root>/manifest.json`` (stable order, one trailing newline)."""
    records = sorted(manifest["records"], key=record_key)
    out = {"schema_version": SCHEMA_VERSION, "cases": manifest["cases"], "records": records}
    validate_manifest(out)
    path = Path(root) / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


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
