"""Deliberately wrong NovoGrad ports, and the faithful ports they are made from: the
material the conformance kit (``verify``, ``identify``) and ``explain`` are tested on.

Every factory here is an ``--impl`` target, ``tests.flawed_ports:NAME``, and its name
says what its port does wrong:

- NumPy ports of the update (:class:`NumpyNovoGrad`) taking ``optax.novograd``'s
  keywords (:func:`numpy_optax`) or torch-optimizer's (:func:`numpy_torch`), each
  with one porting mistake or a few (``eps_inside_sqrt``, ``v_from_zero``, ...);
- PyTorch ports (:class:`TorchNovoGrad`, ``torch_*``), with torch-optimizer's keywords;
- published variants behind another setting's keywords, and the reference itself with
  a few switches set (what ``explain`` must name);
- adapters that break the protocol (:class:`Misbehaving`) or factories that fail;
- ports that misbehave on one case only (:class:`OneCaseMisbehaving`, ``one_case_*``):
  they exit, hang, crash or allocate, and the kit must report that case and go on.

A factory asked for an option its port does not have raises
:class:`~novograd_ref.conformance.Unsupported` (the run is skipped); anything else it
raises is an error of the port. A port that exits as soon as it is imported has to be a
module of its own: ``tests/port_exits_on_import.py``. ``tests/unseen_ports.py`` holds
the ports ``explain`` was never tuned on.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from novograd_ref.conformance import Unsupported


def _bound(make: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    """``make`` with the keywords ``fixed`` set: a factory the kit calls with a preset's
    keywords."""
    def factory(**kwargs: Any) -> Any:
        return make(**kwargs, **fixed)

    return factory


# ------------------------------------------------------------------- NumPy ports


class NumpyNovoGrad:
    """NovoGrad over dicts of NumPy arrays, ``v`` from the first step (optax) or whenever
    still 0 (``when_zero``, the PyTorch family), with optional ``flaw``\\ s:

    - ``eps_inside_sqrt``: ``sqrt(v + eps)`` instead of ``sqrt(v) + eps``;
    - ``extra_one_minus_b1``: ``(1 - b1) g`` in the momentum where the preset has none;
    - ``missing_one_minus_b1``: no ``(1 - b1)`` where ``grad_averaging`` asks for it;
    - ``lr_inside_momentum``: ``m = b1 m - lr u; p = p + m`` (the rate in the momentum);
    - ``v_from_zero``: ``v`` starts at 0 and is blended from step 1;
    - ``float32_norm``: the layer norm computed from the gradient in float32;
    - ``second_moment_with_b1``: the second moment is blended with ``b1``;
    - ``swapped_betas``: ``b1`` in the second moment, ``b2`` in the momentum;
    - ``no_eps_first_step``: the paper's algorithm box literally (``g / sqrt(v_1)``);
    - ``global_norm``: one norm over the whole tree;
    - ``weight_decay_sign_flipped``: ``- wd p`` instead of ``+ wd p``;
    - ``float32_math``: everything computed in float32 whatever the parameters;
    - ``crashes_on_0d``: ``len(g)``, which only works on arrays with at least one axis;
    - ``no_first_step_update``: the first step only fills the moments.

    Several flaws combine with ``+`` (``"second_moment_with_b1+no_first_step_update"``).
    """

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float,
                 grad_averaging: bool, when_zero: bool, flaw: str | None = None) -> None:
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay
        self.grad_averaging, self.when_zero = grad_averaging, when_zero
        self.flaws = set(flaw.split("+")) if flaw else set()
        self.name = f"numpy[{flaw or 'faithful'}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        return {"p": {k: v.copy() for k, v in params.items()}, "t": 0, "lr": learning_rate,
                "m": {k: np.zeros_like(v) for k, v in params.items()},
                "v": dict.fromkeys(params, 0.0)}

    def _square_norm(self, g: np.ndarray) -> float:
        if "crashes_on_0d" in self.flaws:
            rows = g.reshape(len(g), -1)  # len() of a 0-d array raises TypeError
            return float(np.sum(rows * rows))
        if "float32_norm" in self.flaws:
            g = g.astype(np.float32)
        return float(np.sum(g * g))

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        flaws = self.flaws
        t, lr = state["t"] + 1, state["lr"]
        rate = float(lr[t - 1]) if isinstance(lr, np.ndarray) else float(lr)
        work = np.float32 if "float32_math" in flaws else None
        total = sum(self._square_norm(g) for g in grads.values())
        new_p, new_m, new_v = {}, {}, {}
        for name, g_in in grads.items():
            dtype = g_in.dtype
            g, p, m = (x.astype(work or dtype) for x in
                       (g_in, state["p"][name], state["m"][name]))
            v = state["v"][name]
            s = total if "global_norm" in flaws else self._square_norm(g)
            swapped = "swapped_betas" in flaws
            beta = self.b1 if "second_moment_with_b1" in flaws or swapped else self.b2
            momentum = self.b2 if swapped else self.b1
            first = (v == 0 if self.when_zero else t == 1) and "v_from_zero" not in flaws
            v = s if first else beta * v + (1 - beta) * s
            if "eps_inside_sqrt" in flaws:
                den = np.sqrt(v + self.eps)
            elif "no_eps_first_step" in flaws and t == 1:
                den = np.sqrt(v)
            else:
                den = np.sqrt(v) + self.eps
            sign = -1.0 if "weight_decay_sign_flipped" in flaws else 1.0
            with np.errstate(invalid="ignore", divide="ignore"):
                u = g / g.dtype.type(den) + g.dtype.type(sign * self.wd) * p
            averaging = self.grad_averaging != ("missing_one_minus_b1" in flaws)
            if averaging or "extra_one_minus_b1" in flaws:
                u = g.dtype.type(1 - self.b1) * u
            if "lr_inside_momentum" in flaws:
                m = g.dtype.type(momentum) * m - g.dtype.type(rate) * u
                p = p + m
            else:
                m = g.dtype.type(momentum) * m + u
                if not ("no_first_step_update" in flaws and t == 1):
                    p = p - g.dtype.type(rate) * m
            new_p[name], new_m[name], new_v[name] = p.astype(dtype), m.astype(dtype), v
        return new_p, {"p": new_p, "t": t, "lr": lr, "m": new_m, "v": new_v}


def numpy_optax(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
                weight_decay: float = 0.0, flaw: str | None = None) -> NumpyNovoGrad:
    """A faithful NumPy port with ``optax.novograd``'s keywords (no ``eps_root``)."""
    if eps_root:
        raise Unsupported("this port has no eps_root")
    return NumpyNovoGrad(b1, b2, eps, weight_decay, False, False, flaw)


