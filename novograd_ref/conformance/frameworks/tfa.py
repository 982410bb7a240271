"""TensorFlow Addons: ``tfa.optimizers.NovoGrad`` (a Keras 2 legacy ``OptimizerV2``).

Needs TensorFlow < 2.16 (Keras 2); the environment is ``scripts/make_env.sh tf``
(tensorflow-cpu 2.15.1, tensorflow-addons 0.23.0). Runs eagerly on the CPU.

How the adapter drives TFA: one ``tf.Variable`` per leaf, created in leaf order, one
optimizer instance per run, ``apply_gradients(zip(grads, vars))`` once per step. A
constant rate is passed as a Python float; a schedule as a Keras
``LearningRateSchedule`` whose ``__call__(step)`` returns entry ``int(step)`` of a
float64 table (Keras calls it with the optimizer's ``iterations`` before the increment,
cast to the variable dtype, and casts the result to the variable dtype). Variant ``""``
calls ``apply_gradients`` eagerly (setting ``{"tf_function": True}`` calls it inside one
``tf.function``, as ``Model.fit`` does; that gave identical bits on every case).

Numerics read from the installed sources (``tensorflow_addons/optimizers/novograd.py``
and ``keras/src/optimizers/legacy/optimizer_v2.py``):

* Hyperparameters given as Python numbers go through ``_set_hyper``; on first use
  ``_create_hypers`` turns each into a *float32* Keras variable (``add_weight`` with no
  dtype). Reading one with ``_get_hyper(name, var_dtype)`` casts that float32 value to
  the variable dtype. So in a float64 run ``beta_1``, ``beta_2``, ``weight_decay`` and a
  constant ``learning_rate`` are rounded to float32 and widened back exactly.
  ``1 - beta_1`` and ``1 - beta_2`` are computed after that cast, in the variable dtype
  (float64 arithmetic on the float32-rounded beta).
* ``epsilon`` is not a hyper: it is kept as the Python float ``epsilon or 1e-7``
  (``epsilon=0`` silently becomes 1e-7) and added as a Python float, so it is exact in a
  float64 run.
* A ``LearningRateSchedule`` is not turned into a variable: the rate is the schedule's
  value cast to the variable dtype, so a float64 table stays exact in float64 runs.
  Legacy ``decay`` (0 here) would divide by ``1 + decay * iterations``.
* ``grad_averaging`` is stored as a hyper too (a boolean variable).
* The first step is global: ``iterations == 0`` gives ``v = S`` (``S`` the variable-dtype
  ``reduce_sum(square(g))``); later ``v = v * beta_2 + S * (1 - beta_2)``, written to
  the slot ``v`` (0-d, variable dtype). amsgrad keeps ``vhat`` (variable-shaped) as the
  running maximum of ``v`` and divides by ``sqrt(vhat) + eps``, else by
  ``sqrt(v) + eps`` (eps outside the root).
* ``g' = g / den``; ``+ weight_decay * var`` only if ``weight_decay > 0``; ``* (1 - beta_1)``
  only if ``grad_averaging`` and ``iterations != 0``.
* ``ResourceApplyKerasMomentum`` (no Nesterov): ``m = m * beta_1 - lr * g'`` then
  ``var = var + m`` (the rate is folded into the accumulator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from novograd_ref.conformance._adapter import LearningRate, Leaves
from novograd_ref.conformance.frameworks import Framework, dist_versions, spec_exists

NOTES = (
    "tensorflow_addons.optimizers.NovoGrad (Keras legacy OptimizerV2), eager CPU. Python-"
    "number hyperparameters (beta_1, beta_2, weight_decay, a constant learning_rate) are "
    "float32 Keras variables cast to the variable dtype; epsilon stays a Python float; a "
    "LearningRateSchedule's float64 value is cast to the variable dtype."
)


def available() -> bool:
    """Whether tensorflow and tensorflow_addons are importable."""
    return spec_exists("tensorflow") and spec_exists("tensorflow_addons")


def versions() -> dict[str, str]:
    """tensorflow-addons first, then the packages that decide its numerics."""
    return dist_versions("tensorflow-addons", "tensorflow-cpu", "keras", "typeguard", "numpy")


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """One eager run per dtype.

    ``{"tf_function": True}`` is accepted by :func:`make` too; with TF 2.15.1 / TFA 0.23.0
    it gave bit-identical trajectories on every case, so it is not recorded.
    """
    if dtype not in ("float32", "float64"):
        return []
    return [("", {"tf_function": False})]


def preset_kwargs(
    constructor_kwargs: Mapping[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Same keywords; float64 runs add ``hyper_dtype="float32"`` (Keras's hyper variables).

    Precisely (see the module docstring): beta_1, beta_2, weight_decay and a constant
    learning rate are float32-rounded; epsilon and a scheduled rate are not.
    """
    del settings
    out = dict(constructor_kwargs)
    if dtype == "float64":
        out["hyper_dtype"] = "float32"
    return out


