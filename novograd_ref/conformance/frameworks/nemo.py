"""NeMo's ``Novograd`` (``nemo/core/optim/novograd.py`` of the ``nemo-toolkit`` distribution).

The optimizer is one plain-PyTorch module that imports nothing but torch, so the full
NeMo toolkit is not installed: ``scripts/make_env.sh torch`` downloads the
``nemo-toolkit`` wheel (no dependencies), copies that single file to
``<env>/nemo_novograd/novograd.py`` and writes ``<env>/nemo_novograd/SOURCE.json``
(distribution, version, wheel name and sha256). This module executes the file by path;
no stub of any other NeMo module is needed. ``NOVOGRAD_REF_NEMO_DIR`` overrides the
directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from novograd_ref._docs import docs_url
from novograd_ref.conformance._adapter import Adapter
from novograd_ref.conformance.frameworks import canonical_hyper, spec_exists
from novograd_ref.conformance.frameworks._torch import (
    TorchAdapter,
    base_kwargs,
    load_module_from_file,
    recording_variants_for,
    state_dtype_kwargs,
    torch_versions,
)

PRESET = "nemo"
LEARNING_RATE_KEYWORD = "lr"
#: The environment ``scripts/make_env.sh`` creates for this framework.
ENV = "torch"
NOTES = (
    "nemo.core.optim.novograd.Novograd.step: S = grad.norm().pow(2) (a rounded square "
    "root, squared); second moment torch.zeros([]) in the torch default dtype, set to S "
    "while it equals 0, else v.mul_(b2).add_(S, alpha=1.0-b2); den = sqrt(v).add_(eps); "
    "p.grad.div_(den) in place; grad.add_(p, alpha=wd) if wd != 0; grad.mul_(1-b1) if "
    "grad_averaging; m.mul_(b1).add_(grad); luc: f = min(luc_trust*||p|| / (||m|| + "
    "luc_eps), lr) with ||p|| before the update and ||m|| after the moment update, "
    "p.add_(m, alpha=-f); else p.add_(m, alpha=-lr). Constructor rejects lr < 0, eps < 0, "
    "betas outside [0, 1); weight_decay is not checked."
)

_STATE_IN_DEFAULT_DTYPE = True
_DIR_ENV = "NOVOGRAD_REF_NEMO_DIR"
_MODULE = "_novograd_ref_nemo_novograd"


def module_dir() -> Path:
    """Where the extracted NeMo optimizer lives: ``$NOVOGRAD_REF_NEMO_DIR`` or ``<env>/nemo_novograd``."""
    return Path(os.environ.get(_DIR_ENV) or Path(sys.prefix) / "nemo_novograd")


def source_info() -> dict[str, str]:
    """Provenance of the extracted file (from ``SOURCE.json``), empty when absent."""
    path = module_dir() / "SOURCE.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()}


def available() -> bool:
    """Whether torch is importable and the extracted ``novograd.py`` is present."""
    return spec_exists("torch") and (module_dir() / "novograd.py").is_file()


def versions() -> dict[str, str]:
    """The versions that decide the numerics (nemo-toolkit from ``SOURCE.json``)."""
    info = source_info()
    out = {"nemo-toolkit": info.get("version", "unknown")}
    if "sha256" in info:
        out["nemo-toolkit-wheel-sha256"] = info["sha256"]
    out.update(torch_versions())
    return out


def kwargs_for(hyper: dict[str, Any]) -> dict[str, Any] | None:
    """Constructor keywords; weight decay ``inside`` only; amsgrad and luc supported."""
    kw = base_kwargs(hyper, {"amsgrad", "luc"})
    h = canonical_hyper(hyper)
    if kw is None or h["weight_decay_mode"] != "inside":
        return None
    return {
        **kw,
        "grad_averaging": bool(h["grad_averaging"]),
        "amsgrad": bool(h["amsgrad"]),
        "luc": bool(h["luc"]),
        "luc_trust": float(h["luc_trust"]),
        "luc_eps": float(h["luc_eps"]),
    }


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """The parameter dtype as default dtype; for float64 also a float32-state run."""
    return recording_variants_for(dtype, _STATE_IN_DEFAULT_DTYPE)


def load_novograd() -> Any:
    """NeMo's ``Novograd`` class, executed from the extracted file."""
    path = module_dir() / "novograd.py"
    if not path.is_file():
        raise ImportError(f"{path} not found; NeMo's environment is described at "
                          f"{docs_url('vectors.html#adding-vectors')}")
    return load_module_from_file(_MODULE, str(path)).Novograd


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> Adapter:
    """An adapter over NeMo's ``Novograd`` built with ``constructor_kwargs``."""
    return TorchAdapter(PRESET, load_novograd(), constructor_kwargs, settings)


def preset_kwargs(
    constructor_kwargs: dict[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Constructor keywords plus ``state_dtype`` when the default dtype differs."""
    return state_dtype_kwargs(constructor_kwargs, dtype, settings, _STATE_IN_DEFAULT_DTYPE)
