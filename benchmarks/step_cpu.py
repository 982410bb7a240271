"""Time one step of the reference core on the CPU, against the memory-bandwidth floor.

Two trees, both float32:

- ResNet-50-shaped: the 161 parameter tensors of ResNet-50 (25,557,032 values). A
  step must read g, p, m and write m and the update: 5 arrays. The floor is the time
  of an in-place ``np.add`` over a buffer of the same size (2 reads + 1 write),
  scaled by 5/3, measured in the same process. Reported: step time / floor.
- 200 leaves x 100 values: per-leaf cost, where library-call and Python overhead
  dominate. Reported: microseconds per leaf (best of 200 steps).

Peers (optional, when importable): torch-optimizer's NovoGrad on the same trees.

A functional step returns two tree-sized arrays (the new moment and the update). The
step is timed as a training loop runs it, the previous step's outputs released only
once the new ones exist, so the allocator reuses their memory; released first, that
memory goes back to the system (glibc trims the top of its heap) and every step pays
for zeroing and first-touching 2 x 102 MB, about 24 ms each on the machine of
RESULTS.md.

Run: ``python benchmarks/step_cpu.py [--preset optax] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import novograd_ref as ngr


def resnet50_shapes() -> list[tuple[int, ...]]:
    """The 161 parameter shapes of ResNet-50 (conv weights, batch-norm scale/shift, fc)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    in_ch = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        out_ch = width * 4
        for block in range(blocks):
            shapes += [(width, in_ch, 1, 1), (width,), (width,),
                       (width, width, 3, 3), (width,), (width,),
                       (out_ch, width, 1, 1), (out_ch,), (out_ch,)]
            if block == 0:
                shapes += [(out_ch, in_ch, 1, 1), (out_ch,), (out_ch,)]
            in_ch = out_ch
    return [*shapes, (1000, 2048), (1000,)]


def make_tree(shapes: list[tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
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
    fn = ngr.presets.get(preset)
    opt = fn(**{ngr.presets.LEARNING_RATE_KEYWORD[preset]: 1e-3})
    held = [opt.update(grads, opt.init(params), params)]  # past the first step

    def step() -> None:
        held[0] = opt.update(grads, held[0][1], params)

    return step


def torch_peers(params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
                ) -> dict[str, Callable[[], Any]]:
    """Peers in torch, when importable: the PyTorch implementations, one step each."""
    try:
        import torch
    except ImportError:
        return {}
    tp = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in params.values()]
    for p, g in zip(tp, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    peers: dict[str, Callable[[], Any]] = {}
    try:
        import torch_optimizer

        opt = torch_optimizer.NovoGrad(tp, lr=1e-3, betas=(0.95, 0.98))
        opt.step()
        peers["torch_optimizer.NovoGrad"] = opt.step
    except ImportError:
        pass
    return peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="optax")
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    run(args)


def run(args: argparse.Namespace) -> None:
    """One measurement of both trees, printed."""
    print(f"novograd-ref {ngr.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, preset {args.preset}")
    big_shapes = resnet50_shapes()
    params, grads = make_tree(big_shapes, 0), make_tree(big_shapes, 1)
    n = sum(v.size for v in params.values())
    floor = bandwidth_floor(n, args.repeat)
    t_ref = best_time(reference_step(args.preset, params, grads), args.repeat)
    print(f"ResNet-50 tree: {len(big_shapes)} leaves, {n:,} float32 values")
    print(f"  bandwidth floor (5 arrays)   {floor * 1e3:8.2f} ms")
    print(f"  reference core               {t_ref * 1e3:8.2f} ms   {t_ref / floor:5.2f}x floor")
    for name, step in torch_peers(params, grads).items():
        t = best_time(step, args.repeat)
        print(f"  {name:28s} {t * 1e3:8.2f} ms   {t / floor:5.2f}x floor")

    small_shapes = [(100,)] * 200
    params, grads = make_tree(small_shapes, 2), make_tree(small_shapes, 3)
    t_small = best_time(reference_step(args.preset, params, grads), 200, best=True)
    print("Small tree: 200 leaves x 100 values")
    print(f"  reference core               {t_small / 200 * 1e6:8.2f} us per leaf")
    for name, step in torch_peers(params, grads).items():
        t = best_time(step, 200, best=True)
        print(f"  {name:28s} {t / 200 * 1e6:8.2f} us per leaf")


if __name__ == "__main__":
    main()
