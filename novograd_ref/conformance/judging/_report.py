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
import textwrap
from typing import Any

from ... import presets, vectors
from ..._json import file_text, reportable
from ...output_paths import write_output
from ..frameworks import RECORD_TAGS
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
        ever replaced: ``novograd_ref.output_paths.write_output``)."""
        write_json(path, self.to_json())


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Atomically replace ``path`` with ``data`` as strict JSON (indented, a NaN
    refused), the way every JSON file of the kit is written (``--report``, ``--json``).

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "out.json"
    >>> write_json(path, {"verdict": "pass"})
    >>> path.read_text()
    '{\\n "verdict": "pass"\\n}\\n'
    """
    write_output(path, file_text(data).encode("utf-8"))


def text_table(rows: list[list[str]], header: list[str]) -> str:
    """``rows`` under ``header`` in left-aligned columns two spaces apart, the header
    underlined.

    >>> print(text_table([["optax", "pass"]], ["preset", "result"]))
    preset  result
    ------  ------
    optax   pass
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def bundled_legend(entries: list[dict[str, Any]]) -> str:
    """What the columns of :func:`bundled_text`'s table mean, the tags of ``entries``
    (:data:`~novograd_ref.conformance.frameworks.RECORD_TAGS`) and why the presets
    without one of ``entries`` have no record
    (:data:`~novograd_ref.vectors.NOT_RECORDED`); it starts with an empty line.

    >>> from novograd_ref import vectors
    >>> legend = bundled_legend(vectors.record_entries(framework="timm"))
    >>> "[f32state]: float64 parameters" in legend, "apex (FusedNovoGrad needs" in legend
    (True, True)
    """
    lines = [("columns: cases = recorded trajectories compared; worst rel err = the largest "
              "max|oracle - framework| / max|framework| over their leaves and steps; ulps = "
              "that difference in units of the last place of the precision the run is held "
              "to ('-' next to an error above 1e-3, where they mean nothing); tolerance = the framework tolerance of that precision; result = pass when "
              "every case is within it.")]
    tags = sorted({e["tag"] for e in entries if e.get("tag")})
    for tag in tags:
        lines.append(f"[{tag}]: {RECORD_TAGS.get(tag, 'see the record provenance')}.")
    recorded = {e["preset"] for e in entries}
    missing = [n for n in presets.names() if n not in recorded]
    if missing:
        lines.append("no bundled records (checked by the equivalence tests and hand-derived "
                     "vectors instead): " + "; ".join(
                         f"{n} ({vectors.NOT_RECORDED.get(n, 'not recorded')})"
                         for n in missing) + ".")
    return "\n" + "\n".join(textwrap.fill(line, 90, subsequent_indent="  ")
                             for line in lines)


def bundled_text(entries: list[dict[str, Any]], results: list[Comparison],
                 legend_entries: list[dict[str, Any]]) -> str:
    """The outcome of replaying the records ``entries`` (``results``, one each, from
    :func:`~novograd_ref.conformance.verify_bundled`): one table row per preset,
    framework (and tag) and dtype with its worst error; the legend of
    ``legend_entries`` (what the columns and tags mean, why presets have no record);
    the counts; the first failing record,
    its excerpt and how to reproduce it.

    >>> from novograd_ref import vectors
    >>> from novograd_ref.conformance import verify_bundled
    >>> entries = vectors.record_entries(framework="optax", case="const_lr")
    >>> print(bundled_text(entries, verify_bundled(entries), entries).splitlines()[-1])
    4 passed, 0 failed (4 recorded trajectories)
    """
    groups: dict[tuple[str, str, str], list[Comparison]] = {}
    for entry, result in zip(entries, results):
        tag = f" [{entry['tag']}]" if entry.get("tag") else ""
        key = (entry["preset"], f"{entry['framework']}{tag}", entry["dtype"])
        groups.setdefault(key, []).append(result)
    rows = []
    for (preset, framework, dtype), group in sorted(groups.items()):
        worst = max(group, key=lambda r: r.error)
        ok = all(r.passed for r in group)
        rows.append([preset, framework, dtype, str(len(group)), f"{worst.error:.2e}",
                     worst.shown_ulps, f"{worst.tolerance:.1e}", "pass" if ok else "FAIL"])
    failed = [r for r in results if not r.passed]
    lines = [text_table(rows, ["preset", "framework", "dtype", "cases", "worst rel err",
                               "ulps", "tolerance", "result"]),
             bundled_legend(legend_entries),
             (f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
              f"({len(results)} recorded trajectories)")]
    for r in failed[:1]:
        lines.append(f"\nfirst failing record: {r.label}; {r.first_and_peak()}")
        if r.excerpt:
            lines.append(r.excerpt)
        lines.append(f"reproduce: {r.reproducer}")
    return "\n".join(lines)


def _row(c: Comparison) -> list[str]:
    """One row of :func:`report_text`'s table: where a mismatch first diverges, then its
    peak; a skipped or errored row shows no numbers, a gross or non-finite error no
    ulps."""
    result = {"skip": "skip", "error": "ERROR", "pass": "pass", "mismatch": "FAIL"}[c.status]
    if c.status in ("skip", "error"):
        step = f"step {c.step}" if c.status == "error" and c.step else "-"
        return [c.case, c.dtype, "-", "-", "-", f"{c.tolerance:.1e}", step, result]
    first = c.divergence.where() if c.divergence is not None else "-"
    return [c.case, c.dtype, first, f"{c.error:.2e}", c.shown_ulps, f"{c.tolerance:.1e}",
            f"step {c.step}, {c.leaf}", result]


def report_text(report: Report, name: str) -> str:
    """The body of a live check of ``name`` (``verify --impl``): one row per case and
    dtype (where a mismatch starts, its peak), the counts, and why cases were skipped.

    >>> print(report_text(Report("port", "optax", []), "port"))
    port against preset 'optax'
    case  dtype  first divergence  peak rel err  ulps  tolerance  peak at  result
    ----  -----  ----------------  ------------  ----  ---------  -------  ------
    <BLANKLINE>
    0 passed, 0 failed, 0 errors, 0 skipped
    """
    counts = report.counts()
    lines = [f"{name} against preset {report.preset!r}",
             text_table([_row(c) for c in report.comparisons],
                        ["case", "dtype", "first divergence", "peak rel err", "ulps",
                         "tolerance", "peak at", "result"]),
             (f"\n{counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['errors']} errors, {counts['skipped']} skipped")]
    reasons: dict[str, int] = {}
    for c in report.comparisons:
        if c.status == "skip":
            reasons[c.skipped] = reasons.get(c.skipped, 0) + 1
    lines += [f"skipped {count}: {reason}" for reason, count in reasons.items()]
    return "\n".join(lines)


def conclusion_text(report: Report) -> str:
    """The end of a live check: why nothing was checked, or the presets (and float32
    variants) it matches; where a mismatch starts, peaks, and its smallest failing
    input with a reproducer; the verdict.

    >>> print(conclusion_text(Report("port", "optax", [])))
    <BLANKLINE>
    nothing was checked: preset 'optax' has no standard case to check
    <BLANKLINE>
    verdict: nothing_checked
    """
    counts = report.counts()
    lines = []
    if report.verdict == "nothing_checked":
        why = ("every case was skipped" if counts["skipped"] else
               f"preset {report.preset!r} has no standard case to check")
        lines.append(f"\nnothing was checked: {why}")
    elif counts["passed"] + counts["failed"]:
        lines.append("matches presets: " + (", ".join(report.matches) or "none"))
        if report.variants:
            lines.append("in a float32 variant: " + ", ".join(report.variants))
    lines += _mismatch_lines(report)
    lines.append(f"\nverdict: {report.verdict}")
    return "\n".join(lines)


def _mismatch_lines(report: Report) -> list[str]:
    """Where the implementation starts to go wrong, where it is most wrong, and the
    smallest failing input: its excerpt and a runnable reproducer (none without a
    mismatch)."""
    first, peak, smallest = report.first_divergence(), report.peak(), report.smallest_failure()
    if smallest is None or peak is None:
        return []
    lines = []
    if first is not None and first.divergence is not None:
        lines.append(f"\nfirst divergence: {first.label}, {first.divergence.describe()}")
    ulps = peak.shown_ulps
    lines.append(f"peak: {peak.label}, step {peak.step}, leaf {peak.leaf!r}, relative error "
                 f"{peak.error:.3g} > {peak.tolerance:.3g}"
                 + ("" if ulps == "-" else f" ({ulps} ulps)"))
    lines.append(f"\nsmallest failing input: {smallest.label} (size {smallest.input_size}: "
                 f"parameter elements x steps)\n{smallest.first_and_peak()}")
    if smallest.one_element_layers:
        lines.append("(every leaf of it has one element, where per-element and per-layer "
                     "normalization coincide: the only kind of input that fails)")
    if smallest.excerpt:
        lines.append(smallest.excerpt)
    lines.append(f"\nreproducer (Python; prints the same excerpt):\n\n{smallest.reproducer}")
    return lines


def failures_text(errors: list[Comparison]) -> str:
    """The errored comparisons ``errors`` as the command line's standard error says
    them: each distinct failure (cause and message) once, where it happened, the first
    with the implementation's traceback and the tail of its output; the other cases
    that failed the same way are counted. Every line ends with a newline.

    >>> from novograd_ref.conformance import Failure
    >>> failed = Comparison.errored("port / const_lr / float64", "const_lr", "float64",
    ...                             Failure("raised", "init() raised ValueError: no", "init()"))
    >>> print(failures_text([failed, failed]), end="")
    novograd-ref: the implementation failed (case const_lr, float64, in init()) [raised]: init() raised ValueError: no
    novograd-ref: the same failure in 1 more case: const_lr float64
    """
    seen: dict[tuple[str, str], list[Comparison]] = {}
    for c in errors:
        assert c.failure is not None
        seen.setdefault((c.failure.cause, c.failure.message), []).append(c)
    text = ""
    for i, same in enumerate(seen.values()):
        text += _failure_text(same[0], full=i == 0)
        if len(same) > 1:
            cases = ", ".join(f"{c.case} {c.dtype}".strip() for c in same[1:6])
            more = f" and {len(same) - 6} more" if len(same) > 6 else ""
            text += (f"novograd-ref: the same failure in {len(same) - 1} more case"
                     f"{'s' if len(same) > 2 else ''}: {cases}{more}\n")
    return text


def _failure_text(c: Comparison, full: bool) -> str:
    """One errored case: where, cause, message; with ``full``, the implementation's
    traceback and the tail of its output."""
    f = c.failure
    assert f is not None
    where = ", ".join(p for p in (f"case {c.case}", c.dtype, f.where()) if p)
    text = f"novograd-ref: the implementation failed ({where}) [{f.cause}]: {f.message}\n"
    if full and f.traceback:
        text += f"\ntraceback of the implementation:\n{f.traceback}"
    if full and f.output.strip():
        text += f"\noutput of the implementation (last lines):\n{f.output.rstrip()}\n"
    return text


def identify_text(name: str, matches: Any, dtype: str) -> str:
    """What ``identify`` found for ``name`` (``matches`` is
    :class:`~novograd_ref.conformance.Matches`): the presets it reproduces, as it is and
    in a float32 variant, then each preset's standing on the standard cases.

    >>> from novograd_ref.conformance import Matches
    >>> print(identify_text("port", Matches(["optax"], variants=["tfa computed in float32"]),
    ...                     "float64"))
    port reproduces: optax
    in a float32 variant, it reproduces: tfa computed in float32
    <BLANKLINE>
    each preset on the standard cases its keywords express (float64):
    """
    lines = [f"{name} reproduces: " + (", ".join(matches) or "no preset")]
    if matches.variants:
        lines.append("in a float32 variant, it reproduces: " + ", ".join(matches.variants))
    lines.append(f"\neach preset on the standard cases its keywords express ({dtype}):")
    lines += [f"  {standing.line()}" for standing in matches.standings]
    return "\n".join(lines)


def identify_json(spec: str, language: str, dtype: str, matches: Any) -> dict[str, Any]:
    """``identify``'s ``--json`` document: the implementation ``spec``, the preset whose
    keywords it took, the dtype, the presets it reproduces, its float32 variants, each
    preset's standing (first divergence and peak), and the failures of the
    implementation.

    >>> from novograd_ref.conformance import Matches
    >>> found = identify_json("preset:optax", "optax", "float64", Matches(["optax"]))
    >>> found["matches"], found["presets"], found["errors"]
    (['optax'], [], [])
    """
    return {"implementation": spec, "language": language, "dtype": dtype,
            "matches": list(matches), "variants": matches.variants,
            "presets": [s.to_json() for s in matches.standings],
            "errors": [{"case": c.case, "cause": f.cause, "where": f.where(),
                        "message": f.message} for c in matches.errors
                       if (f := c.failure) is not None]}


def difference_text(a: str, b: str, found: dict[str, Any]) -> str:
    """The smallest input on which presets ``a`` and ``b`` differ (``found``, from
    :func:`~novograd_ref.conformance.find_difference`): the learning rate, initial
    parameters and gradients, then each preset's keywords and parameter trajectory.

    >>> from novograd_ref.conformance import find_difference
    >>> text = difference_text("optax", "tfa", find_difference("optax", "tfa", max_examples=50))
    >>> text.splitlines()[0].startswith("smallest input found where optax and tfa differ")
    True
    """
    import numpy as np

    problem = found["problem"]
    lines = [(f"smallest input found where {a} and {b} differ "
              f"(canonical hyperparameters {found['hyper']}):"),
             f"  learning rate: {problem['lr']}",
             f"  initial parameters: {problem['params0']}"]
    lines += [f"  gradient of step {k}: {g}" for k, g in enumerate(problem["grads"], start=1)]
    for name in (a, b):
        lines.append(f"{name} {found['kwargs'][name]}:")
        lines += [f"  {leaf}: " + "  ".join(np.array2string(row, precision=10)
                                            for row in traj[1:])
                  for leaf, traj in found[name].items()]
    return "\n".join(lines)
