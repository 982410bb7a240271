"""What the PyTorch-family framework adapters share.

The four PyTorch NovoGrad implementations recorded here (torch-optimizer, timm's
``NvNovoGrad``, pytorch_optimizer and NeMo's ``Novograd``) are all ``torch.optim``
optimizers, so one adapter drives them all: it turns each NumPy leaf into its own CPU
``torch.nn.Parameter`` (one NovoGrad "layer" per leaf, in mapping order), writes the
gradients into ``.grad`` before every ``step()``, feeds the learning rate through
``param_group["lr"]`` and copies the parameters back to NumPy.

Several of these optimizers create their per-layer second moment with
``torch.zeros([])``, i.e. in torch's *default* dtype rather than the parameter dtype, so
the default dtype is part of a run's settings (``{"torch_default_dtype": "float64"}``)
and is set, then restored, around optimizer construction and around every step.

Nothing here imports torch at module level.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from novograd_ref.conformance.adapters._protocol import LearningRate, Leaves
from novograd_ref.conformance.frameworks import Framework, dist_versions, spec_exists

__all__ = [
    "DEFAULT_DTYPE_KEY",
    "STATE_NAMES",
    "OptimizerFactory",
    "SecondMomentDtype",
    "TorchAdapter",
    "TorchRun",
    "constructor_lr",
    "default_dtype",
    "default_dtype_name",
    "load_module_from_file",
    "rate_for_step",
    "torch_available",
    "torch_framework",
    "torch_versions",
]

#: The settings key naming the torch default dtype of a run.
DEFAULT_DTYPE_KEY = "torch_default_dtype"

#: Optimizer state keys of the four implementations -> the names used in records
#: (``mu`` first moment, ``nu`` second moment, ``nu_max`` amsgrad's running maximum).
STATE_NAMES: dict[str, str] = {
    "exp_avg": "mu",
    "moments": "mu",
    "exp_avg_sq": "nu",
    "grads_ema": "nu",
    "max_exp_avg_sq": "nu_max",
}

#: A ``torch.optim.Optimizer`` subclass: ``cls(params, lr=..., **constructor_kwargs)``.
OptimizerFactory = Callable[..., Any]

#: Where an optimizer creates its second moment: ``torch.zeros([])`` in torch's
#: default dtype (torch-optimizer, timm, NeMo), or in the parameter dtype
#: (pytorch_optimizer's ``grad.pow(2).sum()``).
SecondMomentDtype = Literal["torch_default", "parameters"]


def torch_available() -> bool:
    """Whether torch can be imported here (found without importing it)."""
    return spec_exists("torch")


def torch_versions(*dists: str) -> dict[str, str]:
    """Versions of ``dists`` and torch, plus the CPU kernel set torch dispatches to.

    The CPU capability (``AVX512``, ``AVX2``...) and whether torch uses MKL decide the
    last bit of some kernels (float32/float64 ``sqrt`` goes through MKL's vector math,
    which is not always correctly rounded), so they belong to a record's provenance.
    """
    import torch

    out = dist_versions(*dists, "torch")
    out["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
    out["torch_mkl"] = str(torch.backends.mkl.is_available())
    return out


def default_dtype_name(settings: Mapping[str, Any] | None) -> str:
    """The torch default dtype a run uses: the settings' choice, else torch's own.

    torch's own default is ``float32``; a run without settings leaves the process
    default untouched, which is ``float32`` unless someone changed it.
    """
    if settings and settings.get(DEFAULT_DTYPE_KEY):
        name = str(settings[DEFAULT_DTYPE_KEY])
        if name not in ("float32", "float64"):
            raise ValueError(f"{DEFAULT_DTYPE_KEY} must be 'float32' or 'float64', got {name!r}")
        return name
    import torch

    return str(torch.get_default_dtype()).removeprefix("torch.")


@contextlib.contextmanager
def default_dtype(name: str) -> Iterator[None]:
    """Set torch's default dtype to ``name`` for the block, then restore the old one."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, name))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def constructor_lr(learning_rate: LearningRate) -> float:
    """The learning rate handed to the optimizer's constructor.

    A constant rate is passed as is. For a table the constructor gets the table's
    largest entry (the "peak" rate; timm's ``corrected_weight_decay`` divides by the
    constructor rate), and the rate of each step is then written into
    ``param_group["lr"]`` before that step.
    """
    if np.ndim(learning_rate) == 0:
        return float(learning_rate)
    table = np.asarray(learning_rate, dtype=np.float64)
    if table.ndim != 1 or table.size == 0:
        raise ValueError("a learning-rate table must be a non-empty 1-D array")
    return float(np.max(table))


