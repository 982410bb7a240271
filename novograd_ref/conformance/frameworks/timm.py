"""timm's ``NvNovoGrad`` (PyPI ``timm`` 1.0.31, ``timm/optim/nvnovograd.py``).

Importing the ``timm`` package pulls in torchvision, which is not needed for the
optimizer, so only two files of the installed distribution are executed:
``timm/optim/nvnovograd.py`` and the ``timm/optim/_helpers.py`` it imports relatively.
They are loaded by path into a bare package named :data:`_PACKAGE` whose search path is
the installed ``timm/optim`` directory; ``timm/__init__.py`` and
``timm/optim/__init__.py`` never run. Installing timm with ``--no-deps`` is enough.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from novograd_ref.conformance.frameworks import spec_exists
from novograd_ref.conformance.frameworks._torch import (
    load_module_from_file,
    torch_framework,
    torch_versions,
)

NOTES = (
    "timm.optim.nvnovograd.NvNovoGrad.step (timm 1.0.31): S = torch.sum(torch.pow(g, 2)); "
    "second moment torch.zeros([]) in the torch default dtype, set to S while it equals 0, "
    "else v.mul_(b2).add_(S, alpha=1-b2); den = sqrt(v).add_(eps); u = g / den (p.grad is "
    "left alone); weight decay if wd != 0: decoupled_decay -> p.mul_(1 - s*wd) with "
    "s = lr, or lr**2 / max_lr (max_lr = float(constructor lr)) when corrected_weight_decay, "
    "applied before the moment update and before p -= lr*m; otherwise u.add_(p, alpha=wd); "
    "u.mul_(1-b1) if grad_averaging; m.mul_(b1).add_(u); p.add_(m, alpha=-lr). The adapter "
    "constructs with the largest rate of the learning-rate table (timm's peak lr)."
)

_PACKAGE = "_novograd_ref_timm_optim"
_FILE = "timm/optim/nvnovograd.py"


def _source_file() -> Path | None:
    """The installed ``timm/optim/nvnovograd.py``, found through the distribution's files."""
    try:
        dist = importlib.metadata.distribution("timm")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.as_posix() == _FILE:
            path = Path(str(entry.locate())).resolve()
            return path if path.is_file() else None
    return None


def available() -> bool:
    """Whether torch is importable and timm's NvNovoGrad source file is installed."""
    return spec_exists("torch") and _source_file() is not None


def load_nvnovograd() -> Any:
    """The ``NvNovoGrad`` class, loaded from the installed file without importing timm."""
    path = _source_file()
    if path is None:
        raise ImportError(f"timm is not installed (no {_FILE} in its distribution files)")
    module = load_module_from_file(f"{_PACKAGE}.nvnovograd", str(path), str(path.parent))
    return module.NvNovoGrad


FRAMEWORK = torch_framework(
    name="timm", preset="timm", optimizer=load_nvnovograd, available=available,
    versions=lambda: torch_versions("timm"), second_moment="torch_default", notes=NOTES)