@dataclass
class _State:
    optimizer: Any
    variables: list[Any]
    names: list[str]
    dtype: np.dtype
    apply: Any


class TfaAdapter:
    """Drives ``tfa.optimizers.NovoGrad`` on NumPy inputs (see the module docstring)."""

    name = "tfa"

    def __init__(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> None:
        self.settings = dict(settings)
        self.kwargs = dict(kwargs)

    def init(self, params: Leaves, learning_rate: LearningRate) -> _State:
        """Create the variables and the optimizer."""
        import tensorflow as tf
        import tensorflow_addons as tfa

        names = list(params)
        dtype = np.asarray(params[names[0]]).dtype
        variables = [
            tf.Variable(np.array(params[n], dtype=dtype), name=f"leaf_{i}")
            for i, n in enumerate(names)
        ]
        if isinstance(learning_rate, np.ndarray):
            lr: Any = _table_schedule(np.array(learning_rate, dtype=np.float64))
        else:
            lr = float(learning_rate)
        optimizer = tfa.optimizers.NovoGrad(learning_rate=lr, **self.kwargs)

        def apply(grads: list[Any]) -> None:
            optimizer.apply_gradients(zip(grads, variables, strict=True))

        if self.settings.get("tf_function", False):
            apply = tf.function(apply)
        return _State(optimizer, variables, names, dtype, apply)

    def update(self, grads: Leaves, state: _State) -> tuple[dict[str, np.ndarray], _State]:
        """One ``apply_gradients``; returns the variables' new values."""
        import tensorflow as tf

        tensors = [
            tf.constant(np.array(grads[n], dtype=state.dtype), dtype=state.dtype)
            for n in state.names
        ]
        state.apply(tensors)
        return {
            n: v.numpy().copy() for n, v in zip(state.names, state.variables, strict=True)
        }, state

    def state_arrays(self, state: _State) -> dict[str, np.ndarray]:
        """The per-variable second moment slot ``v`` (0-d) after a step.

        The momentum slot ``m`` (rate folded in) is not exported: it is as large as the
        parameters and equals ``p_t - p_{t-1}``.
        """
        return {
            f"v__{n}": state.optimizer.get_slot(var, "v").numpy().copy()
            for n, var in zip(state.names, state.variables, strict=True)
        }


def _table_schedule(table: np.ndarray) -> Any:
    """A Keras ``LearningRateSchedule`` returning ``table[int(step)]`` (float64)."""
    import tensorflow as tf

    class TableSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
        """Looks the rate up in a table by the optimizer's 0-based step."""

        def __init__(self, values: np.ndarray) -> None:
            super().__init__()
            self.values = np.array(values, dtype=np.float64)
            self.table = tf.constant(self.values, dtype=tf.float64)

        def __call__(self, step: Any) -> Any:
            index = tf.cast(step, tf.int64)
            index = tf.minimum(index, tf.constant(len(self.values) - 1, tf.int64))
            return tf.gather(self.table, index)

        def get_config(self) -> dict[str, Any]:
            return {"values": self.values.tolist()}

    return TableSchedule(table)


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> TfaAdapter:
    """An adapter for ``tfa.optimizers.NovoGrad(**constructor_kwargs)``."""
    return TfaAdapter(settings or {}, constructor_kwargs)


FRAMEWORK = Framework(
    name="tfa", preset="tfa", available=available, versions=versions, make=make,
    recording_variants=recording_variants, preset_kwargs=preset_kwargs, env="tf",
    notes=NOTES)
