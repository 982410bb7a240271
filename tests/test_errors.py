"""Bad input gets a clear error naming the leaf, expected and actual; nothing mutated."""

from __future__ import annotations

from typing import Any

import array_api_strict as xs
import numpy as np
import pytest

import novograd_ref as ngr
from novograd_ref import presets as P

PARAMS = {"dense": {"w": np.ones((2, 3)), "b": np.zeros(3)}, "head": [np.ones(4), None]}


def grads_like(params: Any) -> Any:
    return {"dense": {"w": np.full((2, 3), 0.1), "b": np.full(3, 0.2)},
            "head": [np.full(4, 0.3), None]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"b1": 1.0}, r"^b1 must be in \[0.0, 1.0\), got 1.0$"),  # the whole message
    ({"b2": -0.1}, r"b2 must be in \[0.0, 1.0\)"),
    ({"eps": -1.0}, r"eps must be in \[0.0, inf\)"),
    ({"eps": float("inf")}, r"eps must be in \[0.0, inf\), got inf"),
    ({"weight_decay": float("nan")}, "weight_decay"),
    ({"weight_decay": float("inf")}, "weight_decay must be in"),
    ({"max_learning_rate": -1.0}, r"max_learning_rate must be in \[0.0, inf\)"),
    ({"max_learning_rate": "x"}, r"^max_learning_rate must be a real number, got 'x' \(str\)$"),
    ({"eps": None}, r"^eps must be a real number, got None$"),  # None and numbers: no type
    ({"grad_averaging": "sometimes"}, "grad_averaging must be one of"),
    ({"state_dtype": "int8"}, "state_dtype must be None or one of"),
    ({"amsgrad": 1}, "amsgrad must be a bool"),
    ({"weight_decay_mode": "corrected", "weight_decay": 0.1},
         "weight_decay_mode=.corrected. requires max_learning_rate set"),
    ({"norm": "apex_l2"}, "norm='apex_l2' requires second_moment_init"),
])
def test_hyperparameters_are_validated_at_construction(kwargs: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        ngr.novograd(0.1, **kwargs)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ngr.novograd(-0.1), r"learning_rate must be in \[0.0, inf\)"),
    (lambda: ngr.novograd(float("inf")), r"learning_rate must be in \[0.0, inf\), got inf"),
    (lambda: ngr.novograd("0.1"), "learning_rate must be a number or a callable"),
    (lambda: P.torch_optimizer(lr=0.0), "lr must be > 0"),
    (lambda: P.dle(lr=-1e-3), "lr must be >= 0"),
    (lambda: P.monai(lr=-1e-3), "lr must be >= 0"),
    (lambda: P.apex(amsgrad=True), "does not support the AMSGrad"),
    (lambda: P.apex(norm_type=1), "norm_type 0"),
    (lambda: P.tfa(weight_decay=-1.0), "cannot be negative"),
    (lambda: P.tfa(clipnorm=1.0), "clipnorm"),
    (lambda: P.tfa(momentum=0.9), "unexpected keyword"),
    (lambda: P.nemo(foo=1), "unexpected keyword"),
    (lambda: P.openseq2seq(mode="lazy"), "mode must be"),
    (lambda: P.get("adamw"), "unknown preset 'adamw'"),
])
def test_preset_keywords_are_checked(make: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_numpy_scalars_are_hyperparameters_like_python_floats() -> None:
    """``np.float32(0.1)`` is accepted and stored as the Python float it equals."""
    cfg = ngr.novograd(np.float32(0.1), b1=np.float32(0.9), eps=np.float64(1e-8)).config
    assert type(cfg.learning_rate) is float
    assert type(cfg.b1) is float
    assert cfg.b1 == float(np.float32(0.9))
    assert type(cfg.eps) is float


def test_zero_learning_rate_follows_each_constructor() -> None:
    """torch-optimizer refuses ``lr=0``; DLE's and MONAI's constructors accept it."""
    for make in (P.dle, P.monai):
        opt = make(lr=0.0)
        updates, _ = opt.update({"w": np.ones(2)}, opt.init({"w": np.ones(2)}))
        assert np.all(updates["w"] == 0)


def test_ignored_framework_keywords_are_accepted() -> None:
    P.openseq2seq(use_locking=True, name="x")
    P.apex(set_grad_none=False)
    P.pytorch_optimizer(foreach=True)
    P.tfa(name="x")


def test_structure_mismatch_names_the_place() -> None:
    opt = P.optax(0.1)
    state = opt.init(PARAMS)
    bad = grads_like(PARAMS)
    bad["head"] = [np.ones(4)]
    with pytest.raises(ValueError, match=r"at \['head'\]: expected a list of 2, got a list of 1"):
        opt.update(bad, state, PARAMS)


def test_shape_mismatch_names_the_leaf() -> None:
    opt = P.optax(0.1)
    state = opt.init(PARAMS)
    bad = grads_like(PARAMS)
    bad["dense"]["w"] = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"\['dense'\]\['w'\]: expected shape \(2, 3\)"):
        opt.update(bad, state, PARAMS)


