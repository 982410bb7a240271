"""torch-optimizer (``torch_optimizer.NovoGrad``, PyPI ``torch-optimizer`` 0.3.0).

The DeepLearningExamples Jasper recurrence: the squared norm is ``sum(g**2)``, the
second moment is re-initialised whenever its stored value is exactly zero, the
normalised gradient (plus ``weight_decay * p``, then times ``1 - b1`` if
``grad_averaging``) is accumulated without a ``1 - b1`` factor otherwise, and
``p -= lr * m``. The second moment is created in torch's default dtype.
"""

from __future__ import annotations

from typing import Any

from novograd_ref.conformance._adapter import Adapter
from novograd_ref.conformance.frameworks import canonical_hyper, spec_exists
from novograd_ref.conformance.frameworks._torch import (
    TorchAdapter,
    base_kwargs,
    recording_variants_for,
    state_dtype_kwargs,
    torch_versions,
)

PRESET = "torch_optimizer"
LEARNING_RATE_KEYWORD = "lr"
#: The environment ``scripts/make_env.sh`` creates for this framework.
ENV = "torch"
NOTES = (
    "torch_optimizer.NovoGrad.step: S = torch.sum(torch.pow(g, 2)); the second moment is "
    "torch.zeros([]) in the torch default dtype, set to S while it equals 0, else "
    "v.mul_(b2).add_(S, alpha=1-b2); den = sqrt(v).add_(eps) in the state dtype; "
    "p.grad.div_(den) in place; grad.add_(p, alpha=wd) if wd != 0; grad.mul_(1-b1) if "
    "grad_averaging; m.mul_(b1).add_(grad); p.add_(m, alpha=-lr) (a fused multiply-add "
    "on CPU). amsgrad keeps max(v) in the default dtype. Constructor rejects lr <= 0, "
    "eps < 0, betas outside [0, 1), weight_decay < 0."
)

_STATE_IN_DEFAULT_DTYPE = True


def available() -> bool:
    """Whether torch and torch_optimizer can be imported here."""
    return spec_exists("torch") and spec_exists("torch_optimizer")


def versions() -> dict[str, str]:
    """The versions that decide the numerics."""
    return torch_versions("torch-optimizer")


def kwargs_for(hyper: dict[str, Any]) -> dict[str, Any] | None:
    """Constructor keywords for a case, or ``None`` (only ``inside`` weight decay)."""
    kw = base_kwargs(hyper, {"amsgrad"})
    h = canonical_hyper(hyper)
    if kw is None or h["weight_decay_mode"] != "inside":
        return None
    return {**kw, "grad_averaging": bool(h["grad_averaging"]), "amsgrad": bool(h["amsgrad"])}


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """The parameter dtype as default dtype; for float64 also a float32-state run."""
    return recording_variants_for(dtype, _STATE_IN_DEFAULT_DTYPE)


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> Adapter:
    """An adapter over ``torch_optimizer.NovoGrad`` built with ``constructor_kwargs``."""
    import torch_optimizer

    return TorchAdapter(PRESET, torch_optimizer.NovoGrad, constructor_kwargs, settings)


def preset_kwargs(
    constructor_kwargs: dict[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Constructor keywords plus ``state_dtype`` when the default dtype differs."""
    return state_dtype_kwargs(constructor_kwargs, dtype, settings, _STATE_IN_DEFAULT_DTYPE)
