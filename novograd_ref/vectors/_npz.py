"""Safe, deterministic reading and writing of ``.npz`` files and their checksums.

An ``.npz`` file is a zip archive of ``.npy`` files. Files written here are
reproducible byte for byte: members are stored uncompressed, in sorted order, with a
fixed timestamp, so the same arrays always give the same sha256.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def sha256_file(path: PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """A checksum of array names, shapes and values, independent of the zip container.

    For each key in sorted order it hashes the UTF-8 key, the Python ``repr`` of the
    shape tuple (``"(4, 5)"``, ``"(3,)"``, ``"()"``) and the array's C-order bytes.
    """
    digest = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.asarray(arrays[key])
        digest.update(key.encode())
        digest.update(str(tuple(arr.shape)).encode())
        digest.update(arr.tobytes(order="C"))
    return digest.hexdigest()


def write_npz(path: PathLike, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` to ``path`` reproducibly and return the file's sha256.

    Object arrays are refused: every member must load with ``allow_pickle=False``.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            arr = np.asarray(arrays[key])
            if arr.dtype.hasobject:
                raise ValueError(f"{os.fspath(path)}: array {key!r} has an object dtype")
            member = io.BytesIO()
            np.lib.format.write_array(member, arr.copy(order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    data = buffer.getvalue()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{os.fspath(path)}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def read_npz(path: PathLike, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file with ``allow_pickle=False``.

    Args:
        path: the file.
        expected_sha256: if given, the file's sha256 must equal it.

    Raises:
        ValueError: the file is missing, is not a valid ``.npz``, holds pickled/object
            data, or its checksum differs; the message names the file.
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ValueError(f"{name}: vector file not found")
    if expected_sha256 is not None:
        actual = sha256_file(name)
        if actual != expected_sha256:
            raise ValueError(
                f"{name}: sha256 mismatch (expected {expected_sha256}, found {actual})"
            )
    try:
        with open(name, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                message = f"{name}: not an .npz archive (a single .npy array)"
                raise ValueError(message)  # noqa: TRY004
            with loaded as npz:
                return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if str(exc).startswith(name):
            raise
        raise ValueError(f"{name}: cannot load with allow_pickle=False ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{name}: malformed .npz file ({exc})") from exc
