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
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("tests/test_backends.py", "tests/test_properties.py")


def run(backend: str, suites: list[str]
        ) -> tuple[dict[str, collections.Counter[str]], set[str], float]:
    """Per suite, how many of ``backend``'s cases (the tests with the backend among their
    parameters) passed, failed or were skipped; the skip reasons; the wall time."""
    env = {**os.environ, "NOVOGRAD_REF_BACKENDS": json.dumps([backend])}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                        "-p", "no:cacheprovider", f"--junitxml={report}", *suites],
                       cwd=ROOT, env=env, capture_output=True, check=False)
        seconds = time.perf_counter() - start
        cases = ElementTree.parse(report).getroot().iter("testcase")
        counts: dict[str, collections.Counter[str]] = {s: collections.Counter()
                                                         for s in suites}
        reasons = set()
        for case in cases:
            params = re.search(r"\[(.*)\]$", case.get("name", ""))
            if params is None or backend not in params.group(1).split("-"):
                continue
            suite = next(s for s in suites
                         if Path(s).stem == case.get("classname", "").split(".")[-1])
            outcome = next((child.tag for child in case
                            if child.tag in ("failure", "error", "skipped")), "passed")
            counts[suite][{"failure": "failed", "error": "errors"}.get(outcome, outcome)] += 1
            for child in case:
                if child.tag == "skipped":
                    reasons.add(child.get("message", "").removeprefix("Skipped: "))
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
