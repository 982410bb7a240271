"""The experiments ``explain`` runs: standard cases and designed probe runs, the port's
measured trajectories, and the oracle's simulation of a candidate on the same gradients.

A :class:`Run` is one input (initial parameters, a gradient sequence, a learning rate or
rate table, canonical hyperparameters, a dtype). The port runs it once through the
kit's runner, in a child process by default (:func:`observe`); every candidate
configuration is then replayed on the very gradients the port was fed
(:func:`simulate`), so only the optimizer is compared.

:class:`Quirks` are behaviours no :class:`~novograd_ref.Config` has (per-element or
whole-tree normalization, no eps or no update on the first step, weight decay with the
opposite sign, float32 arithmetic under wider parameters, ``b1`` in the second moment).
The simulation computes them with the oracle's own per-layer step
(:func:`novograd_ref._core.leaf_step`), only changing what it is handed, so a port with a
quirk can still be compared with every switch setting.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from ... import _core, vectors
from ..._config import Config
from ..._namespace import namespace
from ...testing import relative_error, rtol
from ..adapters._protocol import Failure
from ..isolation._runner import Problem, Runner, Skipped
from ..judging._verify import held_dtype

Leaves = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Run:
    """One experiment: ``problem`` (initial parameters, gradients, learning rate or rate
    table, steps) with canonical ``hyper`` in ``dtype``.

    ``kind`` is ``"case"`` (a standard case) or ``"probe"``; ``probe`` names the probe a
    designed run belongs to. The problem is what the runner hands the port
    (:mod:`._runner`); the properties below read it.
    """

    name: str
    kind: str
    hyper: Mapping[str, Any]
    problem: Problem
    dtype: str
    probe: str = ""

    @property
    def params0(self) -> Leaves:
        """The initial parameters, in the run's dtype."""
        return self.problem.params0

    @property
    def lr(self) -> float | np.ndarray:
        """A constant learning rate or a ``(steps,)`` float64 table."""
        return self.problem.learning_rate

    @property
    def steps(self) -> int:
        """The number of updates."""
        return self.problem.steps

    def grads_at(self, step: int, params: Mapping[str, np.ndarray]) -> Leaves:
        """The gradients of step ``step + 1`` from the parameters before it."""
        return self.problem.grads_at(step, params)

    @property
    def rate(self) -> Any:
        """The learning rate as a preset takes it: a float, or a schedule ``k -> lr``."""
        if isinstance(self.lr, np.ndarray):
            return _Table(tuple(float(x) for x in self.lr))
        return float(self.lr)


@dataclasses.dataclass(frozen=True)
class _Table:
    """A learning-rate table as a schedule (equal tables compare equal, for caching)."""

    values: tuple[float, ...]

    def __call__(self, step: Any) -> float:
        return self.values[int(step)]

    @property
    def __name__(self) -> str:  # Config prints a schedule by its name
        return "schedule"


@dataclasses.dataclass
class Observation:
    """What the port did on one run: its trajectory (``(steps + 1, *shape)`` per leaf)
    and the gradients it was fed, or why it did not run (``skipped``: the port refused
    the keywords; ``failure``: it raised or broke the adapter protocol)."""

    run: Run
    params: Leaves | None = None
    fed: Leaves | None = None
    skipped: str = ""
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """Whether the port ran the whole run."""
        return self.params is not None


def case_runs(dtype: str = "float64") -> list[Run]:
    """Every standard case as a :class:`Run` in ``dtype``."""
    out = []
    for entry in vectors.case_entries():
        case = vectors.load_case(entry)
        name = f"case {case.name}" + ("" if dtype == "float64" else f" [{dtype}]")
        problem = dataclasses.replace(Problem.from_case(case, dtype), name=name)
        out.append(Run(name, "case", dict(case.hyper), problem, dtype))
    return out


def fixed_run(name: str, probe: str, hyper: Mapping[str, Any], params0: Mapping[str, Any],
              grads: Sequence[Mapping[str, Any]], lr: float | list[float],
              dtype: str = "float64") -> Run:
    """A designed run with fixed gradients (``grads[k]`` is step ``k + 1``'s)."""
    p0 = {k: np.asarray(v, dtype=dtype) for k, v in params0.items()}
    stacked = {k: np.stack([np.asarray(g[k], dtype=dtype) for g in grads]) for k in p0}
    rate = np.asarray(lr, dtype=np.float64) if isinstance(lr, list) else float(lr)
    return Run(name, "probe", dict(hyper), Problem(name, p0, rate, len(grads), grads=stacked),
               dtype, probe)


def observe(runner: Runner, kwargs: Mapping[str, Any], run: Run) -> Observation:
    """Run the port on ``run`` with constructor keywords ``kwargs`` through ``runner``
    (a child process, or this process; see :mod:`._runner`). A failure of the port
    (it raised, exited, crashed, hung or broke the adapter protocol) is recorded, never
    raised; a factory raising :class:`~novograd_ref.conformance.Unsupported` (or
    ``NotImplementedError``) skips the run, as in ``verify``."""
    outcome = runner.run(kwargs, run.dtype, run.problem)
    if isinstance(outcome, Skipped):
        return Observation(run, skipped=outcome.reason)
    if isinstance(outcome, Failure):
        return Observation(run, failure=outcome)
    return Observation(run, outcome.params, outcome.grads)


