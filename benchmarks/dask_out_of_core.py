"""One NovoGrad step on a tree larger than the memory its Dask workers are given.

The parameters, gradients and first moments live on disk as ``.npy`` files, one per
leaf and kind, read and written by row blocks with ``pread`` / ``pwrite`` (no memory
maps, so a worker's resident memory is its real working set). A ``dask.distributed``
``LocalCluster`` of worker processes, each with a hard memory limit, runs the graph that
``novograd_ref``'s reference core builds for the whole tree, and the new parameters and
moments are stored back in place, as a training loop would. The script

- measures the disk: the write rate while it creates the tree, and the cold read
  bandwidth of the same files, read the way the workers read them (page cache dropped
  with ``posix_fadvise`` before every cold read);
- samples the resident memory of every worker process during the step (peak per
  worker, and of all workers together);
- checks the result: for a sample of leaves, the step is also computed in memory with
  NumPy from a copy taken before the step, and must agree within the project's float32
  tolerance (the in-memory sum runs in another order than the chunked one);
- prints the step's throughput against the disk's read bandwidth.

The step must read 12 bytes and write 8 per float32 parameter. The schedule used here
reads each gradient chunk twice (for its layer's norm, then for its update) rather than
hold a whole layer's gradient in memory between the two; the workers' I/O counters
show what was actually read and written.

Run ``python benchmarks/dask_out_of_core.py --help``; the defaults (a 4 GiB float32
tree, two workers of 1 GiB) take two to three minutes on two cores, most of it writing
the 12 GiB of input files. Files are kept with ``--keep`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

MiB = 2**20
GiB = 2**30
COLS = 1024  # every leaf is (rows, 1024) float32: 4 KiB rows, chunked along rows
DTYPE = np.dtype(np.float32)
KINDS = ("p", "g", "m")  # parameters, gradients, first moments
STEP_COUNT = 5  # the state is that of a run already 5 steps in


# ------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class NpyFile:
    """A C-ordered 2-D ``.npy`` file, read and written by row blocks, without mmap.

    Dask slices it like an array (``x[rows, :]``) and stores into it
    (``x[rows, :] = block``); both go straight to the file with ``pread`` / ``pwrite``,
    so blocks live in anonymous memory that the worker's memory limit accounts for.
    """

    path: str
    shape: tuple[int, int]
    offset: int  # bytes of the .npy header

    dtype = DTYPE
    ndim = 2

    @classmethod
    def create(cls, path: Path, shape: tuple[int, int]) -> NpyFile:
        """A new file of ``shape`` (header written, data not yet)."""
        with open(path, "wb") as f:
            np.lib.format.write_array_header_2_0(
                f, {"descr": np.lib.format.dtype_to_descr(DTYPE), "fortran_order": False,
                    "shape": shape})
            offset = f.tell()
        return cls(str(path), shape, offset)

    @classmethod
    def open(cls, path: Path) -> NpyFile:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if fortran or dtype != DTYPE or len(shape) != 2:
                raise ValueError(f"{path}: expected a C-ordered 2-d {DTYPE} array")
            return cls(str(path), shape, f.tell())

    def __dask_tokenize__(self) -> Any:
        return ("NpyFile", self.path, self.shape, self.offset)

    def _rows(self, index: Any) -> tuple[int, int, Any]:
        index = index if isinstance(index, tuple) else (index,)
        rows = index[0] if index else slice(None)
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise IndexError("NpyFile reads contiguous row blocks only")
        return start, max(start, stop), index[1:]

    def __getitem__(self, index: Any) -> np.ndarray:
        start, stop, rest = self._rows(index)
        out = np.empty((stop - start, self.shape[1]), DTYPE)
        view = out.reshape(-1).view(np.uint8).data
        fd = os.open(self.path, os.O_RDONLY)
        try:
            pos, done = self.offset + start * self.shape[1] * DTYPE.itemsize, 0
            while done < len(view):
                n = os.preadv(fd, [view[done:]], pos + done)
                if n <= 0:
                    raise OSError(f"{self.path}: short read")
                done += n
        finally:
            os.close(fd)
        index = (slice(None), *rest)
        return out[index] if rest else out

    def __setitem__(self, index: Any, value: Any) -> None:
        start, stop, rest = self._rows(index)
        if rest and rest != (slice(None),) and rest[0] != slice(0, self.shape[1], None):
            raise IndexError("NpyFile writes whole rows only")
        block = np.ascontiguousarray(value, dtype=DTYPE)
        assert block.shape == (stop - start, self.shape[1]), block.shape
        view = block.reshape(-1).view(np.uint8).data
        fd = os.open(self.path, os.O_WRONLY)
        try:
            pos, done = self.offset + start * self.shape[1] * DTYPE.itemsize, 0
            while done < len(view):
                done += os.pwritev(fd, [view[done:]], pos + done)
        finally:
            os.close(fd)


def drop_cache(paths: list[Path], sync: bool = True) -> None:
    """Write back and evict the files' pages, so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDWR)
        try:
            if sync:
                os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


