"""Designed probe runs, each isolating one convention, and the direct readings of them.

Every probe is a small run (one to three 1-D layers, two to five steps) whose inputs
make one convention visible whatever the others are. Some are read directly from the
port's own numbers (:func:`read_probes`): the normalization scope, whether the first
step moves, eps on the first step, the sign of weight decay, float32 arithmetic. The
others (second-moment start, betas, a changing rate, grad averaging, amsgrad) feed the
switch search, which says which setting reproduces them.

Gradients are constant over steps where a reading needs it: then every per-layer
convention moves a layer along ``g`` itself (``p_t - p_{t-1} = c_t g`` with one scalar
``c_t`` per layer and step), so a departure from that shape is the port's, not a switch's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import _hyper
from ._experiments import Observation, Quirks, Run, fixed_run
from ._explanation import ANOMALIES

_A = [0.3, -1.2, 2.0, -0.4, 0.8]  # one layer's gradient: magnitudes spread 1:7
_B = [0.9, -0.5, 0.25]
_P = {"a": [0.5, -0.2, 0.1, 0.7, -0.9], "b": [-0.3, 0.6, 0.4]}
_GRADS = {"a": _A, "b": _B}
LONG = 4096  # the long layer's size: chunks of up to half of it are seen


def _long_gradient() -> list[float]:
    """:data:`LONG` gradient elements of sizes 0.5 to 2 and mixed signs, in no period
    (so chunks of any size have different norms)."""
    rng = np.random.default_rng(20)
    size = rng.uniform(0.5, 2.0, LONG)
    return [float(x) for x in np.where(rng.random(LONG) < 0.5, -size, size)]


def _const(grads: Mapping[str, list[float]], steps: int) -> list[dict[str, list[float]]]:
    return [dict(grads) for _ in range(steps)]


def _scaled(values: list[float], factor: float) -> list[float]:
    return [factor * x for x in values]


def probe_runs() -> list[Run]:
    """The designed runs, in float64 (``precision`` needs parameters wider than float32).

    - ``normalization`` / ``normalization_scaled``: two layers with constant gradients;
      the second run multiplies layer ``a``'s by 100 (neither layer's step may change:
      ``a``'s is normalized by its own norm, ``b``'s does not see ``a``);
      ``normalization_rate``: the learning rate times 10 (the step must be 10 times);
      ``normalization_wide``: layer ``a`` four times as long at the same per-element
      gradient (its norm doubles, so each element's step must halve);
      ``normalization_params``: the parameters times 100 (without weight decay the
      step must not change); ``normalization_scaled_b`` and ``normalization_wide_b``:
      the same for layer ``b`` (each layer's own response, and ``a``'s to ``b``'s
      gradient); ``normalization_long``: layer ``a`` of :data:`LONG` elements starting
      at 0 (NovoGrad moves it along ``g``, a port normalizing chunks of it separately
      does not), and ``normalization_long_half``: its first half's gradient times 100
      (NovoGrad's second half then shrinks with the layer's norm; a chunk entirely in
      the second half does not change).
    - ``zero_first_gradient``: layer ``a``'s first gradient is 0 (second-moment start).
    - ``eps_dominated`` / ``eps_reference``: gradients of norm 4e-7 with ``eps = 1e-4``,
      and the same gradients times 1e6.
    - ``weight_decay_off`` / ``weight_decay_on``: the same gradients without and with
      ``weight_decay = 0.1``.
    - ``betas``: ``b1 = 0.5``, ``b2 = 0.9`` and gradients whose size changes every step.
    - ``schedule``: a learning rate that changes every step.
    - ``grad_averaging``, ``amsgrad``: those options asked for.
    - ``precision``: parameters starting at 0, so the step is read exactly.
    """
    hyper = _hyper.base(b1=0.9)
    varying = [{"a": _scaled(_A, s), "b": _scaled(_B, t)}
               for s, t in ((1.0, 0.5), (3.0, 0.2), (0.2, 2.0), (2.0, 1.0), (0.5, 4.0))]
    shrinking = [{"a": _scaled(_A, s), "b": _scaled(_B, s)} for s in (4.0, 1.0, 0.1, 0.05)]
    tiny = [x * 1e-7 for x in (1.0, -2.0, 3.0)]
    long = _long_gradient()
    return [
        fixed_run("probe normalization", "normalization", hyper, _P,
                  _const({"a": _A, "b": _B}, 3), 0.05),
        fixed_run("probe normalization_scaled", "normalization", hyper, _P,
                  _const({"a": _scaled(_A, 100.0), "b": _B}, 3), 0.05),
        fixed_run("probe normalization_rate", "normalization", hyper, _P,
                  _const({"a": _A, "b": _B}, 3), 0.5),
        fixed_run("probe normalization_wide", "normalization", hyper,
                  {"a": _P["a"] * 4, "b": _P["b"]}, _const({"a": _A * 4, "b": _B}, 3), 0.05),
        fixed_run("probe normalization_scaled_b", "normalization", hyper, _P,
                  _const({"a": _A, "b": _scaled(_B, 100.0)}, 3), 0.05),
        fixed_run("probe normalization_wide_b", "normalization", hyper,
                  {"a": _P["a"], "b": _P["b"] * 4}, _const({"a": _A, "b": _B * 4}, 3), 0.05),
        fixed_run("probe normalization_long", "normalization", hyper,
                  {"a": [0.0] * LONG, "b": _P["b"]}, _const({"a": long, "b": _B}, 3), 0.05),
        fixed_run("probe normalization_long_half", "normalization", hyper,
                  {"a": [0.0] * LONG, "b": _P["b"]},
                  _const({"a": _scaled(long[:LONG // 2], 100.0) + long[LONG // 2:],
                          "b": _B}, 3), 0.05),
        fixed_run("probe normalization_params", "normalization", hyper,
                  {k: _scaled(v, 100.0) for k, v in _P.items()},
                  _const({"a": _A, "b": _B}, 3), 0.05),
        fixed_run("probe zero_first_gradient", "second_moment_start", hyper, _P,
                  [{"a": [0.0] * 5, "b": _B}, *varying[:3]], 0.05),
        fixed_run("probe eps_dominated", "eps", _hyper.base(b1=0.9, eps=1e-4),
                  {"a": [0.5, -0.2, 0.1]}, _const({"a": tiny}, 3), 0.05),
        fixed_run("probe eps_reference", "eps", _hyper.base(b1=0.9, eps=1e-4),
                  {"a": [0.5, -0.2, 0.1]}, _const({"a": _scaled(tiny, 1e6)}, 3), 0.05),
        fixed_run("probe weight_decay_off", "weight_decay", hyper, _P, varying[:3], 0.1),
        fixed_run("probe weight_decay_on", "weight_decay", _hyper.base(b1=0.9,
                  weight_decay=0.1), _P, varying[:3], 0.1),
        fixed_run("probe betas", "betas", _hyper.base(b1=0.5, b2=0.9), _P, varying[:4], 0.05),
        fixed_run("probe schedule", "learning_rate", hyper, _P, varying,
                  [0.1, 0.01, 0.2, 0.05, 0.1]),
        fixed_run("probe grad_averaging", "grad_averaging",
                  _hyper.base(b1=0.9, averaging=True), _P, varying[:3], 0.05),
        fixed_run("probe amsgrad", "amsgrad", _hyper.base(b1=0.9, amsgrad=True), _P,
                  shrinking, 0.05),
        fixed_run("probe precision", "precision", hyper,
                  {"a": [0.0] * 9, "b": [0.0] * 4},
                  _const({"a": [0.3, -1.7, 2.9, 0.011, -0.6, 1.3, -2.2, 0.07, 5.1],
                          "b": [0.45, -0.013, 3.3, -1.1]}, 2), 1.0),
    ]


@dataclasses.dataclass
class Finding:
    """What one probe says about the port: a convention, a verdict in words, and the
    evidence (``{"run", "step", "leaf", "expected", "measured", "note"}`` items)."""

    probe: str
    convention: str
    finding: str
    evidence: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    anomaly: str = ""  # an anomaly code, when the finding is outside the switch space

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def _moved_step(obs: Observation) -> int:
    """The first step at which any parameter moved (0 if none did)."""
    assert obs.params is not None
    for step in range(1, obs.run.steps + 1):
        if any(not np.array_equal(p[step], p[step - 1]) for p in obs.params.values()):
            return step
    return 0


def _increment(obs: Observation, leaf: str, step: int) -> np.ndarray:
    assert obs.params is not None
    p = obs.params[leaf].astype(np.float64)
    return p[step] - p[step - 1]


def _spread(x: np.ndarray) -> float:
    """``(max - min) / max|x|``: 0 when all entries are equal."""
    scale = float(np.max(np.abs(x)))
    return float((np.max(x) - np.min(x)) / scale) if scale else 0.0


def _ev(run: str, step: int, leaf: str, expected: Any, measured: Any, note: str
        ) -> dict[str, Any]:
    return {"run": run, "step": step, "leaf": leaf, "expected": expected,
            "measured": measured, "note": note}


def _floats(x: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def read_probes(observed: Mapping[str, Observation]) -> tuple[list[Finding], Quirks]:
    """Read the directly measurable conventions off the probe runs the port completed;
    return the findings and the quirks they establish."""
    quirks: dict[str, Any] = {}
    findings = []
    for reader in (_read_first_step, _read_own_scale, _read_size, _read_params, _read_scope,
                   _read_chunks, _read_rate, _read_eps, _read_weight_decay, _read_precision):
        finding, found = reader(observed)
        if finding is not None:
            findings.append(finding)
            quirks.update(found)
    return findings, Quirks(**quirks)


Reading = tuple["Finding | None", dict[str, Any]]


def _ok(observed: Mapping[str, Observation], *names: str) -> list[Observation] | None:
    runs = [observed.get(f"probe {n}") for n in names]
    return [o for o in runs if o is not None and o.ok] if all(
        o is not None and o.ok for o in runs) else None


def _read_first_step(observed: Mapping[str, Observation]) -> Reading:
    runs = _ok(observed, "normalization")
    if runs is None:
        return None, {}
    obs = runs[0]
    step = _moved_step(obs)
    delta = _increment(obs, "a", 1)
    ev = [_ev(obs.run.name, 1, "a", "a step along -g", _floats(delta),
              "constant gradients, learning rate 0.05")]
    if step == 1:
        return Finding("normalization", "first step", "the port moves on step 1", ev), {}
    if step == 0:
        return Finding("normalization", "first step", "the port never moved the "
                       "parameters in 3 steps", ev, "no_update"), {}
    return Finding("normalization", "first step",
                   f"no update on the first step: the parameters first move on step {step}",
                   ev, "no_first_step_update"), {"first_step_update": False}


def _step_ratio(observed: Mapping[str, Observation], other: str, leaf: str
                ) -> tuple[float, int, str] | None:
    """Layer ``leaf``'s first moving step on probe ``other`` against probe
    ``normalization``, on the elements the two share (the first ones of a longer
    layer): the ratio of their sizes, the step, and ``other``'s run name; ``None``
    when not measurable."""
    runs = _ok(observed, "normalization", other)
    if runs is None:
        return None
    plain, changed = runs
    step = _moved_step(plain)
    if not step or _moved_step(changed) != step:
        return None
    before = _increment(plain, leaf, step)
    below = float(np.linalg.norm(before))
    above = float(np.linalg.norm(_increment(changed, leaf, step)[:before.size]))
    return (above / below if below else float("nan")), step, changed.run.name


def _cross(observed: Mapping[str, Observation], scaled: str, leaf: str
           ) -> tuple[float, dict[str, Any]] | None:
    """Layer ``leaf``'s step on probe ``scaled`` (the other layer's gradient times 100)
    against probe ``normalization``: the ratio (1 for per-layer normalization)."""
    found = _step_ratio(observed, scaled, leaf)
    if found is None:
        return None
    ratio, step, run = found
    other_leaf = "b" if leaf == "a" else "a"
    return ratio, _ev(run, step, leaf, "1 times the step (per layer)",
                      f"{ratio:.3g} times the step",
                      f"layer {other_leaf}'s gradient times 100: layer {leaf}'s step")


def _read_scope(observed: Mapping[str, Observation]) -> Reading:
    runs = _ok(observed, "normalization", "normalization_scaled")
    if runs is None:
        return None, {}
    plain, scaled = runs
    step = _moved_step(plain)
    if not step or _moved_step(scaled) != step:
        return None, {}
    g = np.asarray(_A)
    d = _increment(plain, "a", step)
    per_layer = _spread(d / g)  # 0 when the layer moves along g
    per_element = _spread(np.abs(d))  # 0 when every element moves alike (g/|g|)
    ev = [_ev(plain.run.name, step, "a", "increment proportional to g " + str(_floats(g)),
              _floats(d), f"spread of increment/g {per_layer:.2g}; spread of "
              f"|increment| {per_element:.2g}")]
    crossed = [c for c in (_cross(observed, "normalization_scaled", "b"),
                           _cross(observed, "normalization_scaled_b", "a")) if c is not None]
    ev += [e for _ratio, e in crossed]
    coupled = [ratio for ratio, _e in crossed if not abs(ratio - 1.0) <= 1e-3]
    if per_element < 1e-6 < per_layer:
        return Finding("normalization", "normalization scope",
                       "normalization is per element (every element is divided by its own "
                       "|g|), not per layer: this is not NovoGrad", ev,
                       "elementwise_normalization"), {"scope": "element"}
    if per_layer > 1e-4:
        if chunk_size(observed)[0]:
            return None, {}  # chunks smaller than the layer: read by _read_chunks
        return Finding("normalization", "normalization scope", "a layer does not move "
                       "along its gradient: the step is neither per layer nor per element",
                       ev, "unexplained"), {}
    if coupled:
        return Finding("normalization", "normalization scope",
                       "one norm for the whole tree: scaling one layer's gradient by 100 "
                       f"changed the other layer's step by a factor {coupled[0]:.3g} (per "
                       "layer: 1)", ev, "global_normalization"), {"scope": "tree"}
    return Finding("normalization", "normalization scope",
                   "per layer: each layer moves along its gradient, unaffected by the "
                   "other layer's scale (ratios "
                   + ", ".join(f"{ratio:.3g}" for ratio, _e in crossed) + "; per layer: 1)",
                   ev), {}


def _exponent(ratio: float, factor: float) -> float:
    """The power of ``factor`` that ``ratio`` is (NaN when it is not positive)."""
    return float(np.log(ratio) / np.log(factor)) if ratio > 0 else float("nan")


#: Each layer's own probes: its gradient times 100, the layer four times as long.
_SCALED = {"a": "normalization_scaled", "b": "normalization_scaled_b"}
_WIDE = {"a": "normalization_wide", "b": "normalization_wide_b"}


def _law(observed: Mapping[str, Observation], other: str, leaf: str, factor: float,
         expected: float, note: str) -> tuple[float, dict[str, Any]] | None:
    """Layer ``leaf``'s first moving step on probe ``other`` (one input times
    ``factor``) against probe ``normalization``, on the elements the two share (the
    first ones of a longer layer): the exponent of ``factor`` it scales by, and the
    evidence, ``expected`` being NovoGrad's exponent. ``None`` when not measurable."""
    found = _step_ratio(observed, other, leaf)
    if found is None:
        return None
    ratio, step, run = found
    power = _exponent(ratio, factor)
    return power, _ev(run, step, leaf,
                      f"{factor ** expected:.3g} times the step (exponent {expected:g})",
                      f"{ratio:.3g} times the step (exponent {power:.3g})", note)


