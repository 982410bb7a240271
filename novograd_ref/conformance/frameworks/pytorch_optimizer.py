"""pytorch_optimizer's ``NovoGrad`` (PyPI ``pytorch_optimizer`` 4.1.0).

Its state lives in the parameter dtype (``grad.pow(2).sum()``), so the torch default
dtype does not matter and float64 parameters are recorded once. The first update of a
parameter clones the normalised gradient into the moment (no ``b1``, no ``1 - b1``); the
second moment is updated with ``lerp``; there is no bias correction unless
``adam_debias``. On the CPU the default ``foreach=None`` takes the multi-tensor path.
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

PRESET = "pytorch_optimizer"
LEARNING_RATE_KEYWORD = "lr"
#: The environment ``scripts/make_env.sh`` creates for this framework.
ENV = "torch"
NOTES = (
    "pytorch_optimizer.NovoGrad.step / _step_foreach (4.1.0), foreach path (default on CPU): "
    "maximize -> grads negated; first update: v = g.pow(2).sum() (param dtype), else "
    "v.lerp_(S, weight=1-b2); den = sqrt(v) + eps; p.grad divided in place; weight decay "
    "(wd != 0): weight_decouple -> p *= 1 - wd*lr (fixed_decay: 1 - wd), else grad += wd*p; "
    "first update: m = clone(grad) (no b1, no 1-b1); later grad *= 1-b1 if grad_averaging, "
    "m = m*b1 + grad; p.add_(m, alpha=-step_size), step_size = lr, or "
    "lr*sqrt(1 - b2**t) (Python floats, t = the group's step) with adam_debias."
)

_STATE_IN_DEFAULT_DTYPE = False


def available() -> bool:
    """Whether torch and pytorch_optimizer can be imported here."""
    return spec_exists("torch") and spec_exists("pytorch_optimizer")


def versions() -> dict[str, str]:
    """The versions that decide the numerics."""
    return torch_versions("pytorch_optimizer")


def kwargs_for(hyper: dict[str, Any]) -> dict[str, Any] | None:
    """Constructor keywords; weight decay ``inside``, ``decoupled`` or ``fixed``; no amsgrad.

    ``adam_debias`` is passed explicitly: the constructor stores unknown keywords in the
    parameter group, where ``step`` reads it.
    """
    kw = base_kwargs(hyper, {"adam_debias", "maximize"})
    h = canonical_hyper(hyper)
    mode = h["weight_decay_mode"]
    if kw is None or mode == "corrected":
        return None
    return {
        **kw,
        "weight_decouple": mode in ("decoupled", "fixed"),
        "fixed_decay": mode == "fixed",
        "grad_averaging": bool(h["grad_averaging"]),
        "maximize": bool(h["maximize"]),
        "adam_debias": bool(h["adam_debias"]),
    }


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """The parameter dtype as default dtype (the state ignores the default dtype)."""
    return recording_variants_for(dtype, _STATE_IN_DEFAULT_DTYPE)


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> Adapter:
    """An adapter over ``pytorch_optimizer.NovoGrad`` built with ``constructor_kwargs``."""
    from pytorch_optimizer.optimizer.novograd import NovoGrad

    return TorchAdapter(PRESET, NovoGrad, constructor_kwargs, settings)


def preset_kwargs(
    constructor_kwargs: dict[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """The constructor keywords (the state is in the parameter dtype)."""
    return state_dtype_kwargs(constructor_kwargs, dtype, settings, _STATE_IN_DEFAULT_DTYPE)
