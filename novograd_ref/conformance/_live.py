"""Live checks of an implementation: verify, identify, export and diff.

An implementation is stepped through the standard cases (and, with hypothesis,
generated ones) with its own constructor keywords; the oracle preset then replays the
very gradients the implementation was fed, so the comparison isolates the optimizer.
Keywords for a case come from :func:`preset_kwargs_for`: a case's canonical
hyperparameters written in one preset's (that is, one framework's) own keywords.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, _hyper, presets, vectors
from ..testing import rtol
from . import frameworks
from ._adapter import Adapter, ImplementationFailed, raised
from ._oracle import Implementation, ImplementationError, PresetAdapter
from ._record import check_out_dir, ensure_root, merge_entries
from ._verify import Comparison, compare, replay, run_trajectory


def preset_kwargs_for(preset: str, hyper: Mapping[str, Any]) -> dict[str, Any] | None:
    """A case's canonical hyperparameters in ``preset``'s keywords (no learning rate):
    :meth:`novograd_ref.presets.PresetSpec.case_keywords`.

    ``None`` when the preset cannot express the case (a weight-decay mode or flag it
    lacks).

    >>> preset_kwargs_for("torch_optimizer", {"b1": 0.9, "b2": 0.98, "eps": 1e-8,
    ...     "eps_root": 0.0, "weight_decay": 0.0, "weight_decay_mode": "inside",
    ...     "grad_averaging": False, "amsgrad": False})["betas"]
    (0.9, 0.98)
    """
    return presets.spec(preset).case_keywords(hyper)


def presets_with_keywords() -> list[str]:
    """The presets :func:`preset_kwargs_for` can translate cases for: every preset."""
    return presets.names()


def framework_preset_kwargs(preset: str, kwargs: Mapping[str, Any],
                            dtype: str) -> dict[str, Any]:
    """The keywords that model ``preset``'s framework on a ``dtype`` run, as its adapter
    and its bundled records use them (e.g. TFA's ``hyper_dtype="float32"`` for float64):
    the ``preset_kwargs`` of the framework plug-in the preset is bound to
    (:attr:`~novograd_ref.presets.PresetSpec.framework`), for its ordinary (first)
    recording variant. ``kwargs`` unchanged for a preset bound to no framework."""
    name = presets.spec(preset).framework
    if name is None:
        return dict(kwargs)
    plugin = frameworks.load(name)
    variants = plugin.recording_variants(dtype)
    settings = dict(variants[0][1]) if variants else {}
    return plugin.preset_kwargs(_jsonable(kwargs), dtype, settings)


@dataclasses.dataclass
class Report:
    """The outcome of checking one implementation."""

    implementation: str
    preset: str
    comparisons: list[Comparison]
    matches: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every comparison passed."""
        return all(c.passed for c in self.comparisons)

    def to_json(self) -> dict[str, Any]:
        """A strictly JSON-serializable summary (the ``--report`` file): a NaN or
        infinite error or ulps is written as ``null`` with ``"nonfinite": true``."""
        rows = []
        for c in self.comparisons:
            row = {**dataclasses.asdict(c), "passed": c.passed, "nonfinite": False}
            for key in ("error", "ulps"):
                if not np.isfinite(row[key]):
                    row[key], row["nonfinite"] = None, True
            rows.append(row)
        return {"implementation": self.implementation, "preset": self.preset,
                "passed": self.passed, "matches": self.matches, "comparisons": rows}


def _standard_cases(preset: str) -> list[tuple[vectors.Case, dict[str, Any]]]:
    out = []
    for entry in vectors.case_entries():
        kwargs = preset_kwargs_for(preset, entry["hyper"])
        if kwargs is not None:
            out.append((vectors.load_case(entry), kwargs))
    return out


def _reproducer(spec: str, preset: str, kwargs: Mapping[str, Any],
                oracle_kwargs: Mapping[str, Any], dtype: str, case: str | None,
                inline: Mapping[str, Any] | None = None) -> str:
    """A runnable Python snippet that shows one mismatch."""
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


def check_case(impl: Implementation, preset: str, case: vectors.Case,
               kwargs: Mapping[str, Any], dtype: str) -> Comparison:
    """Run the implementation on a standard case and replay it through the oracle.

    An implementation that rejects the case's keywords (``ValueError``, ``TypeError``,
    ``NotImplementedError`` from its factory) skips the case, with the reason.
    """
    label = f"{impl.spec} / {case.name} / {dtype}"
    built = _build(impl, kwargs, dtype, case.name)
    if isinstance(built, str):
        return Comparison(label, case.name, dtype, 0.0, 0.0, rtol(dtype, "framework"), "",
                          0, skipped=built)
    adapter, oracle_kwargs = built
    got, fed = _run_case(adapter, case, dtype)
    want, _ = run_trajectory(PresetAdapter(preset, **oracle_kwargs), case.params0_as(dtype),
                             case.learning_rate(), replay(fed), case.T)
    return compare(label, case.name, dtype, got, want, _tolerance(oracle_kwargs, dtype),
                   _reproducer(impl.spec, preset, kwargs, oracle_kwargs, dtype, case.name))


def _build(impl: Implementation, kwargs: Mapping[str, Any], dtype: str, case: str
           ) -> tuple[Adapter, dict[str, Any]] | str:
    """The adapter and oracle keywords for one run, or why the implementation rejected
    the keywords (``ValueError``, ``TypeError``, ``NotImplementedError`` from its
    factory). A factory that returns no adapter or raises anything else raises
    :class:`ImplementationFailed`."""
    try:
        return impl.build(dict(kwargs), dtype), impl.oracle_kwargs(dict(kwargs), dtype)
    except ImplementationError as exc:  # the loader's own check of what came back
        failed = ImplementationFailed(str(exc), "factory")
    except (ValueError, TypeError, NotImplementedError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 (any error of the user's factory is reported)
        failed = raised(exc, "factory")
    failed.case, failed.dtype = case, dtype
    raise failed


def _run_case(adapter: Adapter, case: vectors.Case, dtype: str
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run the implementation on a standard case, naming the case in its failures."""
    try:
        return run_trajectory(adapter, case.params0_as(dtype), case.learning_rate(),
                              case.grads_at, case.T)
    except ImplementationFailed as exc:
        exc.case, exc.dtype = case.name, dtype
        raise


def _tolerance(oracle_kwargs: Mapping[str, Any], dtype: str) -> float:
    narrow = "float32" if oracle_kwargs.get("state_dtype") == "float32" else dtype
    return rtol(narrow, "framework")


def verify_implementation(impl: Implementation, preset: str,
                          dtypes: Iterable[str] = ("float64", "float32"), examples: int = 0,
                          progress: Callable[[Iterable[Any]], Iterable[Any]] = iter
                          ) -> Report:
    """Check an implementation against ``preset`` on every standard case it can express,
    then on ``examples`` hypothesis-generated cases (shrunk to a smallest failure)."""
    jobs = [(case, kwargs, dtype) for case, kwargs in _standard_cases(preset)
            for dtype in dtypes]
    comparisons = [check_case(impl, preset, case, kwargs, dtype)
                   for case, kwargs, dtype in progress(jobs)]
    for dtype in dtypes if examples else ():
        comparisons.append(generated_check(impl, preset, dtype, examples))
    return Report(impl.spec, preset, comparisons)


def identify(impl: Implementation, language: str, dtype: str = "float64",
             candidates: Iterable[str] | None = None,
             progress: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> list[str]:
    """The presets whose trajectories the implementation reproduces on every standard
    case both can express, provided that is at least half of the cases the
    implementation ran (so a preset is not named on the strength of one or two cases).
    The implementation is built with ``language``'s keywords."""
    names = list(candidates) if candidates is not None else presets_with_keywords()
    alive = set(names)
    compared = dict.fromkeys(names, 0)
    ran = 0
    for case, kwargs in progress(_standard_cases(language)):
        built = _build(impl, kwargs, dtype, case.name)
        if isinstance(built, str):
            continue  # the implementation cannot express this case
        adapter, oracle_kwargs = built
        extra = {k: v for k, v in oracle_kwargs.items() if k not in kwargs}
        got, fed = _run_case(adapter, case, dtype)
        ran += 1
        for preset in sorted(alive):
            their = preset_kwargs_for(preset, case.hyper)
            if their is None:
                continue
            compared[preset] += 1
            if preset == language:
                their |= extra
            want, _ = run_trajectory(PresetAdapter(preset, **their), case.params0_as(dtype),
                                     case.learning_rate(), replay(fed), case.T)
            if not compare("", case.name, dtype, got, want, _tolerance(their, dtype)).passed:
                alive.discard(preset)
    return [p for p in names if p in alive and ran and 2 * compared[p] >= ran]


# ------------------------------------------------------------------ generated cases


def _problem_strategy(dtype: str) -> Any:
    from hypothesis import strategies as st

    values = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-3, 10.0])
    shapes = st.lists(st.sampled_from([(1,), (2,), (3,), (2, 2)]), min_size=1, max_size=2)

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


def _hyper_strategy() -> Any:
    from hypothesis import strategies as st

    return st.fixed_dictionaries({
        "b1": st.sampled_from([0.9, 0.95, 0.0]), "b2": st.sampled_from([0.98, 0.25, 0.0]),
        "eps": st.sampled_from([1e-8, 1e-6]), "weight_decay": st.sampled_from([0.0, 1e-3]),
        "grad_averaging": st.booleans(), "amsgrad": st.booleans(),
    }).map(lambda drawn: _hyper.base(**drawn))


def _run_problem(adapter: Adapter, problem: Mapping[str, Any], dtype: str,
                 fed: Mapping[str, np.ndarray] | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    params0 = {k: np.array(v, dtype=dtype) for k, v in problem["params0"].items()}
    grads = [{k: np.array(v, dtype=dtype) for k, v in g.items()} for g in problem["grads"]]
    lr = problem["lr"]
    lr = np.array(lr, dtype=np.float64) if isinstance(lr, list) else float(lr)
    if fed is not None:
        return run_trajectory(adapter, params0, lr, replay(fed), len(grads))
    return run_trajectory(adapter, params0, lr, lambda k, _p: grads[k], len(grads))


def generated_check(impl: Implementation, preset: str, dtype: str,
                    examples: int) -> Comparison:
    """``examples`` hypothesis-drawn problems; on a mismatch, hypothesis shrinks it and
    the smallest one is reported with an inline reproducer."""
    try:
        from hypothesis import HealthCheck, given, settings
    except ImportError as exc:  # pragma: no cover - hypothesis is in the test extra
        raise RuntimeError("--examples needs hypothesis (pip install hypothesis)") from exc
    failures: list[Comparison] = []
    checked = [0]
    reasons: dict[str, None] = {}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(problem=_problem_strategy(dtype), hyper=_hyper_strategy())
    def check(problem: dict[str, Any], hyper: dict[str, Any]) -> None:
        kwargs = preset_kwargs_for(preset, hyper)
        if kwargs is None:
            reasons[f"preset {preset!r} cannot express the drawn hyperparameters"] = None
            return
        built = _build(impl, kwargs, dtype, "generated")
        if isinstance(built, str):
            reasons[built] = None
            return
        adapter, oracle_kwargs = built
        checked[0] += 1
        try:
            got, fed = _run_problem(adapter, problem, dtype)
        except ImplementationFailed as exc:
            exc.case, exc.dtype = "generated", dtype
            raise
        want, _ = _run_problem(PresetAdapter(preset, **oracle_kwargs), problem, dtype, fed)
        result = compare(f"{impl.spec} / generated / {dtype}", "generated", dtype, got, want,
                         _tolerance(oracle_kwargs, dtype),
                         _reproducer(impl.spec, preset, kwargs, oracle_kwargs, dtype, None,
                                     problem))
        if not result.passed:
            failures.append(result)
            raise AssertionError(result.label)

    try:
        check()
    except AssertionError:
        return failures[-1]  # the last failure hypothesis saw is the shrunk one
    if not checked[0]:
        return Comparison(f"{impl.spec} / 0 generated / {dtype}", "generated", dtype, 0.0,
                          0.0, rtol(dtype, "framework"), "", 0,
                          skipped=f"none of {examples} generated examples ran: "
                                  + "; ".join(reasons))
    return Comparison(f"{impl.spec} / {checked[0]} generated / {dtype}", "generated", dtype,
                      0.0, 0.0, rtol(dtype, "framework"), "", 0)


def find_difference(preset_a: str, preset_b: str, dtype: str = "float64",
                    max_examples: int = 400) -> dict[str, Any] | None:
    """The smallest problem (by hypothesis shrinking) on which two presets, given the
    same canonical hyperparameters, differ beyond the tolerance; ``None`` if none found.
    """
    from hypothesis import HealthCheck, find, settings
    from hypothesis import strategies as st

    tol = rtol(dtype, "framework")
    hyper = _hyper.base(b1=0.9)
    kwargs_a, kwargs_b = preset_kwargs_for(preset_a, hyper), preset_kwargs_for(preset_b,
                                                                               hyper)
    if kwargs_a is None or kwargs_b is None:
        raise ValueError(f"no common canonical configuration for {preset_a} and {preset_b}")

    def trajectories(problem: Mapping[str, Any]) -> tuple[Any, Any]:
        with np.errstate(all="ignore"):
            a, _ = _run_problem(PresetAdapter(preset_a, **kwargs_a), problem, dtype)
            b, _ = _run_problem(PresetAdapter(preset_b, **kwargs_b), problem, dtype)
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
    del st
    a, b = trajectories(found)
    return {"problem": found, "hyper": hyper, preset_a: a, preset_b: b,
            "kwargs": {preset_a: kwargs_a, preset_b: kwargs_b}}


def export_preset(preset: str, out: Path, dtypes: Iterable[str] = ("float64", "float32"),
                  progress: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> int:
    """Write the oracle's trajectories of ``preset`` on the standard cases to ``out`` in
    the bundled vector format and return the record count.

    Records are ``novograd_ref`` runs tagged with the preset name
    (``records/novograd_ref__<case>__<dtype>__<preset>.npz``), merged into ``out``'s
    manifest as ``record`` merges (a new directory first gets the bundled cases). A
    preset modelling a framework runs with that framework's preset keywords (TFA's
    float32 hyperparameters...), as its bundled records do. Nothing is created when
    ``out`` is not a writable directory (``ValueError``) or no case can be expressed (0).
    """
    out = check_out_dir(out)
    jobs = [(case, kwargs, dtype) for case, kwargs in _standard_cases(preset)
            for dtype in dtypes]
    if not jobs:
        return 0
    runs = []
    for case, kwargs, dtype in progress(jobs):
        model = framework_preset_kwargs(preset, kwargs, dtype)
        with np.errstate(all="ignore"):
            params, grads = run_trajectory(PresetAdapter(preset, **model),
                                           case.params0_as(dtype), case.learning_rate(),
                                           case.grads_at, case.T)
        arrays = {f"params__{k}": v for k, v in params.items()}
        arrays |= {f"grads__{k}": v for k, v in grads.items()}
        arrays["lr"] = np.asarray(case.lr, dtype=np.float64)
        file = "records/" + vectors.record_filename("novograd_ref", case.name, dtype, preset)
        runs.append((file, arrays, {
            "framework": "novograd_ref", "preset": preset, "case": case.name,
            "dtype": dtype, "tag": preset, "file": file,
            "constructor_kwargs": _jsonable(kwargs),
            "learning_rate_keyword": presets.spec(preset).learning_rate_keyword,
            "preset_kwargs": _jsonable(model), "settings": {},
            "provenance": {"framework_version": __version__,
                           "versions": {"novograd_ref": __version__,
                                        "numpy": np.__version__,
                                        "python": platform.python_version()},
                           "platform": platform.platform(),
                           "command": " ".join(["novograd-ref", *sys.argv[1:]]),
                           "recorded_at": _now()}}))
    ensure_root(out)
    entries = [{**entry, "sha256": vectors.write_npz(out / file, arrays)}
               for file, arrays, entry in runs]
    merge_entries(out, entries)
    return len(entries)


def _jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
