"""The conformance kit: check any NovoGrad implementation against the oracle.

Every implementation is reached through one :class:`Adapter` protocol (``init`` /
``update`` over NumPy arrays): the oracle's presets (:class:`PresetAdapter`), the real
frameworks (``frameworks``), or a port given as ``module:factory``
(:func:`load_implementation`). The same adapters record the bundled golden vectors,
replay them (:func:`verify_bundled`), verify a live implementation
(:func:`verify_implementation`), say which presets it reproduces (:func:`identify`),
explain by experiment what it does differently (:func:`explain`),
export the oracle's vectors (:func:`export_preset`) and find the smallest input on
which two presets differ (:func:`find_difference`). The ``novograd-ref`` command line
exposes all of it.

>>> from novograd_ref.conformance import PresetAdapter, verify_record
>>> from novograd_ref import vectors
>>> entry = vectors.record_entries(framework="optax", case="const_lr", dtype="float64")[0]
>>> verify_record(entry).passed
True
"""

from ._adapter import Adapter, ImplementationFailed
from ._explain import explain
from ._explanation import ANOMALIES, Explanation
from ._live import (
    Report,
    export_preset,
    find_difference,
    generated_check,
    identify,
    preset_kwargs_for,
    presets_with_keywords,
    verify_implementation,
)
from ._oracle import (
    Implementation,
    ImplementationError,
    PresetAdapter,
    implementation,
    load_implementation,
)
from ._verify import (
    Comparison,
    compare,
    replay,
    run_trajectory,
    verify_bundled,
    verify_record,
)

__all__ = (
    "ANOMALIES",
    "Adapter",
    "Comparison",
    "Explanation",
    "Implementation",
    "ImplementationError",
    "ImplementationFailed",
    "PresetAdapter",
    "Report",
    "compare",
    "explain",
    "export_preset",
    "find_difference",
    "generated_check",
    "identify",
    "implementation",
    "load_implementation",
    "preset_kwargs_for",
    "presets_with_keywords",
    "replay",
    "run_trajectory",
    "verify_bundled",
    "verify_implementation",
    "verify_record",
)