@dataclass
class Tree:
    """The layout of the tree on disk: leaf shapes, files, per-leaf second moments."""

    root: Path
    shapes: list[tuple[int, int]]
    nu: list[float]

    def path(self, kind: str, leaf: int) -> Path:
        return self.root / f"{kind}{leaf:03d}.npy"

    def paths(self, kinds: tuple[str, ...] = KINDS) -> list[Path]:
        return [self.path(k, i) for i in range(len(self.shapes)) for k in kinds]

    @property
    def values(self) -> int:
        return sum(r * c for r, c in self.shapes)

    @property
    def nbytes(self) -> int:
        return self.values * DTYPE.itemsize

    def manifest(self) -> dict[str, Any]:
        return {"shapes": self.shapes, "nu": self.nu, "dtype": DTYPE.str}


def layout(tree_bytes: int, leaf_bytes: int) -> list[tuple[int, int]]:
    """Leaf shapes ``(rows, COLS)`` adding up to ``tree_bytes``, each ``<= leaf_bytes``."""
    row_bytes = COLS * DTYPE.itemsize
    total_rows = max(1, tree_bytes // row_bytes)
    leaf_rows = max(1, leaf_bytes // row_bytes)
    shapes = [(leaf_rows, COLS)] * (total_rows // leaf_rows)
    if total_rows % leaf_rows:
        shapes.append((total_rows % leaf_rows, COLS))
    return shapes


def create_tree(root: Path, tree_bytes: int, leaf_bytes: int, chunk_rows: int,
                seed: int = 0) -> tuple[Tree, float]:
    """Write random p, g, m files (two threads); returns the tree and the write rate."""
    root.mkdir(parents=True, exist_ok=True)
    shapes = layout(tree_bytes, leaf_bytes)
    sigma = {"p": 0.02, "g": 1e-3, "m": 0.05}
    # The per-layer second moment of a run under way: about the gradient's squared norm.
    nu = [float(r * c * sigma["g"] ** 2) for r, c in shapes]
    tree = Tree(root, shapes, nu)

    def write(job: tuple[str, int]) -> None:
        kind, leaf = job
        rng = np.random.default_rng([seed, leaf, KINDS.index(kind)])
        f = NpyFile.create(tree.path(kind, leaf), shapes[leaf])
        for start in range(0, shapes[leaf][0], chunk_rows):
            rows = min(chunk_rows, shapes[leaf][0] - start)
            block = rng.standard_normal((rows, COLS), dtype=np.float32)
            block *= np.float32(sigma[kind])
            f[start:start + rows] = block
        drop_cache([Path(f.path)])  # fsync, so the timing includes reaching the disk

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, [(k, i) for i in range(len(shapes)) for k in KINDS]))
    rate = 3 * tree.nbytes / (time.perf_counter() - start)
    (root / "manifest.json").write_text(json.dumps(tree.manifest()))
    return tree, rate


def load_tree(root: Path, tree_bytes: int, leaf_bytes: int) -> Tree | None:
    """The tree kept in ``root`` by an earlier run with the same sizes, if any."""
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    shapes = [tuple(s) for s in manifest["shapes"]]
    if shapes != layout(tree_bytes, leaf_bytes) or manifest["dtype"] != DTYPE.str:
        return None
    tree = Tree(root, shapes, [float(v) for v in manifest["nu"]])
    return tree if all(p.is_file() for p in tree.paths()) else None


def disk_read_bandwidth(paths: list[Path], block_bytes: int, threads: int = 2) -> float:
    """Cold sequential read of ``paths`` by ``threads`` threads, in bytes per second."""
    drop_cache(paths)
    total = sum(p.stat().st_size for p in paths)

    def read(part: list[Path]) -> None:
        buf = bytearray(block_bytes)
        for path in part:
            with open(path, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read, [paths[i::threads] for i in range(threads)]))
    elapsed = time.perf_counter() - start
    drop_cache(paths, sync=False)
    return total / elapsed


