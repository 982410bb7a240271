"""TensorFlow Addons: ``tfa.optimizers.NovoGrad`` (a Keras 2 legacy ``OptimizerV2``).

Needs TensorFlow < 2.16 (Keras 2); the environment is ``scripts/make_env.sh tf``
(tensorflow-cpu 2.15.1, tensorflow-addons 0.23.0). Runs eagerly on the CPU.

How the adapter drives TFA: one ``tf.Variable`` per leaf, created in leaf order, one
optimizer instance per run, ``apply_gradients(zip(grads, vars))`` once per step. A
constant rate is passed as a Python float. A learning-rate table reaches TFA in one of
three ways, one recording variant each (setting ``"learning_rate_via"``):

* ``""`` (no setting): a custom Keras ``LearningRateSchedule`` whose ``__call__(step)``
  returns entry ``int(step)`` of the float64 table (Keras calls it with the optimizer's
  ``iterations`` before the increment, cast to the variable dtype, and casts the result
  to the variable dtype), so a float64 run gets the table exactly.
* ``"callback"`` (tag ``callback``): the optimizer is built with the Python float
  ``table[0]`` and the real ``tf.keras.callbacks.LearningRateScheduler`` runs its
  ``on_epoch_begin(k)`` before step ``k + 1``, as ``Model.fit`` does with one batch per
  epoch; it assigns ``table[k]`` into the optimizer's float32 learning-rate variable.
* ``"piecewise_constant_decay"`` (tag ``keras_schedule``): the built-in
  ``tf.keras.optimizers.schedules.PiecewiseConstantDecay`` with a boundary wherever the
  table changes; its values are float32 tensors. ``init`` checks that it returns
  ``float32(table[k])`` at every step. (``CosineDecay`` is not used: its float32
  arithmetic differs from the float32-rounded float64 cosine by up to 14 float32 ulps
  (9e-7 relative) on 15 of the 30 steps of ``keras_warmup_cosine``, so no table
  reproduces it.)

These two variants are recorded only on cases with a scheduled rate
(:data:`SCHEDULE_ONLY_TAGS`). Every variant calls ``apply_gradients`` eagerly (setting
``{"tf_function": True}`` calls it inside one ``tf.function``, as ``Model.fit`` does;
that gave identical bits on every case).

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
  value cast to the variable dtype, so a float64 table stays exact in float64 runs,
  while a built-in schedule (computed in float32) delivers float32 values. The
  ``LearningRateScheduler`` callback assigns into the float32 learning-rate variable:
  float32 values too. The preset reproduces both with ``schedule_dtype="float32"``.
  Legacy ``decay`` (0 here) would divide by ``1 + decay * iterations``.
* In float32 runs every rate and hyperparameter is float32 (the variable dtype): the
  three ways give bit-identical float32 trajectories, and the hyperparameters are the
  float32 variables' values, so ``1 - beta`` is computed from the rounded beta there too
  (modelled with ``hyper_dtype="float32"``, more float32 records are reproduced bit for
  bit than without it).
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
from types import SimpleNamespace
from typing import Any

import numpy as np

from novograd_ref.conformance.adapters._protocol import LearningRate, Leaves
from novograd_ref.conformance.frameworks import Framework, dist_versions, spec_exists

NOTES = (
    "tensorflow_addons.optimizers.NovoGrad (Keras legacy OptimizerV2), eager CPU. Python-"
    "number hyperparameters (beta_1, beta_2, weight_decay, a constant learning_rate) are "
    "float32 Keras variables cast to the variable dtype; epsilon stays a Python float; a "
    "LearningRateSchedule's float64 value is cast to the variable dtype. Tag 'callback': "
    "tf.keras.callbacks.LearningRateScheduler assigns each rate into the float32 "
    "learning-rate variable; tag 'keras_schedule': the built-in PiecewiseConstantDecay "
    "(float32 values)."
)

#: Recording variants that differ from ``""`` only when the rate is scheduled; the
#: recorder records them only on cases whose ``lr_kind`` is ``"schedule"``.
SCHEDULE_ONLY_TAGS: tuple[str, ...] = ("callback", "keras_schedule")

_VIA = "learning_rate_via"
_VIA_BY_TAG = {"callback": "callback", "keras_schedule": "piecewise_constant_decay"}


def available() -> bool:
    """Whether tensorflow and tensorflow_addons are importable."""
    return spec_exists("tensorflow") and spec_exists("tensorflow_addons")


def versions() -> dict[str, str]:
    """tensorflow-addons first, then the packages that decide its numerics."""
    return dist_versions("tensorflow-addons", "tensorflow-cpu", "keras", "typeguard", "numpy")


def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
    """Eager runs per dtype: the table as a custom schedule, through the
    ``LearningRateScheduler`` callback and as a built-in Keras schedule.

    ``{"tf_function": True}`` is accepted by :func:`make` too; with TF 2.15.1 / TFA 0.23.0
    it gave bit-identical trajectories on every case, so it is not recorded.
    """
    if dtype not in ("float32", "float64"):
        return []
    return [("", {"tf_function": False})] + [
        (tag, {"tf_function": False, _VIA: via}) for tag, via in _VIA_BY_TAG.items()]


def preset_kwargs(
    constructor_kwargs: Mapping[str, Any], dtype: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Same keywords plus ``hyper_dtype="float32"`` (Keras's hyper variables) and, in
    float64 runs whose rate comes through the callback or a built-in schedule,
    ``schedule_dtype="float32"``.

    Precisely (see the module docstring): beta_1, beta_2, weight_decay and a constant
    learning rate are float32-rounded in every run (Keras derives ``1 - beta`` from the
    float32 value, which the float32 records show too); epsilon is not; a scheduled rate
    is rounded unless it comes from a custom float64 schedule. In a float32 run the
    oracle's float32 arithmetic rounds each rate anyway, so ``schedule_dtype`` would
    change nothing there and is not passed.
    """
    out = dict(constructor_kwargs)
    out["hyper_dtype"] = "float32"
    if dtype == "float64" and settings.get(_VIA) is not None:
        out["schedule_dtype"] = "float32"
    return out


