"""The diagnosis ``explain`` returns, its words and its JSON.

The JSON form (:meth:`Explanation.to_json`, ``novograd-ref explain --json FILE``),
schema ``novograd-ref/explain/1``:

- ``implementation`` (str), ``language`` (the preset whose keywords the port took);
- ``verdict``: ``"matches"`` (reproduces presets), ``"reproduced"`` (by a
  configuration that is no preset), ``"differs"`` (nothing reproduces it),
  ``"not_run"`` (fewer than :data:`MIN_RUNS` runs completed);
- ``matches``: preset names it reproduces (empty unless the verdict is ``matches``);
- ``reproduced_by``: the ``Config`` repr of the reproducing configuration on the
  reference run's hyperparameters, or ``null``; ``call``: the same as an
  ``ngr.novograd(...)`` call; ``reference_run``: the run whose hyperparameters those are;
- ``nearest``: the preset the closest candidate starts from (``null`` if none);
- ``differences``: ``[{switch, port, preset, meaning, evidence}]``, ``Config`` field
  names and values (the port's, the nearest preset's), ``meaning`` in words,
  ``evidence`` where the port leaves the answer without that difference;
- ``anomalies``: ``[{code, meaning, detected_by, message, evidence}]``: ``code`` from
  :data:`ANOMALIES`, ``meaning`` and ``detected_by`` its words and probe there,
  ``message`` what was measured on this port;
- ``probes``: ``[{probe, convention, finding, evidence, anomaly}]``;
- ``runs``: ``[{run, kind, dtype, status, error, passed}]``: every run, ``status``
  ``ok``/``crash``/``skipped``, ``error`` the relative error against the best
  candidate in units of its tolerance (``null`` if not run or not expressible);
- ``first_divergence``: ``{run, step, leaf, element, expected, measured}`` of the
  nearest candidate, earliest step first, or ``null``;
- ``reproduced_runs``, ``total_runs``: how many of the runs the port completed the
  answer (the preset matched, the configuration, or the nearest candidate) reproduces;
- ``errors``: ``[{run, where, cause, message}]``, one per run the port failed on;
  ``cause`` is a :class:`~novograd_ref.conformance.Failure` cause (``raised``,
  ``protocol``, ``exit``, ``signal``, ``timeout``, ``memory``).

Every ``evidence`` item is ``{run, step, leaf, expected, measured, note}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..._json import reportable

SCHEMA = "novograd-ref/explain/1"
MIN_RUNS = 4  # completed runs below which nothing is concluded
INEXPRESSIBLE = "the keywords cannot express these hyperparameters"  # a run's skip reason

@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One behaviour outside the switch space: in a porter's ``words``, the ``probe``
    (or search step) that detects it, and an ``example`` port line that shows it."""

    words: str
    probe: str
    example: str