# ------------------------------------------------------------------------ the step


def build_step(tree: Tree, chunk_rows: int, lr: float, weight_decay: float
               ) -> tuple[list[Any], list[Any]]:
    """The graph of one step over the whole tree: what stores it, and the new ``nu``."""
    import dask.array as da

    import novograd_ref as ngr

    def leaves(kind: str) -> list[Any]:
        return [read_blockwise(tree.path(kind, i), chunk_rows)
                for i in range(len(tree.shapes))]

    params, grads, mus = leaves("p"), leaves("g"), leaves("m")
    nus = [da.from_array(np.asarray(v, dtype=DTYPE)) for v in tree.nu]
    count = da.from_array(np.asarray(STEP_COUNT, dtype=np.int32))
    state = ngr.NovoGradState(count, mus, nus, None)
    opt = ngr.presets.nemo(lr=lr, weight_decay=weight_decay)
    updates, new_state = opt.update(grads, state, params)
    new_params = ngr.apply_updates(params, updates)
    targets = [NpyFile.open(tree.path("p", i)) for i in range(len(tree.shapes))]
    targets += [NpyFile.open(tree.path("m", i)) for i in range(len(tree.shapes))]
    sources: list[Any] = new_params + list(new_state.mu)
    stored = da.store(sources, cast(Any, targets), lock=False, compute=False)
    # A Delayed, or (newer Dask) one small array per source whose computing stores it.
    store = list(stored) if isinstance(stored, (tuple, list)) else [stored]
    return store, list(new_state.nu)


def read_blockwise(path: Path, chunk_rows: int) -> Any:
    """A Dask array over a file, as ``from_array`` makes it (one read task per chunk).

    Storing the new p and m in place is safe: in the stores' graph (not optimized,
    see :func:`run_step`) each chunk is one read task shared by its users, and every
    user of chunk j of p or m is a task the new chunk j depends on, so the read runs
    before that chunk is stored. The in-memory check would catch a stale read.
    """
    import dask.array as da

    return da.from_array(NpyFile.open(path), chunks=(chunk_rows, COLS), lock=False,
                         asarray=False, fancy=False, name=f"read-{path.stem}-{time.time_ns()}")


