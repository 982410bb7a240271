"""Files the command line writes where the user pointed: checked first, written atomically.

An output file (``--report``, ``--json``) must be a regular file, new or to be
replaced, in an existing folder where files can be created; a directory, device, FIFO
or socket is refused, as is a symbolic link that leads nowhere or to anything but a
regular file, and a name longer than the file system allows (``NAME_MAX`` for the
last component, ``PATH_MAX`` for the whole path). :func:`check_output_file` says so in
one line before any work.

:func:`replace_file` writes to a fresh temporary name in the target folder (created
exclusively, never through a link), checks again that what stands at the final name
may be replaced, and moves the new file over it with ``os.replace``: a reader never
sees half a file, a failed write leaves nothing behind, and nothing but a regular file
(or a link to one, which is replaced, not written through) is ever replaced.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = check_output_file(os.path.join(folder, "report.json"), "--report")
>>> write_output(path, b"{}")
>>> with open(path, "rb") as fh:
...     fh.read()
b'{}'
>>> check_output_file(folder, "--report")
Traceback (most recent call last):
...
novograd_ref.output_paths.UnsafePath: --report ...: is a directory (only a regular file is written)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NAME_MAX, _PATH_MAX = 255, 4096  # POSIX values where the system cannot be asked


class UnsafePath(ValueError):
    """A path refused because reading or writing it would leave the place the user
    named (a link, a ``..``), or because it is not a regular file or directory, or
    cannot be a file name here."""


def _kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def _limit(folder: str, name: str, default: int) -> int:
    try:
        return int(os.pathconf(folder, name))
    except (OSError, ValueError, AttributeError):  # no such limit, or not POSIX
        return default


def check_name(path: PathLike, what: str) -> str:
    """``path`` as a string if the system can take it as a file name (not empty, no NUL
    character, encodable, within ``PATH_MAX`` and each component within ``NAME_MAX``),
    else :class:`UnsafePath` naming ``what`` (the option).

    >>> check_name("x" * 300, "--json")
    Traceback (most recent call last):
    ...
    novograd_ref.output_paths.UnsafePath: --json: a file name of at most 255 bytes is expected, got 300
    """
    text = os.fspath(path)
    if not text:
        raise UnsafePath(f"{what}: an empty name is refused")
    if "\0" in text:
        raise UnsafePath(f"{what}: a name with a NUL character is refused")
    try:
        encoded = os.fsencode(text)
    except UnicodeError:
        raise UnsafePath(f"{what}: {text!a} cannot be encoded as a file name here") from None
    anchor = os.path.dirname(text) or "."
    anchor = anchor if os.path.isdir(anchor) else "."
    path_max = _limit(anchor, "PC_PATH_MAX", _PATH_MAX)
    if len(encoded) >= path_max:
        raise UnsafePath(f"{what}: a path of less than {path_max} bytes is expected, got "
                         f"{len(encoded)}")
    name_max = _limit(anchor, "PC_NAME_MAX", _NAME_MAX)
    longest = max(len(part) for part in encoded.split(b"/"))
    if longest > name_max:
        raise UnsafePath(f"{what}: a file name of at most {name_max} bytes is expected, "
                         f"got {longest}")
    return text


def check_writable_folder(folder: PathLike, what: str) -> None:
    """:class:`UnsafePath` unless ``folder`` is an existing directory in which a file
    can be created (tried: a temporary file is created and removed at once, the only
    test that holds for every user and file system)."""
    where = os.fspath(folder)
    try:
        info = os.stat(where)
    except OSError as exc:
        raise UnsafePath(f"{what}: folder {where!r} does not exist "
                         f"({exc.strerror})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{what}: {where!r} is {_kind(info.st_mode)}, not a folder")
    probe = os.path.join(where, f".novograd-ref-{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except OSError as exc:
        raise UnsafePath(f"{what}: folder {where!r} is not writable "
                         f"({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def _replaceable(info: os.stat_result | None, follow: os.stat_result | None,
                 where: str) -> None:
    """Refuse what stands at an output path (``info``: its ``lstat``; ``follow``: what a
    link there leads to) unless it is absent, a regular file or a link to one."""
    if info is None:
        return
    if stat.S_ISLNK(info.st_mode):
        if follow is None:
            raise UnsafePath(f"{where}: is a symbolic link that leads nowhere (refused)")
        if not stat.S_ISREG(follow.st_mode):
            raise UnsafePath(f"{where}: is a symbolic link to {_kind(follow.st_mode)} "
                             "(only a regular file is written)")
        return
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"{where}: is {_kind(info.st_mode)} (only a regular file is "
                         "written)")


def _stat_at(name: str, folder_fd: int | None, follow: bool) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=follow)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # a loop of links, or a name the system refuses
        raise UnsafePath(f"{name}: cannot be examined ({exc.strerror})") from None


def check_output_file(path: PathLike, what: str) -> str:
    """``path`` if the command line may write a file there, else :class:`UnsafePath`
    (one line naming ``what``, the option): see the module. Nothing is left behind."""
    text = check_name(path, what)
    folder, name = os.path.split(text)
    if name in ("", ".", ".."):
        raise UnsafePath(f"{what} {text}: names a folder; name a file in it")
    check_writable_folder(folder or ".", f"{what} {text}")
    _replaceable(_stat_at(text, None, False), _stat_at(text, None, True),
                 f"{what} {text}")
    return text


def replace_file(folder_fd: int, name: str, data: bytes, where: str) -> None:
    """Atomically make ``name`` in the folder open as ``folder_fd`` hold ``data`` (see
    the module); :class:`UnsafePath` naming ``where`` if something other than a regular
    file, or a link to one, stands there."""
    temporary = f".novograd-ref-{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644,
                 dir_fd=folder_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        _replaceable(_stat_at(name, folder_fd, False), _stat_at(name, folder_fd, True),
                     where)
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        raise


def write_output(path: PathLike, data: bytes) -> None:
    """Atomically make the file ``path`` hold ``data`` (checked again as it is
    replaced; see :func:`replace_file`); :class:`UnsafePath` saying why it cannot."""
    text = os.fspath(path)
    folder, name = os.path.split(text)
    try:
        folder_fd = os.open(folder or ".", os.O_RDONLY | _DIRECTORY)
        try:
            replace_file(folder_fd, name, data, text)
        finally:
            os.close(folder_fd)
    except OSError as exc:
        raise UnsafePath(f"{text}: cannot be written ({exc.strerror})") from None