@dataclass
class _TfaState:
    optimizer: Any
    variables: list[Any]
    names: list[str]
    dtype: np.dtype
    apply: Any
    callback: Any = None  # a LearningRateScheduler, run before each step
    steps: int = 0


class TfaAdapter:
    """Drives ``tfa.optimizers.NovoGrad`` on NumPy inputs (see the module docstring)."""

    name = "tfa"

    def __init__(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> None:
        self.settings = dict(settings)
        self.kwargs = dict(kwargs)

    def init(self, params: Leaves, learning_rate: LearningRate) -> _TfaState:
        """Create the variables and the optimizer."""
        import tensorflow as tf
        import tensorflow_addons as tfa

        names = list(params)
        dtype = np.asarray(params[names[0]]).dtype
        variables = [
            tf.Variable(np.array(params[n], dtype=dtype), name=f"leaf_{i}")
            for i, n in enumerate(names)
        ]
        via = self.settings.get(_VIA)
        callback = None
        if via is not None and not isinstance(learning_rate, np.ndarray):
            raise ValueError(f"tfa: {_VIA}={via!r} needs a learning-rate table, got the "
                             f"constant {learning_rate!r}")
        if isinstance(learning_rate, np.ndarray):
            table = np.array(learning_rate, dtype=np.float64)
            if via is None:
                lr: Any = _keras_table_schedule(table)
            elif via == "piecewise_constant_decay":
                lr = _piecewise_constant_decay(table)
            elif via == "callback":
                lr = float(table[0])
                callback = _scheduler_callback(table)
            else:
                raise ValueError(f"tfa: unknown {_VIA} {via!r}")
        else:
            lr = float(learning_rate)
        optimizer = tfa.optimizers.NovoGrad(learning_rate=lr, **self.kwargs)
        if callback is not None:
            callback.set_model(SimpleNamespace(optimizer=optimizer))

        def apply(grads: list[Any]) -> None:
            optimizer.apply_gradients(zip(grads, variables, strict=True))

        if self.settings.get("tf_function", False):
            apply = tf.function(apply)
        return _TfaState(optimizer, variables, names, dtype, apply, callback)

    def update(self, grads: Leaves, state: _TfaState) -> tuple[dict[str, np.ndarray], _TfaState]:
        """One ``apply_gradients``; returns the variables' new values."""
        import tensorflow as tf

        tensors = [
            tf.constant(np.array(grads[n], dtype=state.dtype), dtype=state.dtype)
            for n in state.names
        ]
        if state.callback is not None:  # Model.fit: on_epoch_begin, then the batch
            state.callback.on_epoch_begin(state.steps)
        state.apply(tensors)
        state.steps += 1
        return {
            n: v.numpy().copy() for n, v in zip(state.names, state.variables, strict=True)
        }, state

    def state_arrays(self, state: _TfaState) -> dict[str, np.ndarray]:
        """The per-variable second moment slot ``v`` (0-d) after a step.

        The momentum slot ``m`` (rate folded in) is not exported: it is as large as the
        parameters and equals ``p_t - p_{t-1}``.
        """
        return {
            f"v__{n}": state.optimizer.get_slot(var, "v").numpy().copy()
            for n, var in zip(state.names, state.variables, strict=True)
        }


def _keras_table_schedule(table: np.ndarray) -> Any:
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


def _piecewise_constant_decay(table: np.ndarray) -> Any:
    """Keras's built-in ``PiecewiseConstantDecay`` for a table: a boundary at every step
    ``k`` where ``table[k + 1] != table[k]`` (Keras gives ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``). Checked to return ``float32(table[k])``
    at every 0-based step ``k``."""
    import tensorflow as tf

    changes = [k for k in range(len(table) - 1) if table[k + 1] != table[k]]
    boundaries = changes or [len(table) - 1]  # Keras needs one boundary at least
    values = [float(table[0])] + [float(table[k + 1]) for k in boundaries]
    schedule = tf.keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    got = np.array([schedule(tf.constant(k, tf.int64)).numpy() for k in range(len(table))])
    if got.dtype != np.float32 or not np.array_equal(got, table.astype(np.float32)):
        raise RuntimeError("PiecewiseConstantDecay does not return float32(table[k])")
    return schedule


def _scheduler_callback(table: np.ndarray) -> Any:
    """``tf.keras.callbacks.LearningRateScheduler`` returning ``table[epoch]``."""
    import tensorflow as tf

    def schedule(epoch: int, lr: float) -> float:
        del lr
        return float(table[epoch])

    return tf.keras.callbacks.LearningRateScheduler(schedule)


def make(settings: dict[str, Any] | None = None, **constructor_kwargs: Any) -> TfaAdapter:
    """An adapter for ``tfa.optimizers.NovoGrad(**constructor_kwargs)``."""
    return TfaAdapter(settings or {}, constructor_kwargs)


FRAMEWORK = Framework(
    name="tfa", preset="tfa", available=available, versions=versions, make=make,
    recording_variants=recording_variants, preset_kwargs=preset_kwargs,
    schedule_only_tags=SCHEDULE_ONLY_TAGS, env="tf", notes=NOTES)
