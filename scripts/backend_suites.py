"""Which test suites pass on which array library: runs the suites that take the
``backend`` fixture once per installed backend (``NOVOGRAD_REF_BACKENDS``) and prints a
Markdown table of the cases of that backend that passed, failed and were skipped, per
suite, with the skip reasons. The array-libraries page of the documentation shows its
output.

    python scripts/backend_suites.py [--suite tests/test_x.py ...] [backend ...]

By default every installed backend and the suites of ``SUITES``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("tests/test_backends.py", "tests/test_properties.py")


def run(backend: str, suites: list[str]
        ) -> tuple[dict[str, collections.Counter[str]], set[str], float]:
    """Per suite, how many of ``backend``'s cases ended in each outcome; the skip
    reasons; the wall time of the run."""
    env = {**os.environ, "NOVOGRAD_REF_BACKENDS": json.dumps([backend])}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:randomly",
                             "-p", "no:cacheprovider", *suites], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    counts: dict[str, collections.Counter[str]] = {s: collections.Counter() for s in suites}
    reasons = set()
    for line in result.stdout.splitlines():
        match = re.match(r"(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+?)::(\S+)", line)
        if match and re.search(rf"[\[-]{backend}[\]-]", match.group(3)):
            counts[match.group(2)][match.group(1).lower()] += 1
        skipped = re.match(r"SKIPPED \[(\d+)\] (\S+?):\d+: (.*)", line)
        if skipped and backend in skipped.group(3):
            counts[skipped.group(2)]["skipped"] += int(skipped.group(1))
            reasons.add(skipped.group(3))
    return counts, reasons, seconds


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from novograd_ref import backends

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", help="a test file (repeatable)")
    parser.add_argument("backend", nargs="*", help="default: every installed backend")
    args = parser.parse_args()
    suites = args.suite or list(SUITES)
    chosen = args.backend or backends.available()
    header = ["library", *(f"`{Path(s).name}`" for s in suites), "run time"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    notes = []
    for backend in chosen:
        counts, reasons, seconds = run(backend, suites)
        cells = [", ".join(f"{n} {k}" for k, n in sorted(c.items())) or "none"
                 for c in counts.values()]
        print(f"| {backend} | " + " | ".join(cells) + f" | {seconds:.0f} s |", flush=True)
        notes += [f"- {backend}: skipped because {r}" for r in sorted(reasons)]
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