def reference_step(tree: Tree, leaf: int, lr: float, weight_decay: float
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """The same step for one leaf, in memory with NumPy: new p, new m, new nu."""
    import novograd_ref as ngr

    p, g, m = (NpyFile.open(tree.path(k, leaf))[:] for k in KINDS)
    state = ngr.NovoGradState(np.asarray(STEP_COUNT, dtype=np.int32), [m],
                              [np.asarray(tree.nu[leaf], dtype=DTYPE)], None)
    opt = ngr.presets.nemo(lr=lr, weight_decay=weight_decay)
    updates, new_state = opt.update([g], state, [p])
    return ngr.apply_updates([p], updates)[0], new_state.mu[0], float(new_state.nu[0])


class MemorySampler:
    """Samples the resident memory of some processes every ``interval`` seconds."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        import psutil  # type: ignore[import-untyped, unused-ignore]

        self.procs = [psutil.Process(pid) for pid in pids]
        self.interval = interval
        self.peak = [0] * len(pids)
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil  # type: ignore[import-untyped, unused-ignore]

        while not self._stop.is_set():
            rss = []
            for proc in self.procs:
                try:
                    rss.append(proc.memory_info().rss)
                except psutil.Error:  # a process that just ended
                    rss.append(0)
            self.peak = [max(a, b) for a, b in zip(self.peak, rss)]
            self.peak_total = max(self.peak_total, sum(rss))
            self._stop.wait(self.interval)

    @contextlib.contextmanager
    def running(self) -> Iterator[MemorySampler]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def _io(pids: list[int]) -> tuple[int, int]:
    """Bytes read and written through system calls by these processes so far."""
    import psutil  # type: ignore[import-untyped, unused-ignore]

    counters = [psutil.Process(pid).io_counters() for pid in pids]
    return (sum(c.read_chars for c in counters), sum(c.write_chars for c in counters))


def worker_spilled_bytes(dask_worker: Any) -> int:
    """Bytes a worker has spilled to its local disk so far (0 if it never had to)."""
    return int(sum(value for key, value in getattr(dask_worker, "digests_total", {}).items()
                   if isinstance(key, tuple) and "disk-write" in key and key[-1] == "bytes"))


# -------------------------------------------------------------------------- main


def human(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--tree-gib", type=float, help="parameter tree size (default 4)")
    size.add_argument("--tree-mib", type=float, help="parameter tree size in MiB")
    ap.add_argument("--leaf-mib", type=float, default=128, help="largest leaf (128)")
    ap.add_argument("--chunk-mib", type=float, default=16, help="Dask chunk size (16)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (1)")
    ap.add_argument("--worker-memory-mib", type=float, default=1024,
                    help="memory limit of each worker (1024)")
    ap.add_argument("--check-leaves", type=int, default=2,
                    help="leaves compared with the in-memory step (2)")
    ap.add_argument("--dir", type=Path, help="where the tree lives (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the files")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    tree_bytes = int((args.tree_mib * MiB) if args.tree_mib else (args.tree_gib or 4) * GiB)
    leaf_bytes, chunk_bytes = int(args.leaf_mib * MiB), int(args.chunk_mib * MiB)
    chunk_rows = max(1, chunk_bytes // (COLS * DTYPE.itemsize))
    worker_memory = int(args.worker_memory_mib * MiB)
    lr, wd = 1e-3, 1e-3

    base = args.dir or Path(tempfile.mkdtemp(prefix="novograd-ooc-"))
    root = base / "tree"
    results: dict[str, Any] = {}
    try:
        tree = load_tree(root, tree_bytes, leaf_bytes) if args.keep else None
        if tree is None:
            shutil.rmtree(root, ignore_errors=True)
            print(f"writing a {human(tree_bytes)} float32 tree (p, g, m: "
                  f"{human(3 * tree_bytes)}) to {root} ...", flush=True)
            tree, write_rate = create_tree(root, tree_bytes, leaf_bytes, chunk_rows)
            results["disk_write_new_files_GBps"] = write_rate / 1e9
            print(f"  disk write (new files, fsync'd): {write_rate / 1e9:.2f} GB/s")
        else:
            print(f"reusing the tree in {root}")
        inputs = tree.paths()
        read_bw = disk_read_bandwidth(inputs, chunk_bytes, threads=args.workers)
        print(f"tree: {len(tree.shapes)} leaves, {tree.values / 1e9:.3f}e9 float32 values "
              f"({human(tree.nbytes)}); workers: {args.workers} x {human(worker_memory)} "
              f"= {human(args.workers * worker_memory)}, {args.threads} thread(s) each")
        print(f"disk read bandwidth (cold, {args.workers} threads, {human(chunk_bytes)} "
              f"reads): {read_bw / 1e9:.2f} GB/s")

        # The in-memory reference for a sample of leaves, before the in-place step.
        sample = sorted({round(i * (len(tree.shapes) - 1) / max(args.check_leaves - 1, 1))
                         for i in range(args.check_leaves)}) if args.check_leaves else []
        expected = {i: reference_step(tree, i, lr, wd) for i in sample}
        drop_cache(inputs, sync=False)

        results.update(run_step(tree, chunk_rows, lr, wd, args, worker_memory, base))
        new_nu = results.pop("new_nu")
        step_s, fsync_s = results["step_s"], results["fsync_s"]
        # What a step must move: read p, g, m; write p, m (the workers' counters say
        # what they did read and write, Python's own files included).
        read_bytes, write_bytes = 3 * tree.nbytes, 2 * tree.nbytes
        actual_read = results["workers_read_bytes"]
        floor_s = read_bytes / read_bw
        results.update({
            "tree_bytes": tree.nbytes, "leaves": len(tree.shapes), "values": tree.values,
            "workers": args.workers, "threads_per_worker": args.threads,
            "worker_memory_bytes": worker_memory,
            "chunk_bytes": chunk_rows * COLS * DTYPE.itemsize,
            "read_bytes": read_bytes, "write_bytes": write_bytes,
            "disk_read_GBps": read_bw / 1e9,
            "step_read_GBps": read_bytes / step_s / 1e9,
            "step_x_read_floor": step_s / floor_s,
            "step_with_fsync_x_read_floor": (step_s + fsync_s) / floor_s,
        })
        results["step_actual_read_GBps"] = actual_read / step_s / 1e9
        print(f"step: {step_s:.1f} s (+ {fsync_s:.1f} s to fsync the outputs); must read "
              f"{human(read_bytes)} and write {human(write_bytes)}; the workers read "
              f"{human(actual_read)} and wrote {human(results['workers_written_bytes'])}")
        print(f"  throughput: {tree.values / step_s / 1e6:.0f} M parameters/s, "
              f"{read_bytes / step_s / 1e9:.2f} GB/s of step input "
              f"({actual_read / step_s / 1e9:.2f} GB/s actually read) against "
              f"{read_bw / 1e9:.2f} GB/s disk read: "
              f"{results['step_x_read_floor']:.2f}x the disk-read floor ({floor_s:.1f} s); "
              f"{results['step_with_fsync_x_read_floor']:.2f}x with the fsync")
        peaks = results["peak_rss_bytes"]
        print(f"  peak resident memory per worker: {', '.join(human(p) for p in peaks)} "
              f"(limit {human(worker_memory)}); all workers together "
              f"{human(results['peak_rss_total_bytes'])} for a {human(tree.nbytes)} tree "
              f"({human(read_bytes)} read); spilled to disk: "
              f"{human(sum(results['spilled_bytes']))}")

        worst = check(tree, expected, new_nu)
        results["check_leaves"] = sample
        results["check_error_float32_eps"] = worst
        from novograd_ref.testing import eps, rtol

        limit = rtol("float32", "backend") / eps("float32")
        ok = worst <= limit and max(peaks) <= worker_memory
        print(f"check: {len(sample)} leaves against the in-memory NumPy step: largest "
              f"error {worst:.2f} float32 eps (limit {limit:g})")
        if ok:
            print("result equals the in-memory step; peak memory within the workers' limit")
        else:
            print("FAILED: the result or the memory bound does not hold")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base if args.dir is None else root, ignore_errors=True)


def run_step(tree: Tree, chunk_rows: int, lr: float, wd: float, args: argparse.Namespace,
             worker_memory: int, base: Path) -> dict[str, Any]:
    """Start the cluster, run the step with memory sampling, fsync; return the numbers."""
    import dask
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                      memory_limit=worker_memory, dashboard_address=None,
                      local_directory=str(base / "dask-worker-space")) as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        store, nus = build_step(tree, chunk_rows, lr, wd)
        io_before = _io(pids)
        with MemorySampler(pids).running() as sampler:
            start = time.perf_counter()
            # The second moments (each layer's norm) and the stores, submitted
            # together. The norms are array-optimized: each gradient chunk's read is
            # fused into its partial sum. The stores go as one delayed object, which
            # Dask does not array-optimize: its tasks keep their names, so the norms
            # are shared with the first graph, and its gradient reads feed only the
            # updates, each run when its update is ready. Each gradient chunk is thus
            # read twice (12 -> 16 GiB read for a 4 GiB tree) instead of being held
            # from its layer's norm to its update; memory stays a few chunks per worker.
            futures = client.compute([dask.delayed(store), *nus])
            computed = client.gather(futures)[1:]
            step_s = time.perf_counter() - start
        io_after = _io(pids)
        start = time.perf_counter()
        drop_cache(tree.paths(("p", "m")), sync=True)
        fsync_s = time.perf_counter() - start
        spilled = list(client.run(worker_spilled_bytes).values())
    return {"step_s": step_s, "fsync_s": fsync_s, "peak_rss_bytes": sampler.peak,
            "workers_read_bytes": io_after[0] - io_before[0],
            "workers_written_bytes": io_after[1] - io_before[1],
            "peak_rss_total_bytes": sampler.peak_total, "spilled_bytes": spilled,
            "new_nu": [float(v) for v in computed]}


def check(tree: Tree, expected: dict[int, tuple[np.ndarray, np.ndarray, float]],
          new_nu: list[float]) -> float:
    """Largest error of the sample leaves, in float32 eps of each array's magnitude."""
    eps = float(np.finfo(DTYPE).eps)
    worst = 0.0
    for leaf, (p_ref, m_ref, nu_ref) in expected.items():
        for kind, ref in (("p", p_ref), ("m", m_ref)):
            got = NpyFile.open(tree.path(kind, leaf))[:]
            err = float(np.max(np.abs(got.astype(np.float64) - ref)))
            worst = max(worst, err / float(np.max(np.abs(ref))) / eps)
        worst = max(worst, abs(new_nu[leaf] - nu_ref) / abs(nu_ref) / eps)
    return worst


if __name__ == "__main__":
    sys.exit(main())