def numpy_torch(betas: Any = (0.95, 0.0), eps: float = 1e-8, weight_decay: float = 0.0,
                grad_averaging: bool = False, amsgrad: bool = False,
                flaw: str | None = None) -> NumpyNovoGrad:
    """A faithful NumPy port with torch-optimizer's keywords (no amsgrad)."""
    if amsgrad:
        raise Unsupported("this port has no amsgrad")
    return NumpyNovoGrad(float(betas[0]), float(betas[1]), eps, weight_decay, grad_averaging,
                         True, flaw)


eps_inside_sqrt = _bound(numpy_optax, flaw="eps_inside_sqrt")
extra_one_minus_b1 = _bound(numpy_optax, flaw="extra_one_minus_b1")
lr_inside_momentum = _bound(numpy_optax, flaw="lr_inside_momentum")
v_from_zero = _bound(numpy_optax, flaw="v_from_zero")
float32_norm = _bound(numpy_optax, flaw="float32_norm")
missing_one_minus_b1 = _bound(numpy_torch, flaw="missing_one_minus_b1")
second_moment_with_b1 = _bound(numpy_optax, flaw="second_moment_with_b1")
swapped_betas = _bound(numpy_optax, flaw="swapped_betas")
no_eps_first_step = _bound(numpy_optax, flaw="no_eps_first_step")
global_norm = _bound(numpy_optax, flaw="global_norm")
float32_math = _bound(numpy_optax, flaw="float32_math")
crashes_on_0d = _bound(numpy_optax, flaw="crashes_on_0d")
weight_decay_sign_flipped = _bound(numpy_torch, flaw="weight_decay_sign_flipped")
b1_in_second_moment_no_first_update_decay_flipped = _bound(
    numpy_torch, flaw="second_moment_with_b1+no_first_step_update+weight_decay_sign_flipped")


# ----------------------------------------------------------------- PyTorch ports


