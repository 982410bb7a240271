r"""``explain``: what a NovoGrad port does differently, found by experiment.

:func:`explain` runs the port (an :class:`~novograd_ref.conformance.Implementation`
taking one preset's constructor keywords) on the standard cases and on designed probes
(:mod:`._probes`), reads the conventions the probes isolate, and searches the switch
space of :class:`~novograd_ref.Config` (:mod:`._search`) for a configuration that
reproduces it. The answer, in this order: the presets it reproduces; else an exact
``ngr.novograd(...)`` call that does; else the nearest preset and the switch
differences; and always the behaviour no switch expresses, in a porter's words.

The answer is an :class:`~novograd_ref.conformance.diagnosis._explanation.Explanation`; its JSON
schema (``novograd-ref/explain/1``) and the anomaly codes are documented there and in
``docs/explain.md``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import queue
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..._config import Config
from ..adapters._loader import Implementation
from ..adapters._preset_keywords import preset_kwargs_for
from ..isolation._runner import DEFAULT_TIMEOUT, Runner, open_runner
from ..judging._divergence import first_divergence
from ._experiments import Observation, Quirks, Run, case_runs, observe, simulate
from ._explanation import ANOMALIES, INEXPRESSIBLE, MIN_RUNS, Explanation, meaning
from ._probes import Finding, probe_runs, read_probes
from ._search import BUDGET, Candidate, Move, Outcome, Search, differences, moves


def explain(impl: Implementation | str, language: str,
            progress: Callable[[str], None] = lambda _msg: None, *,
            timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
            in_process: bool = False, jobs: int | None = None,
            budget: float = BUDGET) -> Explanation:
    """Diagnose ``impl`` (built with preset ``language``'s keywords) by experiment.

    The port runs as ``verify`` runs it: in a child process rebuilt from its spec, with
    ``timeout`` seconds per run and an optional ``memory_limit`` in bytes, so a run on
    which it raises, exits, crashes or hangs is a ``crash`` anomaly naming that run and
    the explanation goes on from the others; with ``in_process`` it runs here.
    ``jobs`` child processes run the port at once (default: the number of cores; one
    with ``in_process``); the switch search stops after about ``budget`` seconds, and
    the search from each behaviour tried when runs stay failing
    after a third of that.

    >>> from novograd_ref.conformance import implementation
    >>> found = explain(implementation("preset:paper"), "paper")
    >>> found.verdict, "paper" in found.matches
    ('matches', True)
    """
    start = time.perf_counter()
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    jobs = 1 if in_process else jobs or os.cpu_count() or 1
    spec = impl if isinstance(impl, str) else impl.spec
    runs = [*case_runs(), *(r for r in case_runs("float32")
                            if r.name.split()[1] in ("const_lr", "tree_mixed")), *probe_runs()]
    progress(f"running the port on up to {len(runs)} runs (standard cases and probes)"
             + ("" if in_process else f", {jobs} at a time"))
    planned = [_expressed(language, run) for run in runs]
    todo = [(run, kwargs) for run, kwargs in planned if kwargs is not None]
    with contextlib.ExitStack() as stack:
        runners: queue.SimpleQueue[Runner] = queue.SimpleQueue()
        for _ in range(min(jobs, len(todo)) if todo else 0):
            runners.put(stack.enter_context(open_runner(
                impl, in_process=in_process, timeout=timeout, memory_limit=memory_limit,
                preset=language)))

        def one(item: tuple[Run, dict[str, Any]]) -> Observation:
            runner = runners.get()
            try:
                return observe(runner, item[1], item[0])
            finally:
                runners.put(runner)

        with concurrent.futures.ThreadPoolExecutor(max(1, min(jobs, len(todo)))) as pool:
            done = dict(zip((run.name for run, _ in todo), pool.map(one, todo),
                            strict=True))
    observations = [done[run.name] if kwargs is not None
                    else Observation(run, skipped=INEXPRESSIBLE) for run, kwargs in planned]
    observed = {o.run.name: o for o in observations}
    findings, quirks = read_probes(observed)
    search = Search(observations, quirks, language, progress, budget)
    enough = sum(o.ok for o in observations) >= MIN_RUNS
    base, best = search.run() if enough else ([], None)
    if best is not None and best.failed:
        search, best, found = _alternatives(search, best, findings)
        quirks = search.quirks
        findings += found
    result = _assemble(spec, language, observations, findings, quirks, search, base,
                       best)
    result.seconds = time.perf_counter() - start
    return result


#: Behaviours no probe reads directly, tried when the search leaves runs failing: the
#: quirk each sets (see :class:`._runs.Quirks`).
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "mean_normalization": {"scope": "mean"},
    "weight_decay_after_step": {"decay_after_step": True},
}


#: The probe findings (by convention) shown as evidence of an alternative, before the
#: runs it explains.
_ALTERNATIVE_PROBES: dict[str, tuple[str, ...]] = {
    "mean_normalization": ("step against the layer's size", "chunks of a layer"),
}


def _alternatives(search: Search, best: Outcome, findings: list[Finding]
                  ) -> tuple[Search, Outcome, list[Finding]]:
    """A second moment starting at a constant (:func:`_constant_start`, measured on the
    first step), then each behaviour of :data:`ALTERNATIVES`, tried in turn from the
    nearest preset and from the best candidate; one that leaves fewer runs failing
    (after a search from there) is kept, with the probe readings and the runs it
    explains as its evidence."""
    tries: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    constant = _constant_start(search, best)
    if constant is not None:
        tries.append(("second_moment_constant_start",
                      {"second_moment_start": constant[0]}, constant[1]))
    tries += [(code, change, [e for f in findings
                              if f.convention in _ALTERNATIVE_PROBES.get(code, ())
                              for e in f.evidence])
              for code, change in ALTERNATIVES.items()]
    found: list[Finding] = []
    for code, change, probed in tries:
        if not best.failed:
            break
        other = Search(search.observations, dataclasses.replace(search.quirks, **change),
                       search.language, search.progress, search.budget / 3)
        starts = [o for o in (other.evaluate(Candidate(best.candidate.preset)),
                              other.evaluate(best.candidate)) if o is not None]
        if not starts:
            continue
        start = min(starts, key=lambda o: (len(o.failed) + o.uncovered, len(o.candidate.moves)))
        if len(start.failed) + start.uncovered >= len(best.failed) + best.uncovered:
            continue
        search.progress(f"search: trying {code}")
        improved = other.improve([start], start)
        explained = sorted(set(best.failed) - set(improved.failed),
                           key=lambda name: other.input_sizes[name])
        evidence = list(probed)
        evidence += [{**e, "note": f"without it, from {best.candidate.describe()}"}
                     for e in _evidence(best.candidate, search, explained[0])]
        evidence += [{"run": name, "step": None, "leaf": None,
                      "expected": "within the tolerance",
                      "measured": f"relative error {best.failed[name]:.3g} without it",
                      "note": "reproduced with it"} for name in explained[1:]]
        words = ANOMALIES[code].words
        if code == "second_moment_constant_start":
            words = (f"the second moment starts at {change['second_moment_start']:.6g}, not "
                     "at zero or at the first step's |g|^2, and is blended from step 1")
        found.append(Finding(explained[0].removeprefix("probe "), code, words, evidence,
                             code))
        search, best = other, improved
    return search, best, found


def _first_step(cfg: Config, quirks: Quirks, obs: Observation) -> float:
    """The size of layer ``a``'s first step that ``cfg`` with ``quirks`` takes on ``obs``."""
    assert obs.fed is not None
    want = simulate(cfg, quirks, obs.run, obs.fed)
    return float(np.linalg.norm(want["a"][1] - want["a"][0]))


def _constant_start(search: Search, best: Outcome
                    ) -> tuple[float, list[dict[str, Any]]] | None:
    """The constant the second moment starts at, read off the first step of probe
    ``normalization``, with the evidence; ``None`` when the first step is not smaller
    than the zero start predicts.

    From a zero start the first second moment is ``(1 - b2) S``, the smallest the
    conventions allow, so the first step is the largest; a start at ``c > 0`` blends to
    ``b2 c + (1 - b2) S`` and shrinks it (the start from the first step, ``S``, shrinks
    it more). The constant is the one whose simulation, the rest of the best candidate
    held fixed, takes the port's first step (found by bisection over 36 decades, then
    given to six significant digits when that takes the same step)."""
    obs = next((o for o in search.observations if o.run.name == "probe normalization"),
               None)
    configs = search.configs(best.candidate)
    if obs is None or obs.params is None or not configs or obs.run.name not in configs:
        return None
    cfg, quirks = configs[obs.run.name], search.quirks
    if cfg.norm != "l2_squared" or quirks.scope in ("none", "element") or \
            not quirks.first_step_update:
        return None
    mine = float(np.linalg.norm(obs.params["a"][1] - obs.params["a"][0]))
    with np.errstate(all="ignore"):
        zero = _first_step(dataclasses.replace(cfg, second_moment_init="zero"), quirks, obs)
        first = _first_step(dataclasses.replace(cfg, second_moment_init="first_step"),
                            quirks, obs)

        def step(c: float) -> float:
            return _first_step(cfg, dataclasses.replace(quirks, second_moment_start=c),
                               obs)

        if not mine < zero * (1 - 1e-9) or not step(1e6) < mine:
            return None
        lo, hi = -30.0, 6.0  # log10 of the constant
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if step(10 ** mid) > mine else (lo, mid)
        found = 10 ** ((lo + hi) / 2)
        short = float(f"{found:.6g}")
        if abs(step(short) - mine) <= 1e-12 * mine:
            found = short
    return found, [{"run": obs.run.name, "step": 1, "leaf": "a",
                    "expected": f"{zero:.6g} from a zero start, {first:.6g} from the first "
                                "step's |g|^2",
                    "measured": f"{mine:.6g}",
                    "note": f"the size of the first step; a start at {found:.6g} takes it "
                            f"(the rest as {best.candidate.describe()})"}]


def _expressed(language: str, run: Run) -> tuple[Run, dict[str, Any] | None]:
    """The run and ``language``'s keywords for it; a preset that only takes eps inside
    the square root (OpenSeq2Seq) gets the run with ``eps`` moved to ``eps_root``."""
    kwargs = preset_kwargs_for(language, run.hyper)
    if kwargs is None and run.hyper.get("eps"):
        hyper = {**run.hyper, "eps": 0.0, "eps_root": run.hyper["eps"] + run.hyper["eps_root"]}
        kwargs = preset_kwargs_for(language, hyper)
        if kwargs is not None:
            run = dataclasses.replace(run, hyper=hyper)
    return run, kwargs


def _assemble(spec: str, language: str, observations: list[Observation],
              findings: list[Finding], quirks: Quirks, search: Search, base: list[Outcome],
              best: Outcome | None) -> Explanation:
    ran = [o for o in observations if o.ok]
    anomalies: list[dict[str, Any]] = [
        {"code": f.anomaly, "message": f.finding, "evidence": f.evidence}
        for f in findings if f.anomaly]
    errors = [{"run": o.run.name, "where": o.failure.where(), "cause": o.failure.cause,
               "message": o.failure.message}
              for o in observations if o.failure is not None]
    if errors:
        crash = _crash(observations, errors)
        if len(ran) >= MIN_RUNS:
            crash["message"] += "; explained from the runs that completed"
        anomalies.append(crash)
    reproducing = [o for o in base if not o.failed and 2 * len(o.configs) >= len(ran)]
    matches = [o.candidate.preset for o in reproducing] if not quirks.changed() else []
    if best is not None:
        anomalies += _outside_moves(best, search)
    reproduces = best is not None and not best.failed and 2 * len(best.configs) >= len(ran)
    outside = best is not None and any(m.outside for m in best.candidate.moves)
    if matches:
        verdict = "matches"
    elif reproduces and not outside and not quirks.changed():
        verdict = "reproduced"
    else:
        verdict = "differs" if len(ran) >= MIN_RUNS else "not_run"
    if verdict == "differs" and best is not None and best.failed:
        anomalies.append(_unexplained(best, search, findings))
    size = _first_step_size(search, best) if best is not None else None
    if size is not None:
        findings = [*findings, size]
        if verdict == "differs" and best is not None and best.failed and size.anomaly:
            anomalies.append({"code": size.anomaly, "message": size.finding,
                              "evidence": size.evidence})
    chosen = best
    if matches:
        chosen = next(o for o in reproducing if o.candidate.preset == matches[0])
    reference = _reference_run(chosen)
    reproduced_by = call = None
    if verdict == "reproduced" and chosen is not None and reference:
        cfg = chosen.configs[reference]
        reproduced_by = repr(cfg)
        call = "ngr.novograd(" + reproduced_by.removeprefix("Config(")
    diffs = []
    if chosen is not None and not matches:
        diffs = differences(chosen.candidate, search.configs, reference or "")
        for d in diffs:
            d["meaning"] = meaning(d, diffs)
            d["evidence"] = _difference_evidence(chosen, search, d["switch"])
    if chosen is not None:
        findings = findings + _conventions(chosen, search)
    anomalies = [{"code": a["code"], "meaning": ANOMALIES[a["code"]].words,
                  "detected_by": ANOMALIES[a["code"]].probe, **a} for a in anomalies]
    return Explanation(
        spec, language, verdict, matches, reproduced_by, call, reference,
        chosen.candidate.preset if chosen else None, diffs, anomalies,
        [f.to_json() for f in findings], _run_rows(observations, chosen, search),
        _divergence(chosen, search, quirks) if chosen is not None else None, errors,
        _reproduced(chosen, search), len(ran))


def _first_step_size(search: Search, best: Outcome) -> Finding | None:
    """The port's first step on the ``normalization`` probe against the nearest
    preset's (as the preset builds it, with the quirks found): their size ratio."""
    obs = next((o for o in search.observations if o.run.name == "probe normalization"),
               None)
    configs = search.configs(Candidate(best.candidate.preset))
    if obs is None or not configs or obs.run.name not in configs:
        return None
    assert obs.params is not None
    assert obs.fed is not None
    want = simulate(configs[obs.run.name], search.quirks, obs.run, obs.fed)
    mine = float(np.linalg.norm(obs.params["a"][1] - obs.params["a"][0]))
    theirs = float(np.linalg.norm(want["a"][1] - want["a"][0]))
    if not theirs:
        return None
    ratio = mine / theirs
    ev = [{"run": obs.run.name, "step": 1, "leaf": "a", "expected": theirs,
           "measured": mine, "note": f"{best.candidate.preset}'s first step, ratio "
           f"{ratio:.3g}"}]
    words = f"the first step is {ratio:.3g} times the reference's ({best.candidate.preset})"
    return Finding("normalization", "first step against the nearest preset", words, ev,
                   "first_step_size" if abs(ratio - 1.0) > 1e-3 else "")


def _reproduced(chosen: Outcome | None, search: Search) -> int:
    """How many completed runs ``chosen`` expresses and passes."""
    if chosen is None:
        return 0
    return sum(o.run.name in chosen.configs and o.run.name not in chosen.failed
               for o in search.observations)


def _unexplained(best: Outcome, search: Search, findings: list[Finding]) -> dict[str, Any]:
    """The runs the nearest candidate does not reproduce: for each, where the port first
    leaves it, and what the probes measured on that run."""
    failed = sorted(best.failed, key=lambda name: search.input_sizes[name])
    evidence = []
    for name in failed:
        measured = "; ".join(f"{f.convention}: {f.finding}" for f in findings
                             if any(e["run"] == name for e in f.evidence))
        where = _evidence(best.candidate, search, name) or [{
            "run": name, "step": None, "leaf": None, "expected": "within the tolerance",
            "measured": f"relative error {best.failed[name]:.3g}", "note": ""}]
        evidence += [{**e, "note": "; ".join(p for p in (e["note"], measured) if p)}
                     for e in where]
    shown = ", ".join(failed[:6]) + (", ..." if len(failed) > 6 else "")
    return {"code": "unexplained", "message": (
        f"{len(failed)} of {len(search.observations)} runs are not reproduced by the "
        f"nearest candidate ({best.candidate.describe()}), even with the anomalies found: "
        f"{shown}"), "evidence": evidence}


def _crash(observations: list[Observation], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The crash anomaly: which runs, the distinct messages, and what the crashed runs
    share (a 0-d leaf) when the completed ones do not."""
    crashed = [o for o in observations if o.failure is not None]
    messages = sorted({e["message"] for e in errors})
    def scalar(o: Observation) -> bool:
        return any(p.ndim == 0 for p in o.run.params0.values())
    common = ""
    if all(scalar(o) for o in crashed) and not any(scalar(o) for o in observations if o.ok):
        common = "; exactly the runs with a 0-d (scalar) leaf"
    return {"code": "crash", "message": (
        f"the port failed on {len(errors)} of {len(observations)} runs "
        f"({', '.join(e['run'] for e in errors[:4])}{', ...' if len(errors) > 4 else ''})"
        f"{common}: {'; '.join(messages[:2])}"),
        "evidence": [{"run": e["run"], "step": None, "leaf": None,
                      "expected": "a completed run", "measured": e["message"],
                      "note": f"{e['where']} [{e['cause']}]".lstrip()} for e in errors]}


def _move(name: str) -> Move | None:
    return next((m for m in moves() if m.name == name), None)


#: The switch readings: (convention, the probe run that isolates it, alternatives).
#: An alternative is a move's name, or ``""`` for "as the preset builds it".
CONVENTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("second-moment start", "probe zero_first_gradient",
     ("second_moment_init='first_step'", "second_moment_init='when_zero'",
      "second_moment_init='zero'")),
    ("which beta drives which average", "probe betas",
     ("", "second moment blended with b1", "momentum blended with b2", "betas swapped")),
    ("eps placement", "probe eps_dominated",
     ("eps outside the square root", "eps inside the square root")),
    ("grad averaging", "probe grad_averaging",
     ("grad_averaging='off'", "grad_averaging='always'",
      "grad_averaging='after_first_step'")),
    ("learning-rate placement", "probe schedule",
     ("learning_rate_placement='outside'", "learning_rate_placement='inside'")),
    ("weight decay mode", "probe weight_decay_on",
     ("weight_decay_mode='inside'", "weight_decay_mode='decoupled'",
      "weight_decay_mode='fixed'")),
    ("bias correction", "probe betas",
     ("bias_correction='none'", "bias_correction='adam'", "bias_correction='debias'")),
    ("amsgrad", "probe amsgrad", ("amsgrad=False", "amsgrad=True")),
    ("momentum input", "probe betas",
     ("momentum_input='normalized', weight_decay_mode='inside'",
      "momentum_input='raw', weight_decay_mode='apex'")),
    ("first-moment start", "probe betas",
     ("first_moment_init='zero'", "first_moment_init='first_input'")),
    ("second-moment dtype", "case const_lr", ("state_dtype=None", "state_dtype='float32'")),
]


def _conventions(chosen: Outcome, search: Search) -> list[Finding]:
    """For each switch, which settings the port's run of its probe is consistent with,
    the rest of ``chosen`` held fixed; a ruled-out setting shows where it diverges."""
    observed = {o.run.name: o for o in search.observations}
    out = []
    for convention, run_name, names in CONVENTIONS:
        obs = observed.get(run_name)
        if obs is None:
            continue
        consistent, evidence = [], []
        for name in names:
            move = _move(name) if name else None
            fields = set(move.fields) if move else {"b1", "b2"}
            kept = tuple(m for m in chosen.candidate.moves if not fields & set(m.fields))
            cand = Candidate(chosen.candidate.preset, (*kept, move) if move else kept)
            configs = search.configs(cand)
            if not configs or run_name not in configs:
                continue
            label = name or "as the preset builds it"
            if search.error(obs, configs[run_name]) <= 1.0:
                consistent.append(label)
            else:
                evidence += [{**e, "note": f"ruled out: {label}"}
                             for e in _evidence(cand, search, run_name)]
        if consistent:
            out.append(Finding(run_name.removeprefix("probe "), convention,
                               "consistent with " + " or ".join(consistent), evidence))
    return out


def _reference_run(outcome: Outcome | None) -> str | None:
    if outcome is None:
        return None
    for name in ("case const_lr", *outcome.configs):
        if name in outcome.configs:
            return name
    return None


_OUTSIDE_PROBE = {"second_moment_wrong_beta": "probe betas", "momentum_wrong_beta":
                  "probe betas", "betas_swapped": "probe betas",
                  "grad_averaging_inverted": "probe grad_averaging"}


def _difference_evidence(chosen: Outcome, search: Search, switch: str
                         ) -> list[dict[str, Any]]:
    """The evidence for the move that set ``switch`` (see :func:`_move_evidence`)."""
    move = next((m for m in chosen.candidate.moves if switch in m.fields), None)
    return [] if move is None else _move_evidence(chosen, search, move)


def _move_evidence(chosen: Outcome, search: Search, move: Move, prefer: str = ""
                   ) -> list[dict[str, Any]]:
    """The runs that need ``move``: the port passes them with it and fails them without
    it. The first divergence without it on the smallest such run (``prefer``, the probe
    designed for it, when it is one), then each other run with its error without the
    move."""
    without = Candidate(chosen.candidate.preset,
                        tuple(m for m in chosen.candidate.moves if m is not move))
    needed = search.needed_by(chosen, move)
    needed.sort(key=lambda name: name != prefer)
    if not needed:
        return []
    configs = search.configs(without) or {}
    observed = {o.run.name: o for o in search.observations}
    out = _evidence(without, search, needed[0])
    for name in needed[len(out):]:
        err = search.error(observed[name], configs[name]) if name in configs else None
        out.append({"run": name, "step": None, "leaf": None,
                    "expected": "within the tolerance",
                    "measured": "not expressible" if err is None else
                    f"{err:.3g} times the tolerance",
                    "note": f"without this, from {without.describe()}"})
    return out


def _outside_moves(best: Outcome, search: Search) -> list[dict[str, Any]]:
    return [{"code": move.outside, "message": ANOMALIES[move.outside].words,
             "evidence": _move_evidence(best, search, move, _OUTSIDE_PROBE[move.outside])}
            for move in best.candidate.moves if move.outside]


def _evidence(cand: Candidate, search: Search, run_name: str) -> list[dict[str, Any]]:
    """Where the port first leaves ``cand`` on one run."""
    configs = search.configs(cand)
    obs = next((o for o in search.observations if o.run.name == run_name), None)
    if not configs or obs is None or run_name not in configs:
        return []
    assert obs.fed is not None
    assert obs.params is not None
    cfg = configs[run_name]
    want = simulate(cfg, search.quirks, obs.run, obs.fed)
    found = first_divergence(obs.params, want, search.tolerance(obs, cfg))
    if found is None:
        return []
    leaf = found.leaf + "".join(f"[{i}]" for i in found.element)
    return [{"run": run_name, "step": found.step, "leaf": leaf,
             "expected": found.expected, "measured": found.measured,
             "note": f"expected from {cand.describe()}"}]


def _run_rows(observations: list[Observation], chosen: Outcome | None, search: Search
              ) -> list[dict[str, Any]]:
    rows = []
    for o in observations:
        status = "ok" if o.ok else "crash" if o.failure is not None else "skipped"
        err = None
        if o.ok and chosen is not None and o.run.name in chosen.configs:
            err = search.error(o, chosen.configs[o.run.name])
        rows.append({"run": o.run.name, "kind": o.run.kind, "dtype": o.run.dtype,
                     "status": status, "error": err,
                     "passed": None if err is None else err <= 1.0,
                     "skipped": o.skipped})
    return rows


def _divergence(chosen: Outcome, search: Search, quirks: Quirks) -> dict[str, Any] | None:
    """The earliest step, leaf and element where the port leaves ``chosen``: over the
    failing runs, the one diverging first (fewest steps in, then smallest run)."""
    found = []
    for obs in search.observations:
        name = obs.run.name
        if name not in chosen.failed:
            continue
        assert obs.fed is not None
        assert obs.params is not None
        cfg = chosen.configs[name]
        want = simulate(cfg, quirks, obs.run, obs.fed)
        where = first_divergence(obs.params, want, search.tolerance(obs, cfg))
        if where is not None:
            found.append((where.step, search.input_sizes[name],
                          {"run": name, **dataclasses.asdict(where)}))
    return min(found, key=lambda f: f[:2])[2] if found else None
