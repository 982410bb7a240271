"""``keras:MODULE:CLASS``: a Keras 3 optimizer, checked as published.

The backend is whichever Keras 3 backend is installed: ``KERAS_BACKEND`` if set, else
JAX (64-bit mode on), else PyTorch, chosen before Keras is imported. Each leaf becomes
its own ``keras.Variable``; ``CLASS(learning_rate=schedule, **keywords)`` gets the
rate as a ``LearningRateSchedule`` indexing the rate table with the optimizer's
``iterations`` (the number of updates already applied); each step is one
``apply_gradients``; the variables are read back as NumPy copies. Keras's float type
(``keras.config.floatx``, the dtype of the optimizer's own variables such as its
learning rate) is the parameters' dtype while the optimizer is built and stepped
(float32 for float16 parameters), as torch's default dtype is for ``torch:`` targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..adapters._protocol import Adapter, Implementation, ImplementationError, LearningRate, Leaves
from ._constructor_keywords import constructor_keywords, learning_rate_parameter, needs_preset
from ._grammar import Target


def keras_module() -> Any:
    """Import Keras 3 on an installed backend (see the module docstring)."""
    if "KERAS_BACKEND" not in os.environ:
        backend = next((b for b in ("jax", "torch") if importlib.util.find_spec(b)), None)
        if backend is None:
            raise ImplementationError("keras: targets need a Keras 3 backend; neither jax "
                                      "nor torch is installed")
        os.environ["KERAS_BACKEND"] = backend
    if os.environ["KERAS_BACKEND"] == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    try:
        import keras
    except ImportError as exc:
        raise ImplementationError(f"keras: targets need Keras 3 ({exc})") from None
    if not str(getattr(keras, "__version__", "0")).startswith("3"):
        raise ImplementationError(f"keras: targets need Keras 3, found {keras.__version__}")
    return keras


@contextlib.contextmanager
def floatx(keras: Any, dtype: np.dtype) -> Iterator[None]:
    """Keras's float type set to ``dtype`` (float32 for narrower ones) for the block."""
    previous = keras.config.floatx()
    keras.config.set_floatx("float64" if dtype == np.float64 else "float32")
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


@dataclasses.dataclass
class _KerasRun:
    variables: list[Any]
    optimizer: Any
    dtype: np.dtype
    names: list[str]


class KerasAdapter:
    """Drives a Keras 3 optimizer class through the adapter protocol."""

    def __init__(self, name: str, cls: Any, keywords: dict[str, Any], rate_keyword: str
                 ) -> None:
        self.name, self._class, self._keywords = name, cls, keywords
        self._rate_keyword = rate_keyword

    def init(self, params: Leaves, learning_rate: LearningRate) -> _KerasRun:
        """Create the variables and the optimizer, and build it."""
        keras = keras_module()
        names = list(params)
        dtype = np.asarray(params[names[0]]).dtype
        table = np.atleast_1d(np.asarray(learning_rate, dtype=np.float64))

        class Table(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[name-defined]
            def __call__(self, step: Any) -> Any:
                index = keras.ops.minimum(keras.ops.cast(step, "int32"), table.size - 1)
                return keras.ops.take(keras.ops.convert_to_tensor(table), index)

            def get_config(self) -> dict[str, Any]:
                return {"table": table.tolist()}

        with floatx(keras, dtype):
            variables = [keras.Variable(np.array(params[n], dtype=dtype), dtype=str(dtype),
                                        name=f"leaf_{i}") for i, n in enumerate(names)]
            optimizer = self._class(**{self._rate_keyword: Table()}, **self._keywords)
            optimizer.build(variables)
        return _KerasRun(variables, optimizer, dtype, names)

    def update(self, grads: Leaves, state: _KerasRun) -> tuple[dict[str, np.ndarray], _KerasRun]:
        """One ``apply_gradients``; the variables as NumPy copies."""
        keras = keras_module()
        with floatx(keras, state.dtype):
            tensors = [keras.ops.convert_to_tensor(np.array(grads[n], dtype=state.dtype))
                       for n in state.names]
            state.optimizer.apply_gradients(zip(tensors, state.variables))
        out = {n: np.array(keras.ops.convert_to_numpy(v.value), dtype=state.dtype)
               for n, v in zip(state.names, state.variables)}
        return out, state


def implementation(spec: str, target: Target, preset: str | None = None
                   ) -> Implementation:
    """The :class:`~novograd_ref.conformance.adapters._loader.Implementation` of a Keras class."""
    keras = keras_module()
    cls = getattr(importlib.import_module(target.module), target.name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
        raise ImplementationError(f"{target.what} is not a keras.optimizers.Optimizer "
                                  "subclass")
    rate = learning_rate_parameter(cls) or "learning_rate"

    def build(kwargs: dict[str, Any], dtype: str) -> Adapter:
        filled = constructor_keywords(cls, target.what, needs_preset(spec, preset),
                                      kwargs, fixed=target.keywords, mapping=target.mapping)
        filled.pop(rate, None)
        return KerasAdapter(spec, cls, filled, rate)

    return Implementation(spec, build)