def test_dtype_mismatch_names_the_leaf() -> None:
    opt = P.optax(0.1)
    state = opt.init(PARAMS)
    bad = grads_like(PARAMS)
    bad["dense"]["b"] = bad["dense"]["b"].astype(np.float32)
    with pytest.raises((TypeError, ValueError), match=r"\['dense'\]\['b'\]: expected"):
        opt.update(bad, state, PARAMS)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_integer_and_boolean_leaves_are_rejected(dtype: Any) -> None:
    params = {"a": np.ones(2), "steps": np.ones(2, dtype=dtype)}
    with pytest.raises(TypeError, match=r"params\['steps'\]: expected a real floating dtype"):
        P.optax(0.1).init(params)


def test_mixed_array_libraries_are_rejected() -> None:
    params = {"a": np.ones(2), "b": xs.ones(2, dtype=xs.float64)}
    with pytest.raises(TypeError, match=r"params\['b'\]: expected an array of"):
        P.optax(0.1).init(params)


def test_library_mismatch_between_trees_names_the_leaf_and_both_libraries() -> None:
    """Gradients, parameters, state and updates from different libraries."""
    params = {"a": np.ones(2), "b": np.ones(1)}
    strict = {k: xs.asarray(v) for k, v in params.items()}
    opt = P.optax(0.1, weight_decay=0.1)
    library = r"expected an array of array_api_strict like {}, got array_api_compat.numpy"
    state_library = library.format(r"the state from init\(\)")
    with pytest.raises(TypeError, match=r"grads\['a'\]: " + state_library):
        opt.update(params, opt.init(strict), params)
    with pytest.raises(TypeError, match=r"grads\['a'\]: " + library.format("its parameter")):
        opt.update(params, opt.init(params), strict)
    with pytest.raises(TypeError, match=r"updates\['b'\]: expected an array of "
                                        r"array_api_compat.numpy like its parameter"):
        ngr.apply_updates(params, {"a": np.ones(2), "b": strict["b"]})


def test_apply_updates_checks_its_trees() -> None:
    with pytest.raises(TypeError, match=r"params\['w'\]: expected a real floating dtype"):
        ngr.apply_updates({"w": np.array([1, 2])}, {"w": np.array([0.5, 0.5])})
    with pytest.raises(ValueError, match=r"updates\['w'\]: expected shape \(2,\) like the "
                                         r"parameter, got \(3,\)"):
        ngr.apply_updates({"w": np.ones(2)}, {"w": np.ones(3)})


def test_grads_and_params_of_different_dtypes_name_both() -> None:
    opt = P.optax(0.1, weight_decay=0.1)
    params = {"w": np.ones(2, dtype=np.float32)}
    grads = {"w": np.ones(2)}
    with pytest.raises(ValueError, match=r"grads\['w'\] and params\['w'\] must have one "
                                         r"shape and dtype, got \(2,\) float64 and \(2,\) "
                                         r"float32"):
        opt.update(grads, opt.init(grads), params)


def test_non_arrays_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"params\['a'\]: expected an array, got str"):
        P.optax(0.1).init({"a": "weights"})


def test_state_from_another_configuration_is_rejected() -> None:
    state = P.torch_optimizer(amsgrad=True).init(PARAMS)
    with pytest.raises(ValueError, match="amsgrad=True, this one has amsgrad=False"):
        P.torch_optimizer().update(grads_like(PARAMS), state, PARAMS)
    state32 = P.nemo(state_dtype="float32").init(PARAMS)
    with pytest.raises(TypeError, match=r"state.nu\['dense'\]\['b'\]: expected a 0-d"):
        P.nemo().update(grads_like(PARAMS), state32, PARAMS)
    with pytest.raises(TypeError, match="expected a NovoGradState"):
        P.nemo().update(grads_like(PARAMS), {"count": 0}, PARAMS)


def test_params_required_when_read() -> None:
    opt = P.optax(0.1, weight_decay=0.1)
    with pytest.raises(ValueError, match="needs params"):
        opt.update(grads_like(PARAMS), opt.init(PARAMS))


