"""Judging one outcome of an implementation: is it usable, how does it compare with the
oracle replaying its gradients, and the snippet that reproduces a mismatch."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from ..adapters._loader import PresetAdapter
from ..adapters._protocol import Failure
from ..isolation._runner import CompletedRun, Problem, Skipped
from ._verify import Comparison, compare, replay, run_dtype, run_tolerance, run_trajectory


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
             (f"impl = load_implementation({spec!r}, dtype={dtype!r}, preset={preset!r}, "
              "**kwargs)"),
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


def usable(outcome: CompletedRun | Skipped | Failure, preset: str, problem: Problem
           ) -> CompletedRun | Skipped | Failure:
    """``outcome``, unless it is a run whose oracle keywords (those the port's factory
    declares, :func:`~novograd_ref.conformance.adapters._loader.declared_oracle_kwargs`) the
    oracle ``preset`` refuses: then a failure of the port's factory (cause
    ``protocol``), as a malformed output would be.

    >>> import numpy as np
    >>> problem = Problem("p", {"w": np.ones(2)}, 0.1, 1, grads={"w": np.ones((1, 2))})
    >>> run = CompletedRun({"no_such_keyword": 1}, {}, {})
    >>> usable(run, "optax", problem).cause
    'protocol'
    """
    if not isinstance(outcome, CompletedRun):
        return outcome
    try:
        oracle = PresetAdapter(preset, **outcome.oracle_kwargs)
        oracle.init(dict(problem.params0), problem.learning_rate)
        run_dtype(preset, outcome.oracle_kwargs, "float64")
    except (TypeError, ValueError) as exc:
        return Failure("protocol", f"preset {preset!r} refuses the oracle keywords the "
                       f"factory declares, {reprlib.repr(outcome.oracle_kwargs)}: "
                       f"{type(exc).__name__}: {exc}", "factory")
    return outcome


def judge(outcome: CompletedRun | Skipped | Failure, spec: str, preset: str, problem: Problem,
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
    tol = run_tolerance(preset, oracle, dtype)
    return compare(label, problem.name, dtype, outcome.params, want, tol,
                   reproducer(spec, preset, kwargs, oracle, dtype, case, inline, tol, full),
                   ulp_dtype=run_dtype(preset, oracle, dtype), full=full)
