"""NVIDIA Apex's ``FusedNovoGrad`` (``apex/optimizers/fused_novograd.py`` and its CUDA
kernel ``amp_C.multi_tensor_novograd``), on a CUDA device.

Apex is not installed as a package: ``scripts/gpu_check.sh`` exports the few files the
optimizer needs from the NVIDIA Apex repository (the Python optimizer, the
multi-tensor-apply helper, the novograd and per-tensor norm kernels) with a
``PROVENANCE.json`` naming the repository and commit, and builds only the ``amp_C``
extension, for the GPU at hand, into the same directory. This module loads that
directory (``$NOVOGRAD_REF_APEX_DIR``, else ``<env>/apex_novograd``) by path: the
compiled ``amp_C`` module, a bare ``apex`` package over the exported ``apex/`` folder
(Apex's own ``apex/__init__.py``, which imports every extension, is never run), and
``apex/optimizers/fused_novograd.py``.

Apex runs float32 and float16 parameters only (float64 raises in the optimizer). Each
dtype is recorded in five runs: the case's keywords (the standard flags of the
``apex`` preset's vocabulary: ``reg_inside_moment=True, bias_correction=False,
norm_type=2, init_zero=False``) and four runs whose ``settings["constructor_overrides"]``
replace some of those flags before construction (``defaults``: Apex's own defaults,
``reg_inside_moment=False, bias_correction=True``; ``inf``: those with
``norm_type=0``; ``init_zero``: those with ``init_zero=True``; ``inside_inf_zero``:
``reg_inside_moment=True, bias_correction=True, norm_type=0, init_zero=True``). The
record's ``preset_kwargs`` carry the overridden flags, so the preset is run exactly as
Apex was constructed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from novograd_ref._json import parse_file_text
from novograd_ref.conformance.frameworks import Framework, spec_exists
from novograd_ref.conformance.frameworks._torch import (
    TorchAdapter,
    TorchRun,
    load_module_from_file,
    torch_versions,
)

NOTES = (
    "apex.optimizers.FusedNovoGrad.step (Apex's amp_C.multi_tensor_novograd kernel): per "
    "group step t += 1; exp_avg (m) = zeros_like(p) (float16 for float16 params); the "
    "per-tensor norms n are one float32 vector per group and dtype, created on the first "
    "step as 0 (init_zero) or the first gradient's L2 norm sqrt(sum g^2) (norm_type=2) "
    "or max|g| (norm_type=0), computed by torch in float32 and read through .item(); "
    "then on every step including the first the kernel blends n = sqrt(b2 n^2 + (1-b2) "
    "|g|^2) (L2, |g|^2 from Apex's own float32 block reduction) or n = b2 n + (1-b2) "
    "max|g|; bc1 = 1 - b1^t, bc2 = sqrt(1 - b2^t) if bias_correction else 1; beta3 = 1 - "
    "b1 if grad_averaging else 1; den = n / bc2 + eps; reg_inside_moment=False (moment "
    "mode 1): m = b1 m + beta3 g, p -= lr ((m / bc1) / den + wd p); reg_inside_moment="
    "True (mode 0): m = b1 m + beta3 (g / den + wd p), p -= lr m / bc1. Elementwise math "
    "in float32 with lr, b1, b2, eps, wd passed as C float; built with nvcc -O3 "
    "--use_fast_math as Apex builds amp_C. Runs other than the ordinary one apply "
    "settings['constructor_overrides'] on top of constructor_kwargs."
)

_DIR_ENV = "NOVOGRAD_REF_APEX_DIR"
_OPTIMIZER_FILE = "apex/optimizers/fused_novograd.py"
OVERRIDES_KEY = "constructor_overrides"

#: Apex's own defaults for the flags the standard cases fix otherwise.
_DEFAULTS = {"reg_inside_moment": False, "bias_correction": True}

#: ``(tag, overrides)`` of the recorded runs of each dtype (see the module docstring).
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("", {}),
    ("defaults", dict(_DEFAULTS)),
    ("inf", {**_DEFAULTS, "norm_type": 0}),
    ("init_zero", {**_DEFAULTS, "init_zero": True}),
    ("inside_inf_zero", {"reg_inside_moment": True, "bias_correction": True,
                         "norm_type": 0, "init_zero": True}),
)

#: Parameter dtypes FusedNovoGrad runs (float64 raises ``RuntimeError`` in it).
DTYPES = ("float32", "float16")


def module_dir() -> Path:
    """The built Apex directory: ``$NOVOGRAD_REF_APEX_DIR`` or ``<env>/apex_novograd``.

    >>> module_dir().name == "apex_novograd" or "NOVOGRAD_REF_APEX_DIR" in os.environ
    True
    """
    return Path(os.environ.get(_DIR_ENV) or Path(sys.prefix) / "apex_novograd")


def _extension(folder: Path) -> Path | None:
    """The compiled ``amp_C`` module in ``folder``, if any."""
    found = sorted(folder.glob("amp_C*.so"))
    return found[0] if found else None


def source_info() -> dict[str, str]:
    """Repository and commit of the exported sources (``PROVENANCE.json``), else empty."""
    path = module_dir() / "PROVENANCE.json"
    if not path.is_file():
        return {}
    data = parse_file_text(path.read_text())
    return {k: str(data[k]) for k in ("repository", "commit", "cuda_arch") if k in data}


def available() -> bool:
    """Whether torch is importable and the directory holds the optimizer and ``amp_C``."""
    folder = module_dir()
    return (spec_exists("torch") and (folder / _OPTIMIZER_FILE).is_file()
            and _extension(folder) is not None)


def versions() -> dict[str, str]:
    """Apex's commit first, then torch, its CUDA and the device that ran the kernel."""
    import torch

    info = source_info()
    out = {"apex": info.get("commit", "unknown"),
           "apex-repository": info.get("repository", "unknown")}
    out.update(torch_versions())
    out["torch_cuda"] = str(torch.version.cuda)
    if torch.cuda.is_available():
        out["cuda_device"] = torch.cuda.get_device_name(0)
        out["cuda_capability"] = "{}.{}".format(*torch.cuda.get_device_capability(0))
    if "cuda_arch" in info:
        out["apex_cuda_arch"] = info["cuda_arch"]
    return out


