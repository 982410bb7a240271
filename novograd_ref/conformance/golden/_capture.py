"""Record golden vectors by stepping a real framework through the standard cases.

:func:`record` drives a :class:`~novograd_ref.conformance.frameworks.Framework` (see
:mod:`novograd_ref.conformance.frameworks`) through every case it can express, in every
requested dtype and recording variant, and writes one record file per run plus its
manifest entry. The command-line entry point is :mod:`novograd_ref.conformance.record`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from novograd_ref import vectors
from novograd_ref._json import stored
from novograd_ref.conformance import frameworks
from novograd_ref.conformance.adapters._protocol import Adapter
from novograd_ref.conformance.golden._provenance import provenance
from novograd_ref.links import docs_url

__all__ = ["FrameworkUnavailableError", "record", "run_case"]


class FrameworkUnavailableError(RuntimeError):
    """The requested framework is not importable in this environment."""


def default_command() -> str:
    """The command line of this process, as a shell would re-run it."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("record.py", "__main__.py"):
        return shlex.join([sys.executable, "-m", "novograd_ref.conformance.record", *argv[1:]])
    return shlex.join(argv)


def record_provenance(framework: frameworks.Framework, case: vectors.Case,
                      command: str) -> dict[str, Any]:
    """The provenance block of a record entry made by running ``framework``."""
    versions = dict(framework.versions())
    framework_version = next(iter(versions.values()), "unknown")
    extra: dict[str, Any] = {"case_sha256": case.entry["sha256"]}
    if framework.notes:
        extra["notes"] = framework.notes
    return provenance(framework_version, versions, command, **extra)


def _check_params(
    where: str, params: dict[str, np.ndarray], case: vectors.Case, dtype: str
) -> dict[str, np.ndarray]:
    out = {}
    for name, shape in case.leaves:
        if name not in params:
            raise RuntimeError(f"{where}: the adapter returned no leaf {name!r}")
        arr = np.asarray(params[name])
        if arr.shape != shape or arr.dtype != np.dtype(dtype):
            raise RuntimeError(
                f"{where}: leaf {name!r} came back as {arr.dtype}{list(arr.shape)}, "
                f"expected {dtype}{list(shape)}"
            )
        out[name] = arr.copy()
    return out


