"""One NovoGrad step on a GPU: the reference core against the memory-bandwidth floor,
the PyTorch implementations and jitted optax.

Two float32 trees: the parameters of ResNet-50 (161 leaves, 25,557,032 values, the
shapes of torchvision's ``resnet50``) and a 1.01e9-value transformer-shaped tree (219
leaves). For each tree the script measures, in one process on one device:

- the floor: the memory bandwidth of an in-place add over flat buffers (``a += b``
  reads 2 and writes 1 buffer), and the time to move the bytes one step must move at
  that bandwidth: read g, p, m; write m and the new p (5 x 4 bytes per value); and the
  same bytes at the bandwidth of a device-to-device copy (``copy_s`` in the JSON). With
  CuPy, also one fused elementwise kernel that reads g, p, m and writes m, p;
- the reference core (``novograd_ref.presets.nemo``) on PyTorch, on CuPy and under
  ``jax.jit`` (parameters and state donated);
- the fused kernels of ``novograd_ref.fused`` on CuPy (the ``nemo`` preset, in place);
- NVIDIA Apex's ``FusedNovoGrad`` where ``scripts/gpu_check.sh`` built it
  (``$NOVOGRAD_REF_APEX_DIR``), with the flags that make it NeMo's step
  (``reg_inside_moment=True, bias_correction=False, grad_averaging=False``);
- the PyTorch implementations that are importable: a NeMo-style per-parameter loop
  (written here, always available), NeMo's ``Novograd`` (from the file that
  ``scripts/make_env.sh torch`` extracts), timm's ``NvNovoGrad``, torch-optimizer's
  and pytorch_optimizer's ``NovoGrad``; and ``optax.novograd`` under ``jax.jit``.

Every implementation first takes one step from a fresh state on the same inputs; the
new parameters of a sample of leaves must equal the reference core's (the first step
of all of them is ``p - lr g / (|g| + eps)``), or the script exits with status 1. Then
steps are timed in batches (synchronizing the device before the timer stops) and the
median per-step time is printed with its ratio to the floor and to the reference core.

``--device cpu --small`` runs the same code on the CPU with small trees, to test the
script itself; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# JAX must not reserve most of the GPU for itself: PyTorch and CuPy share it here.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np
from _common import TORCH_NOVOGRADS, Shape, resnet50_shapes

LR, B1, B2, EPS = 1e-3, 0.95, 0.98, 1e-8


# ------------------------------------------------------------------------------ trees


def transformer_shapes(d: int = 2048, layers: int = 18, vocab: int = 50304) -> list[Shape]:
    """A GPT-style tree: embedding, ``layers`` blocks, final norm (1.01e9 by default)."""
    shapes: list[Shape] = [(vocab, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,),
                   (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]
    shapes += [(d,), (d,)]
    return shapes


def trees(small: bool) -> dict[str, list[Shape]]:
    if small:
        return {"resnet50": resnet50_shapes(width_div=8),
                "transformer": transformer_shapes(d=128, layers=2, vocab=2048)}
    return {"resnet50": resnet50_shapes(), "transformer-1b": transformer_shapes()}


def size(shapes: list[Shape]) -> int:
    return sum(math.prod(s) for s in shapes)


# ----------------------------------------------------------------------------- timing


@dataclass
class Timing:
    name: str
    median_s: float
    min_s: float
    steps_per_batch: int
    note: str = ""


@dataclass
class TreeReport:
    tree: str
    leaves: int
    values: int
    step_bytes: int
    add_bandwidth_Bps: float = 0.0
    floor_s: float = 0.0
    copy_bandwidth_Bps: float = 0.0
    copy_s: float = 0.0
    timings: list[Timing] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    check_errors: dict[str, float] = field(default_factory=dict)


def time_steps(step: Callable[[], Any], sync: Callable[[Any], None], warmup: int,
               repeat: int, min_batch_s: float) -> tuple[float, float, int]:
    """Median and minimum seconds per step over ``repeat`` synchronized batches."""
    out = None
    for _ in range(warmup):
        out = step()
    sync(out)
    start = time.perf_counter()
    out = step()
    sync(out)
    one = time.perf_counter() - start
    inner = max(1, min(10_000, math.ceil(min_batch_s / max(one, 1e-7))))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            out = step()
        sync(out)
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times), min(times), inner


# --------------------------------------------------------------------------- runners
# A runner sets up one implementation on the base tree and returns
# (first_step, step, sync, params): first_step() takes the validation step from a fresh
# state; step() takes one more; sync(out) waits for the device; params() gives the
# current parameters as a list in the runner's library.

Runner = tuple[Callable[[], Any], Callable[[], Any], Callable[[Any], None],
               Callable[[], list[Any]]]


class Ctx:
    """The base tree on the torch device, and what every runner needs."""

    def __init__(self, torch: Any, device: Any, shapes: list[Shape], seed: int = 0) -> None:
        self.torch, self.device = torch, device
        gen = torch.Generator(device=device).manual_seed(seed)
        self.params = [0.02 * torch.randn(s, generator=gen, device=device) for s in shapes]
        self.grads = [1e-3 * torch.randn(s, generator=gen, device=device) for s in shapes]
        self.cuda = device.type == "cuda"

    def sync_torch(self, out: Any = None) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def fresh_params(self) -> list[Any]:
        return [p.clone() for p in self.params]


def torch_reference(ctx: Ctx) -> Runner:
    import novograd_ref as ngr

    opt = ngr.presets.nemo(lr=LR, betas=(B1, B2), eps=EPS)
    params = ctx.fresh_params()
    holder: dict[str, Any] = {"p": params, "s": opt.init(params)}

    def step() -> Any:
        updates, holder["s"] = opt.update(ctx.grads, holder["s"], holder["p"])
        holder["p"] = ngr.apply_updates(holder["p"], updates)
        return holder["p"]

    return step, step, ctx.sync_torch, lambda: holder["p"]


def nemo_style_loop(ctx: Ctx) -> Runner:
    """NeMo's ``Novograd.step`` written out: per parameter, in place, one host sync
    per layer for ``if exp_avg_sq == 0`` (as NeMo does); the gradient is left intact
    (``div`` into a buffer rather than ``grad.div_``, which moves the same bytes)."""
    torch = ctx.torch
    params = ctx.fresh_params()
    mus = [torch.zeros_like(p) for p in params]
    nus = [torch.zeros((), device=ctx.device) for _ in params]
    bufs = [torch.empty_like(p) for p in params]

    def step() -> Any:
        for p, g, m, v, buf in zip(params, ctx.grads, mus, nus, bufs):
            norm = torch.sum(g * g)
            if v == 0:
                v.copy_(norm)
            else:
                v.mul_(B2).add_(norm, alpha=1.0 - B2)
            den = v.sqrt().add_(EPS)
            torch.div(g, den, out=buf)
            m.mul_(B1).add_(buf)
            p.add_(m, alpha=-LR)
        return params

    return step, step, ctx.sync_torch, lambda: params


def torch_optim(ctx: Ctx, load_class: Callable[[], Any]) -> Runner:
    """A ``torch.optim``-style NovoGrad over the tree (``.grad`` set once)."""
    cls, torch = load_class(), ctx.torch
    params = [torch.nn.Parameter(p) for p in ctx.fresh_params()]
    for p, g in zip(params, ctx.grads):
        p.grad = g.clone()  # some implementations modify the gradient in place
    opt = cls(params, lr=LR, betas=(B1, B2), eps=EPS, weight_decay=0.0)

    @torch.no_grad()
    def step() -> Any:
        opt.step()
        return params

    return step, step, ctx.sync_torch, lambda: [p.detach() for p in params]


def cupy_reference(ctx: Ctx) -> Runner:
    import cupy

    import novograd_ref as ngr

    ctx.sync_torch()
    opt = ngr.presets.nemo(lr=LR, betas=(B1, B2), eps=EPS)
    params = [cupy.from_dlpack(p).copy() for p in ctx.params]
    grads = [cupy.from_dlpack(g) for g in ctx.grads]  # shared with torch, read only
    holder: dict[str, Any] = {"p": params, "s": opt.init(params)}

    def step() -> Any:
        updates, holder["s"] = opt.update(grads, holder["s"], holder["p"])
        holder["p"] = ngr.apply_updates(holder["p"], updates)
        return holder["p"]

    def sync(out: Any) -> None:
        cupy.cuda.Device().synchronize()

    return step, step, sync, lambda: holder["p"]


def cupy_fused(ctx: Ctx) -> Runner:
    """``novograd_ref.fused`` on CuPy arrays: the CUDA kernels, in place."""
    import cupy

    import novograd_ref as ngr

    ctx.sync_torch()
    fast = ngr.fused.from_optimizer(ngr.presets.nemo(lr=LR, betas=(B1, B2), eps=EPS))
    params = [cupy.from_dlpack(p).copy() for p in ctx.params]
    grads = [cupy.from_dlpack(g) for g in ctx.grads]  # shared with torch, read only
    state = fast.init(params)

    def step() -> Any:
        fast.step_(params, grads, state)
        return params

    def sync(out: Any) -> None:
        cupy.cuda.Device().synchronize()

    return step, step, sync, lambda: params


def apex_fused_novograd() -> Any:
    """Apex's ``FusedNovoGrad`` with NeMo's math (see the module docstring)."""
    from novograd_ref.conformance.frameworks import apex

    cls = apex.load_fused_novograd()
    return functools.partial(cls, reg_inside_moment=True, bias_correction=False,
                             grad_averaging=False)


def _to_jax(ctx: Ctx, jax: Any, x: Any, device: Any) -> Any:
    """A JAX copy of a torch tensor on ``device`` (DLPack, else through the host)."""
    try:
        return jax.device_put(jax.numpy.array(jax.dlpack.from_dlpack(x), copy=True), device)
    except Exception:  # noqa: BLE001 - any DLPack refusal: take the host path
        return jax.device_put(x.detach().cpu().numpy(), device)


def jax_runner(ctx: Ctx, jax_device: Any, which: str) -> Runner:
    """``jax.jit`` of a whole step (update + apply), parameters and state donated."""
    import jax

    ctx.sync_torch()
    params = [_to_jax(ctx, jax, p, jax_device) for p in ctx.params]
    grads = [_to_jax(ctx, jax, g, jax_device) for g in ctx.grads]
    if which == "reference":
        import novograd_ref as ngr

        opt = ngr.presets.nemo(lr=LR, betas=(B1, B2), eps=EPS)

        def one(p: Any, s: Any, g: Any) -> Any:
            u, s = opt.update(g, s, p)
            return ngr.apply_updates(p, u), s

        state = jax.jit(opt.init)(params)
    else:
        import optax

        tx = optax.novograd(LR, b1=B1, b2=B2, eps=EPS)

        def one(p: Any, s: Any, g: Any) -> Any:
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        state = tx.init(params)
    jitted = jax.jit(one, donate_argnums=(0, 1))
    holder: dict[str, Any] = {"p": params, "s": state}

    def step() -> Any:
        holder["p"], holder["s"] = jitted(holder["p"], holder["s"], grads)
        return holder["p"]

    return step, step, lambda out: jax.block_until_ready(out), lambda: holder["p"]


# ---------------------------------------------------------------------------- floors


def copy_bandwidth(ctx: Ctx, values: int, warmup: int, repeat: int, min_batch_s: float
                   ) -> float:
    """Bytes per second (read and written) of a device-to-device copy of ``values``
    float32 values."""
    torch = ctx.torch
    src = torch.ones(values, device=ctx.device)
    dst = torch.empty_like(src)
    med, _, _ = time_steps(lambda: dst.copy_(src), ctx.sync_torch, warmup, repeat,
                           min_batch_s)
    return 2 * 4 * values / med


def add_bandwidth(ctx: Ctx, values: int, warmup: int, repeat: int, min_batch_s: float
                  ) -> float:
    """Bytes per second of ``a += b`` over two flat float32 buffers of ``values``."""
    torch = ctx.torch
    a = torch.zeros(values, device=ctx.device)
    b = torch.full((values,), 1e-7, device=ctx.device)
    med, _, _ = time_steps(lambda: a.add_(b), ctx.sync_torch, warmup, repeat, min_batch_s)
    return 3 * 4 * values / med


def cupy_fused_floor(values: int) -> Runner:
    """One kernel over flat buffers: read g, p, m; write m and p (the step's traffic)."""
    import cupy

    kernel = cupy.ElementwiseKernel(
        "float32 g", "float32 m, float32 p",
        f"m = {B1}f * m + g; p = p - {LR}f * m", "novograd_floor")
    g = cupy.full(values, 1e-3, dtype=cupy.float32)
    m = cupy.zeros(values, dtype=cupy.float32)
    p = cupy.zeros(values, dtype=cupy.float32)

    def step() -> Any:
        kernel(g, m, p)
        return p

    def sync(out: Any) -> None:
        cupy.cuda.Device().synchronize()

    return step, step, sync, lambda: [p]


# ------------------------------------------------------------------------------ main


def free(ctx: Ctx) -> None:
    gc.collect()
    if ctx.cuda:
        ctx.torch.cuda.empty_cache()
    if "cupy" in sys.modules:
        sys.modules["cupy"].get_default_memory_pool().free_all_blocks()


def to_numpy(x: Any) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def candidates(ctx: Ctx, args: argparse.Namespace
               ) -> list[tuple[str, Callable[[], Runner]]]:
    """Every implementation to try, in order; each may raise ImportError (skipped)."""
    out: list[tuple[str, Callable[[], Runner]]] = [
        ("reference core, torch", lambda: torch_reference(ctx)),
        ("NeMo-style loop (in this file)", lambda: nemo_style_loop(ctx)),
    ]
    out += [(label, functools.partial(torch_optim, ctx, load))
            for label, load in TORCH_NOVOGRADS]
    if ctx.cuda:
        out += [("reference core, cupy", lambda: cupy_reference(ctx)),
                ("fused kernel (novograd_ref.fused), cupy", lambda: cupy_fused(ctx)),
                ("Apex FusedNovoGrad", functools.partial(torch_optim, ctx,
                                                         apex_fused_novograd))]
    out += [
        ("reference core, jax.jit", lambda: jax_runner(ctx, find_jax_device(args.device),
                                                       "reference")),
        ("optax.novograd, jax.jit", lambda: jax_runner(ctx, find_jax_device(args.device),
                                                       "optax")),
    ]
    return out


def find_jax_device(kind: str) -> Any:
    """The JAX device of ``kind``; ``ImportError`` saying why if there is none."""
    import jax

    try:
        return jax.devices("gpu" if kind == "cuda" else "cpu")[0]
    except RuntimeError as exc:
        raise ImportError(f"jax has no {kind} device ({exc})") from exc


def run_tree(name: str, shapes: list[Shape], ctx_factory: Callable[[list[Shape]], Ctx],
             args: argparse.Namespace) -> TreeReport:
    values = size(shapes)
    report = TreeReport(name, len(shapes), values, 5 * 4 * values)
    ctx = ctx_factory(shapes)
    timing = (args.warmup, args.repeat, args.min_batch_s)
    report.add_bandwidth_Bps = add_bandwidth(ctx, values, *timing)
    report.floor_s = report.step_bytes / report.add_bandwidth_Bps
    report.copy_bandwidth_Bps = copy_bandwidth(ctx, values, *timing)
    report.copy_s = report.step_bytes / report.copy_bandwidth_Bps
    free(ctx)
    print(f"\n{name}: {len(shapes)} leaves, {values:,} float32 values "
          f"({4 * values / 1e6:.1f} MB); a step moves {report.step_bytes / 1e6:.1f} MB")
    print(f"  in-place add bandwidth {report.add_bandwidth_Bps / 1e9:.1f} GB/s -> floor "
          f"{report.floor_s * 1e3:.3f} ms; copy bandwidth "
          f"{report.copy_bandwidth_Bps / 1e9:.1f} GB/s -> a copy of the step's bytes "
          f"{report.copy_s * 1e3:.3f} ms")
    if ctx.cuda:
        try:
            runner = cupy_fused_floor(values)
            med, low, inner = time_steps(runner[1], runner[2], *timing)
            report.timings.append(Timing("fused kernel, flat buffers (cupy)", med, low, inner))
            _print(report, report.timings[-1])
        except ImportError as exc:
            report.skipped["fused kernel, flat buffers (cupy)"] = str(exc)
        free(ctx)

    sample = sorted({0, len(shapes) // 2, len(shapes) - 1})
    expected: dict[int, np.ndarray] | None = None
    for label, make in candidates(ctx, args):
        if args.only and not any(word in label for word in args.only):
            continue
        try:
            first, step, sync, params = make()
        except ImportError as exc:
            report.skipped[label] = str(exc) or type(exc).__name__
            print(f"  {label:44s} skipped: {report.skipped[label]}")
            continue
        sync(first())
        got = {i: to_numpy(params()[i]).astype(np.float64) for i in sample}
        if expected is None:
            expected = got
        err = max(float(np.max(np.abs(got[i] - expected[i])) / np.max(np.abs(expected[i])))
                  for i in sample)
        report.check_errors[label] = err
        med, low, inner = time_steps(step, sync, *timing)
        report.timings.append(Timing(label, med, low, inner))
        _print(report, report.timings[-1], err)
        del first, step, sync, params
        free(ctx)
    del ctx
    return report


def _print(report: TreeReport, t: Timing, err: float | None = None) -> None:
    ref = next((x.median_s for x in report.timings if x.name == "reference core, torch"), None)
    vs_ref = f"{t.median_s / ref:6.2f}x ref" if ref else " " * 10
    check = f"  first step {err / np.finfo(np.float32).eps:5.1f} eps" if err is not None else ""
    print(f"  {t.name:44s} {t.median_s * 1e3:10.3f} ms  {t.median_s / report.floor_s:8.2f}x "
          f"floor {t.median_s / report.copy_s:6.2f}x copy  {vs_ref}{check}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--small", action="store_true",
                    help="small trees (a smoke test of the script; timings mean nothing)")
    ap.add_argument("--tree", action="append", help="only these trees (repeatable)")
    ap.add_argument("--only", action="append",
                    help="only implementations whose label contains this (repeatable)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10, help="timed batches (10)")
    ap.add_argument("--min-batch-s", type=float, default=None,
                    help="steps per batch so that a batch lasts this long (0.05; 0 small)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    if args.min_batch_s is None:
        args.min_batch_s = 0.0 if args.small else 0.05

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch; use --device cpu --small to test the script")
        return 2
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    name = torch.cuda.get_device_name(device) if args.device == "cuda" else platform.processor()
    print(f"device: {args.device} ({name or platform.machine()}); torch {torch.__version__}")
    if args.small:
        print("--small: a smoke test of this script; the timings mean nothing")

    from novograd_ref.testing import rtol

    tolerance = rtol("float32", "framework")
    reports = []
    for tree_name, shapes in trees(args.small).items():
        if args.tree and tree_name not in args.tree:
            continue
        reports.append(run_tree(tree_name, shapes, lambda s: Ctx(torch, device, s), args))
    bad = {f"{r.tree}: {k}": v for r in reports for k, v in r.check_errors.items()
           if not v <= tolerance}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "device_name": name, "small": args.small,
                       "torch": torch.__version__, "tolerance": tolerance,
                       "trees": [asdict(r) for r in reports]}, f, indent=2)
    if bad:
        print(f"\nFIRST STEP DIFFERS from the reference core (tolerance {tolerance:.3g}): "
              f"{bad}")
        return 1
    print(f"\nall first steps equal the reference core within {tolerance:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
