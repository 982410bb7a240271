"""Time one step of the reference core on the CPU, against the memory-bandwidth floor.

Two trees, both float32:

- ResNet-50-shaped: the 161 parameter tensors of ResNet-50 (25,557,032 values). A
  step must read g, p, m and write m and the update: 5 arrays. The floor is the time
  of an in-place ``np.add`` over a buffer of the same size (2 reads + 1 write),
  scaled by 5/3, measured in the same process: the bandwidth one core reaches, as
  NumPy's ufuncs run on one thread. Reported: step time / floor.
- 200 leaves x 100 values: per-leaf cost, where library-call and Python overhead
  dominate. Reported: microseconds per leaf (best of 200 steps).

Peers, when importable (``scripts/make_env.sh torch``): NeMo's, timm's,
torch-optimizer's and pytorch_optimizer's NovoGrad on the same trees, each timed on
PyTorch's own thread count and on one thread, the reference core's condition. Their
``step()`` updates in place, so they move 5 arrays where the functional reference step
must allocate and fill its outputs.

A functional step returns two tree-sized arrays (the new moment and the update). The
step is timed as a training loop runs it, the previous step's outputs released only
once the new ones exist, so the allocator reuses their memory; released first, that
memory goes back to the system (glibc trims the top of its heap) and every step pays
for zeroing and first-touching 2 x 102 MB, about 24 ms each on the machine of
RESULTS.md.

Run: ``python benchmarks/step_cpu.py [--preset optax] [--repeat 11]``
(``--width-div 8``: a small ResNet-shaped tree, a quick check that the script runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from _common import Shape, resnet50_shapes, torch_novograds

import novograd_ref as ngr
from novograd_ref.testing import assert_trees_close


def make_tree(shapes: list[Shape], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"p{i:03d}": rng.standard_normal(s, dtype=np.float32) for i, s in enumerate(shapes)}


def best_time(fn: Callable[[], Any], repeat: int, best: bool = False) -> float:
    """Median (or, with ``best``, minimum) of ``repeat`` timings after warm-up calls.

    Large steps report the median; the sub-millisecond small-tree step reports the
    minimum, as timeit does, since its noise is one-sided (interrupts, frequency).
    """
    for _ in range(3):  # warm-up: caches, and the allocator settling into steady state
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if best else statistics.median(times)


def bandwidth_floor(n_values: int, repeat: int) -> float:
    """Seconds to move 5 float32 arrays of ``n_values`` at the measured bandwidth."""
    a = np.ones(n_values, dtype=np.float32)
    b = np.ones(n_values, dtype=np.float32)
    t_add = best_time(lambda: np.add(a, b, out=a), repeat)
    return t_add * 5 / 3


def reference_step(preset: str, params: Any, grads: Any) -> Callable[[], Any]:
    """One step as a training loop takes it: ``updates, state = opt.update(grads,
    state, params)``, the previous step's outputs alive until the new ones exist."""
    opt = ngr.presets.build(preset, 1e-3)
    held = [opt.update(grads, opt.init(params), params)]  # past the first step

    def step() -> None:
        held[0] = opt.update(grads, held[0][1], params)

    return step


def in_place_optax_step(grads: dict[str, np.ndarray]) -> Callable[[], Any]:
    """optax's NovoGrad step written with the reference core's NumPy calls, each into a
    preallocated buffer (``out=``): the same 12 passes over a layer, no allocation.

    Checked once against the reference core's first step (float32 ``scalar`` tolerance).
    """
    lr, cfg = 1e-3, ngr.presets.optax(learning_rate=1e-3).config
    b1, b2, eps = cfg.b1, cfg.b2, cfg.eps
    mus = {k: np.zeros_like(g) for k, g in grads.items()}
    nus: dict[str, Any] = dict.fromkeys(grads)
    scratch = {k: np.empty_like(g) for k, g in grads.items()}
    updates = {k: np.empty_like(g) for k, g in grads.items()}

    def step() -> dict[str, np.ndarray]:
        for k, g in grads.items():
            m, tmp = mus[k], scratch[k]
            s = np.add.reduce(np.multiply(g, g, out=tmp), axis=None)
            nus[k] = s if nus[k] is None else b2 * nus[k] + (1 - b2) * s
            np.divide(g, np.sqrt(nus[k]) + eps, out=tmp)
            np.add(np.multiply(m, b1, out=m), tmp, out=m)
            np.multiply(m, -lr, out=updates[k])
        return updates

    opt = ngr.presets.optax(learning_rate=1e-3)
    expected, _ = opt.update(grads, opt.init(grads))
    assert_trees_close(step(), expected, kind="scalar")
    return step


