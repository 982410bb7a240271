"""JUnit XML reports, for CI dashboards (``--junit-xml FILE``).

One ``<testsuite>`` per command, one ``<testcase>`` per comparison:

- ``verify``: each case and dtype (``name="const_lr[float64]"``, ``classname`` the
  implementation against the preset); a mismatch is a ``<failure>`` holding where it
  starts, its peak and the excerpt; an error of the implementation an ``<error>``
  holding the failure record (cause, where, message, its traceback and output); a skip
  ``<skipped>`` with the reason;
- ``identify``: each candidate preset (a ``<failure>`` where it does not reproduce
  the runs, with where it first parts), and each case the implementation failed on;
- ``explain``: each run (case or probe) against the configuration the explanation
  settled on.

A report is rewritten whole and atomically (:func:`write`), first before anything
runs (one ``<error>`` testcase saying the run did not complete), then as the run goes,
so a run cut short leaves a valid file saying so. The format is the one JUnit's and
pytest's reports share (``testsuites`` / ``testsuite`` / ``testcase``).
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from ...output_paths import write_output
from ..adapters._protocol import Failure
from ._report import Report
from ._verify import Comparison

_INCOMPLETE = "the run did not complete (cut short, or still running)"


def case_element(classname: str, name: str, *, failure: str | None = None,
             error: str | None = None, skipped: str | None = None,
             seconds: float = 0.0) -> ET.Element:
    """One ``<testcase>``; at most one of ``failure``, ``error``, ``skipped``.

    >>> ET.tostring(case_element("port vs optax", "const_lr[float64]", skipped="no amsgrad"))
    b'<testcase classname="port vs optax" name="const_lr[float64]" time="0.000"><skipped message="no amsgrad" /></testcase>'
    """
    case = ET.Element("testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    for tag, text in (("failure", failure), ("error", error), ("skipped", skipped)):
        if text is not None:
            child = ET.SubElement(case, tag, message=_line(text))
            if "\n" in text:
                child.text = _printable(text)
    return case


def suite_element(name: str, cases: Iterable[ET.Element], complete: bool = True
              ) -> ET.Element:
    """A ``<testsuite>`` with its counts; an incomplete one gets an error testcase.

    >>> suite = suite_element("verify", [], complete=False)
    >>> suite.get("tests"), suite.get("errors")
    ('1', '1')
    """
    cases = list(cases)
    if not complete:
        cases.append(case_element(name, "complete", error=_INCOMPLETE))
    suite = ET.Element("testsuite", name=name, tests=str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"),
                           ("skipped", "skipped")):
        suite.set(attribute, str(sum(case.find(tag) is not None for case in cases)))
    suite.extend(cases)
    return suite


def failure_text(failure: Failure) -> str:
    """A failure record as text: cause, where, message, then traceback and output."""
    head = f"{failure.cause}" + (f" ({failure.where()})" if failure.where() else "")
    parts = [f"{head}: {failure.message}", failure.traceback.rstrip(),
             f"output:\n{failure.output.rstrip()}" if failure.output.strip() else ""]
    return "\n".join(p for p in parts if p)


def comparison_case(classname: str, comparison: Comparison) -> ET.Element:
    """The ``<testcase>`` of one comparison of ``verify``."""
    name = f"{comparison.case}[{comparison.dtype}]"
    status = comparison.status
    if status == "error":
        assert comparison.failure is not None
        return case_element(classname, name, error=failure_text(comparison.failure))
    if status == "skip":
        return case_element(classname, name, skipped=comparison.skipped)
    if status == "mismatch":
        text = "\n".join(p for p in (comparison.first_and_peak(), comparison.excerpt) if p)
        return case_element(classname, name, failure=text)
    return case_element(classname, name)


def verify_suite(report: Report) -> ET.Element:
    """The suite of a ``verify --impl`` report (complete or not)."""
    classname = f"{report.implementation} vs {report.preset}"
    return suite_element(f"novograd-ref verify {classname}",
                     [comparison_case(classname, c) for c in report.comparisons],
                     report.complete)


def identify_suite(implementation: str, matches: Any, dtype: str) -> ET.Element:
    """The suite of ``identify``: one testcase per candidate preset, one per failed
    case (``matches`` is :class:`~novograd_ref.conformance.Matches`)."""
    classname = f"{implementation} identify ({dtype})"
    cases = []
    for standing in matches.standings:
        reproduces = standing.preset in matches
        if not standing.compared:
            cases.append(case_element(classname, standing.preset, skipped=standing.line()))
        else:
            cases.append(case_element(classname, standing.preset,
                                  failure=None if reproduces else standing.line()))
    cases += [comparison_case(classname, c) for c in matches.errors]
    return suite_element(f"novograd-ref identify {implementation}", cases)


def explain_suite(explanation: Any) -> ET.Element:
    """The suite of ``explain``: one testcase per run against the configuration it
    settled on (``explanation`` is :class:`~novograd_ref.conformance.Explanation`)."""
    classname = f"{explanation.implementation} explain"
    cases = []
    for run in explanation.runs:
        name = f"{run['run']}[{run['dtype']}]"
        if run.get("skipped"):
            cases.append(case_element(classname, name, skipped=str(run["skipped"])))
        elif run.get("status") != "ok":
            cases.append(case_element(classname, name, error=f"{run.get('status')}: the run "
                                                         "did not complete"))
        elif not run.get("passed"):
            cases.append(case_element(classname, name, failure=f"relative error "
                                  f"{run.get('error')} against {explanation.nearest or 'the nearest configuration'}"))
        else:
            cases.append(case_element(classname, name))
    return suite_element(f"novograd-ref explain {explanation.implementation}", cases)


def document(*suites: ET.Element) -> bytes:
    """The XML document of ``suites``."""
    root = ET.Element("testsuites")
    root.extend(suites)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "utf-8") + b"\n"


def write(path: str | os.PathLike[str], *suites: ET.Element) -> None:
    """Atomically replace ``path`` with the document of ``suites`` (a regular file only,
    never through a link: ``novograd_ref.output_paths.write_output``)."""
    write_output(path, document(*suites))


def incomplete(path: str | os.PathLike[str], name: str) -> None:
    """Write the report of a run that has not completed yet (see the module)."""
    write(path, suite_element(name, [], complete=False))


@dataclasses.dataclass(frozen=True)
class JUnitReport:
    """A ``--junit-xml`` file of one command, written as a run that has not completed
    by ``start``, then rewritten whole with the command's suite by ``verify``,
    ``identify`` or ``explain`` (see the module).

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "junit.xml"
    >>> junit = JUnitReport.start(path, "novograd-ref verify")
    >>> b'errors="1"' in path.read_bytes()
    True
    >>> junit.verify(Report("port", "optax", []))
    >>> b'tests="0" failures="0" errors="0"' in path.read_bytes()
    True
    """

    path: str | os.PathLike[str]

    @classmethod
    def start(cls, path: str | os.PathLike[str], name: str) -> JUnitReport:
        """The report at ``path``, written as the suite ``name`` of a run that has not
        completed yet."""
        incomplete(path, name)
        return cls(path)

    def verify(self, report: Report) -> None:
        """Rewrite the file with the suite of a ``verify --impl`` ``report``."""
        write(self.path, verify_suite(report))

    def identify(self, implementation: str, matches: Any, dtype: str) -> None:
        """Rewrite the file with the suite of ``identify``: one testcase per candidate
        preset, one per case ``implementation`` failed (``matches`` is
        :class:`~novograd_ref.conformance.Matches`)."""
        write(self.path, identify_suite(implementation, matches, dtype))

    def explain(self, explanation: Any) -> None:
        """Rewrite the file with the suite of ``explain``: one testcase per run of
        ``explanation`` (an :class:`~novograd_ref.conformance.Explanation`)."""
        write(self.path, explain_suite(explanation))


def _line(text: str) -> str:
    return _printable(text.strip().splitlines()[0] if text.strip() else "")


def _printable(text: str) -> str:
    """XML 1.0 has no place for most control characters: they are escaped as ``\\xNN``."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"\\x{ord(c):02x}"
                   for c in text)
