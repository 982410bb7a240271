"""Adapters for real NovoGrad implementations, and the registry that finds them.

Each supported framework has one module in this package. The recorder
(:func:`novograd_ref.conformance._record.record`), the verifier and the command line find
a module by name through :data:`FRAMEWORKS` and :func:`load`; nothing here imports a
framework at ``novograd_ref`` import time.

The framework module interface
==============================

A framework module is a plain Python module (no classes need to be registered) that
defines the names below. Module-level code must import nothing heavier than the
standard library, NumPy and ``novograd_ref`` itself; the framework is imported inside
:func:`make` (and :func:`versions`), never at module level.

``PRESET: str``
    The name of the oracle preset that reproduces the framework
    (``novograd_ref.presets.get(PRESET)``), e.g. ``"optax"`` or ``"tfa"``.

``LEARNING_RATE_KEYWORD: str``
    The framework's own name for the learning-rate argument of its constructor
    (``"learning_rate"`` for optax and TFA, ``"lr"`` for the PyTorch family). The same
    keyword is accepted by the oracle preset.

``available() -> bool``
    Whether the framework can be imported here. Use
    ``importlib.util.find_spec(...) is not None`` (see :func:`spec_exists`); do not import
    the framework to answer.

``versions() -> dict[str, str]``
    The versions that decide the numerics: the framework **first** (its value becomes the
    record's ``provenance.framework_version``), then its numeric dependencies
    (``{"optax": "0.2.8", "jax": "0.10.2", "jaxlib": "0.10.2"}``). Prefer
    ``importlib.metadata.version`` (see :func:`dist_versions`). Python, NumPy and the
    platform are added by the recorder.

``kwargs_for(hyper: dict) -> dict | None``
    Translate a case's canonical hyperparameters (the ``hyper`` mapping of a case in the
    vectors manifest, see :mod:`novograd_ref.vectors` and ``docs/vectors.md``) into the
    framework's constructor keywords, *without* the learning rate. Return ``None`` when the
    framework cannot express the case (for example a weight-decay mode it lacks, amsgrad
    on optax, ``luc`` anywhere but NeMo). Always pass every numerically relevant keyword
    explicitly, even when it equals the framework's default, so a record never depends on
    a default that may change. Keywords must be JSON-serialisable (tuples are stored as
    lists; ``make`` must accept lists where the framework wants tuples, e.g. ``betas``).
    :func:`canonical_hyper` fills in the defaults of the optional canonical keys and
    :func:`flags_on` lists the feature flags that are switched on, so most modules start
    with ``if flags_on(hyper) - {"amsgrad"}: return None``.

``recording_variants(dtype: str) -> list[tuple[str, dict]]``
    The runs to record for one parameter dtype (``"float64"`` or ``"float32"``), as
    ``(tag, settings)`` pairs. ``tag`` is ``""`` for the framework's ordinary use and a
    short identifier (``[a-z0-9_]+``) otherwise; it becomes the ``__<tag>`` suffix of the
    record file name. ``settings`` are the non-constructor choices of a run (a torch
    default dtype, ``jit`` on or off...), JSON-serialisable, passed back to :func:`make`
    and to :func:`preset_kwargs`, and stored in the record entry. Return ``[]`` for a dtype
    the framework cannot run (OpenSeq2Seq has no float64). Default ``[("", {})]``.

``make(settings: dict | None = None, **constructor_kwargs) -> Adapter``
    Build an :class:`~novograd_ref.conformance._adapter.Adapter` for the framework's
    optimizer constructed with exactly ``constructor_kwargs`` (plus the learning rate,
    which arrives later through ``Adapter.init``: a Python float for a constant rate, or a
    1-D float64 array where entry ``k`` is the rate of step ``k + 1``; the adapter feeds the
    table through the framework's own schedule mechanism). The framework is imported here.
    The adapter runs in the dtype of the parameters it is given and returns parameters of
    that dtype; it never mutates its inputs. Leaves are independent tensors/variables (one
    NovoGrad "layer" each), created in the order of the mapping.

``preset_kwargs(constructor_kwargs: dict, dtype: str, settings: dict) -> dict``
    The keywords for ``novograd_ref.presets.get(PRESET)(**kw, <lr keyword>=lr)`` that
    should reproduce a run of :func:`make` with these arguments on parameters of ``dtype``:
    usually a copy of ``constructor_kwargs`` plus ``state_dtype`` / ``hyper_dtype`` where
    the framework keeps its state or its hyperparameters in another dtype (the PyTorch
    family's float32 second moment unless the default dtype is float64; Keras's float32
    hyperparameters). No learning rate.

Optional names: ``ENV: str`` (the ``scripts/make_env.sh`` environment that provides the
framework, named in the recorder's error when it is missing), ``NOTES: str`` (a
paragraph on the framework's numerics, copied into each record's provenance),
``SCHEDULE_ONLY_TAGS: tuple[str, ...]`` (tags of variants that differ from the ordinary
run only in how a learning-rate *schedule* is fed, such as TFA's Keras callback; they
are recorded only on cases whose ``lr_kind`` is ``"schedule"``).

Optional adapter method: ``state_arrays(state) -> dict[str, numpy.ndarray]``; when an
adapter has it, the recorder calls it after every step and stores each array, stacked
over steps, as ``state__<key>`` (use ``<name>__<leaf>`` keys, and keep to small arrays
such as the per-leaf second moment).

Recording flow
==============

For each case of the manifest, each dtype and each ``(tag, settings)`` of
``recording_variants(dtype)``, the recorder calls ``kw = kwargs_for(case.hyper)``
(skipping the case on ``None``), ``adapter = make(settings, **kw)``,
``state = adapter.init(params0_in_dtype, lr)`` and then, ``T`` times,
``params, state = adapter.update(grads, state)``; for ``grad_kind == "quadratic"`` the
gradient of each step is computed by the recorder from the parameters the adapter last
returned (:func:`novograd_ref.vectors.quadratic_grad`). It writes the parameter
trajectory, the gradients actually fed and the learning-rate table, and a manifest entry
with ``constructor_kwargs=kw``, ``learning_rate_keyword``,
``preset_kwargs=preset_kwargs(kw, dtype, settings)``, ``settings`` and provenance
(``versions()`` plus Python, NumPy, platform and the command line).

A minimal module::

    PRESET = "myfw"
    LEARNING_RATE_KEYWORD = "lr"

    def available() -> bool:
        return spec_exists("myfw")

    def versions() -> dict[str, str]:
        return dist_versions("myfw", "numpy")

    def kwargs_for(hyper):
        h = canonical_hyper(hyper)
        if flags_on(h) or h["weight_decay_mode"] != "inside" or h["eps_root"] != 0:
            return None
        return {"betas": [h["b1"], h["b2"]], "eps": h["eps"],
                "weight_decay": h["weight_decay"], "grad_averaging": h["grad_averaging"]}

    def recording_variants(dtype):
        return [("", {})]

    def make(settings=None, **kw):
        import myfw
        return _MyAdapter(myfw.NovoGrad, kw)

    def preset_kwargs(constructor_kwargs, dtype, settings):
        return dict(constructor_kwargs)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from types import ModuleType
from typing import Any

__all__ = [
    "CANONICAL_DEFAULTS",
    "FEATURE_FLAGS",
    "FRAMEWORKS",
    "available",
    "canonical_hyper",
    "dist_versions",
    "flags_on",
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
}
"""Registry key -> module path. Keys are the ``framework`` field of record entries."""

#: The canonical hyperparameter keys every case has, in order.
REQUIRED_HYPER: tuple[str, ...] = (
    "b1",
    "b2",
    "eps",
    "eps_root",
    "weight_decay",
    "weight_decay_mode",
    "grad_averaging",
    "amsgrad",
)

#: Optional framework-specific feature flags of a case's ``hyper``; all default off.
FEATURE_FLAGS: dict[str, Any] = {"luc": False, "adam_debias": False, "maximize": False}

#: Extra optional numeric keys that accompany a flag (NeMo's luc parameters).
CANONICAL_DEFAULTS: dict[str, Any] = {
    **FEATURE_FLAGS,
    "luc_trust": 1e-3,
    "luc_eps": 1e-8,
}

WEIGHT_DECAY_MODES: tuple[str, ...] = ("inside", "decoupled", "fixed", "corrected")


def names() -> list[str]:
    """Return the registered framework names, in registry order."""
    return list(FRAMEWORKS)


def load(name: str) -> ModuleType:
    """Import and return the framework module registered as ``name``.

    Importing the module does not import the framework itself.

    Raises:
        ValueError: ``name`` is not a registered framework.
    """
    try:
        path = FRAMEWORKS[name]
    except KeyError:
        known = ", ".join(FRAMEWORKS)
        raise ValueError(f"unknown framework {name!r}; known frameworks: {known}") from None
    return importlib.import_module(path)


def available(name: str) -> bool:
    """Whether framework ``name``'s module exists and reports its framework importable."""
    try:
        module = load(name)
    except ImportError:
        return False
    return bool(module.available())


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


def canonical_hyper(hyper: dict[str, Any]) -> dict[str, Any]:
    """Return ``hyper`` with every optional canonical key filled with its default.

    Raises:
        ValueError: a required key is missing or the weight-decay mode is unknown.
    """
    missing = [k for k in REQUIRED_HYPER if k not in hyper]
    if missing:
        raise ValueError(f"case hyper is missing {missing}")
    if hyper["weight_decay_mode"] not in WEIGHT_DECAY_MODES:
        raise ValueError(f"unknown weight_decay_mode {hyper['weight_decay_mode']!r}")
    return {**CANONICAL_DEFAULTS, **hyper}


def flags_on(hyper: dict[str, Any]) -> set[str]:
    """The optional feature flags (and ``amsgrad``) that ``hyper`` switches on."""
    on = {k for k in FEATURE_FLAGS if hyper.get(k)}
    if hyper.get("amsgrad"):
        on.add("amsgrad")
    return on
