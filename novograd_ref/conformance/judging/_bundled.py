"""The bundled records checked before they are replayed.

The bundled records (or those of a vectors folder) are selected by preset, file and
  dtype (:func:`select_records`), then loaded and checked entry by entry against their
  case before anything is replayed (:func:`checked_records`): every malformed entry is
  named at once, in one :class:`~novograd_ref.vectors.MalformedData`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ... import vectors
from ._verify import oracle_problem


def select_records(entries: list[dict[str, Any]], *, preset: str | None = None,
                   record: str | None = None, dtype: str | None = None
                   ) -> list[dict[str, Any]]:
    """The record ``entries`` of ``preset``, of the file ``records/<record>`` and of
    parameter ``dtype`` (each ``None``: any), in their order.

    Raises:
        LookupError: a selection matches no entry (the message says which, and for a
            preset without bundled records why: :data:`~novograd_ref.vectors.NOT_RECORDED`).

    >>> from novograd_ref import vectors
    >>> entries = vectors.load_manifest()["records"]
    >>> [e["file"] for e in select_records(entries, record="timm__const_lr__float64.npz")]
    ['records/timm__const_lr__float64.npz']
    >>> select_records(entries, preset="paper")
    Traceback (most recent call last):
    ...
    LookupError: preset 'paper' has no bundled records (the paper's algorithm is the optax recurrence with the paper's defaults); check it live with --impl preset:paper
    """
    if preset:
        entries = [e for e in entries if e["preset"] == preset]
        if not entries:
            why = vectors.NOT_RECORDED.get(preset, "not recorded")
            raise LookupError(f"preset {preset!r} has no bundled records ({why}); "
                              f"check it live with --impl preset:{preset}")
    if record:
        entries = [e for e in entries if e["file"] == f"records/{record}"]
        if not entries:
            raise LookupError(f"unknown bundled record {record!r}"
                              + (f" of preset {preset!r}" if preset else ""))
    if dtype:
        entries = [e for e in entries if e["dtype"] == dtype]
        if not entries:
            raise LookupError(f"no bundled record of the selection is {dtype}")
    return entries


def checked_records(manifest: Mapping[str, Any], entries: list[dict[str, Any]],
                    root: Path | None = None) -> list[vectors.Record]:
    """Every record of ``entries`` loaded from ``root`` (None: the bundled vectors) and
    checked against its case of ``manifest``: the case's file, the record's file, and
    the oracle keywords the entry names (:func:`~novograd_ref.conformance.replay` needs
    them).

    Raises:
        novograd_ref.vectors.MalformedData: listing each malformed case or record (the
            records of a malformed case are not read).

    >>> from novograd_ref import vectors
    >>> manifest = vectors.load_manifest()
    >>> entries = select_records(manifest["records"], record="timm__const_lr__float64.npz")
    >>> [r.entry["framework"] for r in checked_records(manifest, entries)]
    ['timm']
    """
    problems, cases, records = [], {}, []
    wanted = {e["case"] for e in entries}
    for entry in manifest["cases"]:
        if entry["name"] in wanted:
            try:
                cases[entry["name"]] = vectors.load_case(entry, root)
            except ValueError as exc:
                problems.append(f"case {entry['name']!r}: {exc}")
    for entry in entries:
        if entry["case"] not in cases:
            continue  # its case is malformed, and reported
        problem = oracle_problem(entry, cases[entry["case"]])
        if problem:
            problems.append(problem)
        else:
            try:
                records.append(vectors.load_record(entry, root, case=cases[entry["case"]]))
            except ValueError as exc:
                problems.append(f"record {entry['file']!r}: {exc}")
    if problems:
        raise vectors.MalformedData(problems)
    return records
