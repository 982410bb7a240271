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

from ._files import write_inside

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


def npz_bytes(arrays: Mapping[str, np.ndarray], name: str = "arrays") -> bytes:
    """The bytes of an ``.npz`` archive of ``arrays``, reproducible byte for byte.

    Object arrays are refused (``ValueError`` naming ``name`` and the member): every
    member must load with ``allow_pickle=False``.

    >>> npz_bytes({"a": np.zeros(1)}) == npz_bytes({"a": np.zeros(1)})
    True
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            arr = np.asarray(arrays[key])
            if arr.dtype.hasobject:
                raise ValueError(f"{name}: array {key!r} has an object dtype")
            member = io.BytesIO()
            np.lib.format.write_array(member, arr.copy(order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_npz(path: PathLike, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` to ``path`` reproducibly and atomically; return the sha256.

    The folder is created if missing; the file is written as
    :func:`~novograd_ref.vectors.write_inside` writes (no link followed).
    Object arrays are refused: every member must load with ``allow_pickle=False``.
    """
    data = npz_bytes(arrays, os.fspath(path))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_inside(target.parent, target.name, data)
    return hashlib.sha256(data).hexdigest()


Shapes = Mapping[str, tuple[tuple[int, ...], str]]


def read_npz(path: PathLike, expected_sha256: str | None = None, *,
             shapes: Shapes | None = None, extra_prefix: str | None = None
             ) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file with ``allow_pickle=False``.

    See :func:`parse_npz` for ``shapes`` and ``extra_prefix``.

    Raises:
        ValueError: the file is missing, is not a valid ``.npz``, holds pickled/object
            data, its checksum differs, or a member is not as declared; the message
            names the file.
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ValueError(f"{name}: vector file not found")
    with open(name, "rb") as fh:
        data = fh.read()
    return parse_npz(name, data, expected_sha256, shapes=shapes, extra_prefix=extra_prefix)


def parse_npz(name: str, data: bytes, expected_sha256: str | None = None, *,
              shapes: Shapes | None = None, extra_prefix: str | None = None
              ) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive ``data`` (read from ``name``).

    Every member's ``.npy`` header is read and checked before its array is allocated:
    the declared shape and dtype must account for exactly the member's size, and a
    compressed member may not expand more than 100-fold. With ``shapes`` (member name
    to ``(shape, dtype)``), every listed member must be present with that shape and
    dtype, and any other member must start with ``extra_prefix`` (none allowed when it
    is ``None``).

    >>> parse_npz("x", npz_bytes({"a": np.zeros(2)}), shapes={"a": ((2,), "float64")})
    {'a': array([0., 0.])}
    """
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ValueError(
                f"{name}: sha256 mismatch (expected {expected_sha256}, found {actual})"
            )
    if data[:6] == b"\x93NUMPY":
        raise ValueError(f"{name}: not an .npz archive (a single .npy array)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(name, zf, info, len(data), shapes, extra_prefix)
            missing = sorted(set(shapes or ()) - {i.filename[:-4] for i in infos})
            if missing:
                raise ValueError(f"{name}: member {missing[0]!r} is missing")
            out = {}
            for info in infos:
                with zf.open(info) as fh:
                    out[info.filename[:-4]] = np.lib.format.read_array(fh, allow_pickle=False)
            return out
    except ValueError as exc:
        if str(exc).startswith(name):
            raise
        raise ValueError(f"{name}: cannot load with allow_pickle=False ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        raise ValueError(f"{name}: malformed .npz file ({exc})") from exc


def _check_member(name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int,
                  shapes: Shapes | None, extra_prefix: str | None) -> None:
    """Refuse a member whose header does not account for its size, or that the
    ``shapes`` declaration does not allow, before any of its data is read."""
    if not info.filename.endswith(".npy"):
        raise ValueError(f"{name}: member {info.filename!r} is not an .npy array")
    key = info.filename[:-4]
    if info.compress_size > size or info.file_size > 100 * max(info.compress_size, 1):
        raise ValueError(f"{name}: member {key!r} declares {info.file_size} bytes, more "
                         "than the archive can hold")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{name}: member {key!r} has .npy version {version}")
        header = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{name}: member {key!r} has an object dtype (allow_pickle "
                         "is False)")
    count = 1
    for dim in shape:
        count *= int(dim)
    if header + count * dtype.itemsize != info.file_size:
        raise ValueError(f"{name}: member {key!r} declares shape {tuple(shape)} of {dtype}, "
                         f"which does not fit its {info.file_size - header} bytes")
    if shapes is None:
        return
    if key in shapes:
        want_shape, want_dtype = shapes[key]
        if tuple(shape) != tuple(want_shape) or dtype != np.dtype(want_dtype):
            raise ValueError(f"{name}: member {key!r} declares {dtype}{list(shape)}, "
                             f"expected {want_dtype}{list(want_shape)}")
    elif extra_prefix is None or not key.startswith(extra_prefix):
        raise ValueError(f"{name}: unexpected member {key!r}")
