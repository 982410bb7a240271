"""pytorch_optimizer's ``NovoGrad`` (PyPI ``pytorch_optimizer`` 4.1.0).

Its state lives in the parameter dtype (``grad.pow(2).sum()``), so the torch default
dtype does not matter and float64 parameters are recorded once. The first update of a
parameter clones the normalised gradient into the moment (no ``b1``, no ``1 - b1``); the
second moment is updated with ``lerp``; there is no bias correction unless
``adam_debias``. On the CPU the default ``foreach=None`` takes the multi-tensor path.
"""

from __future__ import annotations

from typing import Any

from novograd_ref.conformance.frameworks import spec_exists
from novograd_ref.conformance.frameworks._torch import torch_framework, torch_versions

NOTES = (
    "pytorch_optimizer.NovoGrad.step / _step_foreach (4.1.0), foreach path (default on CPU): "
    "maximize -> grads negated; first update: v = g.pow(2).sum() (param dtype), else "
    "v.lerp_(S, weight=1-b2); den = sqrt(v) + eps; p.grad divided in place; weight decay "
    "(wd != 0): weight_decouple -> p *= 1 - wd*lr (fixed_decay: 1 - wd), else grad += wd*p; "
    "first update: m = clone(grad) (no b1, no 1-b1); later grad *= 1-b1 if grad_averaging, "
    "m = m*b1 + grad; p.add_(m, alpha=-step_size), step_size = lr, or "
    "lr*sqrt(1 - b2**t) (Python floats, t = the group's step) with adam_debias."
)


def available() -> bool:
    """Whether torch and pytorch_optimizer can be imported here."""
    return spec_exists("torch") and spec_exists("pytorch_optimizer")


def _kozistr_novograd() -> Any:
    from pytorch_optimizer.optimizer.novograd import NovoGrad

    return NovoGrad


#: ``adam_debias`` is always passed explicitly: the constructor stores unknown keywords
#: in the parameter group, where ``step`` reads it.
FRAMEWORK = torch_framework(
    name="pytorch_optimizer", preset="pytorch_optimizer", optimizer=_kozistr_novograd,
    available=available, versions=lambda: torch_versions("pytorch_optimizer"),
    second_moment="parameters", notes=NOTES)
