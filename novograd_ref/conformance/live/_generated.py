"""Generated checks: hypothesis-drawn problems, and the smallest input two presets differ on.

:func:`generated_check` runs an implementation on drawn problems (small trees, a few
steps, constant or per-step rates, drawn canonical hyperparameters) and shrinks a
mismatch to a smallest one, reported with an inline reproducer.
:func:`find_difference` searches the same space for an input on which two presets,
given the same canonical hyperparameters, differ.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ... import _hyper
from ...testing import rtol
from ..adapters._loader import Implementation, PresetAdapter
from ..adapters._preset_keywords import preset_kwargs_for
from ..adapters._protocol import Adapter, Failure
from ..isolation._runner import InProcessRunner, Problem, Runner, Skipped, private_folder
from ..judging._outcome import judge, usable
from ..judging._verify import Comparison, compare, run_trajectory

SHAPES = ((1,), (2,), (3,), (2, 2))  # the leaf shapes drawn
WIDE = SHAPES[1:]  # leaves where per-element and per-layer normalization differ


def _problem_strategy(dtype: str, shapes_drawn: tuple[tuple[int, ...], ...] = SHAPES
                      ) -> Any:
    from hypothesis import strategies as st

    values = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-3, 10.0])
    shapes = st.lists(st.sampled_from(shapes_drawn), min_size=1, max_size=2)

    @st.composite
    def problem(draw: Any) -> dict[str, Any]:
        leaf_shapes = draw(shapes)
        steps = draw(st.integers(1, 6))

        def tree() -> dict[str, Any]:
            return {f"l{i}": np.array(draw(st.lists(values, min_size=int(np.prod(s)),
                                                    max_size=int(np.prod(s))))).reshape(s)
                    for i, s in enumerate(leaf_shapes)}

        lr: Any = draw(st.sampled_from([0.01, 0.1]))
        if draw(st.booleans()):
            lr = [lr * draw(st.sampled_from([1.0, 0.5, 2.0])) for _ in range(steps)]
        return {"params0": {k: v.tolist() for k, v in tree().items()},
                "grads": [{k: v.tolist() for k, v in tree().items()} for _ in range(steps)],
                "lr": lr}

    return problem()


def _hyper_strategy(preset: str) -> Any:
    """Canonical hyperparameters that ``preset`` can express (eps outside or inside the
    root, so that the eps_root-only OpenSeq2Seq family is drawn too)."""
    from hypothesis import strategies as st

    return st.fixed_dictionaries({
        "b1": st.sampled_from([0.9, 0.95, 0.0]), "b2": st.sampled_from([0.98, 0.25, 0.0]),
        "eps": st.sampled_from([1e-8, 1e-6, 0.0]), "eps_root": st.sampled_from([0.0, 1e-6]),
        "weight_decay": st.sampled_from([0.0, 1e-3]), "weight_decay_mode": st.just("inside"),
        "averaging": st.booleans(), "amsgrad": st.booleans(),
    }).filter(functools.partial(_expressible, preset))


def _expressible(preset: str, hyper: dict[str, Any]) -> bool:
    """Whether ``preset`` can express ``hyper``, with some eps (no 0/0 on a zero leaf)."""
    return hyper["eps"] + hyper["eps_root"] > 0 and preset_kwargs_for(preset, hyper) is not None


def drawn_problem(problem: Mapping[str, Any], dtype: str) -> Problem:
    """A drawn problem (JSON-like: ``params0``, per-step ``grads``, ``lr``) in ``dtype``."""
    params0 = {k: np.array(v, dtype=dtype) for k, v in problem["params0"].items()}
    grads = {k: np.stack([np.array(g[k], dtype=dtype) for g in problem["grads"]])
             for k in params0}
    lr = problem["lr"]
    rate = np.array(lr, dtype=np.float64) if isinstance(lr, list) else float(lr)
    return Problem("generated", params0, rate, len(problem["grads"]), grads=grads)


def _run_oracle(adapter: Adapter, problem: Problem) -> dict[str, np.ndarray]:
    params, _ = run_trajectory(adapter, problem.params0, problem.learning_rate,
                               problem.grads_at, problem.steps)
    return params


def generated_check(impl: Implementation | str, preset: str, dtype: str, examples: int, *,
                    runner: Runner | None = None, full: bool = False) -> Comparison:
    """``examples`` hypothesis-drawn problems run by ``runner`` (default: ``impl`` in
    this process); on a mismatch, hypothesis shrinks it and the smallest one is
    reported with an inline reproducer (its excerpt uncut with ``full``). The first
    failure of the implementation ends the search and is reported as an error.

    A mismatch where every leaf has one element (there per-element and per-layer
    normalization coincide, so a port that is not NovoGrad reads like an eps nit) is
    set aside; if the search finds only such mismatches, a second search draws leaves
    of two or more elements only and shrinks its mismatch; only when that finds none is
    a one-element mismatch reported (shrunk by a third search).
    """
    try:
        from hypothesis import HealthCheck, given, settings
    except ImportError as exc:  # pragma: no cover - hypothesis is in the test extra
        raise RuntimeError("--examples needs hypothesis (pip install hypothesis)") from exc
    if runner is None:
        runner = InProcessRunner(impl, preset)
    spec = runner.spec
    failures: list[Comparison] = []
    set_aside: list[Comparison] = []
    errors: list[Comparison] = []
    checked = [0]
    reasons: dict[str, None] = {}

    def search(shapes: tuple[tuple[int, ...], ...], one_element_failures: bool) -> None:
        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(problem=_problem_strategy(dtype, shapes), hyper=_hyper_strategy(preset))
        def check(problem: dict[str, Any], hyper: dict[str, Any]) -> None:
            if errors:
                return  # the implementation failed: no more runs
            kwargs = preset_kwargs_for(preset, hyper)
            if kwargs is None:
                reasons[f"preset {preset!r} cannot express the drawn hyperparameters"] = None
                return
            drawn = drawn_problem(problem, dtype)
            outcome = usable(runner.run(kwargs, dtype, drawn), preset, drawn)
            if isinstance(outcome, Skipped):
                reasons[outcome.reason] = None
                return
            label = f"{spec} / generated / {dtype}"
            result = judge(outcome, spec, preset, drawn, kwargs, dtype, label, problem, full)
            if isinstance(outcome, Failure):
                errors.append(result)
                return
            checked[0] += 1
            if not result.passed:
                if result.one_element_layers and not one_element_failures:
                    set_aside.append(result)
                    return
                failures.append(result)
                raise AssertionError(result.label)

        check()

    for shapes, one_element_failures in ((SHAPES, False), (WIDE, False), (SHAPES, True)):
        try:
            search(shapes, one_element_failures)
        except AssertionError:
            return failures[-1]  # the last failure hypothesis saw is the shrunk one
        if errors or not set_aside:
            break
    if errors:
        return errors[0]
    if set_aside:  # only one-element mismatches, and the second search did not fail
        return min(set_aside, key=lambda c: c.input_size)
    if not checked[0]:
        return Comparison.skip(f"{spec} / 0 generated / {dtype}", "generated", dtype,
                               f"none of {examples} generated examples ran: "
                               + "; ".join(reasons))
    return Comparison(f"{spec} / {checked[0]} generated / {dtype}", "generated", dtype, 0.0,
                      0.0, rtol(dtype, "framework"), "", 0)


def find_difference(preset_a: str, preset_b: str, dtype: str = "float64",
                    max_examples: int = 400) -> dict[str, Any] | None:
    """The smallest problem (by hypothesis shrinking) on which two presets, given the
    same canonical hyperparameters, differ beyond the tolerance; ``None`` if none found.
    """
    from hypothesis import HealthCheck, find, settings

    tol = rtol(dtype, "framework")
    hyper = _hyper.base(b1=0.9)
    kwargs_a, kwargs_b = preset_kwargs_for(preset_a, hyper), preset_kwargs_for(preset_b,
                                                                               hyper)
    if kwargs_a is None or kwargs_b is None:
        raise ValueError(f"no common canonical configuration for {preset_a} and {preset_b}")

    def trajectories(problem: Mapping[str, Any]) -> tuple[Any, Any]:
        drawn = drawn_problem(problem, dtype)
        with np.errstate(all="ignore"):
            a = _run_oracle(PresetAdapter(preset_a, **kwargs_a), drawn)
            b = _run_oracle(PresetAdapter(preset_b, **kwargs_b), drawn)
        return a, b

    def differs(problem: Mapping[str, Any]) -> bool:
        a, b = trajectories(problem)
        return not compare("", "", dtype, a, b, tol).passed

    try:
        found = find(_problem_strategy(dtype), differs,
                     settings=settings(max_examples=max_examples, derandomize=True,
                                       database=None, deadline=None,
                                       suppress_health_check=list(HealthCheck)))
    except Exception as exc:
        if type(exc).__name__ == "NoSuchExample":
            return None
        raise
    a, b = trajectories(found)
    return {"problem": found, "hyper": hyper, preset_a: a, preset_b: b,
            "kwargs": {preset_a: kwargs_a, preset_b: kwargs_b}}


@contextlib.contextmanager
def private_hypothesis_home() -> Iterator[Path | None]:
    """Hypothesis keeps a ``.hypothesis/`` folder in the current directory; while this
    context is open it keeps it in a private temporary folder instead (the value of the
    context; None without hypothesis), removed on exit.

    >>> import os
    >>> with private_hypothesis_home() as folder:
    ...     print(folder.is_dir(), Path.cwd() in folder.parents)
    True False
    >>> folder.exists()
    False
    """
    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:
        yield None
        return
    folder = private_folder("hypothesis")
    set_hypothesis_home_dir(str(folder))
    try:
        yield folder
    finally:
        set_hypothesis_home_dir(None)
        shutil.rmtree(folder, ignore_errors=True)
