"""Did the tests of a backend actually run? Read a pytest JUnit XML report and say.

    python scripts/backend_ran.py REPORT.xml NAME [NAME...] [--all-skipped]

``NAME`` is a backend id as it appears in the test ids (``cupy`` matches
``test_x[cupy-...]`` or ``test_x[...-cupy]``, not ``torch_cuda`` for ``torch``) or, with
a ``test_`` prefix, the name of a test function. For each, the passed, failed and
skipped test cases are counted and the skip reasons listed; the result is printed as
JSON. Exit status 0 when every name ran: at least one test passed, none failed or
errored, and none was skipped because its library or device is missing (a reason
with "unavailable", "not installed" or "no CUDA"; a dtype the library lacks is a
legitimate skip). With ``--all-skipped`` the opposite is checked, for a machine without
the device: at least one test was collected and every one was skipped with a reason.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from typing import Any

MISSING = re.compile(r"unavailable|not installed|no CUDA|sees no", re.IGNORECASE)


def matches(name: str, test: str) -> bool:
    """Whether the JUnit test case called ``test`` belongs to ``name``."""
    if name.startswith("test_"):
        return test == name or test.startswith(name + "[")
    return re.search(rf"[\[-]{re.escape(name)}[\]-]", test) is not None


def summarize(report: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per name: counts of passed, failed, skipped cases and the skip reasons."""
    cases = ET.parse(report).getroot().iter("testcase")
    out: dict[str, dict[str, Any]] = {
        n: {"passed": 0, "failed": 0, "skipped": 0, "skip_reasons": {}} for n in names}
    for case in cases:
        test = case.get("name", "")
        for name in names:
            if not matches(name, test):
                continue
            counts = out[name]
            skipped = case.find("skipped")
            if skipped is not None:
                counts["skipped"] += 1
                reason = (skipped.get("message") or "").strip()
                counts["skip_reasons"][reason] = counts["skip_reasons"].get(reason, 0) + 1
            elif case.find("failure") is not None or case.find("error") is not None:
                counts["failed"] += 1
            else:
                counts["passed"] += 1
    return out


def ran(counts: dict[str, Any]) -> bool:
    missing = any(MISSING.search(r) for r in counts["skip_reasons"])
    return counts["passed"] > 0 and counts["failed"] == 0 and not missing


def all_skipped(counts: dict[str, Any]) -> bool:
    return (counts["skipped"] > 0 and counts["passed"] == 0 and counts["failed"] == 0
            and all(r for r in counts["skip_reasons"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="pytest --junitxml file")
    parser.add_argument("names", nargs="+", help="backend ids or test function names")
    parser.add_argument("--all-skipped", action="store_true",
                        help="check instead that every matching test was skipped")
    args = parser.parse_args(argv)
    summary = summarize(args.report, args.names)
    check = all_skipped if args.all_skipped else ran
    for counts in summary.values():
        counts["ok"] = check(counts)
    print(json.dumps(summary, indent=2))
    return 0 if all(c["ok"] for c in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
