"""The search over the switch space of :class:`~novograd_ref.Config`.

A candidate is a preset plus a few *moves*: each move sets one switch of the
configuration the preset builds for a run (``second_moment_init='zero'``,
``state_dtype='float32'``...), or a few switches that only make sense together
(``momentum_input='raw'`` with ``weight_decay_mode='apex'``), or rewires where eps goes
(``eps`` moved inside the root). A few moves lie outside the switch space and are
reported as anomalies, never as a configuration: the betas mixed up (the second moment
blended with ``b1``, the momentum with ``b2``, or both swapped) and the
``grad_averaging`` keyword inverted.

The configuration of a candidate for a run is the preset's own configuration for the
run's canonical hyperparameters (:func:`~novograd_ref.conformance.preset_kwargs_for`)
with the moves applied; a combination :class:`Config` refuses is skipped. A candidate
*reproduces* the port when its simulated trajectory is within the tolerance on every
run it can express, and it can express at least half of the runs the port completed.

Search: every preset first (all runs), then best-first (:meth:`Search.improve`): a
priority queue of candidates ordered by their failing runs, then their distance (the
failing runs' errors in decades). The first in the queue is expanded by every single
move, by the step-size switches moved together (:func:`compound_moves`: a zero start,
bias correction and grad averaging, which can cancel on the first step) and, once its
single moves are spent, by every pair of moves (moves that only help together). A
child is tried first on its parent's smallest failing runs and kept only when it
passes one of them or brings them closer (a compound move skips that test), and then
fails no more runs than its parent overall, with fewer failures or a smaller excess. A
useless move costs a few small runs. Up to :data:`MAX_MOVES` moves, within a time
budget. Finally a pruning pass drops every move whose removal makes no run fail
(:meth:`Search.prune`).

Tolerance: a run is compared at its own dtype's ``"framework"`` tolerance; at
float32's only on positive evidence of float32 rounding (float32 arithmetic read off
the precision probe, or float32 moments that some run needs even at float32's
tolerance: :meth:`Search._check_float32`), never because a looser tolerance passes
more runs.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, get_args

from ... import presets
from ..._config import ROUNDED_BY_HYPER_DTYPE, SWITCH_TYPES, Config, round_to
from ...testing import rtol
from ..adapters._preset_keywords import preset_kwargs_for, presets_with_keywords
from ._experiments import Observation, Quirks, Run, run_error, simulate, tolerance

MAX_MOVES = 6  # moves from a preset, at most
BUDGET = 30.0  # seconds the search may take (it stops at the next check after that)
PATIENCE = 5  # a move is tried on its parent's 5 smallest failing runs first
MIN_GAIN = 1.0  # decades closer on those runs, in all, for a move that fixes none


@dataclasses.dataclass(frozen=True)
class Move:
    """One change to a configuration; ``outside`` when no Config switch expresses it."""

    name: str
    apply: Callable[[Config, Mapping[str, Any]], Config]  # (config, run's hyper)
    fields: tuple[str, ...]
    outside: str = ""  # the anomaly code of a move no switch expresses


def _set(**fields: Any) -> Move:
    name = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return Move(name, lambda cfg, _hyper: dataclasses.replace(cfg, **fields), tuple(fields))


def _eps_inside(cfg: Config, _hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, eps=0.0, eps_root=cfg.eps_root + cfg.eps)


def _eps_outside(cfg: Config, _hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, eps=cfg.eps + cfg.eps_root, eps_root=0.0)


def _b2_from_b1(cfg: Config, _hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, b2=cfg.b1)


def _b1_from_b2(cfg: Config, _hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, b1=cfg.b2)


def _betas_swapped(cfg: Config, _hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, b1=cfg.b2, b2=cfg.b1)


def _averaging_inverted(cfg: Config, hyper: Mapping[str, Any]) -> Config:
    return dataclasses.replace(cfg, grad_averaging="off" if hyper.get("averaging")
                               else "always")


def moves() -> list[Move]:
    """Every move the search tries: each value of each switch, the dtypes, the pairs
    Config requires together, eps placement, mixed-up betas and an inverted
    ``grad_averaging`` keyword."""
    out = [_set(**{name: value}) for name, kind in SWITCH_TYPES.items()
           for value in get_args(kind)]
    out += [_set(**{name: flag}) for name in ("amsgrad", "nesterov", "maximize")
            for flag in (False, True)]
    out += [_set(**{name: dtype}) for name in ("state_dtype", "mu_dtype", "hyper_dtype")
            for dtype in (None, "float32")]
    out += [_set(momentum_input="raw", weight_decay_mode="apex"),
            _set(momentum_input="normalized", weight_decay_mode="inside"),
            _set(norm="apex_l2", second_moment_init="first_step_blend"),
            _set(norm="apex_l2", second_moment_init="zero"),
            _set(norm="apex_inf", second_moment_init="first_step_blend"),
            _set(norm="l2_squared", second_moment_init="first_step"),
            Move("eps inside the square root", _eps_inside, ("eps", "eps_root")),
            Move("eps outside the square root", _eps_outside, ("eps", "eps_root")),
            Move("second moment blended with b1", _b2_from_b1, ("b2",),
                 outside="second_moment_wrong_beta"),
            Move("momentum blended with b2", _b1_from_b2, ("b1",),
                 outside="momentum_wrong_beta"),
            Move("betas swapped", _betas_swapped, ("b1", "b2"), outside="betas_swapped"),
            Move("grad_averaging keyword inverted", _averaging_inverted, ("grad_averaging",),
                 outside="grad_averaging_inverted")]
    return out


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A preset and the moves applied to its configurations."""

    preset: str
    moves: tuple[Move, ...] = ()

    def describe(self) -> str:
        """``optax`` or ``optax + second_moment_init='zero'``."""
        return " + ".join([self.preset, *(m.name for m in self.moves)])


