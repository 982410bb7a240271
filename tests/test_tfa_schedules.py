"""TFA with a scheduled learning rate: how Keras rounds the rate, pinned by real records.

The bundled ``tfa`` records of every scheduled case come in three variants: ``""`` (a
custom ``LearningRateSchedule`` returning the float64 table), ``callback`` (the
``LearningRateScheduler`` callback assigning into the float32 learning-rate variable)
and ``keras_schedule`` (the built-in ``PiecewiseConstantDecay``, float32 values). In a
float64 model the last two see ``float32(lr(k))``; the ``tfa`` preset reproduces them
with ``schedule_dtype="float32"`` and misses them without it.
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref import presets, vectors
from novograd_ref.conformance import frameworks
from novograd_ref.conformance.adapters._loader import PresetAdapter
from novograd_ref.conformance.judging._verify import replay, run_trajectory, verify_record

from .test_backends import assert_close_at_tree_scale, inputs, run, tree_map
from .test_lazy import _backend, _np

KERAS_TAGS = ("callback", "keras_schedule")
TFA = vectors.record_entries(framework="tfa")
ROUNDED = [e for e in TFA if e["tag"] in KERAS_TAGS and e["dtype"] == "float64"]
F32 = [e for e in TFA if e["tag"] in KERAS_TAGS and e["dtype"] == "float32"]
SCHEDULED_CASES = sorted({e["case"] for e in ROUNDED})


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['case']}-{entry['dtype']}-{entry['tag'] or 'table'}"


def _one(case: str, dtype: str, tag: str) -> dict[str, Any]:
    (entry,) = vectors.record_entries(framework="tfa", case=case, dtype=dtype, tag=tag)
    return entry


def test_every_scheduled_case_has_both_keras_paths_in_both_dtypes() -> None:
    scheduled = sorted(c["name"] for c in vectors.case_entries() if c["lr_kind"] == "schedule"
                       and frameworks.load("tfa").kwargs_for(c["hyper"]) is not None)
    assert scheduled == SCHEDULED_CASES
    assert {"keras_warmup_cosine", "keras_piecewise_amsgrad"} <= set(scheduled)
    assert len(ROUNDED) == len(F32) == 2 * len(scheduled)
    assert not [e for e in TFA if e["tag"] in KERAS_TAGS
                and vectors.case_entry(e["case"])["lr_kind"] != "schedule"]


@pytest.mark.parametrize("entry", ROUNDED, ids=_id)
def test_float64_keras_paths_need_the_float32_schedule_rule(entry: dict[str, Any]) -> None:
    """With ``schedule_dtype="float32"`` the preset reproduces the run; without it, it
    misses by about 1e-8 relative (the tolerance is 4096 float64 eps)."""
    assert entry["preset_kwargs"]["schedule_dtype"] == "float32"
    assert verify_record(entry).passed
    without = {k: v for k, v in entry["preset_kwargs"].items() if k != "schedule_dtype"}
    missed = verify_record(entry, PresetAdapter("tfa", **without))
    assert not missed.passed
    assert missed.error > 1000 * missed.tolerance


@pytest.mark.parametrize("case", SCHEDULED_CASES)
def test_a_custom_float64_schedule_is_not_rounded(case: str) -> None:
    """The ``""`` records (a float64 ``LearningRateSchedule``) are missed *with* the rule:
    the rounding belongs to the two Keras paths, not to every callable."""
    entry = _one(case, "float64", "")
    assert "schedule_dtype" not in entry["preset_kwargs"]
    assert verify_record(entry).passed
    rounded = {**entry["preset_kwargs"], "schedule_dtype": "float32"}
    assert not verify_record(entry, PresetAdapter("tfa", **rounded)).passed


@pytest.mark.parametrize("case", SCHEDULED_CASES)
def test_callback_and_builtin_schedule_give_the_same_bits(case: str) -> None:
    """float64: the callback and PiecewiseConstantDecay deliver the same float32 rates
    (identical trajectories), unlike the float64 table. float32: all three paths give
    identical bits (Keras rounds constant and scheduled rates alike to the variable
    dtype), and the preset reproduces them with ``hyper_dtype`` alone."""
    def params(dtype: str, tag: str) -> dict[str, np.ndarray]:
        return vectors.load_record(_one(case, dtype, tag)).params

    callback, builtin, table = (params("float64", t) for t in ("callback", "keras_schedule", ""))
    assert all(np.array_equal(callback[n], builtin[n]) for n in callback)
    assert not all(np.array_equal(callback[n], table[n]) for n in callback)
    f32 = [params("float32", t) for t in ("", "callback", "keras_schedule")]
    assert all(np.array_equal(f32[0][n], other[n]) for other in f32[1:] for n in f32[0])
    for tag in KERAS_TAGS:
        entry = _one(case, "float32", tag)
        assert entry["preset_kwargs"]["hyper_dtype"] == "float32"
        assert "schedule_dtype" not in entry["preset_kwargs"]
        assert verify_record(entry).passed


@pytest.mark.parametrize("case", SCHEDULED_CASES)
def test_float32_arithmetic_already_rounds_each_rate(case: str) -> None:
    """In a float32 run ``schedule_dtype`` changes no bit of the oracle's trajectory."""
    entry = _one(case, "float32", "callback")
    record = vectors.load_record(entry)
    lr = vectors.load_case(case).learning_rate()
    params0 = {n: traj[0] for n, traj in record.params.items()}
    runs = [run_trajectory(PresetAdapter("tfa", **entry["preset_kwargs"], **extra), params0, lr,
                           replay(record.grads), len(lr))[0]
            for extra in ({}, {"schedule_dtype": "float32"})]
    assert all(np.array_equal(runs[0][n], runs[1][n]) for n in runs[0])


