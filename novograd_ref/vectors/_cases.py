"""The standard case suite: deterministic generation of the inputs of every case.

Six cases (``const_lr``, ``schedule_lr``, ``weight_decay``, ``grad_averaging``,
``b2_zero``, ``eps_root``) were recorded against OpenSeq2Seq before this package
existed; their input files are imported unchanged (see :func:`import_openseq2seq`). All
other cases are generated here from fixed seeds with NumPy's ``Generator`` (PCG64),
using only uniform draws and elementary arithmetic, so the arrays (and, through
:func:`novograd_ref.vectors.write_npz`, the files) are bit-identical on every platform.

Regenerate the files with ``python scripts/write_cases.py [DATA_DIR]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _hyper
from ._manifest import case_filename
from ._npz import content_sha256

Shape = tuple[int, ...]
Leaves = list[tuple[str, Shape]]

#: The leaves of the imported OpenSeq2Seq cases (and of several new ones).
TREE4: Leaves = [("bias", (1,)), ("vec", (7,)), ("mat", (4, 5)), ("conv", (3, 2, 3, 3))]
#: A tree with a 0-d leaf and a 4-D leaf.
MIXED: Leaves = [("scalar", ()), ("vec", (5,)), ("mat", (3, 4)), ("conv", (2, 3, 2, 2))]

OPENSEQ2SEQ_CASES: tuple[str, ...] = (
    "const_lr",
    "schedule_lr",
    "weight_decay",
    "grad_averaging",
    "b2_zero",
    "eps_root",
)


# ---------------------------------------------------------------- learning-rate tables


def constant_lr(T: int, lr: float) -> np.ndarray:
    """A constant rate."""
    return np.full(T, lr, dtype=np.float64)


def warmup_poly_decay(T: int, peak: float, floor: float, warmup: int) -> np.ndarray:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then quadratic decay to ``floor``.

    Entry ``k`` (the rate of step ``k + 1``) is ``peak * (k + 1) / warmup`` during the
    warm-up and ``floor + (peak - floor) * (1 - x)**2`` with
    ``x = (k - warmup + 1) / (T - warmup)`` afterwards.
    """
    out = np.empty(T, dtype=np.float64)
    for k in range(T):
        if k < warmup:
            out[k] = peak * (k + 1) / warmup
        else:
            x = (k - warmup + 1) / (T - warmup)
            out[k] = floor + (peak - floor) * (1.0 - x) * (1.0 - x)
    return out


