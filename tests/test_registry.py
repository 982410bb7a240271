"""The preset registry: each PresetSpec's mapping to canonical names and back, its
strategy, its aliases and ``presets.build``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novograd_ref import Config, _hyper, presets, vectors
from novograd_ref.conformance import frameworks

NAMES = presets.names()


def _direct(name: str, lr: float, kw: dict[str, Any]) -> Any:
    """The preset function called with its own keywords (what the registry must match)."""
    spec = presets.spec(name)
    return spec.function(**{spec.learning_rate_keyword: lr}, **kw)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_own_keywords_round_trip_through_canonical_names(name: str, data: Any) -> None:
    """``build(name, lr, **canonical(**kw))`` is configured exactly as ``name(lr, **kw)``."""
    spec = presets.spec(name)
    kw = data.draw(spec.strategy())
    hyper = spec.canonical(**kw)
    assert set(hyper) >= set(_hyper.REQUIRED)
    assert presets.build(name, 0.01, **hyper).config == _direct(name, 0.01, kw).config
    assert spec.keywords(**spec.canonical(**spec.keywords(**hyper))) == spec.keywords(**hyper)


def test_the_rate_round_trips_under_each_presets_own_keyword() -> None:
    for spec in presets.specs():
        assert spec.canonical(**{spec.learning_rate_keyword: 0.5})["learning_rate"] == 0.5
        assert spec.keywords(learning_rate=0.5) == {spec.learning_rate_keyword: 0.5}
        assert "learning_rate" not in spec.canonical()


@pytest.mark.parametrize("name", NAMES)
def test_case_keywords_hold_the_case(name: str) -> None:
    """Every standard case a preset expresses comes back from its keywords unchanged
    (the weight-decay mode only where weight decay is on)."""
    spec = presets.spec(name)
    expressed = 0
    for entry in vectors.case_entries():
        kw = spec.case_keywords(entry["hyper"])
        if kw is None:
            continue
        expressed += 1
        want, got = _hyper.complete(entry["hyper"]), spec.canonical(**kw)
        keys = list(dict.fromkeys([*_hyper.REQUIRED, *_hyper.SWITCHES]))
        if want["weight_decay"] == 0:
            keys.remove("weight_decay_mode")
        if "update_clipping" in spec.vocabulary.names:
            keys += ["luc_trust", "luc_eps"]
        assert {k: got[k] for k in keys} == {k: want[k] for k in keys}, entry["name"]
        for flag, values in spec.vocabulary.flags.items():
            assert kw[flag] == values[0]  # a standard case runs the canonical recurrence
    assert expressed >= 2


@pytest.mark.parametrize("name", NAMES)
def test_case_keywords_refuse_what_the_preset_cannot_do(name: str) -> None:
    spec = presets.spec(name)
    space = spec.space()
    missing_modes = [m for m in _hyper.WEIGHT_DECAY_MODES if m not in space["weight_decay_mode"]]
    for mode in missing_modes:
        assert spec.case_keywords(_hyper.base(weight_decay=0.1, weight_decay_mode=mode)) is None
    for switch in (*_hyper.FLAGS, "update_clipping"):
        if switch not in space:
            on = _hyper.SWITCHES[switch][1]
            assert spec.case_keywords(_hyper.base(**{switch: on})) is None
    if "eps_root" not in spec.numeric():
        assert spec.case_keywords(_hyper.base(eps_root=1e-6)) is None


@pytest.mark.parametrize("name", NAMES)
def test_strategy_draws_every_switch_value(name: str) -> None:
    """Each switch of the preset, canonical or its own, takes each of its values in
    some draw of its strategy (so the properties exercise all of them)."""
    spec = presets.spec(name)
    seen: set[tuple[str, Any]] = set()

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(kw=spec.strategy())
    def draw(kw: dict[str, Any]) -> None:
        hyper = spec.canonical(**kw)
        seen.update((switch, hyper[switch]) for switch in spec.space())

    draw()
    assert {(s, v) for s, values in spec.space().items() for v in values} <= seen


def test_every_switch_and_setting_value_is_one_the_preset_accepts() -> None:
    for spec in presets.specs():
        for switch, values in {**spec.space(), **spec.vocabulary.settings}.items():
            for value in values:
                _direct(spec.name, 0.01, spec.keywords(**{switch: value}))


def test_aliases_resolve_and_do_not_shadow_names() -> None:
    for spec in presets.specs():
        for alias in spec.aliases:
            assert alias not in NAMES
            assert presets.spec(alias) is spec
            assert presets.get(alias) is spec.function
    assert presets.build("NvNovoGrad", 0.1).config == presets.timm(lr=0.1).config


def test_unknown_names_and_keys_are_refused_with_the_name() -> None:
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        presets.spec("nope")
    with pytest.raises(ValueError, match="tfa: eps cannot be 0"):
        presets.build("tfa", 0.1, eps=0.0)
    with pytest.raises(ValueError, match="nemo: has no weight_decay_mode 'fixed'"):
        presets.build("nemo", 0.1, weight_decay=0.1, weight_decay_mode="fixed")
    with pytest.raises(ValueError, match="optax: unknown canonical hyperparameter 'betas'"):
        presets.build("optax", 0.1, betas=(0.9, 0.9))
    with pytest.raises(ValueError, match="flashlight: cannot set averaging=False"):
        presets.build("flashlight", 0.1, averaging=False)
    with pytest.raises(ValueError, match="flashlight: unknown canonical hyperparameter "
                                         "'grad_averaging'"):  # the preset keyword
        presets.build("flashlight", 0.1, grad_averaging=True)
    with pytest.raises(ValueError, match=r"timm: .* select no weight-decay mode"):
        presets.spec("timm").canonical(corrected_weight_decay=True)
    with pytest.raises(ValueError, match="tfa: keyword 'clipnorm' has no canonical name"):
        presets.spec("tfa").canonical(clipnorm=1.0)


def test_build_keeps_the_presets_defaults_for_what_is_not_named() -> None:
    assert presets.build("apex", 0.1).config == presets.apex(lr=0.1).config
    assert (presets.build("nemo", 0.1, b1=0.9).config
            == presets.nemo(lr=0.1, betas=(0.9, 0.98)).config)


def test_framework_bindings_are_the_plugins_presets() -> None:
    bound = {s.framework for s in presets.specs()} - {None}
    assert bound == set(frameworks.names())


def test_a_canonical_name_that_names_a_config_field_takes_its_values() -> None:
    """One vocabulary: a canonical hyperparameter spelled as a field of ``Config`` means
    that field, each of its values being one ``Config`` accepts and keeps; a case's
    own flags are spelled as no field."""
    fields = {f.name for f in dataclasses.fields(Config)}
    shared = [k for k in (*_hyper.REQUIRED, *_hyper.OPTIONAL) if k in fields]
    assert set(shared) >= {*_hyper.NUMERIC, "weight_decay_mode", "update_clipping", "amsgrad",
                           "maximize", "luc_trust", "luc_eps"}
    assert {k for k in (*_hyper.REQUIRED, *_hyper.OPTIONAL) if k not in fields} == {
        "averaging", "adam_debias"}
    values = {**_hyper.SWITCHES, "weight_decay_mode": _hyper.WEIGHT_DECAY_MODES,
              **{k: _hyper.SAMPLE_VALUES.get(k, (0.0, 1e-3)) for k in _hyper.NUMERIC}}
    for key in shared:
        for value in values.get(key, (_hyper.OPTIONAL.get(key, (None, None))[1],)):
            companions: dict[str, Any] = {"weight_decay_mode": "corrected",
                                          "max_learning_rate": 0.1} if value == "corrected" else {}
            if key in ("luc_trust", "luc_eps"):
                companions = {"update_clipping": "luc"}
            assert getattr(Config(0.1, **{key: value, **companions}), key) == value, (key, value)


def test_from_keywords_is_the_preset_called_with_its_keywords() -> None:
    """``from_keywords`` configures as the preset function does, and gives a rate
    table's peak only to a preset that reads its constructor's rate."""
    kw = {"betas": (0.9, 0.98), "weight_decay": 0.1, "decoupled_decay": True,
          "corrected_weight_decay": True}
    assert (presets.from_keywords("timm", 0.2, kw).config
            == presets.timm(lr=0.2, **kw).config)
    table = lambda k: (0.1, 0.3)[k]
    cfg = presets.from_keywords("timm", table, kw, peak_learning_rate=0.3).config
    assert cfg.max_learning_rate == 0.3
    given = presets.from_keywords("timm", table, {**kw, "max_lr": 0.5},
                                  peak_learning_rate=0.3).config
    assert given.max_learning_rate == 0.5
    plain = presets.from_keywords("timm", table, {"weight_decay": 0.1},
                                  peak_learning_rate=0.3).config
    assert plain.max_learning_rate is None
    with pytest.raises(ValueError, match="needs max_lr"):
        presets.from_keywords("timm", table, kw)
