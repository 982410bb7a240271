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
import math
import os
from typing import Any

from .._json import file_text, reportable
from .._paths import write_output
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
    variants: list[str] = dataclasses.field(default_factory=list)

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

    def mismatches(self) -> list[Comparison]:
        """The comparisons beyond their tolerance, in run order."""
        return [c for c in self.comparisons if c.status == "mismatch"]

    def first_divergence(self) -> Comparison | None:
        """The mismatch whose divergence starts at the earliest step (then the first in
        run order): where the implementation starts to go wrong."""
        return min((c for c in self.mismatches() if c.divergence is not None),
                   key=lambda c: c.divergence.step, default=None)  # type: ignore[union-attr]

    def peak(self) -> Comparison | None:
        """The mismatch with the largest relative error: where it is most wrong."""
        return max(self.mismatches(), key=lambda c: c.error, default=None)

    def smallest_failure(self) -> Comparison | None:
        """The mismatch on the smallest input (steps x elements), the one whose
        reproducer is printed; a mismatch where every leaf has one element (where
        per-element and per-layer normalization coincide) only if there is no other."""
        found = self.mismatches()
        wide = [c for c in found if not c.one_element_layers]
        return min(wide or found, key=lambda c: c.input_size, default=None)

    def summary(self) -> dict[str, Any]:
        """The counts and the verdict."""
        return {**self.counts(), "verdict": self.verdict}

    def to_json(self) -> dict[str, Any]:
        """A strictly JSON-serializable report (the ``--report`` file).

        A NaN or infinite error or ulps of a comparison that ran is written as ``null``
        with ``"nonfinite": true``; a skipped or errored one has ``null`` figures; ulps
        where they mean nothing (next to a gross error, above 1e-3 relative, or above
        2**20 ulps, which no rounding reaches) are ``null``. ``divergence`` is where a mismatch starts (``{step, leaf, element,
        expected, measured}``), ``excerpt`` that step of that leaf with the differing
        elements marked; the report's ``first_divergence``, ``peak`` and
        ``smallest_failure`` name the comparisons by label.
        """
        rows = []
        for c in self.comparisons:
            row = {**dataclasses.asdict(c), "status": c.status, "passed": c.passed,
                   "nonfinite": False}
            for key in ("error", "ulps"):
                if not math.isfinite(row[key]):
                    row[key] = None
                    row["nonfinite"] = c.status in ("pass", "mismatch")
            if row["ulps"] is not None and c.shown_ulps == "-":
                row["ulps"] = None
            row["divergence"] = reportable(row["divergence"])
            rows.append(row)
        first, peak, smallest = self.first_divergence(), self.peak(), self.smallest_failure()
        return {"implementation": self.implementation, "preset": self.preset,
                "complete": self.complete, "passed": self.passed, "matches": self.matches,
                "variants": self.variants, "summary": self.summary(),
                "first_divergence": reportable(
                    None if first is None or first.divergence is None else
                    {"label": first.label, **dataclasses.asdict(first.divergence)}),
                "peak": None if peak is None else reportable(
                    {"label": peak.label, "step": peak.step, "leaf": peak.leaf,
                     "error": peak.error}),
                "smallest_failure": None if smallest is None else smallest.label,
                "comparisons": rows}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically replace ``path`` with :meth:`to_json` (a temporary file in the
        same folder, created exclusively, moved over ``path``; only a regular file is
        ever replaced: ``novograd_ref._paths.write_output``)."""
        write_output(path, file_text(self.to_json()).encode("utf-8"))
