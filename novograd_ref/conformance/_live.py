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

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import vectors
from ..testing import rtol
from ._adapter import Failure
from ._keywords import preset_kwargs_for, presets_with_keywords
from ._oracle import Implementation, PresetAdapter
from ._report import Report
from ._runner import DEFAULT_TIMEOUT, Problem, Run, Skipped, open_runner
from ._verify import Comparison, compare, replay, run_trajectory

Progress = Callable[[Iterable[Any]], Iterable[Any]]


class Matches(list[str]):
    """The presets an implementation reproduces (a list), with ``errors``: the
    comparisons of the cases on which it failed, which :func:`identify` left out."""

    errors: list[Comparison]

    def __init__(self, names: Iterable[str] = (), errors: Iterable[Comparison] = ()) -> None:
        super().__init__(names)
        self.errors = list(errors)


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
               inline: Mapping[str, Any] | None = None) -> str:
    """A runnable Python snippet that shows one mismatch (in this process)."""
    lines = ["import numpy as np",
             "from novograd_ref import vectors",
             ("from novograd_ref.conformance import PresetAdapter, load_implementation, "
              "replay, run_trajectory"),
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
              "for name in want:",
              "    print(name, 'implementation', got[name][1:].tolist())",
              "    print(name, 'oracle        ', want[name][1:].tolist())"]
    return "\n".join(lines)


def tolerance(oracle_kwargs: Mapping[str, Any], dtype: str) -> float:
    """The framework tolerance of a run: float32 when the oracle keeps float32 state."""
    narrow = "float32" if oracle_kwargs.get("state_dtype") == "float32" else dtype
    return rtol(narrow, "framework")


def judge(outcome: Run | Skipped | Failure, spec: str, preset: str, problem: Problem,
          kwargs: Mapping[str, Any], dtype: str, label: str,
          inline: Mapping[str, Any] | None = None) -> Comparison:
    """The comparison of one outcome with the oracle ``preset`` replaying its gradients:
    a skip, an error, or the worst error with a reproducer."""
    if isinstance(outcome, Skipped):
        return Comparison.skip(label, problem.name, dtype, outcome.reason)
    if isinstance(outcome, Failure):
        return Comparison.errored(label, problem.name, dtype, outcome)
    oracle = outcome.oracle_kwargs
    want, _ = run_trajectory(PresetAdapter(preset, **oracle), problem.params0,
                             problem.learning_rate, replay(outcome.grads), problem.steps)
    case = None if inline is not None else problem.name
    return compare(label, problem.name, dtype, outcome.params, want,
                   tolerance(oracle, dtype),
                   reproducer(spec, preset, kwargs, oracle, dtype, case, inline))


def verify_implementation(impl: Implementation | str, preset: str,
                          dtypes: Iterable[str] = ("float64", "float32"), examples: int = 0,
                          progress: Progress = iter, *, identify: bool = False,
                          timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                          in_process: bool = False,
                          on_update: Callable[[Report], None] | None = None) -> Report:
    """Check an implementation against ``preset`` on every standard case it can express,
    then on ``examples`` hypothesis-generated cases per dtype (shrunk to a smallest
    failure).

    The implementation runs in a child process rebuilt from its spec (``impl.spec``),
    with ``timeout`` seconds per case and an optional ``memory_limit`` in bytes; with
    ``in_process`` it runs here. ``on_update(report)`` is called after every
    comparison and once at the end (``report.complete``). With ``identify``, the
    report's ``matches`` are the presets the runs of the first dtype reproduce.
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
            outcome = runner.run(kwargs, dtype, problem)
            report.comparisons.append(judge(outcome, spec, preset, problem, kwargs, dtype,
                                            f"{spec} / {case.name} / {dtype}"))
            if isinstance(outcome, Run) and dtype == dtypes[0]:
                runs.append((problem, kwargs, outcome))
            tell(report)
        for dtype in dtypes if examples else ():
            report.comparisons.append(generated_check(spec, preset, dtype, examples,
                                                      runner=runner))
            tell(report)
    if identify and runs:
        report.matches = matching_presets(runs, preset, dtypes[0])
    report.complete = True
    tell(report)
    return report


def matching_presets(runs: Iterable[tuple[Problem, Mapping[str, Any], Run]], language: str,
                     dtype: str, candidates: Iterable[str] | None = None) -> list[str]:
    """The presets whose trajectories reproduce every run both can express, provided
    that is at least half of the runs (so a preset is not named on the strength of one
    or two cases). ``runs`` were built with ``language``'s keywords."""
    names = list(candidates) if candidates is not None else presets_with_keywords()
    runs = list(runs)
    alive = set(names)
    compared = dict.fromkeys(names, 0)
    hyper = {e["name"]: e["hyper"] for e in vectors.case_entries()}
    for problem, kwargs, run in runs:
        extra = {k: v for k, v in run.oracle_kwargs.items() if k not in kwargs}
        for preset in sorted(alive):
            their = preset_kwargs_for(preset, hyper[problem.name])
            if their is None:
                continue
            compared[preset] += 1
            if preset == language:
                their |= extra
            want, _ = run_trajectory(PresetAdapter(preset, **their), problem.params0,
                                     problem.learning_rate, replay(run.grads), problem.steps)
            if not compare("", problem.name, dtype, run.params, want,
                           tolerance(their, dtype)).passed:
                alive.discard(preset)
    return [p for p in names if p in alive and runs and 2 * compared[p] >= len(runs)]


def identify(impl: Implementation | str, language: str, dtype: str = "float64",
             candidates: Iterable[str] | None = None, progress: Progress = iter, *,
             timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
             in_process: bool = False) -> Matches:
    """The presets whose trajectories the implementation reproduces on every standard
    case both can express, provided that is at least half of the cases the
    implementation ran. The implementation is built with ``language``'s keywords and
    run as :func:`verify_implementation` runs it; the cases it failed on are left out
    and listed in the result's ``errors``."""
    spec = impl if isinstance(impl, str) else impl.spec
    runs, errors = [], []
    with open_runner(impl, in_process=in_process, timeout=timeout,
                     memory_limit=memory_limit) as runner:
        for case, kwargs in progress(standard_cases(language)):
            problem = Problem.from_case(case, dtype)
            outcome = runner.run(kwargs, dtype, problem)
            if isinstance(outcome, Run):
                runs.append((problem, kwargs, outcome))
            elif isinstance(outcome, Failure):
                errors.append(Comparison.errored(f"{spec} / {case.name} / {dtype}",
                                                 case.name, dtype, outcome))
    return Matches(matching_presets(runs, language, dtype, candidates), errors)
