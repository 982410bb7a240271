"""Adapters for real NovoGrad implementations, and the registry that finds them.

Each supported framework has one module in this package that defines one
:class:`Framework` object named ``FRAMEWORK``. The recorder
(``novograd-ref record``), the verifier and the command line find
it by name through :data:`FRAMEWORKS` and :func:`load`; nothing here imports a
framework at ``novograd_ref`` import time.

A framework module's top-level code imports nothing heavier than the standard library,
NumPy and ``novograd_ref`` itself; the framework is imported inside ``make`` (and
``versions``), never at module level. What the framework's constructor is called with
for a case is not the module's business: the oracle preset it names
(``Framework.preset``) knows its keywords
(:meth:`novograd_ref.presets.PresetSpec.case_keywords`), and the same keywords build
the real optimizer and the preset.

Recording flow
==============

For each case of the manifest, each dtype and each ``(tag, settings)`` of
``recording_variants(dtype)``, the recorder calls ``kw = framework.kwargs_for(case.hyper)``
(skipping the case on ``None``), ``adapter = framework.make(settings, **kw)``,
``state = adapter.init(params0_in_dtype, lr)`` and then, ``T`` times,
``params, state = adapter.update(grads, state)``; for ``grad_kind == "quadratic"`` the
gradient of each step is computed by the recorder from the parameters the adapter last
returned (:func:`novograd_ref.vectors.quadratic_grad`). It writes the parameter
trajectory, the gradients actually fed and the learning-rate table, and a manifest entry
with ``constructor_kwargs=kw``, ``learning_rate_keyword``,
``preset_kwargs=framework.preset_kwargs(kw, dtype, settings)``, ``settings`` and
provenance (``versions()`` plus Python, NumPy, platform and the command line).

A minimal module::

    from novograd_ref.conformance.frameworks import Framework, dist_versions, spec_exists

    def make(settings=None, **constructor_kwargs):
        import myfw
        return _MyAdapter(myfw.NovoGrad, constructor_kwargs)

    FRAMEWORK = Framework(
        name="myfw", preset="torch_optimizer",
        available=lambda: spec_exists("myfw"),
        versions=lambda: dist_versions("myfw", "numpy"),
        make=make)
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ... import presets
from ..._json import stored
from ..adapters._protocol import Adapter

__all__ = [
    "FRAMEWORKS",
    "RECORD_TAGS",
    "Framework",
    "available",
    "dist_versions",
    "load",
    "names",
    "spec_exists",
]

FRAMEWORKS: dict[str, str] = {
    "optax": "novograd_ref.conformance.frameworks.optax",
    "tfa": "novograd_ref.conformance.frameworks.tfa",
    "torch_optimizer": "novograd_ref.conformance.frameworks.torch_optimizer",
    "timm": "novograd_ref.conformance.frameworks.timm",
    "pytorch_optimizer": "novograd_ref.conformance.frameworks.pytorch_optimizer",
    "nemo": "novograd_ref.conformance.frameworks.nemo",
    "openseq2seq": "novograd_ref.conformance.frameworks.openseq2seq",
    "apex": "novograd_ref.conformance.frameworks.apex",
}
"""Registry key -> module path. Keys are the ``framework`` field of record entries."""

RECORD_TAGS: dict[str, str] = {
    "f32state": "float64 parameters with the framework's float32 second moment (the "
                "PyTorch default dtype), held to float32 precision",
    "nojit": "optax stepped eagerly, without jax.jit",
    "eager": "OpenSeq2Seq under TF eager execution (beta2 applies), not TF1 graph mode",
    "callback": "TFA with the learning rate set each step by Keras' LearningRateScheduler "
                "callback (a float32 variable)",
    "keras_schedule": "TFA with a built-in Keras schedule (PiecewiseConstantDecay, float32 "
                      "values)",
}
"""What each tag of :attr:`Framework.recording_variants` means (a record whose file name
ends in ``__<tag>`` was run that way; the legend of ``novograd-ref verify``'s table)."""

Settings = dict[str, Any]


class MakeAdapter(Protocol):
    """``make(settings, **constructor_kwargs)``: an :class:`Adapter` for the framework's
    optimizer built with exactly ``constructor_kwargs``."""

    def __call__(self, settings: Settings | None = None, /,
                 **constructor_kwargs: Any) -> Adapter: ...


def one_variant(dtype: str) -> list[tuple[str, Settings]]:
    """The default :attr:`Framework.recording_variants`: one ordinary run per dtype."""
    del dtype
    return [("", {})]


def same_kwargs(constructor_kwargs: Mapping[str, Any], dtype: str,
                settings: Settings) -> dict[str, Any]:
    """The default :attr:`Framework.preset_kwargs`: the constructor keywords as they are."""
    del dtype, settings
    return dict(constructor_kwargs)


@dataclasses.dataclass(frozen=True)
class Framework:
    r"""A real NovoGrad implementation that the kit records and runs live.

    - ``name``: the key of :data:`FRAMEWORKS`, the ``framework`` field of its records.
    - ``preset``: the oracle preset that reproduces it; its
      :class:`~novograd_ref.presets.PresetSpec` gives the learning-rate keyword and the
      constructor keywords of a case (:meth:`kwargs_for`).
    - ``available()``: whether the framework can be imported here, found without
      importing it (:func:`spec_exists`).
    - ``versions()``: the versions that decide the numerics, the framework **first** (its
      value becomes the record's ``provenance.framework_version``), then its numeric
      dependencies (:func:`dist_versions`). Python, NumPy and the platform are added by
      the recorder.
    - ``make(settings, **constructor_kwargs)``: an
      :class:`~novograd_ref.conformance.adapters._protocol.Adapter` for the framework's optimizer
      constructed with exactly ``constructor_kwargs`` (the learning rate arrives through
      ``Adapter.init``: a Python float, or a 1-D float64 table whose entry ``k`` is the
      rate of step ``k + 1``, fed through the framework's own schedule mechanism). The
      framework is imported here. The adapter runs in the dtype of the parameters it is
      given and never mutates its inputs; leaves are independent tensors (one NovoGrad
      "layer" each), created in mapping order. List-valued keywords (``betas`` as
      stored in JSON) must be accepted where the framework wants tuples.
    - ``recording_variants(dtype)``: the runs to record for one parameter dtype, as
      ``(tag, settings)`` pairs; ``tag`` is ``""`` for the framework's ordinary use, else
      a short identifier (``[a-z0-9_]+``, the record file's ``__<tag>`` suffix);
      ``settings`` are the JSON-serialisable non-constructor choices of a run (a torch
      default dtype, ``jit``...), passed back to ``make`` and ``preset_kwargs``. ``[]``
      for a dtype it cannot run.
    - ``preset_kwargs(constructor_kwargs, dtype, settings)``: the preset keywords (no
      rate) that reproduce a run of ``make``: the constructor keywords plus
      ``state_dtype`` / ``hyper_dtype`` / ``mode`` where the framework keeps its state or
      hyperparameters in another dtype.
    - ``schedule_only_tags``: tags of variants that differ from the ordinary run only in
      how a learning-rate *schedule* is fed (TFA's Keras callback); they are recorded
      only on cases whose ``lr_kind`` is ``"schedule"``.
    - ``env``: the ``scripts/make_env.sh`` environment that provides it; ``notes``: a
      paragraph on its numerics, copied into each record's provenance.

    An adapter may also have ``state_arrays(state) -> dict[str, numpy.ndarray]``; the
    recorder then stores each array after every step, stacked, as ``state__<key>``.

    >>> timm = load("timm")
    >>> timm.learning_rate_keyword, [tag for tag, _ in timm.recording_variants("float64")]
    ('lr', ['', 'f32state'])
    >>> timm.kwargs_for({"b1": 0.9, "b2": 0.98, "eps": 1e-8, "eps_root": 0.0,
    ...     "weight_decay": 0.1, "weight_decay_mode": "corrected",
    ...     "averaging": False, "amsgrad": False})["corrected_weight_decay"]
    True
    """

    name: str
    preset: str
    available: Callable[[], bool]
    versions: Callable[[], dict[str, str]]
    make: MakeAdapter
    recording_variants: Callable[[str], list[tuple[str, Settings]]] = one_variant
    preset_kwargs: Callable[[Mapping[str, Any], str, Settings], dict[str, Any]] = same_kwargs
    schedule_only_tags: tuple[str, ...] = ()
    env: str | None = None
    notes: str = ""

    @property
    def learning_rate_keyword(self) -> str:
        """The framework's (and its preset's) name for the learning rate."""
        return presets.spec(self.preset).learning_rate_keyword

    def kwargs_for(self, hyper: Mapping[str, Any]) -> dict[str, Any] | None:
        """A case's constructor keywords as JSON stores them (tuples as lists), or
        ``None`` when the preset (so the framework) cannot express the case."""
        kwargs = presets.spec(self.preset).case_keywords(hyper)
        return None if kwargs is None else stored(kwargs)


def names() -> list[str]:
    """Return the registered framework names, in registry order."""
    return list(FRAMEWORKS)


def load(name: str) -> Framework:
    """The :class:`Framework` registered as ``name`` (its module is imported, the
    framework itself is not).

    Raises:
        ValueError: ``name`` is not a registered framework.
        TypeError: its module defines no ``FRAMEWORK``.

    >>> load("optax").preset
    'optax'
    """
    try:
        path = FRAMEWORKS[name]
    except KeyError:
        known = ", ".join(FRAMEWORKS)
        raise ValueError(f"unknown framework {name!r}; known frameworks: {known}") from None
    framework = getattr(importlib.import_module(path), "FRAMEWORK", None)
    if not isinstance(framework, Framework):
        raise TypeError(f"{path} defines no FRAMEWORK (a frameworks.Framework), got "
                        f"{type(framework).__name__}")
    return framework


def available(name: str) -> bool:
    """Whether framework ``name``'s module exists and reports its framework importable."""
    try:
        framework = load(name)
    except ImportError:
        return False
    return bool(framework.available())


def spec_exists(module_name: str) -> bool:
    """Whether ``module_name`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def dist_versions(*dists: str) -> dict[str, str]:
    """Installed versions of the given distributions (``"not installed"`` when absent)."""
    out: dict[str, str] = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
