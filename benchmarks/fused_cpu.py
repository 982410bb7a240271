"""The fused NovoGrad step on the CPU against the floor, the reference core and the peers.

Three trees, float32: ResNet-50's parameters (161 leaves, 25,557,032 values), 200
leaves x 100 values and 10 leaves x 16 values. Each tree is one group, measured in its
own process: every contender of ``_contenders`` (the floor, the reference core's
``update`` + ``apply_updates``, the fused path on 1 and 2 threads, NeMo, timm,
torch-optimizer and pytorch_optimizer on 1 and 2 threads where importable, optax under
``jax.jit`` with donated buffers where importable) first takes one step that must equal
the reference's first step, then all are timed in interleaved rounds (round r times
each contender once, in turn, so that drift of the machine hits all alike). Reported:
the median per-step time over the rounds and its range, the ratio to the floor (large
tree) or the time per leaf (small trees), and the issue's targets as ratios of this
run. The first-call times are measured in fresh processes: the fused kernels compiled
into an empty numba cache, then loaded from it; optax's first (tracing and compiling)
call on the large tree.

Run on a quiet machine: ``python benchmarks/fused_cpu.py --json fused_cpu.json``.
``--quick`` (small trees, two rounds) checks that the script runs; its numbers mean
nothing. numba runs on its OpenMP threading layer (``NUMBA_THREADING_LAYER=omp``), with
``OMP_WAIT_POLICY=passive`` for its OpenMP runtime only, so that its idle threads sleep
instead of spinning while the next contender runs: PyTorch's runtime (a separate
library) is loaded first and keeps the environment as given. numba's ``workqueue``
layer starts every layer's parallel loop at a cost that made the 2-thread step no
faster than the 1-thread one on the ResNet-50 tree.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")

GROUPS = ("resnet50", "200x100", "10x16")
TARGETS = (
    "fused <= 1.3x the floor (ResNet-50 tree, 1 thread)",
    "fused >= 1.5x faster than the fastest peer (ResNet-50 tree)",
    "fused <= 2.5 us per leaf (200 x 100)",
    "fused <= 3 us per leaf (10 x 16)",
    "reference <= 4.5x the floor (ResNet-50 tree)",
    "reference <= 6 us per leaf (200 x 100)",
)


def group_shapes(group: str, quick: bool) -> list[tuple[int, ...]]:
    from _common import resnet50_shapes

    if group == "resnet50":
        return resnet50_shapes(16 if quick else 1)
    leaves, values = (int(x) for x in group.split("x"))
    return [(values,)] * leaves


# ----------------------------------------------------------------- one group (child)


def run_group(group: str, preset: str, rounds: int, quick: bool) -> dict[str, Any]:
    """Build every contender on the group's tree, check its first step, time them in
    interleaved rounds; a JSON-able summary."""
    import _contenders as c

    c.quiet_numba_threads()
    shapes = group_shapes(group, quick)
    params, grads = c.make_tree(shapes, 0), c.make_tree(shapes, 1)
    n_values = sum(math.prod(s) for s in shapes)
    expected = c.reference_first_step(preset, params, grads)
    contenders = []
    if group == "resnet50":
        contenders += [c.floor(n_values, threads) for threads in (1, 2)]
    contenders.append(c.reference(preset, params, grads))
    contenders += [c.fused(preset, params, grads, threads) for threads in (1, 2)]
    contenders += list(c.torch_peers(params, grads, [1, 2]))
    compile_s = None
    jitted = c.optax_jit(params, grads)
    if jitted is not None:
        contenders.append(jitted[0])
        compile_s = jitted[1]
    checked: set[int] = set()  # contenders sharing one optimizer (thread counts) step once
    for contender in contenders:
        key = id(contender.first_params)
        if contender.first_params is None or key in checked:
            continue
        checked.add(key)
        if not contender.label.startswith("optax"):  # its first call took the step
            contender.step()
        c.check_first_step(contender, expected)
    min_batch_s = 0.005 if quick else 0.2
    inner = [_batch(k.step, min_batch_s) for k in contenders]
    times: list[list[float]] = [[] for _ in contenders]
    for _ in range(rounds):
        for i, contender in enumerate(contenders):
            gc.collect()
            gc.disable()  # as timeit does: a collection is not part of anyone's step
            start = time.perf_counter()
            for _ in range(inner[i]):
                contender.step()
            times[i].append((time.perf_counter() - start) / inner[i] * contender.scale)
            gc.enable()
    return {"group": group, "leaves": len(shapes), "values": n_values, "rounds": rounds,
            "optax_first_call_s": compile_s,
            "results": [{"label": k.label, "threads": k.threads, "steps_per_timing": inner[i],
                         "median_s": statistics.median(times[i]), "min_s": min(times[i]),
                         "max_s": max(times[i])} for i, k in enumerate(contenders)]}


def _batch(step: Any, min_batch_s: float) -> int:
    """Steps per timing: enough for ``min_batch_s`` (after two warm-up steps)."""
    step()
    start = time.perf_counter()
    step()
    one = time.perf_counter() - start
    return max(1, min(100_000, math.ceil(min_batch_s / max(one, 1e-7))))


def first_call_times(preset: str) -> dict[str, float]:
    """In this process: the first ``step_`` of a float32 tree and of a layer large
    enough for the 2-thread kernel, as numba's cache left them (child of
    :func:`compile_times`)."""
    import _contenders as c
    import numpy as np

    import novograd_ref as ngr
    from novograd_ref.fused import _cpu

    out = {}
    opt = c.preset_optimizer(preset)
    for label, threads, n in (("1 thread", 1, 1000), ("2 threads", 2, _cpu.PARALLEL_MIN)):
        fast = ngr.fused.from_optimizer(opt, threads=threads)
        params = {"w": np.ones(n, dtype=np.float32)}
        state = fast.init(params)
        start = time.perf_counter()
        fast.step_(params, params, state)
        out[label] = time.perf_counter() - start
    return out


def compile_times(preset: str) -> dict[str, dict[str, float]]:
    """The fused path's first call in a fresh process, into an empty numba cache
    (compiling) and then again from the cache it filled (loading)."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for phase in ("compiled into an empty cache", "loaded from the disk cache"):
            out[phase] = json.loads(_child(["--first-call", "--preset", preset], env))
    return out


