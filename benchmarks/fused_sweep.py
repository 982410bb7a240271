"""Time per NovoGrad step against tree size and against leaf count, as a PNG plot.

Two sweeps of float32 trees, each point measured in its own process:

- size: 100 equal leaves holding 1e4 to 5e7 values in all;
- leaf count: 10 to 10,000 leaves of 100 values each.

At each point the contenders of ``_contenders`` on one thread (the floor for the size
sweep, the reference core's ``update`` + ``apply_updates``, the fused path, the
importable PyTorch NovoGrads), the fused path on two threads (size sweep; layers of
100 values never run on more than one) and jitted optax on XLA's threads (up to
:data:`OPTAX_MAX_LEAVES` leaves) are built one at a time,
their first step checked against the reference's, and timed: the median of
``--repeat`` timings, each of enough steps to last 0.1 s. The plot (``OUT.png``) has
one panel per sweep, log-log; ``OUT.json`` holds the numbers.
``--from-json OUT.json`` measures nothing and draws the plot again from saved numbers.

Run on a quiet machine: ``python benchmarks/fused_sweep.py --out benchmarks/fused_sweep``.
``--quick`` (tiny trees, one repeat) checks that the script runs; its numbers mean
nothing. numba runs on its OpenMP layer, as in ``fused_cpu.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")

SIZES = (10_000, 100_000, 1_000_000, 10_000_000, 50_000_000)
LEAF_COUNTS = (10, 100, 1_000, 10_000)
QUICK_SIZES = (1_000, 10_000)
QUICK_LEAF_COUNTS = (10, 30)
SIZE_LEAVES = 100  # leaves of the size sweep
#: optax is not timed on more leaves: ``jax.jit`` of a 10,000-leaf step was still
#: compiling after 6 minutes, holding 15 GB, on the 2-core machine of RESULTS.md.
OPTAX_MAX_LEAVES = 1_000
LEAF_VALUES = 100  # values per leaf of the leaf-count sweep
#: The plot's resolution: twice 100 dpi, so that the PNG shown 720 px wide (the figure's
#: size at 100 dpi, as the documentation does) stays sharp on high-density screens.
PNG_DPI = 200


def point_shapes(sweep: str, n: int) -> list[tuple[int, ...]]:
    if sweep == "size":
        return [(n // SIZE_LEAVES,)] * SIZE_LEAVES
    return [(LEAF_VALUES,)] * n


def run_point(sweep: str, n: int, preset: str, repeat: int, min_batch_s: float
              ) -> dict[str, float]:
    """Median seconds per step of each contender at one point (child process)."""
    import _contenders as c

    c.quiet_numba_threads()
    shapes = point_shapes(sweep, n)
    params, grads = c.make_tree(shapes, 0), c.make_tree(shapes, 1)
    expected = c.reference_first_step(preset, params, grads)
    builders: list[Any] = [lambda: c.reference(preset, params, grads),
                           lambda: c.fused(preset, params, grads, 1),
                           lambda: list(c.torch_peers(params, grads, [1])),
                           lambda: c.optax_jit(params, grads) if len(shapes) <= OPTAX_MAX_LEAVES
                           else None]
    if sweep == "size":
        builders.insert(0, lambda: c.floor(sum(math.prod(s) for s in shapes)))
        builders.insert(3, lambda: _two_threads(c.fused(preset, params, grads, 2)))
    out = {}
    for build in builders:
        built = build()
        if built is None:
            continue
        if isinstance(built, tuple):  # optax: (contender, first-call time), step taken
            contenders = [built[0]]
        else:
            contenders = built if isinstance(built, list) else [built]
            for k in contenders:
                if k.first_params is not None:
                    k.step()
        for k in contenders:
            if k.first_params is not None:
                c.check_first_step(k, expected)
            out[k.label] = _median_step(k.step, repeat, min_batch_s) * k.scale
        del built, contenders
        gc.collect()
    return out


def _two_threads(contender: Any) -> Any:
    return dataclasses.replace(contender, label=f"{contender.label}, 2 threads")


def _median_step(step: Any, repeat: int, min_batch_s: float) -> float:
    step()
    start = time.perf_counter()
    step()
    inner = max(1, math.ceil(min_batch_s / max(time.perf_counter() - start, 1e-7)))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # 7.2 inches wide, the panels stacked, one legend for both below them: the figure
    # fits the documentation's column at its own size (720 px, the PNG has twice the
    # pixels for high-density screens), its text at 9 points or more.
    fig, axes = plt.subplots(2, 1, figsize=(7.2, 9.0), layout="constrained")
    labels = sorted({label for sweep in ("size", "leaves") for p in data[sweep]
                     for label in p["times"]})
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}  # one per contender
    for ax, sweep, xlabel in ((axes[0], "size", f"values in the tree ({SIZE_LEAVES} leaves)"),
                              (axes[1], "leaves", f"leaves ({LEAF_VALUES} values each)")):
        points = data[sweep]
        for label in labels:
            xs = [p["n"] for p in points if label in p["times"]]
            ys = [p["times"][label] * 1e3 for p in points if label in p["times"]]
            if xs:
                style = "--" if label.startswith("floor") else "-"
                ax.plot(xs, ys, style, marker="o", color=colors[label], label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("time per step (ms)")
        ax.grid(True, which="both", alpha=0.3)
    handles: dict[str, Any] = {}  # label -> line of both panels (one may lack a contender)
    for ax in axes:
        for line, label in zip(*ax.get_legend_handles_labels()):
            handles[label] = line
    fig.legend([handles[label] for label in labels if label in handles],
               [label for label in labels if label in handles], loc="outside lower center",
               ncol=2, fontsize=9, frameon=False)
    fig.suptitle(f"NovoGrad step, float32, one thread unless labelled,\noptax on XLA's "
                 f"threads ({data['machine']})", fontsize=10)
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="nemo")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny trees: checks the script")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent
                        / "fused_sweep", help="writes OUT.png and OUT.json")
    parser.add_argument("--from-json", type=Path, metavar="NUMBERS",
                        help="measure nothing: plot the numbers of a saved OUT.json as OUT.png")
    parser.add_argument("--point", nargs=2, metavar=("SWEEP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.from_json:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        plot(json.loads(args.from_json.read_text()), args.out.with_suffix(".png"))
        print(f"wrote {args.out.with_suffix('.png')}")
        return 0
    repeat, min_batch_s = (1, 0.005) if args.quick else (args.repeat, 0.1)
    if args.point:
        sweep, n = args.point[0], int(args.point[1])
        print(json.dumps(run_point(sweep, n, args.preset, repeat, min_batch_s)))
        return 0
    import platform

    import numpy as np

    sizes, counts = (QUICK_SIZES, QUICK_LEAF_COUNTS) if args.quick else (SIZES, LEAF_COUNTS)
    data: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"numpy {np.__version__}, preset {args.preset}"
                   + (", --quick: timings mean nothing" if args.quick else ""),
        "size": [], "leaves": []}
    for sweep, values in (("size", sizes), ("leaves", counts)):
        for n in values:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--point", sweep, str(n),
                   "--preset", args.preset, "--repeat", str(args.repeat)]
            if args.quick:
                cmd.append("--quick")
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                return 1
            times = json.loads(proc.stdout.strip().splitlines()[-1])
            data[sweep].append({"n": n, "times": times})
            print(f"{sweep} {n:>10,}: " + "; ".join(f"{k} {v * 1e3:.3f} ms"
                                                   for k, v in times.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    plot(data, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.png')} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
