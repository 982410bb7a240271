"""The benchmark scripts run, here on the CPU with small trees (their timings mean nothing).

``benchmarks/dask_out_of_core.py`` is run by ``tests/test_dask_distributed.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str) -> str:
    """Run ``benchmarks/<name>`` with ``args``; its standard output, after exit status 0."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / name), *args],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_cpu_step_benchmark_runs() -> None:
    """``step_cpu.py`` times the reference core on both trees, against the floor, and
    the same NumPy calls into preallocated buffers (checked against the core first)."""
    out = run_script("step_cpu.py", "--width-div", "16", "--repeat", "1")
    assert "bandwidth floor (5 arrays, 1 thread)" in out
    assert out.count("reference core (NumPy, 1 thread)") == 2
    assert "x floor" in out
    assert "same NumPy calls, out= buffers" in out
    assert out.rstrip().endswith(" us")


@pytest.mark.slow
def test_gpu_benchmark_smoke_mode_runs_on_cpu(tmp_path: Path) -> None:
    """``gpu_step.py --device cpu --small`` runs and checks its first steps."""
    pytest.importorskip("torch")
    report = tmp_path / "out.json"
    out = run_script("gpu_step.py", "--device", "cpu", "--small", "--tree", "transformer",
                     "--warmup", "1", "--repeat", "1", "--json", str(report))
    assert "reference core, torch" in out
    assert "all first steps equal the reference core" in out
    data = json.loads(report.read_text())
    assert data["small"] is True
    assert [tree["tree"] for tree in data["trees"]] == ["transformer"]
    assert "reference core, torch" in data["trees"][0]["check_errors"]