@dataclasses.dataclass
class Outcome:
    """A candidate's standing: runs failed (with errors), runs it cannot express."""

    candidate: Candidate
    configs: dict[str, Config]
    failed: dict[str, float]  # run name -> relative error (above the tolerance)
    uncovered: int
    total: float  # the sum of every covered run's relative error

    @property
    def score(self) -> tuple[int, int, float]:
        """Fewer failing or inexpressible runs, fewer switches moved, then the excess: the
        failing runs' relative errors in decades above 1e-16, summed (independent of
        the tolerance, so a float32 state does not look closer by loosening it)."""
        excess = sum(_decades(e) for e in self.failed.values())
        changed = sum(len(m.fields) for m in self.candidate.moves)
        return (len(self.failed) + self.uncovered, changed, excess)


def _decades(error: float) -> float:
    """``log10(error / 1e-16)``, between 0 and 32 (infinite errors included)."""
    return min(32.0, max(0.0, math.log10(error) + 16.0)) if error > 0 else 0.0


class Search:
    """Candidates evaluated against the port's observations, with a shared cache."""

    def __init__(self, observations: Sequence[Observation], quirks: Quirks,
                 language: str, progress: Callable[[str], None] = lambda _msg: None,
                 budget: float = BUDGET) -> None:
        self.observations = [o for o in observations if o.ok]
        self.quirks, self.language, self.progress = quirks, language, progress
        self.budget = budget
        self.names = presets_with_keywords()
        self._base: dict[tuple[str, str], Config | None] = {}
        self._cache: dict[tuple[str, Config], float] = {}
        self.input_sizes = {o.run.name: o.run.steps * sum(p.size for p in o.run.params0.values())
                            for o in self.observations}
        self._float32: dict[Config, bool] = {}  # float32-moment configs: evidenced?

    # --------------------------------------------------------------- configurations

    def base_config(self, preset: str, run: Run) -> Config | None:
        """``preset``'s configuration for the run's hyperparameters (None: it cannot)."""
        key = (preset, run.name)
        if key not in self._base:
            kwargs = preset_kwargs_for(preset, run.hyper)
            cfg = None
            if kwargs is not None:
                rate = run.rate
                peak = max(rate.values) if callable(rate) else None
                try:
                    cfg = presets.from_keywords(preset, rate, kwargs,
                                                peak_learning_rate=peak).config
                except (ValueError, TypeError, RuntimeError):
                    cfg = None
            self._base[key] = cfg
        return self._base[key]

    def configs(self, cand: Candidate, only: Sequence[Observation] | None = None
                ) -> dict[str, Config] | None:
        """The candidate's configuration for every run it covers (of ``only``, without
        the float32 evidence, when given); ``None`` when Config refuses the combination
        on some run."""
        out = {}
        for obs in self.observations if only is None else only:
            cfg = self.base_config(cand.preset, obs.run)
            if cfg is None:
                continue
            try:
                for move in cand.moves:
                    cfg = move.apply(cfg, obs.run.hyper)
            except (ValueError, TypeError):
                return None
            out[obs.run.name] = cfg
        if only is None:
            self._check_float32(out)
        return out

    def rounds_to_float32(self, cfg: Config) -> bool:
        """Whether the port's values carry the rounding of ``cfg``'s float32 moments:
        positive evidence, found by :meth:`configs` for the candidate ``cfg`` belongs
        to (see :meth:`_check_float32`)."""
        return self._float32.get(cfg, False)

    def _check_float32(self, configs: Mapping[str, Config]) -> None:
        """Evidence for a candidate keeping a moment in float32 under float64
        parameters: on some float64 run, the candidate is within the float32 tolerance
        and the same configuration with float64 moments is not, *both judged at the
        float32 tolerance* (so the looser tolerance alone cannot be the reason). Without
        it, the candidate is compared at the float64 tolerance."""
        narrow = {name: cfg for name, cfg in configs.items()
                  if "float32" in (cfg.state_dtype, cfg.mu_dtype)}
        if not narrow or all(cfg in self._float32 for cfg in narrow.values()):
            return
        loose = rtol("float32", "framework")
        found = False
        for obs in sorted(self.observations, key=lambda o: self.input_sizes[o.run.name]):
            cfg = narrow.get(obs.run.name)
            if cfg is None or obs.run.dtype != "float64":
                continue
            wide = dataclasses.replace(cfg, state_dtype=None, mu_dtype=None)
            if self.raw_error(obs, cfg) <= loose < self.raw_error(obs, wide):
                found = True
                break
        for cfg in narrow.values():
            self._float32[cfg] = self._float32.get(cfg, False) or found

    def tolerance(self, obs: Observation, cfg: Config) -> float:
        """The tolerance ``cfg`` is held to on ``obs``'s run (see :func:`._runs.tolerance`)."""
        return tolerance(cfg, self.quirks, obs.run.dtype, self.rounds_to_float32(cfg))

    def error(self, obs: Observation, cfg: Config) -> float:
        """The port's relative error against ``cfg`` on one run, in units of the
        tolerance (<= 1 passes)."""
        return self.raw_error(obs, cfg) / self.tolerance(obs, cfg)

    def raw_error(self, obs: Observation, cfg: Config) -> float:
        """The port's relative error against ``cfg`` on one run (NaN counts as inf)."""
        key = (obs.run.name, cfg)
        if key not in self._cache:
            assert obs.fed is not None
            assert obs.params is not None
            want = simulate(cfg, self.quirks, obs.run, obs.fed)
            err = run_error(obs.params, want)
            self._cache[key] = math.inf if math.isnan(err) else err
        return self._cache[key]

    # --------------------------------------------------------------- evaluation

    def evaluate(self, cand: Candidate, parent: Outcome | None = None,
                 strict: bool = True) -> Outcome | None:
        """All runs (no parent); or, against ``parent``, ``None`` unless the candidate
        is promising (it passes one of the parent's :data:`PATIENCE` smallest failing
        runs, or brings them :data:`MIN_GAIN` decades closer in all; not asked when not
        ``strict``) and then no worse overall (no more failing runs, and fewer or a
        smaller excess). ``None`` too when Config refuses the candidate."""
        ranked = sorted(self.observations, key=lambda o: self.input_sizes[o.run.name])
        probe: list[Observation] = []
        if parent is not None and strict:  # first the parent's smallest failing runs
            probe = [o for o in ranked if o.run.name in parent.failed][:PATIENCE]
            first = self.configs(cand, probe)
            if first is None or any(o.run.name not in first for o in probe):
                return None
            passed = [self.error(o, first[o.run.name]) <= 1.0 for o in probe]
            gain = sum(_decades(parent.failed[o.run.name]) -
                       _decades(self.raw_error(o, first[o.run.name])) for o in probe)
            if not any(passed) and gain < MIN_GAIN:
                return None
        configs = self.configs(cand)
        if not configs:
            return None
        if parent is not None and all(parent.configs.get(k) == v for k, v in configs.items()):
            return None  # the moves change nothing on these runs
        uncovered = len(self.observations) - len(configs)
        ranked = probe + [o for o in ranked if o not in probe]
        failed: dict[str, float] = {}
        total = 0.0
        for obs in ranked:
            cfg = configs.get(obs.run.name)
            if cfg is None:
                continue
            raw = self.raw_error(obs, cfg)
            total += min(raw, 1e30)
            if self.error(obs, cfg) > 1.0:
                failed[obs.run.name] = raw
            if parent is not None and \
                    len(failed) + uncovered > len(parent.failed) + parent.uncovered:
                return None
        outcome = Outcome(cand, configs, failed, uncovered, total)
        if parent is not None and outcome.score[0] == parent.score[0] and \
                outcome.score[2] >= parent.score[2]:
            return None
        return outcome

    def covers_enough(self, outcome: Outcome) -> bool:
        """Whether the candidate expresses at least half of the completed runs."""
        return 2 * len(outcome.configs) >= len(self.observations)

    def run(self) -> tuple[list[Outcome], Outcome | None]:
        """Evaluate every preset, then search; returns the presets' outcomes and the
        best outcome found among candidates expressing at least half of the runs (the
        fewest failing runs, then the fewest moves, then the smallest excess)."""
        self.progress(f"search: {len(self.names)} presets on {len(self.observations)} runs")
        base = [o for o in (self.evaluate(Candidate(p)) for p in self.names) if o]
        ranked = sorted((o for o in base if self.covers_enough(o)), key=self._rank)
        if not ranked:
            return base, None
        return base, self.improve(_distinct(ranked), ranked[0])

    def improve(self, starts: list[Outcome], best: Outcome) -> Outcome:
        """Best-first from ``starts``: a priority queue of candidates ordered by their
        failing runs, then their distance (the excess); the first in the queue is
        expanded by every single move, every compound move (:func:`compound_moves`)
        and, once its single moves are spent, every pair of moves; children no worse
        than their parent join the queue. Up to :data:`MAX_MOVES` moves, within the
        time budget; the best outcome, pruned."""
        singles = moves()
        compound = compound_moves()
        compound_names = {tuple(m.name for m in c) for c in compound}
        deadline = time.perf_counter() + self.budget
        order = itertools.count()
        queue: list[tuple[tuple[Any, ...], int, bool, Outcome]] = []
        seen: set[tuple[str, frozenset[str]]] = set()

        def push(outcome: Outcome, pairs: bool) -> None:
            heapq.heappush(queue, (self._priority(outcome, pairs), next(order), pairs,
                                   outcome))

        for outcome in starts:
            seen.add(_key(outcome.candidate))
            push(outcome, False)
        expanded, began, answered = 0, time.perf_counter(), False
        while queue and time.perf_counter() < deadline:
            if not best.score[0] and not answered:  # a shorter one, in a quarter as long
                answered, now = True, time.perf_counter()
                deadline = min(deadline, now + (now - began) / 4)
            _, _, pairs, node = heapq.heappop(queue)
            if not self._deeper(node, 2 if pairs else 1, best):
                continue
            expanded += 1
            if expanded % 10 == 1:
                self.progress(f"search: best-first, {expanded} expanded, {len(queue)} queued, "
                              f"{len(best.candidate.moves)} moves in the best")
            steps: Iterable[tuple[Move, ...]] = _pairs_of(node, singles) if pairs else [
                *((m,) for m in singles), *compound]
            for added in steps:
                if time.perf_counter() > deadline:
                    break
                if not self._deeper(node, len(added), best):
                    continue
                cand = Candidate(node.candidate.preset, (*node.candidate.moves, *added))
                taken = [f for m in cand.moves for f in m.fields]
                if len(taken) != len(set(taken)) or _key(cand) in seen:
                    continue
                child = self.evaluate(cand, node, strict=tuple(
                    m.name for m in added) not in compound_names)
                if child is None:  # judged against this parent: another may keep it
                    continue
                seen.add(_key(cand))
                if self._rank(child) < self._rank(best):
                    best = child
                push(child, False)
            if not pairs:
                push(node, True)
        return self._rebased(self.prune(best))

    def _rebased(self, outcome: Outcome) -> Outcome:
        """``outcome``'s moves on every other preset, pruned there (a preset that
        already has some of them needs fewer): the best ranked of those that do as well
        (fewer switches moved, the port's own preset first among equals)."""
        best = outcome
        for preset in self.names:
            if preset == outcome.candidate.preset:
                continue
            other = self.evaluate(Candidate(preset, outcome.candidate.moves))
            if other is None or not self.covers_enough(other) or \
                    self._rank(other)[:1] > self._rank(outcome)[:1]:
                continue
            other = self.prune(other)
            if self._rank(other) < self._rank(best):
                best = other
        return best

    @staticmethod
    def _deeper(node: Outcome, added: int, best: Outcome) -> bool:
        """Whether ``node`` gains ``added`` moves: up to :data:`MAX_MOVES`; once
        ``best`` expresses and reproduces every run, only towards an answer with fewer
        moves."""
        depth = len(node.candidate.moves) + added
        if best.score[0]:  # runs failing or not expressed
            return depth <= MAX_MOVES
        return depth < len(best.candidate.moves)

    def _priority(self, outcome: Outcome, pairs: bool) -> tuple[Any, ...]:
        """The queue's order: failing (or not expressed) runs, then the distance (the
        excess); the pairs of moves of a candidate after every candidate's single
        moves (a pair costs as many evaluations as all single moves of 25 candidates)."""
        score = outcome.score
        return (pairs, score[0], score[2], score[1], outcome.total)

    def prune(self, outcome: Outcome) -> Outcome:
        """``outcome`` without every move whose removal makes no run fail: a move is
        dropped when the candidate without it fails no run that the candidate with it
        passes, and expresses as many runs (last moves first, until none can go).
        Every move left is needed by at least one run."""
        pruned = True
        while pruned:
            pruned = False
            for move in reversed(outcome.candidate.moves):
                fewer = Candidate(outcome.candidate.preset,
                                  tuple(m for m in outcome.candidate.moves if m is not move))
                without = self.evaluate(fewer)
                if without is not None and set(without.failed) <= set(outcome.failed) \
                        and without.uncovered <= outcome.uncovered:
                    self.progress(f"search: dropped {move.name}: no run needs it")
                    outcome, pruned = without, True
                    break
        return outcome

    def needed_by(self, outcome: Outcome, move: Move) -> list[str]:
        """The runs ``outcome`` passes that fail without ``move`` (smallest first)."""
        fewer = Candidate(outcome.candidate.preset,
                          tuple(m for m in outcome.candidate.moves if m is not move))
        configs = self.configs(fewer) or {}
        return [o.run.name for o in sorted(self.observations,
                                           key=lambda o: self.input_sizes[o.run.name])
                if o.run.name in outcome.configs and o.run.name not in outcome.failed
                and (o.run.name not in configs or self.error(o, configs[o.run.name]) > 1.0)]

    def _rank(self, outcome: Outcome) -> tuple[Any, ...]:
        score = outcome.score
        preset = outcome.candidate.preset
        return (score[0], score[1], preset != self.language, score[2], outcome.total,
                self.names.index(preset))


