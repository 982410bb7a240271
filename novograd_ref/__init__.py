"""novograd-ref: the reference implementation of the NovoGrad optimizer.

One stateless core, written against the Python Array API standard, computes every
published NovoGrad variant on any compliant array library. Quick start:

>>> import numpy as np
>>> import novograd_ref as ngr
>>> opt = ngr.presets.optax(0.003)
>>> params = {"w": np.array([1.0, 2.0, 3.0])}
>>> state = opt.init(params)
>>> updates, state = opt.update({"w": 2 * params["w"]}, state, params)
>>> params = ngr.apply_updates(params, updates)
"""

from . import presets
from ._config import Config
from ._optimizer import NovoGrad, NovoGradState, apply_updates, novograd
from ._source_tree import import_backends

backends = import_backends(__name__, __file__)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``novograd_ref.fused`` is imported on first use (it needs numba)."""
    if name == "fused":
        import importlib

        return importlib.import_module(".fused", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = (
    "Config",
    "NovoGrad",
    "NovoGradState",
    "__version__",
    "apply_updates",
    "backends",
    "novograd",
    "presets",
)
