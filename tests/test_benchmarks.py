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
                          capture_output=True, text=True, timeout=600, env=env, check=False)
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


@pytest.mark.slow
def test_fused_cpu_benchmark_quick_mode_runs(tmp_path: Path) -> None:
    """``fused_cpu.py --quick``: every group in its own process, every contender's first
    step checked against the reference, interleaved rounds, first-call times and the
    targets as ratios of the run."""
    pytest.importorskip("numba")
    report = tmp_path / "fused.json"
    tables = tmp_path / "fused.md"
    out = run_script("fused_cpu.py", "--quick", "--json", str(report), "--markdown",
                     str(tables))
    data = json.loads(report.read_text())
    assert list(data["groups"]) == ["resnet50", "200x100", "10x16"]
    big = data["groups"]["resnet50"]
    labels = [(r["label"], r["threads"]) for r in big["results"]]
    assert ("floor: 5 arrays at np.add bandwidth", 1) in labels
    assert ("reference (nemo), update + apply_updates", 1) in labels
    assert ("fused (nemo)", 1) in labels
    assert ("fused (nemo)", 2) in labels
    for r in big["results"]:
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
    assert set(data["first_call"]) == {"compiled into an empty cache",
                                       "loaded from the disk cache"}
    assert [t[0] for t in data["targets"]][:2] == [
        "fused <= 1.3x the floor (ResNet-50 tree, 1 thread)",
        "fused >= 1.5x faster than the fastest peer (ResNet-50 tree)"]
    assert "timings mean nothing" in out
    assert "targets (ratios within this run):" in out
    md = tables.read_text()
    assert md.count("| reference (nemo), update + apply_updates | 1 |") == 2  # both tables
    assert "| fused, loaded from the disk cache |" in md
    for name, value, _ in data["targets"]:
        assert f"| {name} | {value} |" in md
    again = tmp_path / "again.md"  # --from-json renders a saved report, measuring nothing
    run_script("fused_cpu.py", "--from-json", str(report), "--markdown", str(again))
    assert again.read_text() == md


@pytest.mark.slow
def test_fused_sweep_quick_mode_writes_a_plot(tmp_path: Path) -> None:
    """``fused_sweep.py --quick``: both sweeps, one process per point, a PNG and the
    numbers behind it."""
    pytest.importorskip("numba")
    pytest.importorskip("matplotlib")
    run_script("fused_sweep.py", "--quick", "--out", str(tmp_path / "sweep"))
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert [p["n"] for p in data["size"]] == [1_000, 10_000]
    assert [p["n"] for p in data["leaves"]] == [10, 30]
    assert "fused (nemo)" in data["leaves"][0]["times"]
    assert "floor: 5 arrays at np.add bandwidth" in data["size"][0]["times"]
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fused_sweep_from_json_redraws_the_saved_numbers_at_the_column_size(
        tmp_path: Path) -> None:
    """``fused_sweep.py --from-json`` measures nothing: it plots the saved sweep as a PNG
    of 7.2 inches at 200 dpi (shown 720 px wide, the documentation's column)."""
    pytest.importorskip("matplotlib")
    out = run_script("fused_sweep.py", "--from-json", str(BENCHMARKS / "fused_sweep.json"),
                     "--out", str(tmp_path / "again"))
    assert out.strip() == f"wrote {tmp_path / 'again.png'}"
    assert not (tmp_path / "again.json").exists()
    png = (tmp_path / "again.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 1440  # IHDR width: 7.2 in x 200 dpi