def _laws(observed: Mapping[str, Observation], others: Mapping[str, str], factor: float,
          expected: float, note: str) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """:func:`_law` for every layer (``others``: layer -> probe), the measurable ones."""
    powers, evidence = {}, []
    for leaf, other in others.items():
        law = _law(observed, other, leaf, factor, expected, note.format(leaf=leaf))
        if law is not None:
            powers[leaf], ev = law
            evidence.append(ev)
    return powers, evidence


def _powers(powers: Mapping[str, float]) -> str:
    """``layer a -0.5, layer b -0.5``: each exponent to three decimals."""
    return ", ".join(f"layer {leaf} {round(power, 3) + 0.0:g}"
                     for leaf, power in powers.items())


def _read_own_scale(observed: Mapping[str, Observation]) -> Reading:
    """Each layer's own step against its gradient times 100: NovoGrad divides by the
    gradient's norm, so the step must not change (exponent 0)."""
    powers, ev = _laws(observed, _SCALED, 100.0, 0.0,
                       "layer {leaf}'s gradient times 100, constant gradients")
    if not powers:
        return None, {}
    if all(abs(power - 1.0) < 0.05 for power in powers.values()):
        return Finding("normalization", "step against the layer's gradient",
                       ANOMALIES["not_normalized"].words + f" (exponent {_powers(powers)};"
                       " NovoGrad: 0)", ev, "not_normalized"), {"scope": "none"}
    return Finding("normalization", "step against the layer's gradient",
                   f"the step scales as the layer's gradient to the power {_powers(powers)} "
                   "(NovoGrad: 0)", ev), {}