def _child(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run this script with ``args`` in a new process; its last line of output."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{' '.join(args)}: exit status {proc.returncode}")
    return proc.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------- report


def group_median(group: dict[str, Any], label: str, threads: int | None = 1
                 ) -> float | None:
    """The median step time of the group's contender whose label starts with
    ``label``, on ``threads`` threads (``None`` if it was not measured)."""
    for r in group.get("results", []):
        if r["label"].startswith(label) and r["threads"] == threads:
            return float(r["median_s"])
    return None


def targets(groups: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """Each target with the measured value (``None`` where not measurable here)."""
    def median(group: str, label: str, threads: int | None = 1) -> float | None:
        return group_median(groups.get(group, {}), label, threads)

    big = groups.get("resnet50", {})
    floor = median("resnet50", "floor")
    fused = median("resnet50", "fused")
    fused2 = median("resnet50", "fused", 2)
    ref = median("resnet50", "reference")
    peers = [r["median_s"] for r in big.get("results", [])
             if not r["label"].startswith(("floor", "reference", "fused"))]
    out: dict[str, tuple[str, bool | None]] = {}

    def ratio(name: str, a: float | None, b: float | None, limit: float,
              at_most: bool = True) -> None:
        if a is None or b is None:
            out[name] = ("not measured", None)
        else:
            x = a / b
            out[name] = (f"{x:.2f}x", x <= limit if at_most else x >= limit)

    ratio(TARGETS[0], fused, floor, 1.3)
    best_fused = min(t for t in (fused, fused2) if t is not None) if fused else None
    ratio(TARGETS[1], min(peers) if peers else None, best_fused, 1.5, at_most=False)
    ratio(TARGETS[4], ref, floor, 4.5)
    for name, group, label, limit in ((TARGETS[2], "200x100", "fused", 2.5),
                                      (TARGETS[3], "10x16", "fused", 3.0),
                                      (TARGETS[5], "200x100", "reference", 6.0)):
        t = median(group, label)
        if t is None:
            out[name] = ("not measured", None)
        else:
            us = t / groups[group]["leaves"] * 1e6
            out[name] = (f"{us:.2f} us", us <= limit)
    return [(name, *out[name]) for name in TARGETS]


def like_for_like(group: dict[str, Any]) -> str:
    """The fused step on each thread count against the floor on as many threads."""
    parts = []
    for threads in (1, 2):
        fused = group_median(group, "fused", threads)
        floor = group_median(group, "floor", threads)
        if fused and floor:
            parts.append(f"on {threads} thread{'s' if threads > 1 else ''} "
                         f"{fused / floor:.2f}x the floor on as many")
    return "The fused step: " + ", ".join(parts) + "." if parts else ""


def print_report(report: dict[str, Any]) -> None:
    print(report["machine"])
    for g in report["groups"].values():
        results = g["results"]
        floor = next((r["median_s"] for r in results if r["label"].startswith("floor")), None)
        print(f"\n{g['group']}: {g['leaves']} leaves, {g['values']:,} float32 values, "
              f"median of {g['rounds']} interleaved rounds (range)")
        for r in results:
            threads = "lib" if r["threads"] is None else str(r["threads"])
            line = (f"  {r['label'][:44]:44s} {threads:>3s}  {r['median_s'] * 1e3:9.3f} ms "
                    f"({r['min_s'] * 1e3:.3f}-{r['max_s'] * 1e3:.3f})")
            if floor:
                line += f"  {r['median_s'] / floor:5.2f}x floor"
            else:
                line += f"  {r['median_s'] / g['leaves'] * 1e6:7.2f} us/leaf"
            print(line)
        if floor:
            print("  " + like_for_like(g))
        if g.get("optax_first_call_s") is not None:
            print(f"  optax jax.jit first call (trace + compile + 1 step): "
                  f"{g['optax_first_call_s']:.2f} s")
    print("\nfused path, first call in a fresh process (seconds):")
    for phase, times in report["first_call"].items():
        print(f"  {phase}: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
    print("\ntargets (ratios within this run):")
    for name, value, met in report["targets"]:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[met]
        print(f"  {name:62s} {value:>12s}  {verdict}")


def markdown(report: dict[str, Any]) -> str:
    """The report as the Markdown tables of ``benchmarks/RESULTS.md``: the ResNet-50
    tree (time and x floor), the small trees (us per leaf), first calls, targets."""
    groups = report["groups"]

    def rows(group: str) -> dict[tuple[str, Any], dict[str, Any]]:
        return {(r["label"], r["threads"]): r for r in groups.get(group, {}).get("results", [])}

    def threads(t: Any) -> str:
        return "XLA's" if t is None else str(t)

    lines = [f"Measured: {report['machine']}.", ""]
    big = groups.get("resnet50")
    if big:
        floor = next(r["median_s"] for r in big["results"] if r["label"].startswith("floor"))
        title = (f"### ResNet-50 tree ({big['leaves']} leaves, {big['values']:,} values), "
                 f"median of {big['rounds']} interleaved rounds")
        lines += [title, "",
                  "| contender | threads | time, median (range) | x floor, median (range) |",
                  "|---|---|---|---|"]
        for r in big["results"]:
            lines.append(f"| {r['label']} | {threads(r['threads'])} | "
                         f"{r['median_s'] * 1e3:.1f} ms ({r['min_s'] * 1e3:.1f}-"
                         f"{r['max_s'] * 1e3:.1f}) | {r['median_s'] / floor:.2f} "
                         f"({r['min_s'] / floor:.2f}-{r['max_s'] / floor:.2f}) |")
        lines.append("")
        lines += [f"The ratios are to the one-thread floor. {like_for_like(big)}", ""]
    small = [g for g in ("200x100", "10x16") if g in groups]
    if small:
        heads = [f"{groups[g]['leaves']} leaves x {groups[g]['values'] // groups[g]['leaves']}"
                 " values" for g in small]
        lines += ["### Small trees, microseconds per leaf, median (range)", "",
                  "| contender | threads | " + " | ".join(heads) + " |",
                  "|---|---|" + "---|" * len(small)]
        for key in rows(small[0]):
            cells = []
            for g in small:
                r, n = rows(g).get(key), groups[g]["leaves"]
                cells.append("" if r is None else f"{r['median_s'] / n * 1e6:.2f} "
                             f"({r['min_s'] / n * 1e6:.2f}-{r['max_s'] / n * 1e6:.2f})")
            lines.append(f"| {key[0]} | {threads(key[1])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### First call, seconds", "", "| | 1 thread | 2 threads |", "|---|---|---|"]
    for phase, times in report["first_call"].items():
        lines.append(f"| fused, {phase} | {times['1 thread']:.2f} | {times['2 threads']:.2f} |")
    if big and big.get("optax_first_call_s") is not None:
        lines.append(f"| optax, first `jax.jit` call on the ResNet-50 tree (trace, compile, "
                     f"one step) | {big['optax_first_call_s']:.2f} | |")
    lines += ["", "### Targets, as ratios within this run", "",
              "| target | measured | verdict |", "|---|---|---|"]
    for name, value, met in report["targets"]:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[met]
        lines.append(f"| {name} | {value} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="nemo",
                        help="the preset of the reference and the fused path")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="small ResNet-shaped tree, two rounds: checks the script")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--markdown", type=Path,
                        help="also write the report's tables here, as Markdown")
    parser.add_argument("--from-json", type=Path, metavar="REPORT",
                        help="measure nothing: print (and --markdown) a saved report")
    parser.add_argument("--group", choices=GROUPS, help=argparse.SUPPRESS)
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print_report(report)
        if args.markdown:
            args.markdown.write_text(markdown(report))
        return 0
    if args.group:
        print(json.dumps(run_group(args.group, args.preset, rounds, args.quick)))
        return 0
    if args.first_call:
        print(json.dumps(first_call_times(args.preset)))
        return 0
    import numpy as np

    import novograd_ref as ngr

    groups = {}
    for group in GROUPS:
        extra = ["--quick"] if args.quick else []
        groups[group] = json.loads(_child(["--group", group, "--preset", args.preset,
                                           "--rounds", str(rounds), *extra]))
    report = {"machine": (f"novograd-ref {ngr.__version__}, numpy {np.__version__}, "
                          f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} cores, preset {args.preset}"
                          + (", --quick: timings mean nothing" if args.quick else "")),
              "groups": groups, "first_call": compile_times(args.preset)}
    report["targets"] = targets(groups)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(report))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