def _key(cand: Candidate) -> tuple[str, frozenset[str]]:
    """A candidate whatever the order of its moves."""
    return cand.preset, frozenset(m.name for m in cand.moves)


def _pairs_of(node: Outcome, singles: list[Move]) -> Iterable[tuple[Move, Move]]:
    """Every pair of moves free to add to ``node`` (no field set twice)."""
    taken = {f for m in node.candidate.moves for f in m.fields}
    free = [m for m in singles if not taken & set(m.fields)]
    for i, first in enumerate(free):
        for second in free[i + 1:]:
            if not set(first.fields) & set(second.fields):
                yield first, second


def compound_moves() -> list[tuple[Move, ...]]:
    """The step-size switches moved together: a second moment started at zero, bias
    correction and ``(1 - b1)`` grad averaging. Together they can leave the first step
    as it was (a zero start, Adam's bias correction and the averaging: Adam-style
    debiased moments), so neither one nor two of them bring a port that has all three
    closer; three at once are tried as one move.

    >>> [m.name for m in compound_moves()[0]]
    ["second_moment_init='zero'", "bias_correction='adam'", "grad_averaging='always'"]
    """
    by_name = {m.name: m for m in moves()}
    starts = ("second_moment_init='zero'",)
    corrections = ("bias_correction='adam'", "bias_correction='debias'")
    averaging = ("grad_averaging='always'", "grad_averaging='after_first_step'",
                 "grad_averaging='off'")
    return [(by_name[a], by_name[b], by_name[c]) for a in starts for b in corrections
            for c in averaging]