def _read_size(observed: Mapping[str, Observation]) -> Reading:
    """Each element's step against its layer four times as long at the same per-element
    gradient: NovoGrad divides by the layer's norm (a sum of squares), which doubles, so
    the step halves (exponent -0.5 in the size); a mean of squares keeps it (0). Update
    clipping also depends on the size, so the reading names nothing itself: a mean
    of squares is one of the behaviours tried when the switch search leaves runs
    failing (``mean_normalization``)."""
    powers, ev = _laws(observed, _WIDE, 4.0, -0.5,
                       "layer {leaf} four times as long, the same gradient per element")
    if not powers:
        return None, {}
    return Finding("normalization", "step against the layer's size",
                   f"the step scales as the layer's size to the power {_powers(powers)} "
                   "(NovoGrad: -0.5)", ev), {}


def _read_params(observed: Mapping[str, Observation]) -> Reading:
    """Each layer's step against the parameters times 100 (no weight decay): NovoGrad's
    step does not depend on them (exponent 0)."""
    powers, ev = _laws(observed, dict.fromkeys(_SCALED, "normalization_params"), 100.0,
                       0.0, "the parameters times 100, no weight decay")
    if not powers:
        return None, {}
    return Finding("normalization", "step against the parameters",
                   f"the step scales as the parameters to the power {_powers(powers)} "
                   "(NovoGrad: 0)", ev), {}