def load_fused_novograd() -> Any:
    """Apex's ``FusedNovoGrad`` class, loaded by path from :func:`module_dir`."""
    folder = module_dir()
    so = _extension(folder)
    if so is None or not (folder / _OPTIMIZER_FILE).is_file():
        raise ImportError(f"{folder} holds no built Apex FusedNovoGrad ({_OPTIMIZER_FILE} "
                          "and amp_C*.so); scripts/gpu_check.sh builds it")
    import torch  # noqa: F401 (amp_C links against torch's libraries)

    if "amp_C" not in sys.modules:
        spec = importlib.util.spec_from_file_location("amp_C", so)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {so}")
        extension = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(extension)
        sys.modules["amp_C"] = extension
    if "apex" not in sys.modules:  # a bare package: Apex's __init__ is not run
        package = types.ModuleType("apex")
        package.__path__ = [str(folder / "apex")]
        sys.modules["apex"] = package
    path = folder / _OPTIMIZER_FILE
    module = load_module_from_file("apex.optimizers.fused_novograd", str(path),
                                   str(path.parent))
    return module.FusedNovoGrad


class ApexAdapter(TorchAdapter):
    """FusedNovoGrad through the kit's ``Adapter`` protocol: the PyTorch adapter with
    its parameters on ``cuda:0`` (torch's default dtype left as it is: Apex keeps its
    norms in float32 whatever it is), reading Apex's per-group norm vector as state."""

    def __init__(self, optimizer_class: Any, constructor_kwargs: Mapping[str, Any]) -> None:
        super().__init__("apex", optimizer_class, constructor_kwargs, device="cuda")

    def state_arrays(self, state: TorchRun) -> dict[str, np.ndarray]:
        """``mu__<leaf>`` (Apex's ``exp_avg``, parameter dtype) and ``nu__<leaf>`` (the
        stored per-tensor norm, float32), after the last step."""
        out = {}
        norms = state.optimizer.param_groups[0].get("exp_avg_sq", [None, None])[
            0 if state.dtype == np.float16 else 1]
        for i, (name, param) in enumerate(zip(state.names, state.params, strict=True)):
            moment = state.optimizer.state.get(param, {}).get("exp_avg")
            if moment is not None:
                out[f"mu__{name}"] = moment.detach().cpu().numpy().copy()
            if norms is not None:
                out[f"nu__{name}"] = norms[i].detach().cpu().numpy().copy()
        return out


def make(settings: dict[str, Any] | None = None, /, **constructor_kwargs: Any) -> ApexAdapter:
    """An :class:`ApexAdapter` built with the keywords and the run's overrides."""
    overrides = dict((settings or {}).get(OVERRIDES_KEY) or {})
    return ApexAdapter(load_fused_novograd(), {**constructor_kwargs, **overrides})


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """The five runs of :data:`VARIANTS` for float32 and float16; none for float64.

    >>> [tag for tag, _ in recording_variants("float16")]
    ['', 'defaults', 'inf', 'init_zero', 'inside_inf_zero']
    >>> recording_variants("float32")[2][1]
    {'constructor_overrides': {'reg_inside_moment': False, 'bias_correction': True, \
'norm_type': 0}}
    >>> recording_variants("float64")
    []
    """
    if dtype not in DTYPES:
        return []
    return [(tag, {OVERRIDES_KEY: dict(overrides)} if overrides else {})
            for tag, overrides in VARIANTS]


def preset_kwargs(constructor_kwargs: Mapping[str, Any], dtype: str,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """The constructor keywords with the run's overrides: the ``apex`` preset's defaults
    (float32 norms, float32 hyperparameters) are Apex's for both dtypes.

    >>> preset_kwargs({"eps": 1e-8, "norm_type": 2}, "float16",
    ...               {"constructor_overrides": {"norm_type": 0}})
    {'eps': 1e-08, 'norm_type': 0}
    """
    del dtype
    return {**constructor_kwargs, **((settings or {}).get(OVERRIDES_KEY) or {})}


FRAMEWORK = Framework(
    name="apex", preset="apex", available=available, versions=versions, make=make,
    recording_variants=recording_variants, preset_kwargs=preset_kwargs, notes=NOTES)