@dataclasses.dataclass(frozen=True)
class Quirks:
    """Behaviours outside the switch space of :class:`~novograd_ref.Config`.

    - ``scope``: what one second moment normalizes: ``"layer"`` (NovoGrad), ``"element"``
      (every element its own moving average of ``g**2``: RMSprop-like), ``"tree"``
      (one norm for all leaves).
    - ``first_step_eps``: ``False`` when the first step divides by ``sqrt(v)`` alone.
    - ``first_step_update``: ``False`` when the first step moves nothing (the state
      still advances).
    - ``weight_decay_sign``: ``-1`` when weight decay pushes parameters away from 0.
    - ``arithmetic``: a dtype all the math runs in (``"float32"``) whatever the
      parameters' dtype; ``None``: the parameters' dtype.
    - ``scope`` ``"none"``: the gradient is not normalized at all (``u = g``);
      ``"mean"``: by the root of the layer's mean square, not of its sum of squares.
    - ``rate_power``: the step scales as the learning rate to this power (2: the rate
      applied twice).
    - ``decay_after_step``: decoupled weight decay applied to the parameters after the
      step (``p <- (p + update) (1 - lr wd)``), whatever the configuration's mode.
    - ``chunk``: each layer (flattened) is split into chunks of this many elements,
      each normalized as a layer of its own (0: none).
    - ``second_moment_start``: the second moment starts at this constant and is blended
      from step 1 (0: as the configuration's ``second_moment_init`` says).
    """

    scope: str = "layer"
    first_step_eps: bool = True
    first_step_update: bool = True
    weight_decay_sign: int = 1
    arithmetic: str | None = None
    rate_power: int = 1
    decay_after_step: bool = False
    chunk: int = 0
    second_moment_start: float = 0.0

    def changed(self) -> dict[str, Any]:
        """The fields that differ from NovoGrad's behaviour."""
        default = Quirks()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}


def _elementwise_namespace(xp: Any) -> Any:
    """``xp`` whose ``sum`` and ``max`` reduce nothing: every element is its own layer."""
    out = types.SimpleNamespace(**vars(xp))
    out.sum = lambda x, **_kw: x
    out.max = lambda x, **_kw: x
    return out


def _mean_namespace(xp: Any) -> Any:
    """``xp`` whose ``sum`` is a mean: the gradient normalized by its root mean square."""
    out = types.SimpleNamespace(**vars(xp))
    out.sum = lambda x, **kw: xp.mean(x, **kw)
    return out


def _unnormalized_namespace(xp: Any) -> Any:
    """``xp`` whose ``sum`` of squares is 1: the gradient divided by ``sqrt(1)``."""
    out = types.SimpleNamespace(**vars(xp))
    out.sum = lambda x, **_kw: xp.ones((), dtype=x.dtype)
    return out


class _NegatedDecay:
    """``cfg`` as the core reads it, field by field, with the weight decay coefficient
    negated: a value :class:`Config` refuses, read only to compute the wrong-sign
    hypothesis. ``cfg`` itself is left as it is.

    >>> _NegatedDecay(Config(0.1, weight_decay=0.01)).weight_decay
    -0.01
    """

    def __init__(self, cfg: Config) -> None:
        self._cfg = cfg
        self.weight_decay = -cfg.weight_decay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)


def _negated_decay(cfg: Config) -> Config:
    """:class:`_NegatedDecay` of ``cfg``, which the core reads as it reads a Config."""
    return cast(Config, _NegatedDecay(cfg))


