"""The protocol's client libraries, shipped in ``clients/``, and copying them out."""

from __future__ import annotations

import os
from pathlib import Path

#: The client libraries: C99 (header-only), Rust (std only), JavaScript (ES module).
CLIENTS: tuple[str, ...] = ("novograd_ref.h", "novograd_ref.rs", "novograd_ref.mjs")


def client_files() -> list[Path]:
    """The shipped client libraries' paths.

    >>> [p.name for p in client_files()]
    ['novograd_ref.h', 'novograd_ref.rs', 'novograd_ref.mjs']
    """
    return [Path(__file__).with_name("clients") / name for name in CLIENTS]


def copy_clients(out: str | os.PathLike[str], overwrite: bool = False) -> list[Path]:
    """Copy the client libraries into the existing folder ``out``; return the files
    written. A file already there is kept (``FileExistsError`` naming it, nothing
    written) unless ``overwrite``; a missing or unwritable folder is ``ValueError``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     [p.name for p in copy_clients(out)][0]
    'novograd_ref.h'
    """
    folder = Path(out)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not an existing folder" if not folder.exists()
                         else f"{str(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{str(folder)!r} is not writable")
    targets = [folder / source.name for source in client_files()]
    existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist"
                              f"{'s' if len(existing) == 1 else ''}; --force overwrites")
    for source, target in zip(client_files(), targets):
        if target.is_symlink():
            target.unlink()
        target.write_bytes(source.read_bytes())
    return targets
