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
exposes all of it, and only assembles what is here: the bundled records selected,
loaded and checked (:func:`select_records`, :func:`checked_records`), the preset whose
keywords a port takes (:func:`keywords_preset`), the text it prints
(:func:`bundled_text`, :func:`report_text`, :func:`conclusion_text`,
:func:`failures_text`, :func:`identify_text`, :func:`difference_text`) and the files it
writes (:func:`write_json`, :class:`JUnitReport`).

The implementation under test runs in a child process (one per run, restarted after
it dies) with a per-case time limit: its exit, crash, hang or protocol violation is an
error of that case, and the other cases go on. A port says "I do not have this
option" by raising :class:`Unsupported` (or ``NotImplementedError``) from its factory:
that case is skipped. :class:`Report` holds the verdict (``pass``, ``mismatch``,
``error``, ``nothing_checked``).

The kit's stages are its sub-packages, each read only by the stages after it:

- ``adapters``: how an implementation is reached (the :class:`Adapter` protocol and
  the failure record, presets as adapters, the ``--impl`` loader, preset keywords);
  ``frameworks``: the plug-ins for real frameworks; ``targets``: optimizers as
  published and ports in any language (``exec:``), with no glue;
- ``isolation``: running an implementation in a child process, one run at a time;
- ``judging``: comparison with the oracle, divergence, the verdict of one outcome,
  the bundled records, and the reports (text, JSON, JUnit XML);
- ``live``: the live checks, ``verify`` and ``identify`` on standard and generated
  cases;
- ``diagnosis``: ``explain``, its probes, experiments, search and explanation;
- ``golden``: golden vectors recorded from frameworks, exported from the oracle, and
  their provenance.

>>> from novograd_ref.conformance import PresetAdapter, verify_record
>>> from novograd_ref import vectors
>>> entry = vectors.record_entries(framework="optax", case="const_lr", dtype="float64")[0]
>>> verify_record(entry).passed
True
"""

from .adapters._loader import (
    Implementation,
    ImplementationError,
    PresetAdapter,
    check_spec,
    implementation,
    keywords_preset,
    load_implementation,
)
from .adapters._preset_keywords import preset_kwargs_for, presets_with_keywords
from .adapters._protocol import Adapter, Failure, ImplementationFailed, Unsupported
from .diagnosis._explain_port import explain
from .diagnosis._explanation import ANOMALIES, Explanation
from .golden._export import export_preset
from .isolation._runner import DEFAULT_TIMEOUT, STARTUP_TIMEOUT
from .judging._bundled import checked_records, select_records
from .judging._divergence import Divergence, excerpt, first_divergence
from .judging._junit import JUnitReport
from .judging._report import (
    VERDICTS,
    Report,
    bundled_text,
    conclusion_text,
    difference_text,
    failures_text,
    identify_json,
    identify_text,
    report_text,
    write_json,
)
from .judging._verify import (
    Comparison,
    compare,
    replay,
    run_trajectory,
    verify_bundled,
    verify_record,
)
from .live._generated import (
    find_difference,
    generated_check,
    private_hypothesis_home,
)
from .live._identify import Matches, identify, verify_implementation

__all__ = (
    "ANOMALIES",
    "DEFAULT_TIMEOUT",
    "STARTUP_TIMEOUT",
    "VERDICTS",
    "Adapter",
    "Comparison",
    "Divergence",
    "Explanation",
    "Failure",
    "Implementation",
    "ImplementationError",
    "ImplementationFailed",
    "JUnitReport",
    "Matches",
    "PresetAdapter",
    "Report",
    "Unsupported",
    "bundled_text",
    "check_spec",
    "checked_records",
    "compare",
    "conclusion_text",
    "difference_text",
    "excerpt",
    "explain",
    "export_preset",
    "failures_text",
    "find_difference",
    "first_divergence",
    "generated_check",
    "identify",
    "identify_json",
    "identify_text",
    "implementation",
    "keywords_preset",
    "load_implementation",
    "preset_kwargs_for",
    "presets_with_keywords",
    "private_hypothesis_home",
    "replay",
    "report_text",
    "run_trajectory",
    "select_records",
    "verify_bundled",
    "verify_implementation",
    "verify_record",
    "write_json",
)
