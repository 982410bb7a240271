r"""The fused fast path: NovoGrad's step at the memory-bandwidth limit, in place.

The reference core (:func:`novograd_ref.novograd`) is pure: it never touches the
caller's arrays and makes several passes over each layer. This module computes the
same step, for every configuration the core accepts, with one reduction pass over the
gradient (the per-layer norm, summed in float64) and one fused pass that reads the
gradient, moment and parameters once and writes the moment and parameters once,
updating the caller's buffers **in place**:

.. code-block:: python

    fast = ngr.fused.from_optimizer(opt)   # opt from ngr.novograd(...) or any preset
    state = fast.init(params)              # a NovoGradState, as opt.init gives
    fast.step_(params, grads, state)       # params and state updated in place

On the CPU it runs numba kernels over NumPy arrays (``pip install numba``, or the
``fast`` extra, ``pip install ".[fast]"`` in a checkout; compiled code is cached on
disk); on the GPU, CuPy kernels over CuPy arrays. Buffers must be C-contiguous,
writeable (parameters and state), of the dtypes the configuration implies, and none may
share memory with another that the step writes (a gradient may be its own parameter's
buffer); anything else is refused with an error naming the leaf, never copied behind
the caller's back. Everything the reference's ``update`` checks is checked too, with
its messages (the step count's range, the learning rate's value), and all of it before
a single value is written: after an error nothing has changed. float16, float32 and
float64 are supported (float16
with any state dtype); bfloat16 is refused (neither NumPy nor numba has it).

It is checked against the reference exactly as a port is: ``novograd-ref verify
--impl novograd_ref.fused.ports:optax --preset optax`` (one factory per preset).

>>> import numpy as np
>>> import novograd_ref as ngr
>>> opt = ngr.presets.optax(0.1)
>>> fast = ngr.fused.from_optimizer(opt)
>>> params = {"w": np.array([1.0, 2.0, 3.0])}
>>> state = fast.init(params)
>>> fast.step_(params, {"w": np.array([1.0, 2.0, 3.0])}, state)
>>> params["w"]  # first step: p - lr * g / (|g| + eps), as the reference computes
array([0.97327388, 1.94654777, 2.91982165])
>>> int(state.count)
1
"""

from __future__ import annotations

try:
    import numba as _numba  # noqa: F401 (the CPU kernels need it)
except ImportError:
    raise ImportError("novograd_ref.fused needs numba: pip install numba (the fast extra)"
                      ) from None

from ._api import FusedNovoGrad, from_optimizer

__all__ = ("FusedNovoGrad", "from_optimizer")