class TorchNovoGrad:
    """torch-optimizer's ``NovoGrad`` step written out on tensors, with one ``flaw``:

    - ``v_from_zero``: ``v`` starts at 0 and is blended from step 1;
    - ``v_per_element``: ``v`` per element (an RMSprop-like moving average of ``g**2``);
    - ``no_first_step_update``: the first step only fills the moments;
    - ``float32_state``: ``v = torch.zeros([])``, float32 under float64 parameters (as
      every PyTorch NovoGrad under torch's default dtype);
    - ``adam_bias_correction``: Adam's ``sqrt(1 - b2^t) / (1 - b1^t)`` step factor.
    """

    def __init__(self, betas: Any = (0.95, 0.0), eps: float = 1e-8,
                 weight_decay: float = 0.0, grad_averaging: bool = False,
                 amsgrad: bool = False, flaw: str | None = None) -> None:
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.eps, self.wd, self.grad_averaging, self.amsgrad = (
            eps, weight_decay, grad_averaging, amsgrad)
        self.flaw = flaw
        self.name = f"torch[{flaw or 'faithful'}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        import torch

        p = {k: torch.tensor(v) for k, v in params.items()}
        def zero(x: Any) -> Any:
            if self.flaw == "float32_state":
                return torch.zeros([])
            return torch.zeros_like(x) if self.flaw == "v_per_element" else \
                torch.zeros([], dtype=x.dtype)
        return {"p": p, "t": 0, "lr": learning_rate,
                "m": {k: torch.zeros_like(v) for k, v in p.items()},
                "v": {k: zero(v) for k, v in p.items()},
                "vmax": {k: zero(v) for k, v in p.items()}}

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import torch

        t, lr = state["t"] + 1, state["lr"]
        rate = float(lr[t - 1]) if isinstance(lr, np.ndarray) else float(lr)
        new = {"p": {}, "m": {}, "v": {}, "vmax": {}, "t": t, "lr": lr}
        for name, g_np in grads.items():
            g = torch.tensor(g_np)
            p, m, v, vmax = (state[k][name] for k in ("p", "m", "v", "vmax"))
            s = g * g if self.flaw == "v_per_element" else torch.sum(g * g)
            blend = self.b2 * v + (1 - self.b2) * s
            if self.flaw in ("v_from_zero", "v_per_element"):
                v_new = blend if self.flaw == "v_from_zero" else torch.where(v == 0, s, blend)
            else:
                v_new = s if bool(v == 0) else blend
            v_new = v_new.to(v.dtype)
            if self.amsgrad:
                vmax = torch.maximum(vmax, v_new)
                den = vmax.sqrt() + self.eps
            else:
                den = v_new.sqrt() + self.eps
            u = g / den
            if self.wd:
                u = u + self.wd * p
            if self.grad_averaging:
                u = u * (1 - self.b1)
            m = self.b1 * m + u
            step = rate
            if self.flaw == "adam_bias_correction":
                step = rate * (1 - self.b2**t) ** 0.5 / (1 - self.b1**t)
            if not (self.flaw == "no_first_step_update" and t == 1):
                p = p - step * m
            new["p"][name], new["m"][name], new["v"][name], new["vmax"][name] = p, m, v_new, vmax
        return {k: v.numpy().copy() for k, v in new["p"].items()}, new


torch_faithful = _bound(TorchNovoGrad, flaw=None)
torch_v_from_zero = _bound(TorchNovoGrad, flaw="v_from_zero")
torch_v_per_element = _bound(TorchNovoGrad, flaw="v_per_element")
torch_no_first_step_update = _bound(TorchNovoGrad, flaw="no_first_step_update")
torch_float32_state = _bound(TorchNovoGrad, flaw="float32_state")
torch_adam_bias_correction = _bound(TorchNovoGrad, flaw="adam_bias_correction")


def torch_float32_state_declared(**kwargs: Any) -> TorchNovoGrad:
    """``torch_float32_state``, declaring the oracle keyword that reproduces it."""
    return TorchNovoGrad(**kwargs, flaw="float32_state")


torch_float32_state_declared.oracle_kwargs = {  # type: ignore[attr-defined]
    "state_dtype": "float32"}


# ---------------------------------------------------------- real variants, as ports
# Published variants, run through the oracle's presets but taking another setting's
# keywords: what a porter gets who copies one framework while targeting another.


def _preset_port(preset: str, **forced: Any) -> Any:
    from novograd_ref.conformance import PresetAdapter

    def factory(**kwargs: Any) -> PresetAdapter:
        return PresetAdapter(preset, **{**kwargs, **forced})

    return factory