def rate_for_step(learning_rate: LearningRate, step: int) -> float:
    """The rate of update ``step + 1`` (``step`` updates already applied)."""
    if np.ndim(learning_rate) == 0:
        return float(learning_rate)
    table = np.asarray(learning_rate, dtype=np.float64)
    if step >= table.size:
        raise IndexError(f"learning-rate table has {table.size} entries; step {step + 1} asked")
    return float(table[step])


@dataclass
class TorchRun:
    """The opaque state of one run: the live parameters and optimizer, and the step."""

    names: list[str]
    params: list[Any]
    optimizer: Any
    learning_rate: LearningRate
    dtype: np.dtype
    step: int = 0
    shapes: list[tuple[int, ...]] = field(default_factory=list)


class TorchAdapter:
    """An :class:`~novograd_ref.conformance.adapters._protocol.Adapter` over a ``torch.optim`` optimizer.

    ``optimizer_class(params, lr=..., **constructor_kwargs)`` is called inside
    :meth:`init`, when the parameters and the learning rate are known (``lr`` is
    ``rate_keyword``, the constructor's name for it). List-valued keywords (``betas``
    as stored in JSON) are passed as tuples. Each step's rate is written into every
    parameter group's ``"lr"`` (or its ``rate_keyword`` entry) before ``step()``, which
    gets a closure returning a zero loss where it requires one. ``device`` is where the
    parameters and gradients live (``"cpu"``; ``"cuda"`` for a GPU-only optimizer).
    """

    def __init__(
        self,
        name: str,
        optimizer_class: OptimizerFactory,
        constructor_kwargs: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
        rate_keyword: str = "lr",
        device: str = "cpu",
    ) -> None:
        self.name = name
        self.device = device
        self._class = optimizer_class
        self._kwargs = {
            k: tuple(v) if isinstance(v, list) else v for k, v in constructor_kwargs.items()
        }
        self._dtype = default_dtype_name(settings)
        self._rate_keyword = rate_keyword

    def init(self, params: Leaves, learning_rate: LearningRate) -> TorchRun:
        """Create one parameter per leaf and construct the optimizer."""
        import torch

        dtypes = {np.asarray(a).dtype for a in params.values()}
        if len(dtypes) != 1:
            raise ValueError(
                f"all leaves of a run must share one dtype, got {sorted(map(str, dtypes))}"
            )
        tensors = [
            torch.nn.Parameter(torch.tensor(np.array(a, copy=True), device=self.device),
                               requires_grad=True)
            for a in params.values()
        ]
        rate = {self._rate_keyword: constructor_lr(learning_rate)}
        with default_dtype(self._dtype):
            optimizer = self._class(tensors, **rate, **self._kwargs)
        return TorchRun(
            names=list(params),
            params=tensors,
            optimizer=optimizer,
            learning_rate=learning_rate if np.ndim(learning_rate) == 0 else np.array(learning_rate),
            dtype=dtypes.pop(),
            shapes=[np.shape(a) for a in params.values()],
        )

    def update(self, grads: Leaves, state: TorchRun) -> tuple[dict[str, np.ndarray], TorchRun]:
        """Write the gradients and the step's rate, step once, read the parameters back."""
        import torch

        if set(grads) != set(state.names):
            raise ValueError(
                f"gradient names {sorted(grads)} differ from the parameters' {sorted(state.names)}"
            )
        for param, name, shape in zip(state.params, state.names, state.shapes, strict=True):
            grad = np.array(grads[name], dtype=state.dtype, copy=True)
            if grad.shape != shape:
                raise ValueError(f"gradient {name!r} has shape {grad.shape}, parameter {shape}")
            param.grad = torch.tensor(grad, device=self.device)
        rate = rate_for_step(state.learning_rate, state.step)
        for group in state.optimizer.param_groups:
            key = "lr" if "lr" in group else self._rate_keyword
            if key not in group:
                raise ValueError(f"{self.name}: its parameter groups hold no learning "
                                 f"rate ('lr' or {self._rate_keyword!r}) to set before "
                                 "each step")
            group[key] = rate
        with default_dtype(self._dtype):
            state.optimizer.step(*_closure(state.optimizer.step))
        state.step += 1
        out = {
            name: p.detach().cpu().numpy().copy()
            for name, p in zip(state.names, state.params, strict=True)
        }
        return out, state

    def state_arrays(self, state: TorchRun) -> dict[str, np.ndarray]:
        """The optimizer's moments after the last step, in their own dtype.

        Keys are ``<kind>__<leaf>`` with ``kind`` from :data:`STATE_NAMES`; the second
        moment keeps the dtype the framework stores it in (float32 under a float32
        default dtype even for float64 parameters).
        """
        out = {}
        for name, param in zip(state.names, state.params, strict=True):
            for key, value in state.optimizer.state.get(param, {}).items():
                if key in STATE_NAMES:
                    out[f"{STATE_NAMES[key]}__{name}"] = value.detach().numpy().copy()
        return out


