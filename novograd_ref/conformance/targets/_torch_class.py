"""``torch:MODULE:CLASS``: a ``torch.optim.Optimizer`` subclass, checked as published.

Each leaf becomes its own parameter (one NovoGrad layer), in the case's order; the
gradients are copied into ``.grad`` before every ``step()``; the rate of each step is
written into the parameter groups before it (the constructor gets the peak rate); the
parameters are read back as copies. torch's default dtype is the parameters' dtype
while the optimizer is built and stepped (float32 for float16 parameters), so state a
class creates with ``torch.zeros([])`` has the parameters' precision, and the run is
compared with the preset as configured. This is the driver that records the PyTorch
NovoGrads (:class:`~novograd_ref.conformance.frameworks._torch.TorchAdapter`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ..adapters._protocol import Adapter, Implementation, ImplementationError
from ..frameworks._torch import DEFAULT_DTYPE_KEY, TorchAdapter
from ._constructor_keywords import constructor_keywords, learning_rate_parameter, needs_preset
from ._grammar import Target


def optimizer_class(target: Target) -> Any:
    """Import ``target``'s class and check that it is a ``torch.optim.Optimizer``."""
    if importlib.util.find_spec("torch") is None:
        raise ImplementationError("torch: targets need PyTorch, which is not installed "
                                  "here (pip install torch)")
    import torch

    found = getattr(importlib.import_module(target.module), target.name, None)
    if found is None:
        raise ImplementationError(f"{target.module!r} has no {target.name!r}")
    if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
        raise ImplementationError(f"{target.what} is {_kind(found)}, not a "
                                  "torch.optim.Optimizer subclass")
    return found


def implementation(spec: str, target: Target, preset: str | None = None
                   ) -> Implementation:
    """The :class:`~novograd_ref.conformance.adapters._loader.Implementation` of a torch class."""
    cls = optimizer_class(target)
    rate = learning_rate_parameter(cls)
    if rate is None:
        raise ImplementationError(f"{target.what} takes no learning rate (no lr or "
                                  "learning_rate parameter)")

    def build(kwargs: dict[str, Any], dtype: str) -> Adapter:
        filled = constructor_keywords(cls, target.what, needs_preset(spec, preset),
                                      kwargs, fixed=target.keywords, mapping=target.mapping)
        filled.pop(rate, None)
        state = dtype if dtype in ("float32", "float64") else "float32"
        return TorchAdapter(spec, cls, filled, {DEFAULT_DTYPE_KEY: state}, rate)

    return Implementation(spec, build)


def _kind(value: Any) -> str:
    return (f"the class {value.__module__}.{value.__qualname__}" if isinstance(value, type)
            else f"a {type(value).__name__}")
