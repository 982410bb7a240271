"""The fused step as a port the conformance kit checks: one factory per preset.

``novograd-ref verify --impl novograd_ref.fused.ports:nemo --preset nemo`` steps
:class:`FusedAdapter` (the fused kernels, built from the ``nemo`` preset with the
case's keywords) through the standard and generated cases and compares every
trajectory with the reference core, exactly as for any other implementation.

The kit hands NumPy arrays. By default the fused step runs on them (the CPU kernels);
with ``NOVOGRAD_REF_FUSED_ARRAYS=cupy`` in the environment (the child processes of
``verify`` inherit it) the adapter copies the parameters and each step's gradients to
the GPU as CuPy arrays, so the CuPy kernels take the steps, and copies the parameters
back::

    NOVOGRAD_REF_FUSED_ARRAYS=cupy novograd-ref verify \\
        --impl novograd_ref.fused.ports:nemo --preset nemo

``FusedAdapter(preset, arrays="cupy", ...)`` does the same in Python.

>>> import numpy as np
>>> adapter = factory("optax")(b1=0.9)
>>> state = adapter.init({"w": np.array([1.0, 2.0])}, 0.1)
>>> params, state = adapter.update({"w": np.array([3.0, 4.0])}, state)
>>> params["w"]
array([0.94000001, 1.92000002])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import presets
from ..conformance import PresetAdapter
from ..conformance.adapters._protocol import LearningRate
from ._api import from_optimizer

#: The environment variable choosing the arrays the fused step runs on.
ARRAYS_VARIABLE = "NOVOGRAD_REF_FUSED_ARRAYS"
#: The arrays the fused ports step, NumPy arrays (the CPU kernels) or CuPy arrays (the
#: CUDA kernels).
ARRAY_KINDS = ("numpy", "cupy")


class FusedAdapter:
    """The fused step of one preset through the kit's ``Adapter`` protocol.

    The preset is built as :class:`~novograd_ref.conformance.PresetAdapter` builds it
    (same keywords, same learning-rate schedule); the adapter owns copies of the
    parameters, steps them in place and hands back copies, so the arrays the kit gives
    and keeps are never written. ``arrays`` (one of :data:`ARRAY_KINDS`, default
    ``$NOVOGRAD_REF_FUSED_ARRAYS`` or ``"numpy"``) chooses the arrays, and so the
    kernels, of the steps.
    """

    def __init__(self, preset: str, arrays: str | None = None, **kwargs: Any) -> None:
        arrays = os.environ.get(ARRAYS_VARIABLE, "numpy") if arrays is None else arrays
        if arrays not in ARRAY_KINDS:
            raise ValueError(f"arrays (or ${ARRAYS_VARIABLE}) must be one of "
                             f"{', '.join(ARRAY_KINDS)}, got {arrays!r}")
        if arrays == "cupy":
            import cupy

            self._to_device: Callable[[Any], Any] = cupy.array
            self._to_host: Callable[[Any], np.ndarray] = cupy.asnumpy
        else:
            self._to_device, self._to_host = np.array, np.array
        self._oracle = PresetAdapter(preset, **kwargs)
        self.arrays = arrays
        self.name = f"fused:{preset}" + ("" if arrays == "numpy" else f" ({arrays})")

    def init(self, params: Mapping[str, np.ndarray], learning_rate: LearningRate) -> Any:
        opt, own_params, _ = self._oracle.init(params, learning_rate)
        fast = from_optimizer(opt)
        own_params = {k: self._to_device(v) for k, v in own_params.items()}
        return fast, own_params, fast.init(own_params)

    def update(self, grads: Mapping[str, np.ndarray], state: Any
               ) -> tuple[dict[str, np.ndarray], Any]:
        fast, params, fast_state = state
        fast.step_(params, {k: self._to_device(v) for k, v in grads.items()}, fast_state)
        return {k: self._to_host(v) for k, v in params.items()}, state


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