def test_errors_leave_inputs_and_state_untouched() -> None:
    opt = P.optax(0.1)
    state = opt.init(PARAMS)
    _, state = opt.update(grads_like(PARAMS), state, PARAMS)
    before = [np.copy(m) for m in (state.mu["dense"]["w"], PARAMS["dense"]["w"])]
    bad = grads_like(PARAMS)
    bad["dense"]["w"] = np.ones((3, 2))
    with pytest.raises(ValueError, match="expected shape"):
        opt.update(bad, state, PARAMS)
    np.testing.assert_array_equal(state.mu["dense"]["w"], before[0])
    np.testing.assert_array_equal(PARAMS["dense"]["w"], before[1])


@pytest.mark.parametrize(("call", "keyword"), [
    (lambda: ngr.presets.clara(epsilon=None), "'epsilon'"),
    (lambda: ngr.presets.flashlight(learningRate=float("nan")), "'learningRate'"),
    (lambda: ngr.presets.openseq2seq(0.1, beta1=1.5), "'beta1'"),
    (lambda: ngr.presets.tfa(0.1, beta_2=-0.5), "'beta_2'"),
])
def test_preset_errors_name_the_presets_own_keyword(call: Any, keyword: str) -> None:
    """A value refused by the configuration is named as the user wrote it."""
    with pytest.raises((TypeError, ValueError), match=keyword):
        call()


@pytest.mark.parametrize(("value", "digits"), [(10**5000, 5001), (10**5000 - 1, 5000),
                                               (-(10**4400), 4401)],
                         ids=["10**5000", "10**5000-1", "-10**4400"])
def test_integers_too_long_to_print_are_described_by_their_size(value: int,
                                                                digits: int) -> None:
    """Python refuses to write out ints past 4300 digits; the message must not try."""
    with pytest.raises(ValueError, match=rf"^b1 must be a real number a float can hold, "
                                         rf"got an int of {digits} digits$"):
        ngr.novograd(0.1, b1=value)


@pytest.mark.parametrize("second_moment_init", ["zero", "first_step_blend"])
def test_an_empty_layer_under_the_inf_norm_steps_with_norm_zero(
        second_moment_init: str) -> None:
    """A max of no magnitudes is 0 (NumPy's max of an empty array raises)."""
    opt = ngr.novograd(0.1, norm="apex_inf", second_moment_init=second_moment_init)
    params = {"e": np.zeros(0), "w": np.array([[3.0, -4.0]])}  # a side of 1: not empty
    updates, state = opt.update(params, opt.init(params))
    assert updates["e"].shape == (0,)
    assert float(state.nu["e"]) == 0.0
    # max|g| blended with a prior of 0, or (first_step_blend) with max|g| itself
    want = 0.02 * 4.0 if second_moment_init == "zero" else 4.0
    assert float(state.nu["w"]) == pytest.approx(want)


def test_a_float32_hyperparameter_prints_as_the_shortest_float_that_reads_back() -> None:
    cfg = ngr.Config(learning_rate=20.0, b1=0.9, hyper_dtype="float32")
    assert "learning_rate=20.0, b1=0.9," in repr(cfg)
    assert eval(repr(cfg), {"Config": ngr.Config}) == cfg


def test_every_given_hyperparameter_is_checked_and_stored_as_a_python_float() -> None:
    cfg = ngr.Config(learning_rate=0.1, weight_decay=0.1, weight_decay_mode="corrected",
                     max_learning_rate=np.float32(0.5))
    assert type(cfg.max_learning_rate) is float
    with pytest.raises(TypeError, match=r"^b1 must be a real number, got None$"):
        ngr.Config(learning_rate=0.1, b1=None)  # type: ignore[arg-type]


def test_the_rounding_note_appears_only_where_rounding_changed_the_value() -> None:
    with pytest.raises(ValueError, match=r"^b1 must be in \[0.0, 1.0\), got 1.5$"):
        ngr.Config(learning_rate=0.1, b1=1.5, hyper_dtype="float32")
    with pytest.raises(ValueError, match=r"got 1.0 \(0.99999999999 rounded to float32 by "
                                         r"hyper_dtype\)$"):
        ngr.Config(learning_rate=0.1, b1=0.99999999999, hyper_dtype="float32")


def test_switch_rules_are_frozen_and_hashable() -> None:
    import dataclasses

    from novograd_ref._config import COMPATIBILITY

    rule = COMPATIBILITY[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.switch = "norm"  # type: ignore[misc]
    assert hash(rule) == hash(dataclasses.replace(rule))


def test_a_bad_value_is_shown_whole_up_to_sixty_characters() -> None:
    from novograd_ref._config import describe_value

    assert describe_value("x" * 58) == f"{'x' * 58!r} (str)"  # a repr of 60 characters
    assert describe_value("x" * 59) == f"{('x' * 59)!r:.45}...(61 chars) (str)"