def simulate(cfg: Config, quirks: Quirks, run: Run, fed: Mapping[str, np.ndarray]
             ) -> Leaves:
    """The oracle's trajectory of ``cfg`` (with ``quirks``) on the gradients ``fed``.

    Each step calls :func:`novograd_ref._core.leaf_step` per layer, as
    :meth:`novograd_ref.NovoGrad.update` does, without the public layer's checks (the
    inputs are the kit's own). Returns ``(steps + 1, *shape)`` arrays in the run's dtype.
    """
    sign = -1.0 if quirks.weight_decay_sign < 0 else 1.0
    decay = 0.0
    if quirks.decay_after_step:
        decay, cfg = sign * cfg.weight_decay, dataclasses.replace(cfg, weight_decay=0.0)
    if quirks.scope == "none":  # u = g: a unit "norm" and no eps
        cfg = dataclasses.replace(cfg, eps=0.0, eps_root=0.0)
    first_cfg = cfg if quirks.first_step_eps else dataclasses.replace(cfg, eps=0.0)
    if quirks.second_moment_start:
        cfg = _blended_from_step_one(cfg)
        first_cfg = _blended_from_step_one(first_cfg)
    if sign < 0 and cfg.weight_decay:  # last: a negated decay is no Config to replace
        cfg, first_cfg = _negated_decay(cfg), _negated_decay(first_cfg)
    dtype = np.dtype(quirks.arithmetic or run.dtype)
    names = list(run.params0)
    params = {n: run.params0[n].astype(dtype) for n in names}
    grads = {n: np.asarray(fed[n]).astype(dtype) for n in names}
    groups = _groups(run.params0, quirks)
    if groups is not None:
        flat = np.concatenate([params[n].reshape(-1) for n in names])
        flat_g = np.concatenate([grads[n].reshape(run.steps, -1) for n in names], axis=1)
        params = {key: flat[part] for key, part in groups}
        grads = {key: flat_g[:, part] for key, part in groups}
    xp = namespace(np.zeros(1))
    if quirks.scope == "element":
        xp = _elementwise_namespace(xp)
    elif quirks.scope == "none":
        xp = _unnormalized_namespace(xp)
    elif quirks.scope == "mean":
        xp = _mean_namespace(xp)
    rows = {n: [p] for n, p in params.items()}
    state = {n: _zero_state(cfg, p, quirks.scope == "element", quirks.second_moment_start)
             for n, p in params.items()}
    with np.errstate(all="ignore"):
        for k in range(run.steps):
            step_cfg = first_cfg if k == 0 else cfg
            rate = cfg.learning_rate
            lr = float(rate(k)) if callable(rate) else float(rate)  # type: ignore[arg-type]
            sc = _core.step_scalars(step_cfg, k, False, lr ** quirks.rate_power)
            for n, p in params.items():
                m, v, vmax = state[n]
                u, m, v, vmax = _core.leaf_step(step_cfg, xp, sc, grads[n][k], p, m, v, vmax)
                state[n] = (m, v, vmax)
                if k or quirks.first_step_update:
                    p = (p + u).astype(dtype)
                    if decay:
                        p = (p - (lr * decay) * p).astype(dtype)
                params[n] = p
                rows[n].append(p)
    out = {n: np.stack(r) for n, r in rows.items()}
    if groups is not None:
        flat, out, start = np.concatenate([out[key] for key, _ in groups], axis=1), {}, 0
        for n in names:
            size = run.params0[n].size
            out[n] = flat[:, start:start + size].reshape(run.steps + 1, *run.params0[n].shape)
            start += size
    return {n: a.astype(run.dtype) for n, a in out.items()}


def _zero_state(cfg: Config, p: np.ndarray, elementwise: bool, start: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """First moment, second moment (per layer, or per element; ``start`` before step 1)
    and its running max."""
    mu = np.zeros(p.shape, dtype=cfg.mu_dtype or p.dtype)
    nu = np.full(p.shape if elementwise else (), start, dtype=cfg.state_dtype or p.dtype)
    return mu, nu, (nu.copy() if cfg.amsgrad else None)


def _blended_from_step_one(cfg: Config) -> Config:
    """``cfg`` whose second moment is blended from step 1 (``second_moment_init='zero'``,
    the state then starting at the quirk's constant); ``cfg`` itself where Config
    refuses that."""
    try:
        return dataclasses.replace(cfg, second_moment_init="zero")
    except ValueError:
        return cfg


def _groups(params0: Mapping[str, np.ndarray], quirks: Quirks
            ) -> list[tuple[str, slice]] | None:
    """The parts of the flattened leaves (in order) normalized together: one for the
    whole tree (``scope='tree'``), or each leaf's chunks of ``quirks.chunk`` elements;
    ``None`` for one per leaf, as they are."""
    sizes = [(n, int(p.size)) for n, p in params0.items()]
    if quirks.scope == "tree":
        return [("tree", slice(0, sum(size for _n, size in sizes)))]
    if not quirks.chunk:
        return None
    out, start = [], 0
    for name, size in sizes:
        for lo in range(0, max(size, 1), quirks.chunk):
            out.append((f"{name}#{lo}", slice(start + lo, start + min(size, lo + quirks.chunk))))
        start += size
    return out


def tolerance(cfg: Config, quirks: Quirks, dtype: str, float32_rounding: bool = False
              ) -> float:
    """The ``"framework"`` tolerance of the run's ``dtype``; float32's when the candidate
    computes in float32 on positive evidence: the precision probe found float32
    arithmetic (``quirks.arithmetic``), or ``float32_rounding`` says the port's values
    carry the rounding of the candidate's float32 moments (``state_dtype``,
    ``mu_dtype``; see :meth:`._search.Search.rounds_to_float32`). A float32 moment
    alone never loosens the comparison: a looser tolerance is no evidence.

    >>> tolerance(Config(0.1, state_dtype="float32"), Quirks(), "float64") < 1e-10
    True
    """
    moments = (cfg.state_dtype, cfg.mu_dtype) if float32_rounding else ()
    return rtol(held_dtype(dtype, (quirks.arithmetic, *moments)), "framework")


def run_error(measured: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]
              ) -> float:
    """The worst relative error over leaves (NaN and infinities must sit alike)."""
    return max((relative_error(np.asarray(measured[n][1:]), expected[n][1:])
                for n in expected), default=0.0)