def _read_rate(observed: Mapping[str, Observation]) -> Reading:
    """Each layer's first step against the learning rate times 10: NovoGrad's is linear
    in it."""
    powers, ev = _laws(observed, dict.fromkeys(_SCALED, "normalization_rate"), 10.0, 1.0,
                       "learning rate 0.5 against 0.05, constant gradients")
    if not powers:
        return None, {}
    if all(abs(power - 2.0) < 0.05 for power in powers.values()):
        return Finding("normalization_rate", "step against the learning rate",
                       ANOMALIES["learning_rate_squared"].words + f" (exponent "
                       f"{_powers(powers)}; NovoGrad: 1)", ev,
                       "learning_rate_squared"), {"rate_power": 2}
    return Finding("normalization_rate", "step against the learning rate",
                   f"the step scales as the learning rate to the power {_powers(powers)} "
                   "(NovoGrad: 1)", ev), {}


def chunk_size(observed: Mapping[str, Observation]) -> tuple[int, list[dict[str, Any]]]:
    """The size of the chunks the port normalizes the long layer of probe
    ``normalization_long`` in (0: none, the layer moves along ``g``), and the evidence.

    NovoGrad's first moving step is one scalar times ``g`` over the whole layer; a port
    normalizing chunks separately has one scalar per chunk, so ``increment / g`` jumps
    at the chunk boundaries (the gradient has no period, so the chunks' norms differ).
    The chunk size is the greatest common divisor of the boundaries, at least 2 (1 is
    a per-element normalization)."""
    runs = _ok(observed, "normalization_long")
    if runs is None:
        return 0, []
    obs = runs[0]
    step = _moved_step(obs)
    if not step:
        return 0, []
    ratio = _increment(obs, "a", step) / np.asarray(_long_gradient())
    if not np.all(np.isfinite(ratio)):
        return 0, []
    scale = float(np.median(np.abs(ratio)))
    if not scale:
        return 0, []
    jumps = np.flatnonzero(np.abs(np.diff(ratio)) > 1e-3 * scale) + 1
    size = int(np.gcd.reduce(jumps)) if jumps.size else 0
    if size < 2:
        return 0, []
    ev = [_ev(obs.run.name, step, f"a[{size - 2}:{size + 2}]",
              "one increment/g over the whole layer (NovoGrad)",
              _floats(ratio[size - 2:size + 2]),
              f"increment/g jumps at {jumps.size} boundaries, every one a multiple of "
              f"{size} elements (layer of {LONG})")]
    return size, ev