apex_raw_momentum = _preset_port("apex", reg_inside_moment=False)
apex_bias_correction = _preset_port("apex", bias_correction=True)
nemo_with_luc = _preset_port("nemo", luc=True)
tfa_float32_hyper = _preset_port("tfa", hyper_dtype="float32")
pytorch_optimizer_debias = _preset_port("pytorch_optimizer", adam_debias=True)


def timm_with_optax_keywords(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6,
                             eps_root: float = 0.0, weight_decay: float = 0.0) -> Any:
    """timm's NvNovoGrad behind optax's keywords (the PyTorch family's second-moment
    start)."""
    from novograd_ref.conformance import PresetAdapter

    if eps_root:
        raise Unsupported("timm has no eps_root")
    return PresetAdapter("timm", betas=(b1, b2), eps=eps, weight_decay=weight_decay)


# ------------------------------------------------- configurations as ports
# The reference itself with a few switches set, behind optax's keywords: what explain's
# search must find again, however the switches interact.


class ConfigPort:
    """``ngr.novograd`` with fixed ``switches``, driven as an adapter."""

    name = "config-port"

    def __init__(self, hyper: dict[str, float], switches: dict[str, Any]) -> None:
        self.hyper, self.switches = hyper, switches

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> Any:
        import novograd_ref as ngr

        table = [float(x) for x in np.atleast_1d(learning_rate)]
        rate = (lambda k: table[int(k)]) if isinstance(learning_rate, np.ndarray) else \
            float(learning_rate)
        opt = ngr.novograd(rate, **self.hyper, **self.switches)
        return opt, dict(params), opt.init(dict(params))

    def update(self, grads: Mapping[str, np.ndarray], state: Any) -> Any:
        import novograd_ref as ngr

        opt, params, opt_state = state
        updates, opt_state = opt.update(dict(grads), opt_state, params)
        params = ngr.apply_updates(params, updates)
        return dict(params), (opt, params, opt_state)


def _config_port(**switches: Any) -> Any:
    def factory(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
                weight_decay: float = 0.0) -> ConfigPort:
        return ConfigPort({"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root,
                           "weight_decay": weight_decay}, switches)

    return factory


# a zero start and sqrt(1 - b2^t) debiasing nearly cancel: neither alone is closer
zero_debias_late_averaging = _config_port(second_moment_init="zero",
                                          bias_correction="debias",
                                          grad_averaging="after_first_step")
when_zero_always_averaging = _config_port(second_moment_init="when_zero",
                                          grad_averaging="always")


# ------------------------------------------------------------- broken adapters
# Each breaks the adapter protocol (or fails) in one way the kit must report plainly.


class Misbehaving:
    """The faithful optax port, with one misbehaviour (``mode``) on top."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        self.port, self.mode, self.name = numpy_optax(**kwargs), mode, f"misbehaving[{mode}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> Any:
        if self.mode == "init_raises":
            raise KeyError("no such slot")
        return self.port.init(params, learning_rate)

    def update(self, grads: Mapping[str, np.ndarray], state: Any) -> Any:
        if self.mode == "update_raises" and state["t"] == 2:
            raise RuntimeError("update exploded")
        params, state = self.port.update(grads, state)
        if self.mode == "zeroes_grads":  # as ``p.grad.zero_()`` after the step would
            for g in grads.values():
                g[...] = 0
        elif self.mode == "returns_wrong_shape":
            params = {k: v.reshape(-1)[:1] for k, v in params.items()}
        elif self.mode == "returns_float16":
            params = {k: v.astype(np.float16) for k, v in params.items()}
        elif self.mode == "drops_a_leaf":
            params = dict(list(params.items())[1:])
        elif self.mode == "returns_a_list":
            return list(params.values()), state
        elif self.mode == "returns_none_state":
            return params, None
        elif self.mode == "returns_nan":
            params = {k: np.full_like(v, np.nan) for k, v in params.items()}
        elif self.mode == "requires_array_grads":
            assert all(isinstance(g, np.ndarray) for g in grads.values()), grads
        return params, state


init_raises = _bound(Misbehaving, mode="init_raises")
update_raises = _bound(Misbehaving, mode="update_raises")  # on the third step
zeroes_grads = _bound(Misbehaving, mode="zeroes_grads")
returns_wrong_shape = _bound(Misbehaving, mode="returns_wrong_shape")
returns_float16 = _bound(Misbehaving, mode="returns_float16")
drops_a_leaf = _bound(Misbehaving, mode="drops_a_leaf")
returns_a_list = _bound(Misbehaving, mode="returns_a_list")
returns_none_state = _bound(Misbehaving, mode="returns_none_state")
returns_nan = _bound(Misbehaving, mode="returns_nan")
requires_array_grads = _bound(Misbehaving, mode="requires_array_grads")


def factory_raises_value(**kwargs: Any) -> Any:
    """A factory that fails on every keyword set (an error, not a skip)."""
    raise ValueError("not implemented yet")


def factory_unsupported(**kwargs: Any) -> Any:
    """Says "I do not have this option" for every keyword set."""
    raise Unsupported("not implemented yet")


def factory_not_implemented(**kwargs: Any) -> Any:
    """Says it with the built-in exception."""
    raise NotImplementedError("no such option")


def factory_raises_key(**kwargs: Any) -> Any:
    """A bug in the user's factory: a keyword looked up where it is not."""
    given: dict[str, Any] = {}
    return given["b1"]


