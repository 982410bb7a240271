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

import os
import sys
from pathlib import Path
from typing import Any

from novograd_ref._json import parse_file_text
from novograd_ref.conformance.frameworks import spec_exists
from novograd_ref.conformance.frameworks._torch import (
    load_module_from_file,
    torch_framework,
    torch_versions,
)
from novograd_ref.links import docs_url

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
    data = parse_file_text(path.read_text())
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


def load_novograd() -> Any:
    """NeMo's ``Novograd`` class, executed from the extracted file."""
    path = module_dir() / "novograd.py"
    if not path.is_file():
        raise ImportError(f"{path} not found; NeMo's environment is described at "
                          f"{docs_url('vectors.html#adding-vectors')}")
    return load_module_from_file(_MODULE, str(path)).Novograd


FRAMEWORK = torch_framework(
    name="nemo", preset="nemo", optimizer=load_novograd, available=available,
    versions=versions, second_moment="torch_default", notes=NOTES)