#: Every anomaly code: the one table the text output, the JSON (``meaning``) and
#: ``docs/explain.md`` (:func:`anomaly_reference`) take their words from. In the
#: examples ``u`` is the moment input, ``m`` the first moment, ``v`` the second moment
#: and ``S = sum(g*g)`` a layer's squared norm.
ANOMALIES: dict[str, Anomaly] = {
    "elementwise_normalization": Anomaly(
        "every element is normalized by its own moving average of g^2 (per-coordinate, "
        "RMSprop- or Adam-like without bias correction), not each layer by its norm: "
        "not NovoGrad",
        "probe `normalization`: every element of a layer moves alike",
        "`v = b2 v + (1-b2) g*g` per element"),
    "global_normalization": Anomaly(
        "one norm for the whole parameter tree instead of one per layer",
        "probes `normalization_scaled` / `normalization_scaled_b`: one layer's gradient "
        "times 100 changes the other layer's step",
        "`S = sum over all leaves`"),
    "chunked_normalization": Anomaly(
        "each layer is split into chunks of a fixed number of elements, each chunk "
        "normalized by its own norm (a port on sharded or flattened parameters): the "
        "step depends on which elements share a chunk",
        "probes `normalization_long` / `normalization_long_half`: on a long layer the "
        "step per unit gradient jumps at the chunk boundaries, and scaling the first "
        "half's gradient by 100 leaves the second half's step unchanged (NovoGrad: it "
        "shrinks with the layer's norm)",
        "`for chunk in split(g, 1024): S = sum(chunk*chunk)`"),
    "mean_normalization": Anomaly(
        "the gradient is normalized by the root of the layer's mean square, not of its "
        "sum of squares: the step does not shrink with the layer's size",
        "probe `normalization_wide` (a layer four times as long at the same per-element "
        "gradient keeps each element's step: size exponent 0, NovoGrad -0.5), with "
        "`normalization_long_half` coupled as NovoGrad's; named when it also reproduces "
        "the runs the search left failing",
        "`S = mean(g*g)`"),
    "not_normalized": Anomaly(
        "the step grows with the gradient: it is not normalized by the gradient's norm",
        "probe `normalization_scaled`: the layer's own step is 100 times (exponent 1; "
        "NovoGrad: 0)",
        "`u = g`"),
    "learning_rate_squared": Anomaly(
        "the step is quadratic in the learning rate: the rate is applied twice",
        "probe `normalization_rate`: the rate times 10 makes the step 100 times "
        "(exponent 2; NovoGrad: 1)",
        "`p -= lr * lr * m`"),
    "second_moment_constant_start": Anomaly(
        "the second moment starts at a small constant, not at zero or at the first "
        "step's |g|^2, and is blended from step 1",
        "probe `normalization`, step 1: the first step is smaller than the zero start "
        "predicts and larger than the first-step start, by the amount a constant v_0 "
        "explains; named when that constant reproduces the runs",
        "`v = 1e-3` before step 1, then `v = b2 v + (1-b2) S`"),
    "second_moment_wrong_beta": Anomaly(
        "the second moment is blended with b1 instead of b2 (one beta for both moments)",
        "the search (a move no switch expresses), evidence on probe `betas`",
        "`v = b1 v + (1-b1) S`"),
    "momentum_wrong_beta": Anomaly(
        "the momentum is blended with b2 instead of b1",
        "the search, evidence on probe `betas`",
        "`m = b2 m + u`"),
    "betas_swapped": Anomaly(
        "the betas are swapped: b1 drives the second moment and b2 the momentum",
        "the search, evidence on probe `betas`",
        "`b2, b1 = betas`"),
    "grad_averaging_inverted": Anomaly(
        "the grad_averaging keyword is inverted: (1 - b1) scales the normalized "
        "gradient when it is off, and not when it is on",
        "the search, evidence on probe `grad_averaging`",
        "`if not grad_averaging: u *= 1 - b1`"),
    "weight_decay_after_step": Anomaly(
        "weight decay is applied to the parameters after the step: "
        "p <- (p - lr m)(1 - lr wd)",
        "tried when the search leaves runs failing; its evidence: the runs with weight "
        "decay it reproduces",
        "`p -= lr * m; p -= lr * wd * p`"),
    "first_step_without_eps": Anomaly(
        "no eps on the first step: an eps-dominated gradient moves as far as a large one "
        "(a zero first gradient gives 0/0)",
        "probes `eps_dominated` / `eps_reference`",
        "`den = sqrt(v) if t == 1 else sqrt(v) + eps`"),
    "no_first_step_update": Anomaly(
        "the parameters do not move on the first step",
        "probe `normalization`: the first step that moves",
        "`if t > 1: p -= lr * m`"),
    "no_update": Anomaly(
        "the parameters never move",
        "probe `normalization`",
        "`p` returned unchanged"),
    "weight_decay_sign": Anomaly(
        "weight decay has the opposite sign: it pushes the parameters away from 0",
        "probes `weight_decay_off` / `weight_decay_on`",
        "`u = g / den - wd * p`"),
    "float32_arithmetic": Anomaly(
        "the update is computed in float32 under wider parameters (a float32 second "
        "moment alone is `state_dtype='float32'`, a switch)",
        "probe `precision`: every updated value is a float32 number",
        "`g.astype(float32)` throughout"),
    "first_step_size": Anomaly(
        "the first step is a different size from the nearest preset's (reported when "
        "runs stay unexplained; the ratio is among every port's probe findings)",
        "probe `normalization`, step 1, against the nearest preset's simulation",
        "`p -= 2 * lr * m` on step 1"),
    "crash": Anomaly(
        "the port raised, exited, was killed by a signal, hung, ran out of memory or "
        "broke the adapter protocol on some runs",
        "every run",
        "`len(g)` on a 0-d leaf"),
    "unexplained": Anomaly(
        "no configuration, even with the anomalies found, reproduces every run: the "
        "runs the nearest candidate does not reproduce, with where the port first "
        "leaves it and what the probes measured there",
        "the search",
        "an update no switch or anomaly describes"),
}


def anomaly_reference() -> str:
    """The anomaly codes as the Markdown definition list of ``docs/explain.md``.

    >>> anomaly_reference().splitlines()[0]
    '`elementwise_normalization`'
    """
    return "\n".join(f"`{code}`\n: {a.words}. Example: {a.example}. Detected by {a.probe}.\n"
                     for code, a in ANOMALIES.items())


