"""Write the standard cases' files and their manifest entries.

Every generated case (:mod:`novograd_ref.vectors._cases`) is rebuilt byte for byte from
its seed; the six OpenSeq2Seq cases are imported once from their original index
(``--openseq2seq DIR``: ``index.json`` and ``<case>.npz``) or kept as they are:

    python scripts/write_cases.py [DATA_DIR] [--openseq2seq DIR]

``DATA_DIR`` defaults to the bundled vectors of the installed package; the manifest's
records are kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from novograd_ref import _hyper, vectors
from novograd_ref.vectors import (
    SCHEMA_VERSION,
    case_filename,
    content_sha256,
    read_npz,
    sha256_file,
    write_manifest,
    write_npz,
)
from novograd_ref.vectors._cases import OPENSEQ2SEQ_CASES, generate
from novograd_ref.vectors._manifest import read_manifest
from novograd_ref.vectors._npz import PathLike


def _canonical_from_openseq2seq(hyper: dict[str, Any]) -> dict[str, Any]:
    if hyper.get("nesterov"):
        raise ValueError("nesterov cases are not part of schema 1")
    out = _hyper.base(
        **{k: hyper[k] for k in ("b1", "b2", "eps", "eps_root", "weight_decay")},
        averaging=bool(hyper["grad_averaging"]),
        amsgrad=bool(hyper["amsgrad"]),
    )
    out["weight_decay_mode"] = "decoupled" if hyper["decoupled_weight_decay"] else "inside"
    return _hyper.to_stored(out)


def import_openseq2seq(src: PathLike, dest: PathLike) -> list[dict[str, Any]]:
    """Copy the OpenSeq2Seq cases' input files byte for byte and return their entries.

    ``src`` is the directory holding ``index.json`` and ``<case>.npz``. The original
    ``sha256`` of the index (an array-content checksum) is kept as ``content_sha256``.
    """
    src = Path(src)
    index = json.loads((src / "index.json").read_text(encoding="utf-8"))
    entries = []
    for item in index["cases"]:
        name = item["name"]
        target = Path(dest) / case_filename(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / f"{name}.npz", target)
        arrays = read_npz(target)
        if content_sha256(arrays) != item["sha256"]:
            raise ValueError(f"{src / (name + '.npz')}: content checksum differs from index")
        entries.append(
            {
                "name": name,
                "description": item["description"],
                "leaves": item["leaves"],
                "T": item["T"],
                "lr_kind": item["lr_kind"],
                "hyper": _canonical_from_openseq2seq(item["hyper"]),
                "grad_kind": item["grad_kind"],
                "tags": [*item["tags"], "openseq2seq"],
                "file": case_filename(name),
                "sha256": sha256_file(target),
                "content_sha256": item["sha256"],
            }
        )
    return entries


def write_cases(dest: PathLike, openseq2seq_src: PathLike | None = None) -> list[dict[str, Any]]:
    """Write every case file into ``dest/cases`` and the cases into ``dest/manifest.json``.

    Existing records of the manifest are kept. The OpenSeq2Seq cases are imported from
    ``openseq2seq_src`` when given, else kept as they are in ``dest``.
    """
    dest = Path(dest)
    try:
        manifest = read_manifest(dest)
    except ValueError:
        manifest = {"schema_version": SCHEMA_VERSION, "cases": [], "records": []}
    old = {c["name"]: c for c in manifest["cases"]}
    if openseq2seq_src is not None:
        imported = import_openseq2seq(openseq2seq_src, dest)
    else:
        imported = [old[n] for n in OPENSEQ2SEQ_CASES]
    entries = list(imported)
    for entry, arrays in generate():
        entry["sha256"] = write_npz(dest / entry["file"], arrays)
        entries.append(entry)
    manifest = {**manifest, "cases": entries}
    write_manifest(dest, manifest)
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    """``python scripts/write_cases.py [DATA_DIR] [--openseq2seq DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=None,
                        help="vectors root to write (default: the bundled vectors)")
    parser.add_argument("--openseq2seq", default=None, help="directory of the OpenSeq2Seq cases")
    args = parser.parse_args(argv)
    dest = Path(args.data_dir) if args.data_dir else vectors.data_root()
    entries = write_cases(dest, args.openseq2seq)
    print(f"wrote {len(entries)} cases to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