def _closure(step: Callable[..., Any]) -> tuple[Callable[[], Any], ...]:
    """A closure for ``step`` where it requires one (a zero loss; the gradients are
    already set), else nothing."""
    import inspect

    import torch

    try:
        parameter = inspect.signature(step).parameters.get("closure")
    except (TypeError, ValueError):
        return ()
    if parameter is None or parameter.default is not inspect.Parameter.empty:
        return ()
    return (lambda: torch.zeros(()),)


def torch_framework(*, name: str, preset: str, optimizer: Callable[[], OptimizerFactory],
                    available: Callable[[], bool], versions: Callable[[], dict[str, str]],
                    second_moment: SecondMomentDtype, notes: str) -> Framework:
    """The :class:`~novograd_ref.conformance.frameworks.Framework` of a ``torch.optim``
    NovoGrad: :class:`TorchAdapter` over ``optimizer()`` (imported when a run starts),
    recorded in the ``torch`` environment.

    Each dtype runs with the default dtype equal to the parameters'. Where the second
    moment follows torch's default dtype (``second_moment="torch_default"``), float64
    parameters are also recorded under torch's stock float32 default (tag
    ``"f32state"``), as most users run it, and the preset is then told
    ``state_dtype="float32"``.
    """
    follows_default = second_moment == "torch_default"

    def make(settings: dict[str, Any] | None = None, /, **constructor_kwargs: Any
             ) -> TorchAdapter:
        return TorchAdapter(name, optimizer(), constructor_kwargs, settings)

    def recording_variants(dtype: str) -> list[tuple[str, dict[str, Any]]]:
        if dtype not in ("float32", "float64"):
            return []
        variants: list[tuple[str, dict[str, Any]]] = [("", {DEFAULT_DTYPE_KEY: dtype})]
        if dtype == "float64" and follows_default:
            variants.append(("f32state", {DEFAULT_DTYPE_KEY: "float32"}))
        return variants

    def preset_kwargs(constructor_kwargs: Mapping[str, Any], dtype: str,
                      settings: dict[str, Any]) -> dict[str, Any]:
        kw = dict(constructor_kwargs)
        state = (settings or {}).get(DEFAULT_DTYPE_KEY) or "float32"
        if follows_default and state != dtype:
            kw["state_dtype"] = state
        return kw

    return Framework(name=name, preset=preset, available=available, versions=versions,
                     make=make, recording_variants=recording_variants,
                     preset_kwargs=preset_kwargs, env="torch", notes=notes)


def load_module_from_file(module_name: str, path: str, package_dir: str | None = None) -> Any:
    """Execute one source file as module ``module_name`` without importing its package.

    When ``package_dir`` is given, ``module_name`` must be ``"<pkg>.<mod>"``: a bare
    package ``<pkg>`` whose search path is ``package_dir`` is registered first (its
    ``__init__`` is not run), so the file's relative imports (``from ._helpers import
    ...``) load sibling files from the same directory and nothing else.
    """
    import sys
    import types

    if module_name in sys.modules:
        return sys.modules[module_name]
    if package_dir is not None:
        pkg_name = module_name.rpartition(".")[0]
        if not pkg_name:
            raise ValueError("a module loaded into a package needs a dotted name")
        if pkg_name not in sys.modules:
            pkg = types.ModuleType(pkg_name)
            pkg.__path__ = [package_dir]
            pkg.__package__ = pkg_name
            sys.modules[pkg_name] = pkg
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
