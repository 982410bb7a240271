"""OpenSeq2Seq: NVIDIA's TF1 ``NovoGrad`` (also documented as Clara Train 3.1's optimizer).

OpenSeq2Seq is not published on a package registry, so it cannot be installed and run
here: :func:`available` is always ``False`` and :func:`make` raises. Its trajectories
were recorded once from the original source file (TensorFlow 2.15.1 ``tf.compat.v1``,
float32 only: its per-layer moving average is a float32 variable) and are bundled as
records by :func:`bundle`:

* tag ``""``: graph mode, as OpenSeq2Seq trains (one op built once, run ``T`` times). The
  moving average is never written back, so every step uses ``v_t = ||g_t||^2``;
  preset keywords ``mode="graph"``.
* tag ``"eager"``: TF2 eager mode, ``apply_gradients`` called once per step; there the
  moving average works; preset keywords ``mode="eager"``.

``epsilon`` sits inside the square root (``g * (1 / sqrt(v + epsilon))``). A canonical
case maps exactly only when its outside-the-root ``eps`` is 0, with ``epsilon`` taken
from ``eps_root`` (:func:`kwargs_for`). The bundled recordings of cases with ``eps != 0``
passed the case's ``eps`` as ``epsilon``; their ``settings`` say
``"eps_placement_approx": true``; the oracle preset with the recorded keywords reproduces
them exactly all the same.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from novograd_ref import vectors
from novograd_ref.conformance._adapter import Adapter
from novograd_ref.conformance._provenance import provenance, utc_timestamp
from novograd_ref.conformance.frameworks import canonical_hyper, flags_on

PRESET = "openseq2seq"
LEARNING_RATE_KEYWORD = "learning_rate"
ENV = None
SOURCE = {
    "repo": "NVIDIA/OpenSeq2Seq",
    "path": "open_seq2seq/optimizers/novograd.py",
    "commit": "8681d381ed404fde516e2c1b823de5a213c59aba",
    "file_sha256": "a4470d6cb6bd17c0a603fc28287d8aa7d75b6db6f329588283fa1b436323c5bf",
}
_MODES = {"openseq2seq": ("", "graph"), "openseq2seq_eager": ("eager", "eager")}



def available() -> bool:
    """Always ``False``: OpenSeq2Seq is not installable from a package registry."""
    return False


def versions() -> dict[str, str]:
    """The versions of the bundled recording."""
    return {"openseq2seq": f"git {SOURCE['commit']}", "tensorflow-cpu": "2.15.1"}


def kwargs_for(hyper: dict[str, Any]) -> dict[str, Any] | None:
    """OpenSeq2Seq keywords for a canonical case whose ``eps`` is 0, else ``None``."""
    h = canonical_hyper(hyper)
    if flags_on(h) or h["eps"] != 0:
        return None
    if h["weight_decay"] != 0 and h["weight_decay_mode"] != "inside":
        return None
    return {
        "beta1": h["b1"],
        "beta2": h["b2"],
        "epsilon": h["eps_root"],
        "weight_decay": h["weight_decay"],
        "grad_averaging": h["grad_averaging"],
    }


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """Graph and eager mode, float32 only."""
    if dtype != "float32":
        return []
    return [("", {"tf_mode": "graph"}), ("eager", {"tf_mode": "eager"})]


def preset_kwargs(
    constructor_kwargs: dict[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """The constructor keywords plus ``mode`` (``"graph"`` or ``"eager"``)."""
    del dtype
    return {"mode": settings.get("tf_mode", "graph"), **constructor_kwargs}


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> Adapter:
    """Not possible here; OpenSeq2Seq's records are bundled (see :func:`bundle`)."""
    del settings, constructor_kwargs
    raise RuntimeError(
        "OpenSeq2Seq cannot be run here (it is not on a package registry); "
        "its recorded trajectories are bundled with novograd_ref.vectors"
    )


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
        "preset": PRESET,
        "case": case.name,
        "dtype": sidecar["dtype"],
        "tag": tag,
        "file": file,
        "sha256": sha,
        "constructor_kwargs": kwargs,
        "learning_rate_keyword": LEARNING_RATE_KEYWORD,
        "preset_kwargs": preset_kwargs(kwargs, sidecar["dtype"], settings),
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
            bundle_command=f"python -m novograd_ref.conformance.frameworks.openseq2seq {src}",
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


if __name__ == "__main__":
    import sys

    done = bundle(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"bundled {len(done)} OpenSeq2Seq records")
