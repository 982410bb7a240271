"""Dask beyond one process: steps on chunked trees through a ``dask.distributed`` cluster.

A ``LocalCluster`` with two workers (threads in this process, to start fast) runs the
graphs that ``update`` builds; the state stays on the workers between steps
(``persist``), as in a training loop, and the result equals NumPy's. The out-of-core
benchmark (``benchmarks/dask_out_of_core.py``) is also run once with a tiny tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref._tree import flatten, unflatten

from .test_backends import assert_close_at_tree_scale, full_precision, run, tree_map

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
da = pytest.importorskip("dask.array", reason="dask[array] is not installed")

STEPS = 3
CHUNK_ROWS = 16

# A local cluster per module and an out-of-core run: the slow lane.
pytestmark = pytest.mark.slow


@pytest.fixture
def client() -> Iterator[Any]:
    """A two-worker local cluster (threads, no dashboard) and a client bound to it."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def _tree(rng: np.random.Generator) -> dict[str, Any]:
    return {"embed": rng.standard_normal((96, 8)), "blocks": [rng.standard_normal((40, 6)),
            rng.standard_normal(33)], "bias": rng.standard_normal(())}


def _chunked(tree: Any) -> Any:
    return tree_map(lambda a: da.from_array(a, chunks=(CHUNK_ROWS,) * min(a.ndim, 1)
                                            + a.shape[1:]), tree)


def _persist(client: Any, tree: Any) -> Any:
    """The tree with every Dask leaf persisted on the cluster (computing, not blocking)."""
    leaves, treedef = flatten(tree)
    return unflatten(treedef, client.persist(leaves))


@pytest.mark.parametrize("preset", ["nemo", "apex", "optax"])
def test_steps_on_a_two_worker_cluster(client: Any, preset: str) -> None:
    """Three steps on the cluster, state persisted between them, equal NumPy's."""
    opt = full_precision(ngr.presets.build(preset, 0.01, weight_decay=0.01))
    rng = np.random.default_rng(7)
    params = _tree(rng)
    grads = [_tree(rng) for _ in range(STEPS)]
    assert len(client.scheduler_info()["workers"]) == 2

    d_params = _persist(client, _chunked(params))
    state = _persist(client, opt.init(d_params))
    with distributed.get_task_stream(client) as stream:
        for g in grads:
            updates, state = opt.update(_chunked(g), state, d_params)
            d_params, state = _persist(client, (ngr.apply_updates(d_params, updates), state))
        leaves, treedef = flatten((d_params, state))
        computed = client.gather(client.compute(leaves))
    assert stream.data, "no task ran on the cluster"
    assert {t["worker"] for t in stream.data} == set(client.scheduler_info()["workers"])
    got_params, got_state = tree_map(np.asarray, unflatten(treedef, computed))
    ref_params, ref_state, _ = run(opt, params, grads)
    assert_close_at_tree_scale(got_params, ref_params, "float64", "params", STEPS)
    assert_close_at_tree_scale(got_state.mu, ref_state.mu, "float64", "mu", STEPS)
    assert_close_at_tree_scale(got_state.nu, ref_state.nu, "float64", "nu", STEPS, per_leaf=True)
    assert int(got_state.count) == STEPS


def test_out_of_core_benchmark_smoke(tmp_path: Path) -> None:
    """The benchmark script end to end on a 24 MiB tree: it checks its own result."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "dask_out_of_core.py"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(script), "--dir", str(tmp_path), "--tree-mib", "24",
         "--leaf-mib", "4", "--chunk-mib", "1", "--worker-memory-mib", "512",
         "--check-leaves", "2"],
        capture_output=True, text=True, timeout=240, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "result equals the in-memory step" in proc.stdout
