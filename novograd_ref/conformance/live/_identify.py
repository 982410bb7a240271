"""Live checks of an implementation: verify it against a preset, say which presets it is.

An implementation is built with a preset's own constructor keywords for each standard
case it can express (:func:`~novograd_ref.conformance.preset_kwargs_for`) and stepped
through the case by a runner (a child process by default, see
:mod:`novograd_ref.conformance.isolation._runner`); the oracle preset then replays the very
gradients the implementation was fed, so the comparison isolates the optimizer. A case
the implementation cannot run is a skip, one it fails on is an error of that case, and
the run goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ... import vectors
from ..._json import reportable
from ..adapters._loader import Implementation, PresetAdapter
from ..adapters._preset_keywords import preset_kwargs_for, presets_with_keywords
from ..adapters._protocol import Failure
from ..diagnosis._experiments import Observation
from ..diagnosis._experiments import Run as Experiment
from ..diagnosis._search import float32_variants
from ..isolation._runner import DEFAULT_TIMEOUT, CompletedRun, Problem, open_runner
from ..judging._outcome import judge, usable
from ..judging._report import Report
from ..judging._verify import (
    Comparison,
    compare,
    replay,
    run_dtype,
    run_tolerance,
    run_trajectory,
)
from ._generated import generated_check

Progress = Callable[[Iterable[Any]], Iterable[Any]]


class Matches(list[str]):
    """The presets an implementation reproduces (a list), with ``errors``: the
    comparisons of the cases on which it failed, which :func:`identify` left out;
    ``standings``: every candidate preset's :class:`Standing`; ``variants``: the presets
    it reproduces only in a float32 variant (``"timm with state_dtype='float32'"``,
    ``"optax computed in float32"``)."""

    errors: list[Comparison]
    standings: list[Standing]
    variants: list[str]

    def __init__(self, names: Iterable[str] = (), errors: Iterable[Comparison] = (),
                 standings: Iterable[Standing] = (), variants: Iterable[str] = ()) -> None:
        super().__init__(names)
        self.errors = list(errors)
        self.standings = list(standings)
        self.variants = list(variants)


def standard_cases(preset: str) -> list[tuple[vectors.Case, dict[str, Any]]]:
    """The standard cases ``preset`` can express, with its keywords for each.

    >>> [case.name for case, kwargs in standard_cases("optax")][:2]
    ['const_lr', 'schedule_lr']
    """
    out = []
    for entry in vectors.case_entries():
        kwargs = preset_kwargs_for(preset, entry["hyper"])
        if kwargs is not None:
            out.append((vectors.load_case(entry), kwargs))
    return out


def verify_implementation(impl: Implementation | str, preset: str,
                          dtypes: Iterable[str] = ("float64", "float32"), examples: int = 0,
                          progress: Progress = iter, *, identify: bool = False,
                          timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                          in_process: bool = False, full: bool = False,
                          on_update: Callable[[Report], None] | None = None) -> Report:
    """Check an implementation against ``preset`` on every standard case it can express,
    then on ``examples`` hypothesis-generated cases per dtype (shrunk to a smallest
    failure).

    The implementation runs in a child process rebuilt from its spec (``impl.spec``),
    with ``timeout`` seconds per case and an optional ``memory_limit`` in bytes; with
    ``in_process`` it runs here. Each mismatch carries its first divergence and an
    excerpt of it, cut around the differing elements unless ``full``.
    ``on_update(report)`` is called after every comparison and once at the end
    (``report.complete``). With ``identify``, the report's ``matches`` are the presets
    the runs of the first dtype reproduce, and its ``variants`` the presets they
    reproduce only with a float32 second moment or float32 arithmetic (float64 runs).
    """
    spec = impl if isinstance(impl, str) else impl.spec
    dtypes = list(dtypes)
    report = Report(spec, preset, [], complete=False)
    tell = on_update or (lambda report: None)
    jobs = [(case, kwargs, dtype) for case, kwargs in standard_cases(preset)
            for dtype in dtypes]
    runs: list[tuple[Problem, dict[str, Any], CompletedRun]] = []
    with open_runner(impl, in_process=in_process, timeout=timeout,
                     memory_limit=memory_limit, preset=preset) as runner:
        for case, kwargs, dtype in progress(jobs):
            problem = Problem.from_case(case, dtype)
            outcome = usable(runner.run(kwargs, dtype, problem), preset, problem)
            report.comparisons.append(judge(outcome, spec, preset, problem, kwargs, dtype,
                                            f"{spec} / {case.name} / {dtype}", full=full))
            if isinstance(outcome, CompletedRun) and dtype == dtypes[0]:
                runs.append((problem, kwargs, outcome))
            tell(report)
        for dtype in dtypes if examples else ():
            report.comparisons.append(generated_check(spec, preset, dtype, examples,
                                                      runner=runner, full=full))
            tell(report)
    if identify and runs:
        report.matches = matching_presets(runs, preset, dtypes[0])
        report.variants = _float32_variants(runs, preset, dtypes[0], report.matches)
    report.complete = True
    tell(report)
    return report


@dataclasses.dataclass(frozen=True)
class Standing:
    """How one preset compares with an implementation's runs: how many it can express
    (``compared``), how many it does not reproduce (``failed``), the failing run whose
    divergence starts earliest (``first``: the earliest step, then the smallest input)
    and the one with the largest error (``peak``)."""

    preset: str
    compared: int
    failed: int
    first: Comparison | None = None
    peak: Comparison | None = None

    def line(self) -> str:
        """One line: ``optax (14 cases): reproduces`` or where it first parts and peaks."""
        head = f"{self.preset} ({self.compared} case{'s' if self.compared > 1 else ''})"
        if not self.compared:
            return f"{self.preset}: cannot express these cases"
        if self.first is None or self.peak is None:
            return f"{head}: reproduces"
        first = self.first.divergence
        where = f"case {self.first.case}, {first.place()}" if first else self.first.case
        peak = self.peak
        ulps = peak.shown_ulps
        return (f"{head}: {self.failed} differ; first divergence: {where}; peak: case "
                f"{peak.case}, step {peak.step}, leaf {peak.leaf!r}, relative error "
                f"{peak.error:.3g}" + ("" if ulps == "-" else f" ({ulps} ulps)"))

    def to_json(self) -> dict[str, Any]:
        """``{preset, compared, failed, first_divergence, peak}`` (strict JSON)."""
        first = self.first.divergence if self.first is not None else None
        return reportable({
            "preset": self.preset, "compared": self.compared, "failed": self.failed,
            "first_divergence": None if first is None else
            {"case": self.first.case, **dataclasses.asdict(first)},  # type: ignore[union-attr]
            "peak": None if self.peak is None else
            {"case": self.peak.case, "step": self.peak.step, "leaf": self.peak.leaf,
             "error": self.peak.error}})


def standings(runs: Iterable[tuple[Problem, Mapping[str, Any], CompletedRun]], language: str,
              dtype: str, candidates: Iterable[str] | None = None) -> list[Standing]:
    """Every candidate preset (default: all with keywords) against every run it can
    express, the oracle replaying the gradients the implementation was fed. ``runs``
    were built with ``language``'s keywords; that preset also gets the oracle keywords
    the implementation declared."""
    names = list(candidates) if candidates is not None else presets_with_keywords()
    runs = list(runs)
    hyper = {e["name"]: e["hyper"] for e in vectors.case_entries()}
    out = []
    for preset in names:
        failing = []
        compared = 0
        for problem, kwargs, run in runs:
            their = preset_kwargs_for(preset, hyper[problem.name])
            if their is None:
                continue
            compared += 1
            if preset == language:
                their |= {k: v for k, v in run.oracle_kwargs.items() if k not in kwargs}
            want, _ = run_trajectory(PresetAdapter(preset, **their), problem.params0,
                                     problem.learning_rate, replay(run.grads), problem.steps)
            tol = run_tolerance(preset, their, dtype)
            result = compare(problem.name, problem.name, dtype, run.params, want, tol,
                             ulp_dtype=run_dtype(preset, their, dtype))
            if not result.passed:
                failing.append(result)
        first = min(failing, key=lambda c: (c.divergence.step if c.divergence else 0,
                                            c.input_size), default=None)
        peak = max(failing, key=lambda c: c.error, default=None)
        out.append(Standing(preset, compared, len(failing), first, peak))
    return out


def matching_presets(runs: Iterable[tuple[Problem, Mapping[str, Any], CompletedRun]], language: str,
                     dtype: str, candidates: Iterable[str] | None = None) -> list[str]:
    """The presets whose trajectories reproduce every run both can express, provided
    that is at least half of the runs (so a preset is not named on the strength of one
    or two cases). ``runs`` were built with ``language``'s keywords."""
    runs = list(runs)
    return reproducing(standings(runs, language, dtype, candidates), len(runs))


