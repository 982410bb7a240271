"""The one interface every NovoGrad implementation is stepped through.

An :class:`Adapter` wraps an implementation (one of the oracle's presets, a real
framework such as optax or torch-optimizer, or a user's port) so that it can be driven
with NumPy inputs and read back as NumPy outputs. The recorder, the verifier and
``novograd-ref verify --impl`` all speak only this protocol.

Parameters and gradients are flat, ordered ``dict[str, numpy.ndarray]`` mappings from a
leaf name to an array; every array of one run has the same floating dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

Leaves = Mapping[str, np.ndarray]
LearningRate = Union[float, np.ndarray]  # noqa: UP007 (a runtime alias on Python 3.10)


@runtime_checkable
class Adapter(Protocol):
    """An implementation of NovoGrad driven step by step on NumPy arrays.

    ``init(params, learning_rate)`` starts a run. ``learning_rate`` is either a Python
    float (a constant rate) or a 1-D float64 array whose entry ``k`` is the rate of step
    ``k + 1`` (``k`` updates already applied); an adapter feeds it through its
    implementation's own schedule mechanism (an optax schedule, a Keras
    ``LearningRateSchedule``, ``param_group["lr"]`` set before each ``step()``...).
    It returns an opaque state.

    ``update(grads, state)`` applies one step with the given gradients (same names,
    shapes and dtype as the parameters) and returns the parameters after the step, as
    NumPy arrays of the parameter dtype, together with the new state. An adapter never
    mutates the arrays it is given.
    """

    name: str

    def init(self, params: Leaves, learning_rate: LearningRate) -> Any: ...

    def update(self, grads: Leaves, state: Any) -> tuple[dict[str, np.ndarray], Any]: ...