def run_case(adapter: Adapter, case: vectors.Case, dtype: str) -> dict[str, np.ndarray]:
    """Step ``adapter`` through ``case`` in ``dtype`` and return the record's arrays.

    Gradients of quadratic cases are formed from the parameters the adapter returned
    (in the run dtype). If the adapter has a ``state_arrays(state)`` method returning a
    mapping of NumPy arrays, those are stacked over steps as ``state__<name>``.
    """
    where = f"{adapter.name} on {case.name} ({dtype})"
    params = case.params0_as(dtype)
    state = adapter.init(dict(params), case.learning_rate())
    trajectory = {n: [p.copy()] for n, p in params.items()}
    fed: dict[str, list[np.ndarray]] = {n: [] for n in params}
    state_log: dict[str, list[np.ndarray]] = {}
    state_arrays: Callable[[Any], dict[str, np.ndarray]] | None = getattr(
        adapter, "state_arrays", None
    )
    for step in range(case.T):
        grads = case.grads_at(step, params)
        for name, g in grads.items():
            fed[name].append(g.copy())
        new_params, state = adapter.update({n: g.copy() for n, g in grads.items()}, state)
        params = _check_params(f"{where}, step {step + 1}", new_params, case, dtype)
        for name, p in params.items():
            trajectory[name].append(p)
        if state_arrays is not None:
            for key, value in state_arrays(state).items():
                state_log.setdefault(key, []).append(np.asarray(value).copy())
    arrays: dict[str, np.ndarray] = {"lr": case.lr.astype(np.float64)}
    for name in params:
        arrays[f"params__{name}"] = np.stack(trajectory[name])
        arrays[f"grads__{name}"] = np.stack(fed[name])
    for key, values in state_log.items():
        arrays[f"state__{key}"] = np.stack(values)
    return arrays


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a path we may create or write, else ``ValueError`` (one line).

    Nothing is created: an existing path must be a writable directory; a new one must
    have a writable existing ancestor directory; an empty name is refused.
    """
    return vectors.out_directory(out_dir)


def check_dtypes(framework: frameworks.Framework, dtypes: Sequence[str]) -> None:
    """``ValueError`` for a dtype outside the schema's, or if ``framework`` records none of
    ``dtypes`` (a dtype it does not record is otherwise left out)."""
    unknown = [d for d in dtypes if d not in vectors.DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype {unknown[0]!r} (known: {', '.join(vectors.DTYPES)})")
    if not any(framework.recording_variants(d) for d in dtypes):
        raise ValueError(f"{framework.name} records none of the dtypes {', '.join(dtypes)}")


def check_cases(root: Path, cases: Sequence[str] | None) -> list[dict[str, Any]]:
    """The case entries of ``root`` (the bundled ones where it has no manifest yet);
    ``ValueError`` naming any of ``cases`` that is not one of them."""
    has_manifest = (root / "manifest.json").is_file()
    entries = vectors.case_entries(root if has_manifest else None)
    unknown = sorted(set(cases or ()) - {e["name"] for e in entries})
    if unknown:
        raise ValueError(f"unknown cases: {', '.join(map(repr, unknown))}")
    return entries


def merge_entries(root: Path, new_entries: Sequence[dict[str, Any]]) -> None:
    """Merge record entries into ``root``'s manifest (made by :func:`ensure_root`),
    replacing entries with the same ``(framework, case, dtype, tag)``."""
    with _manifest_lock(root):
        manifest = vectors.merge_records(vectors.load_manifest(root), new_entries)
        vectors.write_manifest(root, manifest)


def ensure_root(out_dir: Path) -> None:
    """Make ``out_dir`` a vectors root: copy the bundled cases there if it has none.

    Files are written as :func:`novograd_ref.vectors.write_inside` writes (inside
    ``out_dir``, never through a link, atomically)."""
    if (out_dir / "manifest.json").is_file():
        return
    bundled = vectors.data_root()
    manifest = vectors.load_manifest(bundled)
    out_dir.mkdir(parents=True, exist_ok=True)
    for entry in manifest["cases"]:
        vectors.write_inside(out_dir, entry["file"], vectors.read_inside(bundled, entry["file"]))
    vectors.write_manifest(out_dir, {**manifest, "records": []})


def record(
    framework: str,
    out_dir: str | os.PathLike[str] | None = None,
    cases: Sequence[str] | None = None,
    dtypes: Sequence[str] = ("float64", "float32"),
    *,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Record ``framework`` on the standard cases and merge the entries into a manifest.

    Args:
        framework: a key of :data:`novograd_ref.conformance.frameworks.FRAMEWORKS`.
        out_dir: the vectors root to write (``manifest.json``, ``cases/``, ``records/``);
            default: the bundled vectors of this package. A directory without a manifest
            is first given a copy of the bundled cases.
        cases: case names to record (default: every case the framework can express).
        dtypes: parameter dtypes to record.
        command: the command line stored in the provenance (default: this process's).
        log: called with one line per recorded or skipped run.

    Returns:
        The new record entries (already written to the manifest).

    Raises:
        ValueError: unknown framework or case.
        FrameworkUnavailableError: the framework is not importable here.
    """
    plugin = frameworks.load(framework)
    if not plugin.available():
        env = plugin.env
        hint = (f"; its environment ({env!r}) is described at "
                f"{docs_url('vectors.html#adding-vectors')}" if env else "")
        raise FrameworkUnavailableError(
            f"framework {framework!r} is not importable in this Python ({sys.executable}){hint}"
        )
    say = log or (lambda line: None)
    root = check_out_dir(out_dir) if out_dir is not None else vectors.data_root()
    check_dtypes(plugin, dtypes)
    entries = check_cases(root, cases)
    selected = [e for e in entries if cases is None or e["name"] in cases]
    command = command or default_command()
    ensure_root(root)
    new_entries = []
    for entry in selected:
        kwargs = plugin.kwargs_for(dict(entry["hyper"]))
        if kwargs is None:
            say(f"skip   {framework} {entry['name']}: not expressible")
            continue
        kwargs = stored(kwargs)
        case = vectors.load_case(entry, root)
        for dtype in dtypes:
            for tag, settings in plugin.recording_variants(dtype):
                if tag in plugin.schedule_only_tags and entry["lr_kind"] != "schedule":
                    continue
                settings = stored(settings)
                new_entries.append(
                    _record_one(
                        plugin, framework, case, dtype, tag, settings, kwargs, root, command
                    )
                )
                suffix = f" [{tag}]" if tag else ""
                say(f"record {framework} {case.name} {dtype}{suffix}")
    merge_entries(root, new_entries)
    return new_entries


@contextlib.contextmanager
def _manifest_lock(root: Path) -> Iterator[None]:
    """Serialise read-merge-write of the manifest between concurrent recorders (POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(root, os.O_RDONLY)  # lock the directory itself: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _record_one(
    plugin: frameworks.Framework,
    framework: str,
    case: vectors.Case,
    dtype: str,
    tag: str,
    settings: dict[str, Any],
    kwargs: dict[str, Any],
    root: Path,
    command: str,
) -> dict[str, Any]:
    adapter = plugin.make(dict(settings), **kwargs)
    arrays = run_case(adapter, case, dtype)
    file = "records/" + vectors.record_filename(framework, case.name, dtype, tag)
    data = vectors.npz_bytes(arrays, os.fspath(root / file))
    vectors.write_inside(root, file, data)
    sha = hashlib.sha256(data).hexdigest()
    return {
        "framework": framework,
        "preset": plugin.preset,
        "case": case.name,
        "dtype": dtype,
        "tag": tag,
        "file": file,
        "sha256": sha,
        "constructor_kwargs": kwargs,
        "learning_rate_keyword": plugin.learning_rate_keyword,
        "preset_kwargs": stored(plugin.preset_kwargs(dict(kwargs), dtype, dict(settings))),
        "settings": settings,
        "provenance": record_provenance(plugin, case, command),
    }
