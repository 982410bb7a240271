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
import stat
from pathlib import Path
from typing import Union

from ..output_paths import UnsafePath, check_name, check_writable_folder, replace_file

PathLike = Union[str, "os.PathLike[str]"]


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
    temporary file is created exclusively, and ``os.replace`` swaps a link to a regular
    file at the final name for the new file; anything else standing there (a directory,
    device, FIFO, socket, a dangling link) is refused with :class:`UnsafePath`
    (``novograd_ref.output_paths.replace_file``).
    """
    parts = relative_parts(relative)
    where = os.path.join(os.fspath(root), *parts)
    try:
        folder = _open_dir(root, parts[:-1], create=True)
    except OSError as exc:
        raise UnsafePath(f"{where}: cannot be written ({exc.strerror})") from None
    try:
        replace_file(folder, parts[-1], data, where)
    except OSError as exc:
        raise UnsafePath(f"{where}: cannot be written ({exc.strerror})") from None
    finally:
        os.close(folder)


def out_directory(out: PathLike) -> Path:
    """``out`` as a directory that may be written or created, else ``ValueError``.

    Nothing is left behind (whether files can be created there is tried with a
    temporary file, removed at once). An empty name is refused (it would mean the
    current directory without saying so); so is a name the system cannot take, and,
    in an existing directory, a ``manifest.json`` that is not a regular file or
    ``cases`` / ``records`` that are not directories (they would be refused midway).

    >>> out_directory("")
    Traceback (most recent call last):
    ...
    ValueError: --out: an empty directory name is refused; name a directory
    """
    if not os.fspath(out):
        raise ValueError("--out: an empty directory name is refused; name a directory")
    path = Path(check_name(out, "--out"))
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be examined ({exc.strerror})") from None
    if info is not None and path.is_dir():
        _check_vectors_layout(path)
        check_writable_folder(path, f"--out {path}")
        return path
    if info is not None:
        what = "a dangling symbolic link" if path.is_symlink() and not path.exists() else \
            "not a directory"
        raise ValueError(f"{path}: exists and is {what}")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{path}: cannot be created ({parent} is not a directory)")
    check_writable_folder(parent, f"--out {path}: cannot be created")
    return path


def _check_vectors_layout(root: Path) -> None:
    """Refuse a vectors directory whose manifest is not a regular file or whose
    ``cases`` / ``records`` are not directories (links included)."""
    expected = {"manifest.json": stat.S_ISREG, "cases": stat.S_ISDIR,
                "records": stat.S_ISDIR}
    for name, test in expected.items():
        try:
            mode = os.lstat(root / name).st_mode
        except FileNotFoundError:
            continue
        if not test(mode):
            want = "a regular file" if name == "manifest.json" else "a directory"
            raise UnsafePath(f"{root / name}: is a symbolic link or not {want} (refused)")
