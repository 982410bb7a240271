"""Files strictly inside one directory: read without following links, write atomically.

A vectors directory is data a user may have received from anywhere, and ``export`` /
``record`` write into a directory the user named. Both go through this module:

- a relative name is a ``/``-separated path of plain components (no ``..``, no empty
  component, no absolute path);
- below the root, no component may be a symbolic link (reading refuses it; writing
  never follows it) and the file read must be a regular file;
- a write goes to a fresh temporary name in the target folder, opened with
  ``O_CREAT | O_EXCL | O_NOFOLLOW``, and is moved over the final name with
  ``os.replace`` (which replaces a link planted there instead of writing through it).

The root itself is the directory the user pointed at and may be a link.
Directories are walked with ``dir_fd`` handles (POSIX), so a link swapped in while a
file is opened is not followed either.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> write_inside(root, "records/a.txt", b"hello")
>>> read_inside(root, "records/a.txt")
b'hello'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

class UnsafePath(ValueError):
    """A name or file refused because it would lead outside its directory (a link, a
    ``..``) or is not a regular file / directory."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_MAX_READ = 1 << 32  # 4 GiB: no vector file comes near this


def relative_parts(relative: str) -> list[str]:
    """The components of a relative name, or ``ValueError`` saying what is wrong.

    >>> relative_parts("records/x.npz")
    ['records', 'x.npz']
    """
    if not isinstance(relative, str) or not relative:
        raise UnsafePath(f"{relative!r}: not a relative file name")
    if relative.startswith("/") or "\\" in relative or "\0" in relative:
        raise UnsafePath(f"{relative!r}: must be a relative name with '/' separators")
    parts = relative.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{relative!r}: must not contain empty, '.' or '..' components")
    return parts


def _open_dir(root: PathLike, parts: list[str], create: bool) -> int:
    """A descriptor of ``root/parts...``, refusing links below ``root``."""
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    where = os.fspath(root)
    for part in parts:
        where = os.path.join(where, part)
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            sub = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            raise ValueError(f"{where}: not found") from None
        except OSError:
            os.close(fd)
            raise UnsafePath(f"{where}: is a symbolic link or not a directory "
                             "(refused)") from None
        os.close(fd)
        fd = sub
    return fd


def read_inside(root: PathLike, relative: str) -> bytes:
    """The bytes of the regular file ``root/relative``; ``ValueError`` naming the file
    when it is missing, a link, not a regular file or not readable."""
    parts = relative_parts(relative)
    where = os.path.join(os.fspath(root), *parts)
    folder = _open_dir(root, parts[:-1], create=False)
    try:
        try:
            # non-blocking: opening a planted FIFO must not wait for a writer
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=folder)
        except FileNotFoundError:
            raise ValueError(f"{where}: vector file not found") from None
        except OSError as exc:
            if os.path.islink(where):
                raise UnsafePath(f"{where}: is a symbolic link (refused)") from None
            raise ValueError(f"{where}: cannot be read ({exc.strerror})") from None
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafePath(f"{where}: not a regular file (refused)")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > _MAX_READ:
            raise ValueError(f"{where}: {info.st_size} bytes is too large for a vector file")
        return fh.read()


def write_inside(root: PathLike, relative: str, data: bytes) -> None:
    """Atomically make ``root/relative`` hold ``data``, creating folders below ``root``.

    Never writes through a symbolic link: folders that are links are refused, the
    temporary file is created exclusively, and ``os.replace`` swaps a link at the final
    name for the new file.
    """
    parts = relative_parts(relative)
    folder = _open_dir(root, parts[:-1], create=True)
    temporary = f".{parts[-1]}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644,
                     dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(temporary, parts[-1], src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=folder)
            raise
    except IsADirectoryError:
        raise UnsafePath(f"{os.path.join(os.fspath(root), *parts)}: is a directory "
                         "(refused)") from None
    finally:
        os.close(folder)


def out_directory(out: PathLike) -> Path:
    """``out`` as a directory that may be written or created, else ``ValueError``.

    Nothing is created. An empty name is refused (it would mean the current
    directory without saying so).

    >>> out_directory("")
    Traceback (most recent call last):
    ...
    ValueError: --out: an empty directory name is refused; name a directory
    """
    if not os.fspath(out):
        raise ValueError("--out: an empty directory name is refused; name a directory")
    path = Path(out)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{path}: exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{path}: directory is not writable")
        return path
    if path.is_symlink():
        raise ValueError(f"{path}: is a dangling symbolic link")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: cannot be created ({parent} is not a writable directory)")
    return path
