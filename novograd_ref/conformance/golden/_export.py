"""Export the oracle's trajectories of one preset in the bundled vector format.

A port in another language reads them (``docs/vectors.md``) and compares its own
trajectories with them.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__, presets, vectors
from ..._json import stored
from ..adapters._loader import PresetAdapter
from ..adapters._preset_keywords import framework_preset_kwargs
from ..judging._verify import run_trajectory
from ..live._identify import standard_cases
from ._capture import ensure_root, merge_entries
from ._provenance import provenance


def export_preset(preset: str, out: str | os.PathLike[str],
                  dtypes: Iterable[str] = ("float64", "float32"),
                  progress: Callable[[Iterable[Any]], Iterable[Any]] = iter) -> int:
    """Write the oracle's trajectories of ``preset`` on the standard cases to ``out`` in
    the bundled vector format and return the record count.

    Records are ``novograd_ref`` runs tagged with the preset name
    (``records/novograd_ref__<case>__<dtype>__<preset>.npz``), merged into ``out``'s
    manifest as ``record`` merges (a new directory first gets the bundled cases). A
    preset modelling a framework runs with that framework's preset keywords (TFA's
    float32 hyperparameters...), as its bundled records do. Every file is written inside
    ``out``, never through a link, atomically. Nothing is created when ``out`` is not a
    writable directory (``ValueError``) or no case can be expressed (0).
    """
    root = vectors.out_directory(out)
    jobs = [(case, kwargs, dtype) for case, kwargs in standard_cases(preset)
            for dtype in dtypes]
    if not jobs:
        return 0
    command = shlex.join(["novograd-ref", *sys.argv[1:]])
    runs = []
    for case, kwargs, dtype in progress(jobs):
        model = framework_preset_kwargs(preset, kwargs, dtype)
        with np.errstate(all="ignore"):
            params, grads = run_trajectory(PresetAdapter(preset, **model),
                                           case.params0_as(dtype), case.learning_rate(),
                                           case.grads_at, case.T)
        arrays = {f"params__{k}": v for k, v in params.items()}
        arrays |= {f"grads__{k}": v for k, v in grads.items()}
        arrays["lr"] = np.asarray(case.lr, dtype=np.float64)
        file = "records/" + vectors.record_filename("novograd_ref", case.name, dtype, preset)
        runs.append((file, arrays, {
            "framework": "novograd_ref", "preset": preset, "case": case.name,
            "dtype": dtype, "tag": preset, "file": file,
            "constructor_kwargs": stored(kwargs),
            "learning_rate_keyword": presets.spec(preset).learning_rate_keyword,
            "preset_kwargs": stored(model), "settings": {},
            "provenance": provenance(__version__, {"novograd_ref": __version__}, command,
                                     case_sha256=case.entry["sha256"])}))
    ensure_root(root)
    entries = []
    for file, arrays, entry in runs:
        data = vectors.npz_bytes(arrays, os.fspath(Path(root) / file))
        vectors.write_inside(root, file, data)
        entries.append({**entry, "sha256": hashlib.sha256(data).hexdigest()})
    merge_entries(root, entries)
    return len(entries)