def step_decay(T: int, lr: float, every: int, factor: float) -> np.ndarray:
    """Piecewise constant: ``lr * factor**(k // every)``."""
    return np.array([lr * factor ** (k // every) for k in range(T)], dtype=np.float64)


def piecewise_constant(T: int, boundaries: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Keras's ``PiecewiseConstantDecay``: entry ``k`` is ``values[i]`` where ``i`` counts
    the boundaries below ``k`` (``values[0]`` while ``k <= boundaries[0]``).

    >>> piecewise_constant(5, [1, 3], [0.3, 0.2, 0.1]).tolist()
    [0.3, 0.3, 0.2, 0.2, 0.1]
    """
    return np.array([values[sum(k > b for b in boundaries)] for k in range(T)],
                    dtype=np.float64)


def cosine_series(x: float) -> float:
    """``cos(x)`` for ``|x| <= pi`` by its Taylor series to 30 terms (within 1e-15),
    in elementary arithmetic so that the result is the same on every platform (a libm
    ``cos`` may differ in the last bit).

    >>> abs(cosine_series(3.141592653589793) + 1.0) < 1e-15
    True
    """
    term, total = 1.0, 1.0
    for n in range(1, 31):
        term = -term * x * x / ((2 * n - 1) * (2 * n))
        total += term
    return total


def warmup_cosine(T: int, initial: float, peak: float, warmup: int, alpha: float) -> np.ndarray:
    """Keras's ``CosineDecay(initial, T - warmup, alpha, warmup_target=peak,
    warmup_steps=warmup)`` in float64: ``initial + (peak - initial) k / warmup`` while
    ``k < warmup``, then ``peak ((1 - alpha) (1 + cos(pi x)) / 2 + alpha)`` with
    ``x = (k - warmup) / (T - warmup)`` (``cos`` by :func:`cosine_series`).

    >>> [round(x, 4) for x in warmup_cosine(5, 0.0, 1.0, 2, 0.0).tolist()]
    [0.0, 0.5, 1.0, 0.75, 0.25]
    """
    out = np.empty(T, dtype=np.float64)
    for k in range(T):
        if k < warmup:
            out[k] = (peak - initial) * (k / warmup) + initial
        else:
            cosine = 0.5 * (1.0 + cosine_series(math.pi * ((k - warmup) / (T - warmup))))
            out[k] = peak * ((1.0 - alpha) * cosine + alpha)
    return out


# ---------------------------------------------------------------- array helpers


def uniform(rng: np.random.Generator, shape: Shape, scale: float = 1.0) -> np.ndarray:
    """``scale * U(-1, 1)`` in float64 (only the generator's uniform doubles are used)."""
    draws = np.asarray(rng.random(shape), dtype=np.float64).reshape(shape)
    return scale * (2.0 * draws - 1.0)


def random_params(rng: np.random.Generator, leaves: Leaves, scale: float = 1.0) -> dict:
    """Initial parameters, ``scale * U(-1, 1)`` per element."""
    return {name: uniform(rng, shape, scale) for name, shape in leaves}


def random_grads(
    rng: np.random.Generator, leaves: Leaves, T: int, scales: dict[str, float] | None = None
) -> dict:
    """A fixed gradient sequence ``(T, *shape)`` per leaf; per-leaf scales default to 1."""
    scales = scales or {}
    return {name: uniform(rng, (T, *shape), scales.get(name, 1.0)) for name, shape in leaves}


# ---------------------------------------------------------------- case specifications


@dataclass(frozen=True)
class CaseSpec:
    """How to build one generated case."""

    name: str
    description: str
    leaves: Leaves
    T: int
    hyper: dict[str, Any]
    tags: list[str]
    seed: int
    lr: Callable[[int], np.ndarray]
    build: Callable[[np.random.Generator, Leaves, int], dict[str, np.ndarray]]
    grad_kind: str = "fixed"
    lr_kind: str = field(default="constant")


def fixed(
    param_scale: float = 1.0,
    grad_scales: dict[str, float] | None = None,
    edit: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> Callable[[np.random.Generator, Leaves, int], dict[str, np.ndarray]]:
    """A builder of fixed-gradient inputs; ``edit`` may modify the gradients in place."""

    def build(rng: np.random.Generator, leaves: Leaves, T: int) -> dict[str, np.ndarray]:
        params = random_params(rng, leaves, param_scale)
        grads = random_grads(rng, leaves, T, grad_scales)
        if edit is not None:
            edit(grads)
        out = {f"params0__{n}": a for n, a in params.items()}
        out.update({f"grads__{n}": a for n, a in grads.items()})
        return out

    return build


def quadratic(
    param_scale: float = 1.0, curvature_range: tuple[float, float] = (0.1, 10.0)
) -> Callable[[np.random.Generator, Leaves, int], dict[str, np.ndarray]]:
    """A builder of quadratic-objective inputs (params0, target, curvature)."""
    lo, hi = curvature_range

    def build(rng: np.random.Generator, leaves: Leaves, T: int) -> dict[str, np.ndarray]:
        del T
        out: dict[str, np.ndarray] = {}
        for name, shape in leaves:
            out[f"params0__{name}"] = uniform(rng, shape, param_scale)
            out[f"target__{name}"] = uniform(rng, shape, 0.5 * param_scale)
            u = np.asarray(rng.random(shape), dtype=np.float64).reshape(shape)
            out[f"curvature__{name}"] = lo + (hi - lo) * u * u * u
        return out

    return build


def _zero_first_steps(grads: dict[str, np.ndarray]) -> None:
    grads["late"][:2] = 0.0
    grads["gap"][5] = 0.0


def _amsgrad_profile(grads: dict[str, np.ndarray]) -> None:
    # Large gradients early, small later, one burst: the running max of v matters.
    T = next(iter(grads.values())).shape[0]
    for k in range(T):
        factor = 4.0 if k < 4 else (0.05 if k < T - 6 else 1.0)
        if k == T - 3:
            factor = 8.0
        for arr in grads.values():
            arr[k] *= factor


def _tiny(grads: dict[str, np.ndarray]) -> None:
    for arr in grads.values():
        arr *= 1e-22


def _eps_profile(grads: dict[str, np.ndarray]) -> None:
    # Gradients that shrink by 10x every 5 steps, so eps and eps_root gain weight.
    T = next(iter(grads.values())).shape[0]
    for k in range(T):
        for arr in grads.values():
            arr[k] *= 0.1 ** (k // 5)


def _wpd(T: int) -> np.ndarray:
    return warmup_poly_decay(T, 0.05, 0.001, 5)


def specs() -> list[CaseSpec]:
    """The generated (non-imported) cases, in suite order."""
    zero_leaves: Leaves = [("late", (6,)), ("gap", (2, 3)), ("always", (4,))]
    return [
        CaseSpec(
            name="tree_mixed",
            description=(
                "Tree with a 0-d leaf, vector, matrix and 4-D leaf; constant lr 0.01, T=30."
            ),
            leaves=MIXED,
            T=30,
            hyper=_hyper.base(),
            tags=["basic", "tree"],
            seed=101,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(grad_scales={"scalar": 3.0, "mat": 0.2}),
        ),
        CaseSpec(
            name="warmup_decay",
            description="Linear warm-up (5 steps to 0.05) then quadratic decay to 0.001 over T=30.",
            leaves=MIXED,
            T=30,
            hyper=_hyper.base(),
            tags=["schedule", "tree"],
            seed=102,
            lr=_wpd,
            build=fixed(),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="schedule_optax_defaults",
            description=(
                "optax's alias defaults (b1 0.9, b2 0.25, eps 1e-6), step-decay schedule 0.02 "
                "halved every 8 steps, T=25."
            ),
            leaves=TREE4,
            T=25,
            hyper=_hyper.base(b1=0.9, b2=0.25, eps=1e-06),
            tags=["schedule"],
            seed=103,
            lr=lambda T: step_decay(T, 0.02, 8, 0.5),
            build=fixed(),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="wd_inside",
            description=(
                "Weight decay 0.01 added to the normalized gradient (inside the moment), warm-"
                "up/decay schedule, T=25."
            ),
            leaves=MIXED,
            T=25,
            hyper=_hyper.base(weight_decay=0.01),
            tags=["weight_decay"],
            seed=104,
            lr=_wpd,
            build=fixed(param_scale=2.0),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="wd_decoupled",
            description=(
                "Decoupled weight decay p *= 1 - lr*wd with wd 0.1, constant lr 0.05, T=20."
            ),
            leaves=MIXED,
            T=20,
            hyper=_hyper.base(weight_decay=0.1, weight_decay_mode="decoupled"),
            tags=["weight_decay"],
            seed=105,
            lr=lambda T: constant_lr(T, 0.05),
            build=fixed(param_scale=2.0),
        ),
        CaseSpec(
            name="wd_decoupled_schedule",
            description="Decoupled weight decay 0.1 under a warm-up/decay schedule, T=25.",
            leaves=MIXED,
            T=25,
            hyper=_hyper.base(weight_decay=0.1, weight_decay_mode="decoupled"),
            tags=["weight_decay", "schedule"],
            seed=106,
            lr=_wpd,
            build=fixed(param_scale=2.0),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="wd_fixed",
            description=(
                "Fixed decoupled weight decay p *= 1 - wd with wd 0.002 (no lr factor), constant "
                "lr 0.02, T=20."
            ),
            leaves=MIXED,
            T=20,
            hyper=_hyper.base(weight_decay=0.002, weight_decay_mode="fixed"),
            tags=["weight_decay"],
            seed=107,
            lr=lambda T: constant_lr(T, 0.02),
            build=fixed(param_scale=2.0),
        ),
        CaseSpec(
            name="wd_corrected",
            description=(
                "Corrected decoupled weight decay p *= 1 - (lr_t**2 / max_lr)*wd, wd 0.1, max_lr ="
                " 0.05 = peak of the warm-up/decay schedule, T=25."
            ),
            leaves=MIXED,
            T=25,
            hyper=_hyper.base(weight_decay=0.1, weight_decay_mode="corrected"),
            tags=["weight_decay", "schedule"],
            seed=108,
            lr=_wpd,
            build=fixed(param_scale=2.0),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="grad_averaging_schedule",
            description=(
                "grad_averaging with b1 0.9, inside weight decay 0.001, warm-up/decay schedule, "
                "T=25."
            ),
            leaves=TREE4,
            T=25,
            hyper=_hyper.base(b1=0.9, weight_decay=0.001, averaging=True),
            tags=["grad_averaging", "schedule", "weight_decay"],
            seed=109,
            lr=_wpd,
            build=fixed(),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="amsgrad",
            description=(
                "amsgrad: large gradients for 4 steps, small ones, then a burst, so the running "
                "maximum of v differs from v; T=25."
            ),
            leaves=MIXED,
            T=25,
            hyper=_hyper.base(amsgrad=True),
            tags=["amsgrad"],
            seed=110,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(edit=_amsgrad_profile),
        ),
        CaseSpec(
            name="zero_first_grads",
            description=(
                "Leaf 'late' has exactly zero gradients on steps 1-2, leaf 'gap' on step 6; "
                "separates 'first step' from 'stored v == 0' initialisation. T=15."
            ),
            leaves=zero_leaves,
            T=15,
            hyper=_hyper.base(),
            tags=["edge", "zero_grad"],
            seed=111,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(edit=_zero_first_steps),
        ),
        CaseSpec(
            name="tiny_grads",
            description=(
                "Gradients of order 1e-22, parameters of order 1e-14: the squared norm (1e-44) is "
                "subnormal in float32, eps dominates the denominator, and each step moves the "
                "parameters by about lr*g/eps (1%). T=10."
            ),
            leaves=MIXED,
            T=10,
            hyper=_hyper.base(),
            tags=["edge", "tiny"],
            seed=112,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(param_scale=1e-14, edit=_tiny),
        ),
        CaseSpec(
            name="huge_grads",
            description="Gradients of order 1e15 (squared norm 1e30, finite in float32). T=10.",
            leaves=MIXED,
            T=10,
            hyper=_hyper.base(),
            tags=["edge", "huge"],
            seed=113,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(grad_scales={n: 1000000000000000.0 for n, _ in MIXED}),
        ),
        CaseSpec(
            name="f32_norm_overflow",
            description=(
                "Leaf 'big' has gradients of order 1e20: finite in float32, but the float32 sum of"
                " squares overflows to inf. Other leaves are ordinary. T=10."
            ),
            leaves=[("big", (8,)), ("vec", (5,)), ("mat", (2, 3))],
            T=10,
            hyper=_hyper.base(),
            tags=["edge", "overflow"],
            seed=114,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(grad_scales={"big": 1e20}),
        ),
        CaseSpec(
            name="eps_large",
            description=(
                "eps 1e-3 outside the root with gradients shrinking 10x every 5 steps (from "
                "~1e-2), so eps matters. T=20."
            ),
            leaves=TREE4,
            T=20,
            hyper=_hyper.base(eps=0.001),
            tags=["eps"],
            seed=115,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(grad_scales={n: 0.01 for n, _ in TREE4}, edit=_eps_profile),
        ),
        CaseSpec(
            name="eps_both",
            description=(
                "eps 1e-4 outside and eps_root 1e-6 inside the root, gradients shrinking 10x every"
                " 5 steps (from ~1e-2). T=20."
            ),
            leaves=TREE4,
            T=20,
            hyper=_hyper.base(eps=0.0001, eps_root=1e-06),
            tags=["eps", "eps_root"],
            seed=116,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(grad_scales={n: 0.01 for n, _ in TREE4}, edit=_eps_profile),
        ),
        CaseSpec(
            name="quadratic",
            description=(
                "Parameter-dependent gradients of sum(c*(p - target)**2)/2, curvature in [0.1, "
                "10], constant lr 0.05, T=40."
            ),
            leaves=MIXED,
            T=40,
            hyper=_hyper.base(),
            tags=["quadratic"],
            seed=117,
            lr=lambda T: constant_lr(T, 0.05),
            build=quadratic(),
            grad_kind="quadratic",
        ),
        CaseSpec(
            name="quadratic_schedule_wd",
            description=(
                "Quadratic objective with inside weight decay 0.01, grad_averaging (b1 0.9) and a "
                "warm-up/decay schedule, T=30."
            ),
            leaves=MIXED,
            T=30,
            hyper=_hyper.base(b1=0.9, weight_decay=0.01, averaging=True),
            tags=["quadratic", "schedule", "weight_decay", "grad_averaging"],
            seed=118,
            lr=_wpd,
            build=quadratic(),
            grad_kind="quadratic",
            lr_kind="schedule",
        ),
        CaseSpec(
            name="nemo_luc",
            description=(
                "NeMo's luc (trust 1e-3, eps 1e-8): the step is min(trust*|p|/|m|, lr); leaves of "
                "very different parameter scales, lr 2e-3, so some steps are clipped and some not."
                " T=20."
            ),
            leaves=[("small", (6,)), ("unit", (3, 4)), ("large", (2, 2, 3))],
            T=20,
            hyper=_hyper.base(update_clipping="luc", luc_trust=0.001, luc_eps=1e-08),
            tags=["luc", "nemo"],
            seed=119,
            lr=lambda T: constant_lr(T, 0.002),
            build=_luc_build,
        ),
        CaseSpec(
            name="adam_debias",
            description="pytorch_optimizer's adam_debias: step size lr*sqrt(1 - b2**t). T=15.",
            leaves=MIXED,
            T=15,
            hyper=_hyper.base(adam_debias=True),
            tags=["adam_debias", "pytorch_optimizer"],
            seed=120,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(),
        ),
        CaseSpec(
            name="maximize",
            description=(
                "pytorch_optimizer's maximize: the gradient is negated before everything. T=12."
            ),
            leaves=MIXED,
            T=12,
            hyper=_hyper.base(maximize=True),
            tags=["maximize", "pytorch_optimizer"],
            seed=121,
            lr=lambda T: constant_lr(T, 0.01),
            build=fixed(),
        ),
        CaseSpec(
            name="keras_warmup_cosine",
            description=(
                "A Keras-style run: b1 0.9, b2 0.999, eps 1e-7, inside weight decay 0.001, "
                "grad_averaging; linear warm-up from 0.001 to 0.05 over 5 steps, then cosine "
                "decay to 0.001 (CosineDecay's formula in float64, alpha 0.02), T=30."
            ),
            leaves=MIXED,
            T=30,
            hyper=_hyper.base(b1=0.9, b2=0.999, eps=1e-07, weight_decay=0.001,
                              averaging=True),
            tags=["schedule", "keras", "weight_decay", "grad_averaging"],
            seed=122,
            lr=lambda T: warmup_cosine(T, 0.001, 0.05, 5, 0.02),
            build=fixed(grad_scales={"scalar": 3.0, "mat": 0.2}),
            lr_kind="schedule",
        ),
        CaseSpec(
            name="keras_piecewise_amsgrad",
            description=(
                "Piecewise-constant rate (PiecewiseConstantDecay [7, 15] -> [0.03, 0.01, "
                "0.003]) with amsgrad and inside weight decay 0.01; large gradients for 4 "
                "steps, small ones, then a burst. T=24."
            ),
            leaves=TREE4,
            T=24,
            hyper=_hyper.base(weight_decay=0.01, amsgrad=True),
            tags=["schedule", "keras", "amsgrad", "weight_decay"],
            seed=123,
            lr=lambda T: piecewise_constant(T, [7, 15], [0.03, 0.01, 0.003]),
            build=fixed(edit=_amsgrad_profile),
            lr_kind="schedule",
        ),
    ]


def _luc_build(rng: np.random.Generator, leaves: Leaves, T: int) -> dict[str, np.ndarray]:
    scales = {"small": 0.01, "unit": 1.0, "large": 100.0}
    out: dict[str, np.ndarray] = {}
    for name, shape in leaves:
        out[f"params0__{name}"] = uniform(rng, shape, scales[name])
    for name, shape in leaves:
        out[f"grads__{name}"] = uniform(rng, (T, *shape))
    return out


def build_case(spec: CaseSpec) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest entry (without ``sha256``) and the arrays of a generated case."""
    rng = np.random.default_rng(spec.seed)
    arrays = {"lr": spec.lr(spec.T), **spec.build(rng, spec.leaves, spec.T)}
    entry = {
        "name": spec.name,
        "description": spec.description,
        "leaves": [[n, list(s)] for n, s in spec.leaves],
        "T": spec.T,
        "lr_kind": spec.lr_kind,
        "hyper": _hyper.to_stored(spec.hyper),
        "grad_kind": spec.grad_kind,
        "tags": spec.tags,
        "file": case_filename(spec.name),
        "content_sha256": content_sha256(arrays),
    }
    return entry, arrays


def generate(names: Sequence[str] | None = None) -> list[tuple[dict[str, Any], dict]]:
    """Build the generated cases (all, or those named), in suite order."""
    return [build_case(s) for s in specs() if names is None or s.name in names]
