"""NovoGrads written as their libraries publish optimizers, for the zero-glue targets.

Each is checked by the kit as it stands (``torch:tests.published_optimizers:NAME``,
``optax:...``, ``keras:...``), with no adapter. The faithful ones follow the equations
of the presets they are compared with (see each docstring); the others differ in one
known way. Written for these tests from the equations, not taken from any library.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

try:
    import torch
except ImportError:  # the torch tests skip
    torch = None  # type: ignore[assignment]


if torch is not None:

    class TorchNovoGrad(torch.optim.Optimizer):
        """NeMo's NovoGrad (preset ``nemo``): ``v = |g|^2`` while the stored ``v`` is 0,
        else ``b2 v + (1 - b2) |g|^2``; ``g' = g / (sqrt(v) + eps) + wd p``, times
        ``1 - b1`` with grad averaging; ``m = b1 m + g'``; ``p -= lr m``; amsgrad keeps
        the running maximum of ``v`` in the denominator."""

        def __init__(self, params: Any, lr: float = 1e-3,
                     betas: tuple[float, float] = (0.95, 0.98), eps: float = 1e-8,
                     weight_decay: float = 0.0, grad_averaging: bool = False,
                     amsgrad: bool = False) -> None:
            defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                            "grad_averaging": grad_averaging, "amsgrad": amsgrad}
            super().__init__(params, defaults)

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad
                    state = self.state[p]
                    if not state:
                        state["m"] = torch.zeros_like(p)
                        state["v"] = torch.zeros([])
                        state["v_max"] = torch.zeros([])
                    norm = torch.sum(g * g)
                    v = state["v"]
                    v.copy_(torch.where(v == 0, norm, b2 * v + (1 - b2) * norm))
                    if group["amsgrad"]:
                        torch.maximum(state["v_max"], v, out=state["v_max"])
                        v = state["v_max"]
                    u = g / (torch.sqrt(v) + group["eps"])
                    if group["weight_decay"]:
                        u = u + group["weight_decay"] * p
                    if group["grad_averaging"]:
                        u = u * (1 - b1)
                    state["m"].mul_(b1).add_(u)
                    p.add_(state["m"], alpha=-group["lr"])
            return None

    class TorchNovoGradSpelled(TorchNovoGrad):
        """The same optimizer with other spellings: ``learning_rate``, ``beta1``,
        ``beta2``, ``epsilon``, ``wd``; no amsgrad or grad averaging keyword."""

        def __init__(self, params: Any, learning_rate: float = 1e-3, beta1: float = 0.95,
                     beta2: float = 0.98, epsilon: float = 1e-8, wd: float = 0.0) -> None:
            torch.optim.Optimizer.__init__(
                self, params, {"lr": learning_rate, "betas": (beta1, beta2), "eps": epsilon,
                                   "weight_decay": wd, "grad_averaging": False, "amsgrad": False})

    class TorchNovoGradMomentum(TorchNovoGrad):
        """The same optimizer with ``b1`` under a name no registry knows: ``momentum``
        (checked with ``--map momentum=b1``)."""

        def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.95,
                     beta2: float = 0.98, eps: float = 1e-8) -> None:
            super().__init__(params, lr, (momentum, beta2), eps)

    class TorchNovoGradClosure(TorchNovoGrad):
        """Requires a closure, as line-search optimizers do (it calls it once)."""

        def step(self, closure: Any) -> Any:  # no default: the kit must pass one
            with torch.enable_grad():
                closure()
            return super().step()

    class TorchNovoGradFromZero(TorchNovoGrad):
        """Starts the second moment at zero (``v_1 = (1 - b2) |g_1|^2``): a wrong first
        step."""

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if not state:
                        state["m"] = torch.zeros_like(p)
                        state["v"] = torch.full([], 1e-300)  # never 0: always the EMA
                        state["v_max"] = torch.zeros([])
            return super().step()

    class NotAnOptimizer:
        """A class that is no ``torch.optim.Optimizer``."""

        def __init__(self, params: Any, lr: float = 1e-3) -> None:
            self.params = params


class NovoGradState(NamedTuple):
    """The state of :func:`optax_novograd`."""

    count: Any
    mu: Any
    nu: Any


class Transformation(NamedTuple):
    """An optax-style ``GradientTransformation`` (``init``, ``update``)."""

    init: Any
    update: Any


def scale_by_novograd(b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6,
                      eps_root: float = 0.0, weight_decay: float = 0.0) -> Transformation:
    """optax's NovoGrad without the learning rate (preset ``optax`` once scaled by
    ``-lr``), in JAX only: ``v_1 = |g_1|^2``, later ``b2 v + (1 - b2) |g|^2``;
    ``u = g / (sqrt(v + eps_root) + eps) + wd p``; ``m_1 = u``, later ``b1 m + u``."""
    import jax
    import jax.numpy as jnp

    def init(params: Any) -> NovoGradState:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        nus = jax.tree_util.tree_map(lambda p: jnp.zeros((), p.dtype), params)
        return NovoGradState(jnp.zeros((), jnp.int32), zeros, nus)

    def update(grads: Any, state: NovoGradState, params: Any) -> tuple[Any, NovoGradState]:
        first = state.count == 0

        def nu(g: Any, v: Any) -> Any:
            q = jnp.sum(jnp.square(g)).astype(v.dtype)
            return jnp.where(first, q, b2 * v + (1 - b2) * q)

        nus = jax.tree_util.tree_map(nu, grads, state.nu)
        us = jax.tree_util.tree_map(
            lambda g, v, p: g / (jnp.sqrt(v + eps_root) + eps) + weight_decay * p,
            grads, nus, params)
        mus = jax.tree_util.tree_map(lambda m, u: jnp.where(first, u, b1 * m + u),
                                     state.mu, us)
        return mus, NovoGradState(state.count + 1, mus, nus)

    return Transformation(init, update)


def optax_novograd(learning_rate: Any, b1: float = 0.9, b2: float = 0.25, eps: float = 1e-6,
                   eps_root: float = 0.0, weight_decay: float = 0.0) -> Transformation:
    """:func:`scale_by_novograd` followed by ``-learning_rate(count)`` (preset ``optax``)."""
    inner = scale_by_novograd(b1, b2, eps, eps_root, weight_decay)

    def update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        import jax

        inner_state, count = state
        updates, inner_state = inner.update(grads, inner_state, params)
        rate = learning_rate(count) if callable(learning_rate) else learning_rate
        updates = jax.tree_util.tree_map(lambda u: (-rate * u).astype(u.dtype), updates)
        return updates, (inner_state, count + 1)

    def init(params: Any) -> Any:
        import jax.numpy as jnp

        return inner.init(params), jnp.zeros((), jnp.int32)

    return Transformation(init, update)


def not_a_transformation(learning_rate: Any, b1: float = 0.9, b2: float = 0.25,
                         eps: float = 1e-6, eps_root: float = 0.0,
                         weight_decay: float = 0.0) -> float:
    """Takes optax's keywords and returns a number, not a transformation."""
    return math.pi