# ----------------------------------------------------------------------- the preset rule


def test_schedule_dtype_rounds_each_value_before_the_legacy_decay() -> None:
    f32 = float(np.float32(0.1))
    assert ngr.presets.tfa(lambda k: 0.1, schedule_dtype="float32").config.learning_rate(3) == f32
    decayed = ngr.presets.tfa(lambda k: 0.1, schedule_dtype="float32", decay=0.5)
    assert decayed.config.learning_rate(2) == f32 / (1.0 + 0.5 * 2)
    # A constant rate under decay is read from its float32 variable first, too.
    constant = ngr.presets.tfa(0.1, decay=0.5, hyper_dtype="float32")
    assert constant.config.learning_rate(2) == f32 / (1.0 + 0.5 * 2)
    assert ngr.presets.tfa(0.1, decay=0.5).config.learning_rate(2) == 0.1 / (1.0 + 0.5 * 2)


def test_schedule_dtype_is_named_in_the_config_line() -> None:
    def cosine(k: int) -> float:
        return 0.1

    assert "learning_rate=float32(cosine)" in repr(
        ngr.presets.tfa(cosine, schedule_dtype="float32").config)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"learning_rate": 0.1, "schedule_dtype": "float32"}, "constant 0.1, which hyper_dtype"),
    ({"learning_rate": lambda k: 0.1, "schedule_dtype": "float64"}, "None or 'float32'"),
    ({"learning_rate": lambda k: 0.1, "schedule_dtype": "bfloat16"}, "None or 'float32'"),
])
def test_schedule_dtype_refuses_what_it_would_ignore(kwargs: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ngr.presets.tfa(**kwargs)


def _lazy_schedule(step: Any) -> Any:
    """A rate that is not a float32 number, on Python ints and on lazy 0-d arrays."""
    return 0.01 / (1 + step) + 0.003 / 7


LAZY_KW: dict[str, Any] = {"learning_rate": _lazy_schedule, "schedule_dtype": "float32",
                           "decay": 0.1, "hyper_dtype": "float32", "weight_decay": 0.01}


def test_rule_changes_the_trajectory() -> None:
    params, grads = inputs(seed=910)
    rounded = run(ngr.presets.tfa(**LAZY_KW), params, grads)[0]
    plain = run(ngr.presets.tfa(**{**LAZY_KW, "schedule_dtype": None}), params, grads)[0]
    assert not all(np.array_equal(a, b) for a, b in
                   zip(*(ngr._tree.flatten(t)[0] for t in (rounded, plain)), strict=True))


@pytest.mark.parametrize("library", ["dask", "jax"])
def test_rule_is_the_same_lazily(library: str) -> None:
    """Under a traced (``jax.jit``) or Dask step count the value is a 0-d array, rounded
    in its own namespace; the result equals NumPy's to the backend tolerance."""
    backend = _backend(library)
    opt = ngr.presets.tfa(**LAZY_KW)
    params, grads = inputs(seed=911)
    l_params = tree_map(backend.from_numpy, params)
    l_grads = [tree_map(backend.from_numpy, g) for g in grads]
    if library == "jax":
        import jax

        state, p = opt.init(l_params), l_params
        step = jax.jit(opt.update)
        for g in l_grads:
            u, state = step(g, state, p)
            p = ngr.apply_updates(p, u)
        got = _np(p)
    else:
        import dask

        got_lazy = run(opt, l_params, l_grads)[0]
        leaves, treedef = ngr._tree.flatten(got_lazy)
        got = ngr._tree.unflatten(treedef, [np.asarray(x) for x in
                                            dask.compute(*leaves, scheduler="synchronous")])
    assert_close_at_tree_scale(got, run(opt, params, grads)[0], "float64", "params", len(grads))


# ----------------------------------------------------------------------- the recorder


def test_recorder_records_schedule_only_tags_on_scheduled_cases_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from novograd_ref.conformance.golden._capture import record

    class Sgd:
        name = "sgd"

        def init(self, params: Any, learning_rate: Any) -> Any:
            return {k: np.array(v) for k, v in params.items()}

        def update(self, grads: Any, state: Any) -> Any:
            new = {k: p - p.dtype.type(0.01) * grads[k] for k, p in state.items()}
            return new, new

    def sgd(lr: float = 0.01, b1: float = 0.0, b2: float = 0.0, eps: float = 0.0,
            weight_decay: float = 0.0) -> Any:
        raise AssertionError("the recorder never builds the preset")

    numbers = {k: k for k in ("b1", "b2", "eps", "weight_decay")}
    module = types.SimpleNamespace(FRAMEWORK=frameworks.Framework(
        name="sgd", preset="sgd", schedule_only_tags=("sched",),
        available=lambda: True, versions=lambda: {"sgd": "1.0"},
        recording_variants=lambda dtype: [("", {}), ("sched", {"via": "x"})],
        make=lambda settings=None, **kw: Sgd()))
    monkeypatch.setitem(sys.modules, "fake_sched_framework", module)
    monkeypatch.setitem(frameworks.FRAMEWORKS, "sgd", "fake_sched_framework")
    monkeypatch.setitem(presets._SPECS, "sgd",
                        presets.PresetSpec("sgd", sgd, "lr", presets.Vocabulary(numbers)))
    entries = record("sgd", tmp_path, cases=["const_lr", "schedule_lr"], dtypes=("float32",),
                     command="cmd")
    assert sorted((e["case"], e["tag"]) for e in entries) == [
        ("const_lr", ""), ("schedule_lr", ""), ("schedule_lr", "sched")]


@pytest.mark.filterwarnings("ignore")
def test_tfa_keras_paths_record_live(tmp_path: Path) -> None:
    """In the TensorFlow environment: re-recording reproduces the bundled bits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("tensorflow_addons")
    from novograd_ref.conformance.golden._capture import record

    entries = record("tfa", tmp_path, cases=["keras_piecewise_amsgrad"])
    assert sorted((e["dtype"], e["tag"]) for e in entries) == [
        (d, t) for d in ("float32", "float64") for t in ("", "callback", "keras_schedule")]
    for entry in entries:
        fresh = vectors.load_record(entry, tmp_path)
        bundled = vectors.load_record(_one(entry["case"], entry["dtype"], entry["tag"]))
        for name, traj in fresh.params.items():
            np.testing.assert_array_equal(traj, bundled.params[name])


@pytest.mark.filterwarnings("ignore")
def test_keras_cosine_decay_is_float32_arithmetic_not_a_rounded_table() -> None:
    """Why the built-in schedule recorded is PiecewiseConstantDecay: CosineDecay's float32
    arithmetic is up to 14 float32 ulps away from ``float32`` of the float64 formula on
    some steps, so no float64 table (rounded or not) reproduces it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf = pytest.importorskip("tensorflow")
    from novograd_ref.vectors._cases import warmup_cosine

    table = warmup_cosine(30, 0.001, 0.05, 5, 0.02)
    schedule = tf.keras.optimizers.schedules.CosineDecay(0.001, 25, alpha=0.02,
                                                         warmup_target=0.05, warmup_steps=5)
    keras = np.array([schedule(tf.constant(k, tf.float64)).numpy() for k in range(30)])
    assert keras.dtype == np.float32
    ulps = np.abs(keras.view(np.int32) - table.astype(np.float32).view(np.int32))
    assert 0 < np.count_nonzero(ulps) < 30
    assert ulps.max() <= 16
