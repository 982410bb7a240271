"""The fused step as a port the conformance kit checks: one factory per preset.

``novograd-ref verify --impl novograd_ref.fused.ports:nemo --preset nemo`` steps
:class:`FusedAdapter` (the fused kernels, built from the ``nemo`` preset with the
case's keywords) through the standard and generated cases and compares every
trajectory with the reference core, exactly as for any other implementation.

>>> import numpy as np
>>> adapter = factory("optax")(b1=0.9)
>>> state = adapter.init({"w": np.array([1.0, 2.0])}, 0.1)
>>> params, state = adapter.update({"w": np.array([3.0, 4.0])}, state)
>>> params["w"]
array([0.94000001, 1.92000002])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import presets
from ..conformance import PresetAdapter
from ..conformance._adapter import LearningRate
from ._api import from_optimizer


class FusedAdapter:
    """The fused step of one preset through the kit's ``Adapter`` protocol.

    The preset is built as :class:`~novograd_ref.conformance.PresetAdapter` builds it
    (same keywords, same learning-rate schedule); the adapter owns copies of the
    parameters, steps them in place and hands back copies, so the arrays the kit gives
    and keeps are never written.
    """

    def __init__(self, preset: str, **kwargs: Any) -> None:
        self._oracle = PresetAdapter(preset, **kwargs)
        self.name = f"fused:{preset}"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: LearningRate) -> Any:
        opt, own_params, _ = self._oracle.init(params, learning_rate)
        fast = from_optimizer(opt)
        return fast, own_params, fast.init(own_params)

    def update(self, grads: Mapping[str, np.ndarray], state: Any
               ) -> tuple[dict[str, np.ndarray], Any]:
        fast, params, fast_state = state
        fast.step_(params, dict(grads), fast_state)
        return {k: v.copy() for k, v in params.items()}, state


def factory(preset: str) -> Callable[..., FusedAdapter]:
    """``factory(**keywords)`` building a :class:`FusedAdapter` of ``preset``."""
    presets.get(preset)

    def make(**kwargs: Any) -> FusedAdapter:
        return FusedAdapter(preset, **kwargs)

    make.__name__ = preset
    return make


def __getattr__(name: str) -> Callable[..., FusedAdapter]:
    """``ports.<preset>``: the factory of every preset in ``novograd_ref.presets``."""
    if name in presets.names():
        return factory(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