def keras_novograd_class() -> Any:
    """A Keras 3 NovoGrad with optax's equations (preset ``optax``), spelled as Keras
    spells its optimizers (``beta_1``, ``beta_2``, ``epsilon``); built on first use,
    since Keras must be imported after its backend is chosen."""
    from novograd_ref.conformance.targets import keras_module

    keras = keras_module()
    ops = keras.ops

    class KerasNovoGrad(keras.optimizers.Optimizer):  # type: ignore[name-defined,misc]
        def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9,
                     beta_2: float = 0.25, epsilon: float = 1e-6,
                     weight_decay_inside: float = 0.0, name: str = "novograd",
                     **kwargs: Any) -> None:
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
            self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
            self.weight_decay_inside = weight_decay_inside

        def build(self, var_list: Any) -> None:
            if self.built:
                return
            super().build(var_list)
            self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
            self._v = [self.add_variable((), dtype=v.dtype, initializer="zeros", name="v")
                       for v in var_list]

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            i = self._get_variable_index(variable)
            m, v = self._m[i], self._v[i]
            first = ops.equal(self.iterations, 0)
            q = ops.sum(ops.square(gradient))
            v_new = ops.where(first, q, self.beta_2 * v + (1 - self.beta_2) * q)
            u = gradient / (ops.sqrt(v_new) + self.epsilon)
            u = u + self.weight_decay_inside * variable
            m_new = ops.where(first, u, self.beta_1 * m + u)
            self.assign(v, v_new)
            self.assign(m, m_new)
            self.assign_sub(variable, ops.cast(learning_rate, variable.dtype) * m_new)

    return KerasNovoGrad


def __getattr__(name: str) -> Any:
    if name == "KerasNovoGrad":
        return keras_novograd_class()
    raise AttributeError(name)