#: A switch value in a porter's words (what the port does).
_MEANING: dict[tuple[str, Any], str] = {
    ("second_moment_init", "zero"): "the second moment starts at zero and is blended from "
                                    "step 1 (the first step is 1/sqrt(1-b2) times too large)",
    ("second_moment_init", "first_step"): "the second moment is |g|^2 on the first step "
                                          "(keyed on the step count)",
    ("second_moment_init", "when_zero"): "the second moment is set to |g|^2 whenever it is "
                                         "still exactly 0 (a zero first gradient delays it)",
    ("second_moment_init", "first_step_blend"): "the second moment starts at |g_1| and is "
                                                "blended on step 1 too (Apex)",
    ("second_moment_update", "none"): "the second moment is never written back (beta2 has "
                                      "no effect)",
    ("second_moment_update", "lerp"): "the second moment is updated with torch's lerp",
    ("grad_averaging", "always"): "the normalized gradient is scaled by (1 - b1) on every "
                                  "step",
    ("grad_averaging", "off"): "no (1 - b1) scaling of the normalized gradient",
    ("grad_averaging", "after_first_step"): "the (1 - b1) scaling is skipped on the first "
                                            "step",
    ("learning_rate_placement", "inside"): "the learning rate is folded into the momentum "
                                           "(m = b1 m - lr u), so a changing rate lags",
    ("learning_rate_placement", "outside"): "the learning rate multiplies the momentum",
    ("bias_correction", "adam"): "Adam-style bias correction: the step is "
                                 "lr sqrt(1-b2^t)/(1-b1^t)",
    ("bias_correction", "debias"): "the step is lr sqrt(1-b2^t)",
    ("bias_correction", "apex"): "Apex bias correction of m and of the norm",
    ("bias_correction", "none"): "no bias correction",
    ("momentum_input", "raw"): "the momentum takes the raw gradient, normalized after",
    ("weight_decay_mode", "inside"): "weight decay is added to the normalized gradient, "
                                     "inside the momentum",
    ("weight_decay_mode", "decoupled"): "decoupled weight decay: p *= 1 - lr wd",
    ("weight_decay_mode", "fixed"): "decoupled weight decay without the rate: p *= 1 - wd",
    ("weight_decay_mode", "apex"): "weight decay is added after normalization, outside the "
                                   "momentum: p -= lr (m / den + wd p)",
    ("weight_decay_mode", "corrected"): "decoupled weight decay scaled by lr / max_lr",
    ("norm", "apex_l2"): "the state is the blended gradient norm, not its square (Apex)",
    ("norm", "apex_inf"): "the state is the blended max-norm of the gradient (Apex)",
    ("norm", "l2_squared"): "the state is the blended squared gradient norm",
    ("second_moment_update", "ema"): "the second moment is an exponential moving average",
    ("normalization", "divide"): "the gradient is divided by the denominator",
    ("nesterov", False): "no Nesterov momentum",
    ("maximize", False): "descent",
    ("update_clipping", "none"): "no update clipping",
    ("state_dtype", None): "the second moment is kept in the parameters' dtype",
    ("mu_dtype", None): "the first moment is kept in the parameters' dtype",
    ("hyper_dtype", None): "the hyperparameters are used as given",
    ("momentum_input", "normalized"): "the momentum takes the normalized gradient",
    ("state_dtype", "float32"): "the second moment is kept in float32",
    ("mu_dtype", "float32"): "the first moment is kept in float32",
    ("hyper_dtype", "float32"): "lr, b1, b2 and weight decay are rounded to float32",
    ("amsgrad", True): "amsgrad: normalized by the running maximum of the second moment",
    ("amsgrad", False): "amsgrad is ignored",
    ("normalization", "reciprocal"): "the gradient is multiplied by 1/den",
    ("maximize", True): "the gradient is negated (ascent)",
    ("nesterov", True): "Nesterov momentum",
    ("update_clipping", "luc"): "layer-wise update clipping (NeMo luc)",
    ("first_moment_init", "first_input"): "the first moment starts at the first step's "
                                          "moment input, not at zero: step 1 counts it "
                                          "1 + b1 times (pytorch_optimizer 2.9 to 3.9)",
    ("first_moment_init", "zero"): "the first moment starts at zero",
}


