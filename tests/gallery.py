"""A gallery of NovoGrad ports, each a plausible porting mistake or a real variant, in
plain NumPy and in PyTorch: the material ``explain`` is tested on.

NumPy ports take ``optax.novograd``'s keywords (``numpy_optax``) or torch-optimizer's
(``numpy_torch``); PyTorch ports take torch-optimizer's (``torch_port``). Each factory
below fixes one ``flaw``; ``None`` is a faithful port. A factory asked for an option
its port does not have raises :class:`~novograd_ref.conformance.Unsupported` (the run
is skipped); anything else it raises is an error of the port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from novograd_ref.conformance import Unsupported


class NumpyNovoGrad:
    """NovoGrad over dicts of NumPy arrays, ``v`` from the first step (optax) or whenever
    still 0 (``when_zero``, the PyTorch family), with one optional ``flaw``:

    - ``wrong_beta``: the second moment is blended with ``b1``;
    - ``swapped_betas``: ``b1`` in the second moment, ``b2`` in the momentum;
    - ``no_eps_first_step``: the paper's algorithm box literally (``g / sqrt(v_1)``);
    - ``global_norm``: one norm over the whole tree;
    - ``weight_decay_sign``: ``- wd p`` instead of ``+ wd p``;
    - ``float32_math``: everything computed in float32 whatever the parameters;
    - ``crash_0d``: ``len(g)``, which only works on arrays with at least one axis;
    - ``no_first_step_update``: the first step only fills the moments.

    Several flaws combine with ``+`` (``"wrong_beta+weight_decay_sign"``).
    """

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float,
                 grad_averaging: bool, when_zero: bool, flaw: str | None) -> None:
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay
        self.grad_averaging, self.when_zero = grad_averaging, when_zero
        self.flaws = set(flaw.split("+")) if flaw else set()
        self.name = f"numpy[{flaw or 'faithful'}]"

    def init(self, params: Mapping[str, np.ndarray], learning_rate: Any) -> dict[str, Any]:
        return {"p": {k: v.copy() for k, v in params.items()}, "t": 0, "lr": learning_rate,
                "m": {k: np.zeros_like(v) for k, v in params.items()},
                "v": dict.fromkeys(params, 0.0)}

    def _square_norm(self, g: np.ndarray) -> float:
        if "crash_0d" in self.flaws:
            rows = g.reshape(len(g), -1)  # len() of a 0-d array raises TypeError
            return float(np.sum(rows * rows))
        return float(np.sum(g * g))

    def update(self, grads: Mapping[str, np.ndarray], state: dict[str, Any]
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        t, lr = state["t"] + 1, state["lr"]
        rate = float(lr[t - 1]) if isinstance(lr, np.ndarray) else float(lr)
        work = np.float32 if "float32_math" in self.flaws else None
        total = sum(self._square_norm(g) for g in grads.values())
        new_p, new_m, new_v = {}, {}, {}
        for name, g_in in grads.items():
            dtype = g_in.dtype
            g, p, m = (x.astype(work or dtype) for x in
                       (g_in, state["p"][name], state["m"][name]))
            v = state["v"][name]
            s = total if "global_norm" in self.flaws else self._square_norm(g)
            swapped = "swapped_betas" in self.flaws
            beta = self.b1 if "wrong_beta" in self.flaws or swapped else self.b2
            momentum = self.b2 if swapped else self.b1
            first = v == 0 if self.when_zero else t == 1
            v = s if first else beta * v + (1 - beta) * s
            den = np.sqrt(v) if ("no_eps_first_step" in self.flaws and t == 1) else \
                np.sqrt(v) + self.eps
            sign = -1.0 if "weight_decay_sign" in self.flaws else 1.0
            with np.errstate(invalid="ignore", divide="ignore"):
                u = g / g.dtype.type(den) + g.dtype.type(sign * self.wd) * p
            if self.grad_averaging:
                u = g.dtype.type(1 - self.b1) * u
            m = g.dtype.type(momentum) * m + u
            if not ("no_first_step_update" in self.flaws and t == 1):
                p = p - g.dtype.type(rate) * m
            new_p[name], new_m[name], new_v[name] = p.astype(dtype), m.astype(dtype), v
        return new_p, {"p": new_p, "t": t, "lr": lr, "m": new_m, "v": new_v}


def numpy_optax(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6, eps_root: float = 0.0,
                weight_decay: float = 0.0, flaw: str | None = None) -> NumpyNovoGrad:
    """A NumPy port with ``optax.novograd``'s keywords (no ``eps_root``)."""
    if eps_root:
        raise Unsupported("this port has no eps_root")
    return NumpyNovoGrad(b1, b2, eps, weight_decay, False, False, flaw)


def numpy_torch(betas: Any = (0.95, 0.0), eps: float = 1e-8, weight_decay: float = 0.0,
                grad_averaging: bool = False, amsgrad: bool = False,
                flaw: str | None = None) -> NumpyNovoGrad:
    """A NumPy port with torch-optimizer's keywords (no amsgrad)."""
    if amsgrad:
        raise Unsupported("this port has no amsgrad")
    return NumpyNovoGrad(float(betas[0]), float(betas[1]), eps, weight_decay, grad_averaging,
                         True, flaw)


class TorchNovoGrad:
    """torch-optimizer's ``NovoGrad`` step written out on tensors, with one ``flaw``:

    - ``v_from_zero``: ``v`` starts at 0 and is blended from step 1;
    - ``elementwise``: ``v`` per element (an RMSprop-like moving average of ``g**2``);
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
            return torch.zeros_like(x) if self.flaw == "elementwise" else \
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
            s = g * g if self.flaw == "elementwise" else torch.sum(g * g)
            blend = self.b2 * v + (1 - self.b2) * s
            if self.flaw in ("v_from_zero", "elementwise"):
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


def _numpy(flaw: str, base: Any) -> Any:
    def factory(**kwargs: Any) -> NumpyNovoGrad:
        port: NumpyNovoGrad = base(**kwargs, flaw=flaw)
        return port

    return factory


def _torch(flaw: str | None) -> Any:
    def factory(**kwargs: Any) -> TorchNovoGrad:
        return TorchNovoGrad(**kwargs, flaw=flaw)

    return factory


wrong_beta = _numpy("wrong_beta", numpy_optax)
no_eps_first_step = _numpy("no_eps_first_step", numpy_optax)
global_norm = _numpy("global_norm", numpy_optax)
float32_math = _numpy("float32_math", numpy_optax)
crash_0d = _numpy("crash_0d", numpy_optax)
weight_decay_sign = _numpy("weight_decay_sign", numpy_torch)
swapped_betas = _numpy("swapped_betas", numpy_optax)
three_flaws = _numpy("wrong_beta+no_first_step_update+weight_decay_sign", numpy_torch)
torch_faithful = _torch(None)
torch_v_from_zero = _torch("v_from_zero")
torch_elementwise = _torch("elementwise")
torch_no_first_step_update = _torch("no_first_step_update")
torch_float32_state = _torch("float32_state")
torch_adam_bias_correction = _torch("adam_bias_correction")


def torch_float32_state_declared(**kwargs: Any) -> TorchNovoGrad:
    """``torch_float32_state``, declaring the oracle keyword that reproduces it."""
    return TorchNovoGrad(**kwargs, flaw="float32_state")


torch_float32_state_declared.oracle_kwargs = {"state_dtype": "float32"}  # type: ignore[attr-defined]


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
