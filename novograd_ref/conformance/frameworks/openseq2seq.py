"""OpenSeq2Seq: NVIDIA's TF1 ``NovoGrad`` (also documented as Clara Train 3.1's optimizer).

OpenSeq2Seq is not published on a package registry, so it cannot be installed and run
here: :func:`available` is always ``False`` and :func:`make` raises. Its trajectories
were recorded once from the original source file (TensorFlow 2.15.1 ``tf.compat.v1``,
float32 only: its per-layer moving average is a float32 variable) and are bundled as
records by ``scripts/bundle_openseq2seq.py``:

* tag ``""``: graph mode, as OpenSeq2Seq trains (one op built once, run ``T`` times). The
  moving average is never written back, so every step uses ``v_t = ||g_t||^2``;
  preset keywords ``mode="graph"``.
* tag ``"eager"``: TF2 eager mode, ``apply_gradients`` called once per step; there the
  moving average works; preset keywords ``mode="eager"``.

``epsilon`` sits inside the square root (``g * (1 / sqrt(v + epsilon))``). A canonical
case maps exactly only when its outside-the-root ``eps`` is 0, with ``epsilon`` taken
from ``eps_root`` (:meth:`~novograd_ref.presets.PresetSpec.case_keywords`). The bundled recordings of cases with ``eps != 0``
passed the case's ``eps`` as ``epsilon``; their ``settings`` say
``"eps_placement_approx": true``; the oracle preset with the recorded keywords reproduces
them exactly all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from novograd_ref.conformance.adapters._protocol import Adapter
from novograd_ref.conformance.frameworks import Framework

SOURCE = {
    "repo": "NVIDIA/OpenSeq2Seq",
    "path": "open_seq2seq/optimizers/novograd.py",
    "commit": "8681d381ed404fde516e2c1b823de5a213c59aba",
    "file_sha256": "a4470d6cb6bd17c0a603fc28287d8aa7d75b6db6f329588283fa1b436323c5bf",
}


def available() -> bool:
    """Always ``False``: OpenSeq2Seq is not installable from a package registry."""
    return False


def versions() -> dict[str, str]:
    """The versions of the bundled recording."""
    return {"openseq2seq": f"git {SOURCE['commit']}", "tensorflow-cpu": "2.15.1"}


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """Graph and eager mode, float32 only."""
    if dtype != "float32":
        return []
    return [("", {"tf_mode": "graph"}), ("eager", {"tf_mode": "eager"})]


def preset_kwargs(
    constructor_kwargs: Mapping[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """The constructor keywords plus ``mode`` (``"graph"`` or ``"eager"``)."""
    del dtype
    return {"mode": settings.get("tf_mode", "graph"), **constructor_kwargs}


def make(settings: dict[str, Any] | None = None, /, **constructor_kwargs: Any) -> Adapter:
    """Not possible here; OpenSeq2Seq's records are bundled
    (``scripts/bundle_openseq2seq.py``)."""
    del settings, constructor_kwargs
    raise RuntimeError(
        "OpenSeq2Seq cannot be run here (it is not on a package registry); "
        "its recorded trajectories are bundled with novograd_ref.vectors"
    )


FRAMEWORK = Framework(
    name="openseq2seq", preset="openseq2seq", available=available, versions=versions,
    make=make, recording_variants=recording_variants, preset_kwargs=preset_kwargs)