def _read_chunks(observed: Mapping[str, Observation]) -> Reading:
    """Whether a long layer is normalized in chunks (:func:`chunk_size`), with the
    coupling of its halves as evidence: the first half's gradient times 100 changes
    the second half's step as the layer's norm (NovoGrad, a mean of squares), or not
    at all (a chunk entirely in the second half)."""
    size, ev = chunk_size(observed)
    runs = _ok(observed, "normalization_long", "normalization_long_half")
    if runs is not None:
        plain, half = runs
        step = _moved_step(plain)
        if step and _moved_step(half) == step:
            g = np.asarray(_long_gradient())
            second = slice(LONG - LONG // 4, LONG)  # the last quarter
            below = float(np.linalg.norm(_increment(plain, "a", step)[second]))
            above = float(np.linalg.norm(_increment(half, "a", step)[second]))
            ratio = above / below if below else float("nan")
            norm = float(np.linalg.norm(g) / np.linalg.norm(
                np.concatenate([100.0 * g[:LONG // 2], g[LONG // 2:]])))
            ev.append(_ev(half.run.name, step, f"a[{LONG - LONG // 4}:]",
                          f"{norm:.3g} times the step (the layer's norm grew)",
                          f"{ratio:.3g} times the step",
                          "the first half's gradient times 100: the last quarter's step"))
    if not ev:
        return None, {}
    if size:
        return Finding("normalization_long", "chunks of a layer",
                       f"the layer is normalized in chunks of {size} elements, each by its "
                       "own norm (a port on sharded or flattened parameters)", ev,
                       "chunked_normalization"), {"chunk": size}
    return Finding("normalization_long", "chunks of a layer",
                   f"a layer of {LONG} elements moves along its gradient: one norm for "
                   "the whole layer", ev), {}


def _read_eps(observed: Mapping[str, Observation]) -> Reading:
    runs = _ok(observed, "eps_dominated", "eps_reference")
    if runs is None:
        return None, {}
    tiny, ref = runs
    step = _moved_step(ref)
    if not step or _moved_step(tiny) != step:
        return None, {}
    g = np.asarray([1.0, -2.0, 3.0]) * 1e-7
    q_tiny = float(np.linalg.norm(_increment(tiny, "a", step)))
    q_ref = float(np.linalg.norm(_increment(ref, "a", step)))
    expected = float(np.linalg.norm(g) / (np.linalg.norm(g) + 1e-4))
    measured = q_tiny / q_ref if q_ref else float("nan")
    ev = [_ev(tiny.run.name, step, "a", f"about {expected:.3g} of the reference step with "
              "eps, 1 without", f"{measured:.3g} of the reference step",
              "|g| = 3.7e-7 with eps = 1e-4; the reference run has the gradient times 1e6")]
    zero = observed.get("probe zero_first_gradient")
    if zero is not None and zero.ok and zero.params is not None and \
            np.isnan(zero.params["a"][1]).any():
        ev.append(_ev(zero.run.name, 1, "a", "finite", "NaN",
                      "a zero first gradient divided by sqrt(0) without eps: 0/0"))
    if measured > 0.5 and step == 1:
        return Finding("eps_dominated", "eps on the first step",
                       "no eps on the first step: an eps-dominated gradient moves as far as "
                       "a large one (the paper's algorithm box taken literally)", ev,
                       "first_step_without_eps"), {"first_step_eps": False}
    return Finding("eps_dominated", "eps on the first step",
                   "eps is applied on the first step", ev), {}


def _read_weight_decay(observed: Mapping[str, Observation]) -> Reading:
    runs = _ok(observed, "weight_decay_off", "weight_decay_on")
    if runs is None:
        return None, {}
    off, on = runs
    step = _moved_step(on)
    if not step or _moved_step(off) != step:
        return None, {}
    assert on.params is not None
    pull = sum(float(np.dot(_increment(on, n, step) - _increment(off, n, step),
                            on.params[n][step - 1])) for n in on.params)
    size = sum(float(np.dot(p[step - 1], p[step - 1])) for p in on.params.values())
    factor = -pull / (0.1 * 0.1 * size)  # 1 for lr * wd * p pulled towards 0
    ev = [_ev(on.run.name, step, "a+b", "the difference of the two runs' steps points "
              "towards 0 (-lr wd p)", f"{factor:.3g} lr wd p towards 0",
              "weight_decay 0.1 against 0, learning rate 0.1, same gradients")]
    if factor < 0:
        return Finding("weight_decay", "weight decay sign",
                       "weight decay has the opposite sign: it pushes the parameters away "
                       "from 0", ev, "weight_decay_sign"), {"weight_decay_sign": -1}
    return Finding("weight_decay", "weight decay sign",
                   f"weight decay pulls the parameters towards 0 ({factor:.3g} lr wd p on "
                   "the first step that moves)", ev), {}


def _read_precision(observed: Mapping[str, Observation]) -> Reading:
    runs = _ok(observed, "precision")
    if runs is None:
        return None, {}
    obs = runs[0]
    step = _moved_step(obs)
    if not step or obs.params is None:
        return None, {}
    values = np.concatenate([p[step].reshape(-1) for p in obs.params.values()])
    on_grid = bool(np.all(values.astype(np.float32).astype(np.float64) == values))
    spread = _spread(_increment(obs, "a", step) / np.asarray(
        [0.3, -1.7, 2.9, 0.011, -0.6, 1.3, -2.2, 0.07, 5.1]))
    ev = [_ev(obs.run.name, step, "a", "float64 values, one scale per layer",
              _floats(obs.params["a"][step]),
              f"all values exactly float32: {on_grid}; spread of increment/g {spread:.2g}")]
    if on_grid or 1e-12 < spread < 1e-5:
        return Finding("precision", "arithmetic precision",
                       "the arithmetic is float32 under float64 parameters: every updated "
                       "value is a float32 number", ev, "float32_arithmetic"), {
            "arithmetic": "float32"}
    return Finding("precision", "arithmetic precision",
                   "the update is computed in the parameters' dtype (float64)", ev), {}
