"""The NovoGrad steps the fused-path benchmarks time, each built on its own copy of a tree.

A :class:`Contender` is one full step as a training loop takes it, run to completion
(the parameters hold their new values when ``step()`` returns), on a fixed number of
threads where the library lets us choose it:

- ``floor``: the 5 arrays a step must move (read g, p, m; write m, p) at the bandwidth
  of an in-place ``np.add`` over one flat buffer of the tree's size (2 reads, 1 write),
  so its time is scaled by 5/3 (``scale``); one thread, as NumPy's ufuncs run (the
  floor of the targets), or the buffer's halves added on two threads at once;
- ``reference``: ``opt.update`` then ``apply_updates`` (the whole step, like the
  peers' in-place ``step()``), the previous step's outputs alive until the new exist;
- ``fused``: ``novograd_ref.fused`` on 1 or 2 numba threads;
- the PyTorch NovoGrads of ``_common.TORCH_NOVOGRADS`` on 1 or 2 threads;
- ``optax.novograd`` under ``jax.jit`` with parameters and state donated (XLA's own
  thread pool).

All take ``lr=1e-3, b1=0.95, b2=0.98, eps=1e-8`` (the reference and the fused path as
the ``nemo`` preset by default). :func:`check_first_step` verifies, before anything is
timed, that each contender's first step from a fresh state equals the reference's
(``p - lr g / (|g| + eps)`` for all of them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from _common import Shape, torch_novograds

import novograd_ref as ngr
from novograd_ref.testing import assert_trees_close

LR, B1, B2, EPS = 1e-3, 0.95, 0.98, 1e-8


@dataclasses.dataclass
class Contender:
    """One timed step: ``step()`` runs it; its time is multiplied by ``scale``."""

    label: str
    step: Callable[[], Any]
    threads: int | None = None  # None: the library's own choice
    scale: float = 1.0
    first_params: Callable[[], dict[str, np.ndarray]] | None = None


def make_tree(shapes: list[Shape], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"p{i:05d}": rng.standard_normal(s, dtype=np.float32) for i, s in enumerate(shapes)}


def copy_tree(tree: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in tree.items()}


def preset_optimizer(preset: str) -> ngr.NovoGrad:
    """``preset`` with the benchmark's hyperparameters, in the preset's own keywords."""
    return ngr.presets.build(preset, LR, b1=B1, b2=B2, eps=EPS)


def floor(n_values: int, threads: int = 1) -> Contender:
    """In-place ``np.add`` over a flat buffer of the tree's size, scaled by 5/3; on two
    threads, each adds one half (NumPy releases the GIL in its loops)."""
    a = np.ones(n_values, dtype=np.float32)
    b = np.ones(n_values, dtype=np.float32)
    label = "floor: 5 arrays at np.add bandwidth"
    if threads == 1:
        return Contender(label, lambda: np.add(a, b, out=a), 1, 5 / 3)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(threads)
    bounds = [n_values * i // threads for i in range(threads + 1)]
    halves = [(a[lo:hi], b[lo:hi]) for lo, hi in itertools.pairwise(bounds)]

    def step() -> None:
        for done in [pool.submit(np.add, x, y, out=x) for x, y in halves]:
            done.result()

    return Contender(label, step, threads, 5 / 3)


def reference(preset: str, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
              ) -> Contender:
    """The reference core's whole step: ``update`` and ``apply_updates``."""
    opt = preset_optimizer(preset)
    held = [(copy_tree(params), opt.init(params))]

    def step() -> None:
        p, state = held[0]
        updates, state = opt.update(grads, state, p)
        held[0] = (ngr.apply_updates(p, updates), state)

    return Contender(f"reference ({preset}), update + apply_updates", step, 1,
                     first_params=lambda: held[0][0])


def fused(preset: str, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
          threads: int) -> Contender:
    """``novograd_ref.fused`` stepping its own copy of the tree in place."""
    fast = ngr.fused.from_optimizer(preset_optimizer(preset), threads=threads)
    own = copy_tree(params)
    state = fast.init(own)
    return Contender(f"fused ({preset})", lambda: fast.step_(own, grads, state), threads,
                     first_params=lambda: own)


def torch_peers(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                threads: list[int]) -> Iterator[Contender]:
    """Each importable PyTorch NovoGrad on its own copy (``.grad`` set once), one
    contender per thread count; the thread count is set before each step."""
    for label, opt, tp, torch in torch_novograds(params, grads, lr=LR, betas=(B1, B2),
                                                 eps=EPS):
        def first(tp: list[Any] = tp) -> dict[str, np.ndarray]:
            return {k: p.detach().numpy() for k, p in zip(params, tp)}

        for n in threads:
            def step(opt: Any = opt, n: int = n, torch: Any = torch) -> None:
                torch.set_num_threads(n)
                opt.step()

            yield Contender(label, step, n, first_params=first)


def optax_jit(params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
              ) -> tuple[Contender, float] | None:
    """``optax.novograd`` under ``jax.jit``, parameters and state donated; with the
    first call's time (tracing and compiling, plus one step)."""
    try:
        import jax
        import optax
    except ImportError:
        return None
    tx = optax.novograd(LR, b1=B1, b2=B2, eps=EPS)

    def one(p: Any, s: Any, g: Any) -> Any:
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s

    jitted = jax.jit(one, donate_argnums=(0, 1))
    g = {k: jax.device_put(v) for k, v in grads.items()}
    box = [{k: jax.device_put(v.copy()) for k, v in params.items()}]
    box.append(tx.init(box[0]))
    start = time.perf_counter()
    box[0], box[1] = jax.block_until_ready(jitted(box[0], box[1], g))
    compile_s = time.perf_counter() - start

    def step() -> None:
        box[0], box[1] = jax.block_until_ready(jitted(box[0], box[1], g))

    def first() -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in box[0].items()}

    return Contender("optax, jax.jit, donated buffers", step, None,
                     first_params=first), compile_s


def quiet_numba_threads() -> None:
    """Load PyTorch's OpenMP runtime (if PyTorch is here) with the environment as given,
    then ask the OpenMP runtime numba loads later, a separate one, to let its idle
    threads sleep while other contenders run (unless the caller chose a policy)."""
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def check_first_step(contender: Contender, expected: dict[str, np.ndarray]) -> None:
    """The contender's parameters after its first step equal ``expected`` (the
    reference's first step) within the float32 framework tolerance."""
    assert contender.first_params is not None
    got = contender.first_params()
    assert_trees_close({k: np.asarray(got[k]) for k in expected}, expected, kind="framework")


def reference_first_step(preset: str, params: dict[str, np.ndarray],
                         grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    opt = preset_optimizer(preset)
    updates, _ = opt.update(grads, opt.init(params), params)
    result: dict[str, np.ndarray] = ngr.apply_updates(params, updates)
    return result
