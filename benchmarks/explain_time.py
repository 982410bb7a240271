"""Time ``novograd-ref explain`` on correct and on wrong ports, as a porter runs it.

Each port is explained by the command line in a fresh process,
``novograd-ref explain --impl PORT --preset P --json FILE`` (the default ``--jobs``:
one child process per core), and timed twice: the wall clock of the whole command
(interpreter start and imports included) and the ``seconds`` of its JSON (the
``explain`` call). The ports are the correct ones of the kit (a preset, a NumPy and a
PyTorch port) and wrong ones of ``tests/unseen_ports.py`` and ``tests/flawed_ports.py``: one
to five moves from a preset, and deviations no switch expresses.

Printed: a Markdown table (port, what it is, verdict, wall seconds, explain seconds)
and, for the correct and the wrong ports, the median and the worst wall time; the
machine's core count and load average before and after, since on a shared machine the
numbers carry the other work.

Run from the repository root: ``python benchmarks/explain_time.py [--only PORT ...]``
(``--jobs N`` is passed to ``explain``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORRECT: list[tuple[str, str, str]] = [
    ("preset:optax", "optax", "correct"),
    ("tests.flawed_ports:numpy_optax", "optax", "correct (NumPy)"),
    ("tests.flawed_ports:torch_faithful", "torch_optimizer", "correct (PyTorch)"),
]
WRONG: list[tuple[str, str, str]] = [
    ("tests.unseen_ports:o_nesterov", "optax", "one move"),
    ("tests.flawed_ports:second_moment_with_b1", "optax", "one anomaly"),
    ("tests.unseen_ports:t_swapped", "torch_optimizer", "one anomaly"),
    ("tests.unseen_ports:o_eps_inside_zero", "optax", "two moves (three fields)"),
    ("tests.unseen_ports:o_four", "optax", "four moves"),
    ("tests.unseen_ports:t_four", "torch_optimizer", "four moves"),
    ("tests.unseen_ports:o_five", "optax", "five moves"),
    ("tests.unseen_ports:torch_five", "torch_optimizer", "five moves (PyTorch)"),
    ("tests.unseen_ports:o_chunked", "optax", "a layer normalized in chunks"),
    ("tests.unseen_ports:o_mean_norm_debias", "optax", "a mean of squares and a move"),
    ("tests.unseen_ports:o_v_constant_decoupled", "optax",
     "a constant second-moment start and a move"),
    ("tests.unseen_ports:o_decay_after_step", "optax", "weight decay after the step"),
]


def explain_once(port: str, preset: str, jobs: int | None) -> tuple[float, dict]:
    """Wall seconds of one ``novograd-ref explain`` command and its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "explain.json"
        cmd = [sys.executable, "-m", "novograd_ref.cli", "explain", "--impl", port,
               "--preset", preset, "--json", str(out)]
        if jobs is not None:
            cmd += ["--jobs", str(jobs)]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if not out.exists():
            raise RuntimeError(f"{port}: exit {done.returncode}: {done.stderr[-2000:]}")
        return wall, json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="ports to time (default: all)")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()}")
    print("| port | what it is | verdict | wall s | explain s |\n|---|---|---|---|---|")
    walls: dict[str, list[float]] = {"correct": [], "wrong": []}
    for group, ports in (("correct", CORRECT), ("wrong", WRONG)):
        for port, preset, what in ports:
            if args.only and port not in args.only and port.split(":")[-1] not in args.only:
                continue
            wall, found = explain_once(port, preset, args.jobs)
            walls[group].append(wall)
            print(f"| `{port.split(':')[-1]}` | {what} | {found['verdict']} | {wall:.1f} | "
                  f"{found['seconds']:.1f} |", flush=True)
    for group, times in walls.items():
        if times:
            print(f"{group}: {len(times)} ports, median {statistics.median(times):.1f} s, "
                  f"worst {max(times):.1f} s")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
