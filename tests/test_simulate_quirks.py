"""The simulation of a wrong-sign weight decay (a value :class:`~novograd_ref.Config`
refuses) with the other quirks that change the configuration it is handed."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from novograd_ref import Config
from novograd_ref.conformance.diagnosis._experiments import Quirks, Run, simulate
from novograd_ref.conformance.isolation._runner import Problem


def _one_step(cfg: Config, quirks: Quirks) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    params0 = {"a": rng.normal(size=(3,)), "b": rng.normal(size=(2, 2))}
    grads = {k: rng.normal(size=(1, *v.shape)) for k, v in params0.items()}
    run = Run("one step", "case", {}, Problem("one step", params0, 0.1, 1, grads=grads),
              "float64")
    return {k: v[1] for k, v in simulate(cfg, quirks, run, grads).items()}


@pytest.mark.parametrize("mode", ["inside", "decoupled", "fixed"])
@pytest.mark.parametrize("changes", [{}, {"first_step_eps": False}, {"scope": "none"}])
def test_a_wrong_sign_decay_mirrors_the_right_one(mode: str, changes: dict[str, Any]) -> None:
    """One step moves ``p`` by ``-lr (m + wd p)`` (or ``-c wd p`` decoupled): with the
    sign flipped the decay's share is mirrored around the step without decay, whatever
    else the quirks change; the configuration handed in is left as it was."""
    cfg = Config(0.1, weight_decay=0.05, weight_decay_mode=mode)
    before = dataclasses.asdict(cfg)
    right = _one_step(cfg, Quirks(**changes))
    wrong = _one_step(cfg, Quirks(weight_decay_sign=-1, **changes))
    none = _one_step(dataclasses.replace(cfg, weight_decay=0.0), Quirks(**changes))
    for name, p in none.items():
        assert not np.allclose(right[name], p)
        np.testing.assert_allclose(wrong[name] - p, p - right[name], rtol=1e-12, atol=1e-15)
    assert dataclasses.asdict(cfg) == before