def reproducing(found: Iterable[Standing], runs: int) -> list[str]:
    """The presets of ``found`` that reproduce every run they express, at least half of
    ``runs`` (and at least one)."""
    return [s.preset for s in found if runs and not s.failed and 2 * s.compared >= runs]


def _float32_variants(runs: Iterable[tuple[Problem, Mapping[str, Any], CompletedRun]],
                      language: str, dtype: str, matches: Iterable[str] = ()) -> list[str]:
    """:func:`~novograd_ref.conformance.diagnosis._search.float32_variants` of the
    float64 ``runs`` (none for float32 runs), ``matches`` left out."""

    if dtype != "float64":
        return []
    hyper = {e["name"]: e["hyper"] for e in vectors.case_entries()}
    observations = [Observation(Experiment(f"case {problem.name}", "case",
                                           dict(hyper[problem.name]), problem, dtype),
                                run.params, run.grads) for problem, _kwargs, run in runs]
    return float32_variants(observations, language, skip=matches)


def identify(impl: Implementation | str, language: str, dtype: str = "float64",
             candidates: Iterable[str] | None = None, progress: Progress = iter, *,
             timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
             in_process: bool = False) -> Matches:
    """The presets whose trajectories the implementation reproduces on every standard
    case both can express, provided that is at least half of the cases the
    implementation ran. The implementation is built with ``language``'s keywords and
    run as :func:`verify_implementation` runs it; the cases it failed on are left out
    and listed in the result's ``errors``. The result also holds every candidate's
    :class:`Standing` (``standings``: where each preset first parts from the port, and
    where it is most wrong) and, for float64, the presets reproduced only with a
    float32 second moment or float32 arithmetic (``variants``)."""
    spec = impl if isinstance(impl, str) else impl.spec
    runs, errors = [], []
    with open_runner(impl, in_process=in_process, timeout=timeout,
                     memory_limit=memory_limit, preset=language) as runner:
        for case, kwargs in progress(standard_cases(language)):
            problem = Problem.from_case(case, dtype)
            outcome = usable(runner.run(kwargs, dtype, problem), language, problem)
            if isinstance(outcome, CompletedRun):
                runs.append((problem, kwargs, outcome))
            elif isinstance(outcome, Failure):
                errors.append(Comparison.errored(f"{spec} / {case.name} / {dtype}",
                                                 case.name, dtype, outcome))
    found = standings(runs, language, dtype, candidates)
    names = reproducing(found, len(runs))
    return Matches(names, errors, found, _float32_variants(runs, language, dtype, names))