def factory_returns_none(**kwargs: Any) -> Any:
    """Forgets to return the adapter."""
    return None


def declares_unknown_oracle_keyword(**kwargs: Any) -> NumpyNovoGrad:
    """A faithful port whose declared oracle keywords name no keyword of the preset."""
    return numpy_optax(**kwargs)


declares_unknown_oracle_keyword.oracle_kwargs = {  # type: ignore[attr-defined]
    "no_such_keyword": 1}


# ------------------------------------------------- ports misbehaving on one case
# The faithful optax port, misbehaving on one case only: the one with a leaf named
# "late" (zero_first_grads), at step 2. The kit must report that case as an error and
# go on with the others.


class OneCaseMisbehaving:
    """``mode``: what ``update()`` does on step 2 of the case with a leaf ``late``
    (``noise``: prints to stdout, fd 1 and stderr on every step, and is faithful)."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        self.port, self.mode, self.name = numpy_optax(**kwargs), mode, f"one-case[{mode}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> Any:
        return self.port.init(params, learning_rate)

    def update(self, grads: Mapping[str, np.ndarray], state: Any) -> Any:
        chosen = "late" in grads and state["t"] == 1
        if self.mode == "noise":
            print('{"oracle_kwargs": {}}\nnoise on stdout', flush=True)
            os.write(1, b"noise on fd 1\n")
            print("noise on stderr", file=sys.stderr)
        elif chosen and self.mode == "exit0":
            sys.exit(0)
        elif chosen and self.mode == "os_exit":
            os._exit(0)
        elif chosen and self.mode == "exit_message":
            sys.exit("bye")
        elif chosen and self.mode == "sleep":
            time.sleep(3600)
        elif chosen and self.mode == "segfault":
            ctypes.string_at(0)
        elif chosen and self.mode == "allocate":
            np.ones(1 << 31)  # 16 GiB
        elif chosen and self.mode == "order":
            raise RuntimeError(f"leaves {list(grads)}")
        elif chosen and self.mode == "mutate":
            for g in grads.values():
                g *= 2
        params, state = self.port.update(grads, state)
        if chosen and self.mode == "nan":
            params = {k: np.full_like(v, np.nan) for k, v in params.items()}
        return params, state


one_case_exit0 = _bound(OneCaseMisbehaving, mode="exit0")  # sys.exit(0)
one_case_os_exit = _bound(OneCaseMisbehaving, mode="os_exit")  # os._exit(0)
one_case_exit_message = _bound(OneCaseMisbehaving, mode="exit_message")  # sys.exit("bye")
one_case_sleep = _bound(OneCaseMisbehaving, mode="sleep")  # hangs for an hour
one_case_segfault = _bound(OneCaseMisbehaving, mode="segfault")  # reads address 0
one_case_allocate = _bound(OneCaseMisbehaving, mode="allocate")  # asks for 16 GiB
one_case_order = _bound(OneCaseMisbehaving, mode="order")  # raises, naming the leaves given
one_case_mutate = _bound(OneCaseMisbehaving, mode="mutate")  # doubles the gradients it was handed
one_case_nan = _bound(OneCaseMisbehaving, mode="nan")  # returns NaN
prints_noise = _bound(OneCaseMisbehaving, mode="noise")