def torch_peers(params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
                ) -> Iterator[tuple[str, Callable[[], Any], Any]]:
    """The importable PyTorch NovoGrads, one at a time: ``(label, step, torch)``.

    Each steps its own copy of the tree in place (``.grad`` set once), past its first
    step; what is not importable is skipped.
    """
    for label, opt, tp, torch in torch_novograds(params, grads, lr=1e-3, betas=(0.95, 0.98)):
        opt.step()
        yield label, opt.step, torch
        del opt, tp


def thread_counts(torch: Any) -> list[int]:
    """PyTorch's own thread count, then one thread (NumPy's ufuncs run on one)."""
    return sorted({torch.get_num_threads(), 1}, reverse=True)


def peer_label(label: str, threads: int) -> str:
    return f"{label}, {threads} thread{'s' * (threads > 1)}".ljust(38)


def time_peer(torch: Any, step: Callable[[], Any], threads: int, repeat: int,
              best: bool = False) -> float:
    """``best_time`` of a PyTorch step run on ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return best_time(step, repeat, best)
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="optax")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--width-div", type=int, default=1,
                        help="divide ResNet-50's channel counts (a quick run; 1 measures)")
    args = parser.parse_args()
    run(args)


def run(args: argparse.Namespace) -> None:
    """One measurement of both trees, printed."""
    print(f"novograd-ref {ngr.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"preset {args.preset}")
    big_shapes = resnet50_shapes(args.width_div)
    params, grads = make_tree(big_shapes, 0), make_tree(big_shapes, 1)
    n = sum(v.size for v in params.values())
    floor = bandwidth_floor(n, args.repeat)
    t_ref = best_time(reference_step(args.preset, params, grads), args.repeat)
    print(f"ResNet-50 tree: {len(big_shapes)} leaves, {n:,} float32 values")
    print(f"  {'bandwidth floor (5 arrays, 1 thread)':38s} {floor * 1e3:8.2f} ms")
    print(f"  {'reference core (NumPy, 1 thread)':38s} {t_ref * 1e3:8.2f} ms   "
          f"{t_ref / floor:5.2f}x floor")
    if args.preset == "optax":
        t = best_time(in_place_optax_step(grads), args.repeat)
        print(f"  {'same NumPy calls, out= buffers':38s} {t * 1e3:8.2f} ms   "
              f"{t / floor:5.2f}x floor   {t / t_ref:5.2f}x reference")
    for label, step, torch in torch_peers(params, grads):
        for threads in thread_counts(torch):
            t = time_peer(torch, step, threads, args.repeat)
            print(f"  {peer_label(label, threads)} {t * 1e3:8.2f} ms   {t / floor:5.2f}x floor   {t / t_ref:5.2f}x reference")

    small_shapes: list[Shape] = [(100,)] * 200
    params, grads = make_tree(small_shapes, 2), make_tree(small_shapes, 3)
    t_small = best_time(reference_step(args.preset, params, grads), 200, best=True)
    print("Small tree: 200 leaves x 100 values, microseconds per leaf (best of 200 steps)")
    print(f"  {'reference core (NumPy, 1 thread)':38s} {t_small / 200 * 1e6:8.2f} us")
    for label, step, torch in torch_peers(params, grads):
        for threads in thread_counts(torch):
            t = time_peer(torch, step, threads, 200, best=True)
            print(f"  {peer_label(label, threads)} {t / 200 * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
