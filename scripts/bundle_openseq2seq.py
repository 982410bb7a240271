"""Bundle the recorded OpenSeq2Seq trajectories as records of the golden vectors.

OpenSeq2Seq cannot be installed from a package registry, so its trajectories were
recorded once from the original source file (see
``novograd_ref/conformance/frameworks/openseq2seq.py``) and kept in the project's
shared data as ``<mode>__<case>__float32.npz`` files with ``.json`` sidecars. This
one-off tool checks each against its case, converts it to the vector format and merges
it into a vectors root's manifest:

    python scripts/bundle_openseq2seq.py SRC [ROOT]

``ROOT`` defaults to the bundled vectors of the installed package.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from novograd_ref import presets, vectors
from novograd_ref.conformance.frameworks.openseq2seq import FRAMEWORK
from novograd_ref.conformance.golden._provenance import provenance, utc_timestamp

#: The recording's mode prefix -> (record tag, TensorFlow execution mode).
_MODES = {"openseq2seq": ("", "graph"), "openseq2seq_eager": ("eager", "eager")}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _convert(npz_path: Path, sidecar: dict[str, Any], case: vectors.Case) -> dict[str, np.ndarray]:
    original = vectors.read_npz(npz_path)
    where = str(npz_path)
    if not np.array_equal(original["lr"], case.lr):
        raise ValueError(f"{where}: lr differs from case {case.name}")
    arrays: dict[str, np.ndarray] = {"lr": case.lr.astype(np.float64)}
    for name, _ in case.leaves:
        params = original[f"params__{name}"]
        if not np.array_equal(params[0], case.params0[name].astype(np.float32)):
            raise ValueError(f"{where}: initial params of {name!r} differ from the case")
        arrays[f"params__{name}"] = params
        assert case.grads is not None
        arrays[f"grads__{name}"] = case.grads[name].astype(np.float32)
    for key, value in original.items():
        if key.startswith("state__"):
            arrays[key] = value
    if sidecar["case_sha256"] != case.entry["content_sha256"]:
        raise ValueError(f"{where}: sidecar case checksum differs from case {case.name}")
    return arrays


def _entry(
    src: Path,
    framework_key: str,
    npz_path: Path,
    sidecar_path: Path,
    sidecar: dict[str, Any],
    case: vectors.Case,
    file: str,
    sha: str,
) -> dict[str, Any]:
    tag, mode = _MODES[framework_key]
    kwargs = {k: v for k, v in sidecar["constructor_kwargs"].items() if k != "learning_rate"}
    settings = {
        "tf_mode": mode,
        "learning_rate_feed": sidecar["constructor_kwargs"].get("learning_rate"),
        "eps_placement_approx": bool(sidecar.get("eps_placement_approx", False)),
    }
    return {
        "framework": "openseq2seq",
        "preset": FRAMEWORK.preset,
        "case": case.name,
        "dtype": sidecar["dtype"],
        "tag": tag,
        "file": file,
        "sha256": sha,
        "constructor_kwargs": kwargs,
        "learning_rate_keyword": presets.spec(FRAMEWORK.preset).learning_rate_keyword,
        "preset_kwargs": FRAMEWORK.preset_kwargs(kwargs, sidecar["dtype"], settings),
        "settings": settings,
        "provenance": provenance(
            sidecar["framework_version"],
            {
                "tensorflow-cpu": sidecar["tensorflow_version"],
                "numpy": sidecar["numpy"],
                "python": sidecar["python"],
            },
            "not recorded (bundled recording; see notes)",
            platform="not recorded",
            machine="not recorded",
            recorded_at="not recorded (before bundling)",
            bundled_at=utc_timestamp(),
            bundle_command=f"python scripts/bundle_openseq2seq.py {src}",
            bundled_from={
                "npz": npz_path.name,
                "npz_sha256": _sha256(npz_path),
                "sidecar": sidecar_path.name,
                "sidecar_sha256": _sha256(sidecar_path),
            },
            source=sidecar["source"],
            case_sha256=case.entry["sha256"],
            lr_mechanism=sidecar.get("lr_mechanism"),
            notes=[
                (
                    "bundled from a recording of the original OpenSeq2Seq file kept in the "
                    "project's shared data; grads__* are the case gradients cast to float32"
                ),
                *sidecar.get("notes", []),
            ],
        ),
    }


def bundle(src: str | Path, root: str | Path | None = None) -> list[dict[str, Any]]:
    """Convert the recorded OpenSeq2Seq trajectories in ``src`` into records of ``root``.

    ``src`` holds ``<mode>__<case>__float32.npz`` with its ``.json`` sidecar, ``<mode>``
    being ``openseq2seq`` (graph) or ``openseq2seq_eager``. The cases must already be in
    ``root``'s manifest (default: the bundled vectors). Returns the merged entries.
    """
    src = Path(src)
    root_path = Path(root) if root is not None else vectors.data_root()
    entries = []
    for sidecar_path in sorted(src.glob("*__*__*.json")):
        framework_key, case_name, dtype = sidecar_path.stem.split("__")
        if framework_key not in _MODES:
            continue
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        npz_path = sidecar_path.with_suffix(".npz")
        case = vectors.load_case(case_name, root_path)
        arrays = _convert(npz_path, sidecar, case)
        tag = _MODES[framework_key][0]
        file = "records/" + vectors.record_filename("openseq2seq", case_name, dtype, tag)
        sha = vectors.write_npz(root_path / file, arrays)
        entries.append(_entry(src, framework_key, npz_path, sidecar_path, sidecar, case, file, sha))
    manifest = vectors.merge_records(vectors.load_manifest(root_path), entries)
    vectors.write_manifest(root_path, manifest)
    return entries


def main(argv: list[str]) -> int:
    """``python scripts/bundle_openseq2seq.py SRC [ROOT]``."""
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[0], "\nusage: bundle_openseq2seq.py SRC [ROOT]",
              file=sys.stderr)
        return 2
    done = bundle(argv[0], argv[1] if len(argv) > 1 else None)
    print(f"bundled {len(done)} OpenSeq2Seq records")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
