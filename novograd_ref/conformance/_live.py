"""Live checks of an implementation: verify it against a preset, say which presets it is.

An implementation is built with a preset's own constructor keywords for each standard
case it can express (:func:`~novograd_ref.conformance.preset_kwargs_for`) and stepped
through the case by a runner (a child process by default, see
:mod:`novograd_ref.conformance._runner`); the oracle preset then replays the very
gradients the implementation was fed, so the comparison isolates the optimizer. A case
the implementation cannot run is a skip, one it fails on is an error of that case, and
the run goes on.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import presets, vectors
from ..testing import rtol
from ._adapter import Failure
from ._explanation import jsonable
from ._keywords import preset_kwargs_for, presets_with_keywords
from ._oracle import Implementation, PresetAdapter
from ._report import Report
from ._runner import DEFAULT_TIMEOUT, Problem, Run, Skipped, open_runner
from ._verify import Comparison, compare, replay, run_trajectory

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


def reproducer(spec: str, preset: str, kwargs: Mapping[str, Any],
               oracle_kwargs: Mapping[str, Any], dtype: str, case: str | None,
               inline: Mapping[str, Any] | None = None, tolerance: float = 0.0,
               full: bool = False) -> str:
    """A runnable Python snippet that shows one mismatch (in this process): it leaves
    the trajectories in ``got`` (the implementation) and ``want`` (the oracle) and prints
    the step and leaf where they first part beyond ``tolerance``, the differing elements
    marked (every element of that leaf with ``full``)."""
    lines = ["import numpy as np",
             "from novograd_ref import vectors",
             ("from novograd_ref.conformance import (PresetAdapter, excerpt, "
              "first_divergence,\n    load_implementation, replay, run_trajectory)"),
             f"kwargs = {dict(kwargs)!r}",
             f"impl = load_implementation({spec!r}, dtype={dtype!r}, **kwargs)",
             f"oracle = PresetAdapter({preset!r}, **{dict(oracle_kwargs)!r})"]
    if case is not None:
        lines += [f"case = vectors.load_case({case!r})",
                  (f"params0, lr, steps = case.params0_as({dtype!r}), case.learning_rate(), "
                   "case.T"),
                  "got, fed = run_trajectory(impl, params0, lr, case.grads_at, steps)"]
    else:
        assert inline is not None
        lines += [(f"params0 = {{k: np.array(v, dtype={dtype!r}) for k, v in "
                   f"{inline['params0']!r}.items()}}"),
                  (f"grads = [{{k: np.array(v, dtype={dtype!r}) for k, v in g.items()}} "
                   f"for g in {inline['grads']!r}]"),
                  f"lr = {inline['lr']!r}",
                  "lr = np.array(lr) if isinstance(lr, list) else lr",
                  "steps = len(grads)",
                  "got, fed = run_trajectory(impl, params0, lr, lambda k, p: grads[k], steps)"]
    lines += ["want, _ = run_trajectory(oracle, params0, lr, replay(fed), steps)",
              f"found = first_divergence(got, want, {tolerance!r})",
              (f"print(excerpt(got, want, found, {tolerance!r}, full={full!r}) if found "
               "else 'no divergence')")]
    return "\n".join(lines)


def narrow_dtype(preset: str, oracle_kwargs: Mapping[str, Any], dtype: str) -> str:
    """The dtype a run is held to: float32 when the oracle ``preset`` keeps a float32
    moment under these keywords (its own default, as Apex's, or a keyword).

    >>> narrow_dtype("apex", {}, "float64"), narrow_dtype("optax", {}, "float64")
    ('float32', 'float64')
    """
    hyper = presets.spec(preset).canonical(**oracle_kwargs)
    narrow = "float32" in (hyper.get("state_dtype"), hyper.get("mu_dtype"))
    return "float32" if narrow else dtype


def tolerance(preset: str, oracle_kwargs: Mapping[str, Any], dtype: str) -> float:
    """The framework tolerance of a run: that of :func:`narrow_dtype`."""
    return rtol(narrow_dtype(preset, oracle_kwargs, dtype), "framework")


def usable(outcome: Run | Skipped | Failure, preset: str, problem: Problem
           ) -> Run | Skipped | Failure:
    """``outcome``, unless it is a run whose oracle keywords (those the port's factory
    declares, :func:`~novograd_ref.conformance._oracle.declared_oracle_kwargs`) the
    oracle ``preset`` refuses: then a failure of the port's factory (cause
    ``protocol``), as a malformed output would be.

    >>> import numpy as np
    >>> problem = Problem("p", {"w": np.ones(2)}, 0.1, 1, grads={"w": np.ones((1, 2))})
    >>> run = Run({"no_such_keyword": 1}, {}, {})
    >>> usable(run, "optax", problem).cause
    'protocol'
    """
    if not isinstance(outcome, Run):
        return outcome
    try:
        oracle = PresetAdapter(preset, **outcome.oracle_kwargs)
        oracle.init(dict(problem.params0), problem.learning_rate)
        narrow_dtype(preset, outcome.oracle_kwargs, "float64")
    except (TypeError, ValueError) as exc:
        return Failure("protocol", f"preset {preset!r} refuses the oracle keywords the "
                       f"factory declares, {reprlib.repr(outcome.oracle_kwargs)}: "
                       f"{type(exc).__name__}: {exc}", "factory")
    return outcome


def judge(outcome: Run | Skipped | Failure, spec: str, preset: str, problem: Problem,
          kwargs: Mapping[str, Any], dtype: str, label: str,
          inline: Mapping[str, Any] | None = None, full: bool = False) -> Comparison:
    """The comparison of one outcome with the oracle ``preset`` replaying its gradients:
    a skip, an error, or the worst error, the first divergence and a reproducer (its
    excerpt uncut with ``full``); ulps are counted in the dtype the run is held to."""
    if isinstance(outcome, Skipped):
        return Comparison.skip(label, problem.name, dtype, outcome.reason)
    if isinstance(outcome, Failure):
        return Comparison.errored(label, problem.name, dtype, outcome)
    oracle = outcome.oracle_kwargs
    want, _ = run_trajectory(PresetAdapter(preset, **oracle), problem.params0,
                             problem.learning_rate, replay(outcome.grads), problem.steps)
    case = None if inline is not None else problem.name
    tol = tolerance(preset, oracle, dtype)
    return compare(label, problem.name, dtype, outcome.params, want, tol,
                   reproducer(spec, preset, kwargs, oracle, dtype, case, inline, tol, full),
                   ulp_dtype=narrow_dtype(preset, oracle, dtype), full=full)


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
    from ._generated import generated_check

    spec = impl if isinstance(impl, str) else impl.spec
    dtypes = list(dtypes)
    report = Report(spec, preset, [], complete=False)
    tell = on_update or (lambda report: None)
    jobs = [(case, kwargs, dtype) for case, kwargs in standard_cases(preset)
            for dtype in dtypes]
    runs: list[tuple[Problem, dict[str, Any], Run]] = []
    with open_runner(impl, in_process=in_process, timeout=timeout,
                     memory_limit=memory_limit) as runner:
        for case, kwargs, dtype in progress(jobs):
            problem = Problem.from_case(case, dtype)
            outcome = usable(runner.run(kwargs, dtype, problem), preset, problem)
            report.comparisons.append(judge(outcome, spec, preset, problem, kwargs, dtype,
                                            f"{spec} / {case.name} / {dtype}", full=full))
            if isinstance(outcome, Run) and dtype == dtypes[0]:
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
        return jsonable({
            "preset": self.preset, "compared": self.compared, "failed": self.failed,
            "first_divergence": None if first is None else
            {"case": self.first.case, **dataclasses.asdict(first)},  # type: ignore[union-attr]
            "peak": None if self.peak is None else
            {"case": self.peak.case, "step": self.peak.step, "leaf": self.peak.leaf,
             "error": self.peak.error}})


def standings(runs: Iterable[tuple[Problem, Mapping[str, Any], Run]], language: str,
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
            tol = tolerance(preset, their, dtype)
            result = compare(problem.name, problem.name, dtype, run.params, want, tol,
                             ulp_dtype=narrow_dtype(preset, their, dtype))
            if not result.passed:
                failing.append(result)
        first = min(failing, key=lambda c: (c.divergence.step if c.divergence else 0,
                                            c.input_size), default=None)
        peak = max(failing, key=lambda c: c.error, default=None)
        out.append(Standing(preset, compared, len(failing), first, peak))
    return out


def matching_presets(runs: Iterable[tuple[Problem, Mapping[str, Any], Run]], language: str,
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


def _float32_variants(runs: Iterable[tuple[Problem, Mapping[str, Any], Run]],
                      language: str, dtype: str, matches: Iterable[str] = ()) -> list[str]:
    """:func:`._search.float32_variants` of the float64 ``runs`` (none for float32
    runs), ``matches`` left out."""
    from ._runs import Observation
    from ._runs import Run as Experiment
    from ._search import float32_variants

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
                     memory_limit=memory_limit) as runner:
        for case, kwargs in progress(standard_cases(language)):
            problem = Problem.from_case(case, dtype)
            outcome = usable(runner.run(kwargs, dtype, problem), language, problem)
            if isinstance(outcome, Run):
                runs.append((problem, kwargs, outcome))
            elif isinstance(outcome, Failure):
                errors.append(Comparison.errored(f"{spec} / {case.name} / {dtype}",
                                                 case.name, dtype, outcome))
    found = standings(runs, language, dtype, candidates)
    names = reproducing(found, len(runs))
    return Matches(names, errors, found, _float32_variants(runs, language, dtype, names))