@dataclasses.dataclass
class Explanation:
    """The diagnosis of one implementation; see the module docstring for the JSON."""

    implementation: str
    language: str
    verdict: str
    matches: list[str]
    reproduced_by: str | None
    call: str | None
    reference_run: str | None
    nearest: str | None
    differences: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    first_divergence: dict[str, Any] | None
    errors: list[dict[str, Any]]
    reproduced_runs: int = 0
    total_runs: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A strictly JSON-serializable dict (non-finite numbers become strings)."""
        return reportable({"schema": SCHEMA, **dataclasses.asdict(self)})

    def summary(self) -> str:
        """The human summary: the answer first, then differences and anomalies."""
        lines = [f"{self.implementation} (keywords of preset {self.language!r}): "
                 + self._headline()]
        if self.call and self.verdict == "reproduced":
            lines.append(f"  {self.call}")
            lines.append(f"  (hyperparameters of {self.reference_run})")
        if self.differences:
            lines.append(f"differences from {self.nearest}:")
            lines += [f"  {d['switch']}: port {d['port']!r}, {self.nearest} {d['preset']!r}"
                      f" - {d['meaning']}" for d in self.differences]
        if self.anomalies:
            lines.append("outside the switch space:")
            for a in self.anomalies:  # what was measured, then the table's words
                lines.append(f"  [{a['code']}] {a['message']}")
                if a["message"] != a["meaning"]:
                    lines.append(f"    ({a['meaning']})")
        if self.first_divergence and self.verdict == "differs":
            d = self.first_divergence
            lines.append(f"first divergence from the nearest configuration: {d['run']}, "
                         f"step {d['step']}, leaf {d['leaf']}"
                         f"{''.join(f'[{i}]' for i in d['element'])}: expected "
                         f"{d['expected']:.6g}, measured {d['measured']:.6g}")
        return "\n".join(lines)

    def _headline(self) -> str:
        ran = sum(r["status"] == "ok" for r in self.runs)
        if self.verdict == "matches":
            return f"reproduces {', '.join(self.matches)} ({ran} runs)"
        if self.verdict == "reproduced":
            changed = ", ".join(f"{d['switch']}={d['port']!r}" for d in self.differences)
            return f"no preset as it is; it is {self.nearest} with {changed} ({ran} runs)"
        if self.verdict == "not_run":
            reasons = sorted({r["skipped"] for r in self.runs
                              if r["skipped"] and r["skipped"] != INEXPRESSIBLE})
            why = f"; the port refused: {'; '.join(reasons[:2])}" if reasons else ""
            return (f"{ran} runs completed, too few to explain (at least {MIN_RUNS} are "
                    f"needed){why}")
        return (f"nothing in the switch space reproduces it; nearest preset: "
                f"{self.nearest} (the nearest candidate reproduces {self.reproduced_runs} "
                f"of {self.total_runs} runs)")

    def details(self) -> str:
        """Below the summary: every probe's finding and every run's standing."""
        lines = []
        for d in self.differences:
            for e in d.get("evidence", []):
                where = f"step {e['step']}, leaf {e['leaf']}: " if e["step"] is not None \
                    else ""
                lines.append(f"{d['switch']}: {e['run']}, {where}expected "
                             f"{_number(e['expected'])} ({e['note']}), measured "
                             f"{_number(e['measured'])}")
        lines.append("probes:")
        for p in self.probes:
            lines.append(f"  {p['convention']}: {p['finding']}")
            for e in p["evidence"]:
                lines.append(f"    {e['run']}, step {e['step']}, leaf {e['leaf']}: expected "
                             f"{e['expected']}, measured {e['measured']} ({e['note']})")
        lines.append(f"runs against {self._against()}:")
        for r in self.runs:
            err = "-" if r["error"] is None else f"{r['error']:.3g} tol"
            lines.append(f"  {r['run']:<36} {r['dtype']:<8} {r['status']:<8} {err:<12} "
                         + ("" if r["passed"] is None else "pass" if r["passed"] else "FAIL"))
        for e in self.errors:
            where = ", ".join(p for p in (e["where"], e["cause"]) if p)
            lines.append(f"error: {e['run']} ({where}): {e['message']}")
        return "\n".join(lines)

    def _against(self) -> str:
        if self.matches:
            return self.matches[0]
        return self.reproduced_by or (self.nearest or "nothing")


def _number(x: Any) -> str:
    """A float to 10 significant digits; anything else as it is."""
    return f"{x:.10g}" if isinstance(x, (float, int, np.floating)) else str(x)


def meaning(diff: dict[str, Any], diffs: list[dict[str, Any]]) -> str:
    """One difference in words (eps and eps_root moving together read as placement).

    >>> meaning({"switch": "state_dtype", "port": "float32", "preset": None}, [])
    'the second moment is kept in float32'
    """
    switches = {d["switch"]: d for d in diffs}
    if diff["switch"] in ("eps", "eps_root") and {"eps", "eps_root"} <= set(switches):
        if switches["eps"]["port"] == 0:
            return "eps is added inside the square root: sqrt(v + eps), not sqrt(v) + eps"
        return "eps is added outside the square root: sqrt(v) + eps, not sqrt(v + eps)"
    return _MEANING.get((diff["switch"], diff["port"]),
                        f"{diff['switch']} is {diff['port']!r} where the preset has "
                        f"{diff['preset']!r}")
