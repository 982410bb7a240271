"""torch-optimizer (``torch_optimizer.NovoGrad``, PyPI ``torch-optimizer`` 0.3.0).

The DeepLearningExamples Jasper recurrence: the squared norm is ``sum(g**2)``, the
second moment is re-initialised whenever its stored value is exactly zero, the
normalised gradient (plus ``weight_decay * p``, then times ``1 - b1`` if
``grad_averaging``) is accumulated without a ``1 - b1`` factor otherwise, and
``p -= lr * m``. The second moment is created in torch's default dtype.
"""

from __future__ import annotations

from typing import Any

from novograd_ref.conformance.frameworks import spec_exists
from novograd_ref.conformance.frameworks._torch import torch_framework, torch_versions

NOTES = (
    "torch_optimizer.NovoGrad.step: S = torch.sum(torch.pow(g, 2)); the second moment is "
    "torch.zeros([]) in the torch default dtype, set to S while it equals 0, else "
    "v.mul_(b2).add_(S, alpha=1-b2); den = sqrt(v).add_(eps) in the state dtype; "
    "p.grad.div_(den) in place; grad.add_(p, alpha=wd) if wd != 0; grad.mul_(1-b1) if "
    "grad_averaging; m.mul_(b1).add_(grad); p.add_(m, alpha=-lr) (a fused multiply-add "
    "on CPU). amsgrad keeps max(v) in the default dtype. Constructor rejects lr <= 0, "
    "eps < 0, betas outside [0, 1), weight_decay < 0."
)


def available() -> bool:
    """Whether torch and torch_optimizer can be imported here."""
    return spec_exists("torch") and spec_exists("torch_optimizer")


def _jettify_novograd() -> Any:
    import torch_optimizer

    return torch_optimizer.NovoGrad


FRAMEWORK = torch_framework(
    name="torch_optimizer", preset="torch_optimizer", optimizer=_jettify_novograd,
    available=available, versions=lambda: torch_versions("torch-optimizer"),
    second_moment="torch_default", notes=NOTES)
