"""The fused kernels' source: the slots of their vectors named once in ``_plan`` (and
``_gpu``), the same names in the CUDA source, each value where its name says; the CUDA
source compiles for the device (with nvcc, where there is one)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import get_args, get_type_hints

import numpy as np
import pytest

pytest.importorskip("numba", reason="the fused step needs numba")

from novograd_ref import Config
from novograd_ref.fused import _cpu, _gpu, _plan


def _slots(module: object, prefix: str) -> dict[str, int]:
    return {name: getattr(module, name) for name in dir(module) if name.startswith(prefix)}


@pytest.mark.parametrize(("module", "prefix", "count"), [
    (_plan, "F_", "N_FLAGS"), (_plan, "C_", "N_COEFFICIENTS"),
    (_plan, "K_", "N_LAYER_SCALARS"), (_gpu, "S_", "N_SUMS")])
def test_each_vector_has_one_name_per_slot(module: object, prefix: str, count: str) -> None:
    slots = _slots(module, prefix)
    assert sorted(slots.values()) == list(range(getattr(module, count))), slots


@pytest.mark.parametrize(("field", "prefix", "values"), [
    ("norm", "NORM_", _plan._NORMS), ("second_moment_init", "INIT_", _plan._INITS),
    ("second_moment_update", "UPDATE_", _plan._UPDATES)])
def test_each_switch_value_has_its_own_flag_value(field: str, prefix: str,
                                                  values: dict[str, int]) -> None:
    """Every value ``Config`` accepts for the switch is one named flag value."""
    choices = get_args(get_type_hints(Config)[field])
    assert sorted(values) == sorted(choices)
    assert sorted(values.values()) == sorted(_slots(_plan, prefix).values()) == \
        list(range(len(choices)))
    for name, value in _slots(_plan, prefix).items():
        assert values[name.removeprefix(prefix).lower()] == value


def test_the_cuda_source_defines_every_slot_by_its_python_name() -> None:
    defined = {name: int(value) for name, value in
               re.findall(r"^#define (\w+) (\d+)$", _gpu._PREAMBLE, flags=re.MULTILINE)}
    want = {**_slots(_plan, "F_"), **_slots(_plan, "C_"), **_slots(_plan, "K_"),
            **_slots(_plan, "N_"), **_slots(_gpu, "S_"), "N_SUMS": _gpu.N_SUMS,
            **_slots(_plan, "NORM_"), **_slots(_plan, "INIT_"), **_slots(_plan, "UPDATE_")}
    assert defined == want
    kernel_text = _gpu._PREAMBLE.split("#define N_SUMS", 1)[1]
    assert not re.search(r"\b[ck]\[\d+\]", kernel_text), "a slot indexed by number"


def test_cpu_layer_scalars_fill_the_named_slots() -> None:
    """Each coefficient the per-layer scalars copy lands in the slot of its name (a
    distinct value in each), the denominator and its inverse in theirs."""
    cfg = Config(learning_rate=0.5)
    c = np.array(_plan.coefficients(cfg, 3, 0.5) + [float(x) for x in _plan.flags(cfg)])
    marks = {_plan.C_SIGN: -1.0, _plan.C_WD: 0.125, _plan.C_AVERAGE: 0.25,
             _plan.C_B1: 0.375, _plan.C_LR: 0.5, _plan.C_BC1: 0.625, _plan.C_STEP: 0.75,
             _plan.C_DECAY: 0.875, _plan.C_FACTOR: 1.125}
    for slot, value in marks.items():
        c[slot] = value
    g = np.array([3.0, 4.0])
    v, vmax = np.array(16.0), np.array(0.0)
    s = float(g @ g)
    k = _cpu._scalars(g, v, vmax, c, _cpu._flag_values(c), np.float64(0.0), s)
    den = np.sqrt(float(v)) + cfg.eps  # v blended and stored: b2 16 + (1 - b2) 25
    assert float(v) == pytest.approx(cfg.b2 * 16.0 + (1 - cfg.b2) * 25.0)
    assert len(k) == _plan.N_LAYER_SCALARS
    want = {_plan.K_SIGN: -1.0, _plan.K_DEN: den, _plan.K_DEN_INVERSE: 1.0 / den,
            _plan.K_WD: 0.125, _plan.K_AVERAGE: 0.25, _plan.K_B1: 0.375, _plan.K_LR: 0.5,
            _plan.K_BC1: 0.625, _plan.K_NEG_STEP: -0.75, _plan.K_DECAY: 0.875,
            _plan.K_CLIP: 0.75, _plan.K_FACTOR: 1.125}
    assert {slot: float(k[slot]) for slot in want} == pytest.approx(want, rel=1e-15)
    clipped = _cpu._clipped(k, np.float64(0.0), g, g, v, 1.0, 1.0, c)
    assert clipped[_plan.K_CLIP] < k[_plan.K_CLIP]
    assert [x for i, x in enumerate(clipped) if i != _plan.K_CLIP] == \
        [x for i, x in enumerate(k) if i != _plan.K_CLIP]


def test_the_cuda_source_compiles_for_the_device(tmp_path: Path) -> None:
    """The device functions, instantiated for every dtype combination the kernels take,
    compile to PTX with the kernels' ``--fmad=false`` (no GPU needed)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc to compile the CUDA source for the device")
    (tmp_path / "gpu_preamble.h").write_text(_gpu._PREAMBLE)
    source = tmp_path / "main.cu"
    source.write_text((Path(__file__).parent / "gpu_kernels_device.cu").read_text())
    proc = subprocess.run([nvcc, "-arch=sm_90", *_gpu._OPTIONS, "-std=c++17", "-ptx", "-o",
                           str(tmp_path / "main.ptx"), str(source)], capture_output=True,
                          text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "main.ptx").read_text().count(".entry") == 5
