"""The outcome of checking one implementation, and its verdict.

A :class:`Report` holds one :class:`~novograd_ref.conformance.Comparison` per case and
dtype (``pass``, ``mismatch``, ``skip`` or ``error``). Its verdict is the library's:

- ``error`` when any case errored (the implementation raised, exited, crashed, hung,
  ran out of memory or broke the adapter protocol);
- else ``mismatch`` when any comparison is beyond its tolerance;
- else ``nothing_checked`` when no comparison ran (every case skipped, or none);
- else ``pass``.

:meth:`Report.write` rewrites the JSON report atomically, so a run that is killed
leaves every finding so far (with ``"complete": false``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from ._verify import Comparison

VERDICTS = ("pass", "mismatch", "error", "nothing_checked")


@dataclasses.dataclass
class Report:
    """The outcome of checking one implementation against one preset.

    >>> report = Report("port", "optax", [])
    >>> report.verdict, report.passed
    ('nothing_checked', False)
    """

    implementation: str
    preset: str
    comparisons: list[Comparison]
    matches: list[str] = dataclasses.field(default_factory=list)
    complete: bool = True

    def counts(self) -> dict[str, int]:
        """How many comparisons ``passed``, ``failed`` (mismatch), ``errors``, ``skipped``."""
        statuses = [c.status for c in self.comparisons]
        return {"passed": statuses.count("pass"), "failed": statuses.count("mismatch"),
                "errors": statuses.count("error"), "skipped": statuses.count("skip")}

    @property
    def verdict(self) -> str:
        """``error``, ``mismatch``, ``nothing_checked`` or ``pass`` (see the module)."""
        counts = self.counts()
        if counts["errors"]:
            return "error"
        if counts["failed"]:
            return "mismatch"
        return "pass" if counts["passed"] else "nothing_checked"

    @property
    def passed(self) -> bool:
        """True only when at least one comparison ran, all that ran passed, and nothing
        errored."""
        return self.verdict == "pass"

    def summary(self) -> dict[str, Any]:
        """The counts and the verdict."""
        return {**self.counts(), "verdict": self.verdict}

    def to_json(self) -> dict[str, Any]:
        """A strictly JSON-serializable report (the ``--report`` file).

        A NaN or infinite error or ulps of a comparison that ran is written as ``null``
        with ``"nonfinite": true``; a skipped or errored one has ``null`` figures.
        """
        rows = []
        for c in self.comparisons:
            row = {**dataclasses.asdict(c), "status": c.status, "passed": c.passed,
                   "nonfinite": False}
            for key in ("error", "ulps"):
                if not math.isfinite(row[key]):
                    row[key] = None
                    row["nonfinite"] = c.status in ("pass", "mismatch")
            rows.append(row)
        return {"implementation": self.implementation, "preset": self.preset,
                "complete": self.complete, "passed": self.passed, "matches": self.matches,
                "summary": self.summary(), "comparisons": rows}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically replace ``path`` with :meth:`to_json` (a temporary file in the
        same folder, created exclusively, moved over ``path``)."""
        from ..vectors import write_inside

        target = Path(path)
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        write_inside(target.parent, target.name, text.encode("utf-8"))