def _distinct(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Drop outcomes whose configurations equal an earlier one's on every run."""
    seen, out = [], []
    for o in outcomes:
        key = tuple(sorted((k, repr(v)) for k, v in o.configs.items()))
        if key not in seen:
            seen.append(key)
            out.append(o)
    return out


def _only_rounded(name: str, port: Config, preset_value: Any) -> bool:
    """Whether a hyperparameter differs only by the port's ``hyper_dtype`` rounding
    (reported once, as ``hyper_dtype``)."""
    return (name in ROUNDED_BY_HYPER_DTYPE and port.hyper_dtype is not None
            and isinstance(preset_value, float)
            and round_to(preset_value, port.hyper_dtype) == getattr(port, name))


def differences(cand: Candidate, configs_of: Callable[[Candidate], dict[str, Config] | None],
                first: str) -> list[dict[str, Any]]:
    """``{switch, port, preset}`` for every Config field the candidate's switch moves
    change (not its outside moves), read on run ``first`` and then on the others."""
    inside = Candidate(cand.preset, tuple(m for m in cand.moves if not m.outside))
    mine, theirs = configs_of(inside), configs_of(Candidate(cand.preset))
    if not mine or not theirs:
        return []
    order = sorted(mine, key=lambda name: name != first)
    out: dict[str, dict[str, Any]] = {}
    for name in order:
        for field in dataclasses.fields(Config):
            if field.name in out or field.name == "learning_rate":
                continue
            port, preset = getattr(mine[name], field.name), getattr(theirs[name], field.name)
            if port != preset and not _only_rounded(field.name, mine[name], preset):
                out[field.name] = {"switch": field.name, "port": port, "preset": preset}
    return list(out.values())


def float32_variants(observations: Sequence[Observation], language: str,
                     skip: Iterable[str] = ()) -> list[str]:
    """The presets (other than ``skip``) a port reproduces only in a float32 variant,
    described: with a float32 second moment (``"timm with state_dtype='float32'"``) or
    with all its arithmetic in float32 (``"optax computed in float32"``), whichever is
    closer when both are within the float32 tolerance. A preset the port reproduces as
    it is, or that expresses fewer than half of the runs, is not listed. ``identify``
    and ``verify --identify`` report these for float64 runs.
    """
    plain = Search(observations, Quirks(), language)
    narrow = Search(observations, Quirks(arithmetic="float32"), language)
    state = _set(state_dtype="float32")
    out, skipped = [], set(skip)
    for preset in (p for p in plain.names if p not in skipped):
        base = plain.evaluate(Candidate(preset))
        if base is None or not base.failed or 2 * len(base.configs) < len(plain.observations):
            continue
        stored = plain.evaluate(Candidate(preset, (state,)))
        computed = narrow.evaluate(Candidate(preset))
        found = [(o.total, text) for o, text in (
            (stored, f"{preset} with state_dtype='float32'"),
            (computed, f"{preset} computed in float32")) if o is not None and not o.failed]
        if found:  # both pass at the float32 tolerance: the closer one is the port
            out.append(min(found)[1])
    return out
