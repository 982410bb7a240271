"""A preset refuses a keyword its framework would read only under another keyword.

timm's ``corrected_weight_decay`` scales only the decoupled decay
(``timm/optim/nvnovograd.py``: ``if group['decoupled_decay']: if
group['corrected_weight_decay']: ...``), pytorch_optimizer's ``fixed_decay`` only the
decoupled decay (``apply_weight_decay``: ``if weight_decouple: p.mul_(1 - wd * (1 if
fixed_decay else lr))``), NeMo's ``luc_trust`` and ``luc_eps`` only update clipping, and
``max_lr`` (timm's ``max_lr_snapshot``) only the corrected decay. Each framework ignores
the keyword otherwise; the preset refuses it, naming both of its own keywords.
"""

from __future__ import annotations

from typing import Any

import pytest

import novograd_ref as ngr


@pytest.mark.parametrize(("preset", "kwargs", "message"), [
    ("timm", {"corrected_weight_decay": True, "weight_decay": 0.1},
     "timm: corrected_weight_decay=True requires decoupled_decay=True"),
    ("timm", {"corrected_weight_decay": True},
     "timm: corrected_weight_decay=True requires decoupled_decay=True"),
    ("timm", {"decoupled_decay": True, "weight_decay": 0.1, "max_lr": 0.5},
     "timm: max_lr=0.5 requires corrected_weight_decay=True"),
    ("pytorch_optimizer", {"fixed_decay": True, "weight_decay": 0.1},
     "pytorch_optimizer: fixed_decay=True requires weight_decouple=True"),
    ("nemo", {"luc_trust": 0.01}, "nemo: luc_trust=0.01 requires luc=True"),
    ("nemo", {"luc_eps": 0.0}, "nemo: luc_eps=0.0 requires luc=True"),
])
def test_a_keyword_the_combination_ignores_is_refused(preset: str, kwargs: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ngr.presets.get(preset)(lr=0.01, **kwargs)


@pytest.mark.parametrize(("preset", "kwargs", "mode"), [
    ("timm", {"decoupled_decay": True, "corrected_weight_decay": True}, "corrected"),
    ("timm", {"decoupled_decay": True}, "decoupled"),
    ("timm", {"decoupled_decay": True, "corrected_weight_decay": True, "max_lr": 0.5},
     "corrected"),
    ("pytorch_optimizer", {"weight_decouple": True, "fixed_decay": True}, "fixed"),
    ("pytorch_optimizer", {"weight_decouple": True}, "decoupled"),
])
def test_the_combinations_the_framework_reads_are_accepted(
        preset: str, kwargs: dict[str, Any], mode: str) -> None:
    cfg = ngr.presets.get(preset)(lr=0.01, weight_decay=0.1, **kwargs).config
    assert cfg.weight_decay_mode == mode
    assert (cfg.max_learning_rate is not None) == (mode == "corrected")


def test_nemo_trust_ratio_is_read_with_luc() -> None:
    """With ``luc=True`` the trust ratio and its epsilon reach the configuration; at
    their defaults they are accepted without it."""
    cfg = ngr.presets.nemo(lr=0.01, luc=True, luc_trust=0.02, luc_eps=1e-6).config
    assert (cfg.update_clipping, cfg.luc_trust, cfg.luc_eps) == ("luc", 0.02, 1e-6)
    assert ngr.presets.nemo(lr=0.01, luc_trust=1e-3, luc_eps=1e-8).config.update_clipping == (
        "none")
