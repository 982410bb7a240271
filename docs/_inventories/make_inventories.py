"""Write python.inv and numpy.inv: the parts of Python's and NumPy's Sphinx inventories
that this site's cross-references use, so that the build links them without the network.

The published inventories (https://docs.python.org/3/objects.inv,
https://numpy.org/doc/stable/objects.inv) are not fetched: each entry below is a name the
API reference mentions, with the address of its page in those manuals. Run
``python docs/_inventories/make_inventories.py`` after adding a name; a reference to a
Python or NumPy name missing here fails the nitpicky build, which says which one.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, role, page relative to the manual's root); the anchor is the name itself
PYTHON = [
    *[(name, "py:class", "library/functions.html")
      for name in ("bool", "bytes", "dict", "float", "frozenset", "int", "list", "object",
                   "set", "str", "tuple", "type", "slice", "range")],
    *[(name, "py:exception", "library/exceptions.html")
      for name in ("Exception", "ImportError", "KeyError", "RuntimeError", "TypeError",
                   "ValueError", "OSError", "TimeoutError", "AssertionError",
                   "NotImplementedError", "FileNotFoundError")],
    ("None", "py:data", "library/constants.html"),
    ("NotImplemented", "py:data", "library/constants.html"),
    ("Ellipsis", "py:data", "library/constants.html"),
    *[(f"collections.abc.{name}", "py:class", "library/collections.abc.html")
      for name in ("Callable", "Iterable", "Iterator", "Mapping", "MutableMapping",
                   "Sequence", "Hashable", "Sized", "Collection", "Set")],
    ("os.PathLike", "py:class", "library/os.html"),
    ("pathlib.Path", "py:class", "library/pathlib.html"),
    ("pathlib.PurePath", "py:class", "library/pathlib.html"),
    ("typing.Any", "py:data", "library/typing.html"),
    ("typing.Protocol", "py:class", "library/typing.html"),
    ("typing.NamedTuple", "py:class", "library/typing.html"),
    ("typing.Literal", "py:data", "library/typing.html"),
    ("typing.Union", "py:data", "library/typing.html"),
    ("typing.Optional", "py:data", "library/typing.html"),
    ("typing.Callable", "py:data", "library/typing.html"),
    ("dataclasses.dataclass", "py:function", "library/dataclasses.html"),
    ("argparse.ArgumentParser", "py:class", "library/argparse.html"),
    ("argparse.Namespace", "py:class", "library/argparse.html"),
    ("subprocess.CompletedProcess", "py:class", "library/subprocess.html"),
    ("json.dumps", "py:function", "library/json.html"),
    ("types.ModuleType", "py:class", "library/types.html"),
    ("enum.Enum", "py:class", "library/enum.html"),
]
NUMPY = [
    ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html"),
    ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html"),
    ("numpy.float64", "py:class", "reference/arrays.scalars.html"),
    ("numpy.float32", "py:class", "reference/arrays.scalars.html"),
    ("numpy.float16", "py:class", "reference/arrays.scalars.html"),
    ("numpy.generic", "py:class", "reference/arrays.scalars.html"),
    ("numpy.random.Generator", "py:class", "reference/random/generator.html"),
    ("numpy.typing.ArrayLike", "py:data", "reference/typing.html"),
    ("numpy.typing.NDArray", "py:data", "reference/typing.html"),
    ("numpy.typing.DTypeLike", "py:data", "reference/typing.html"),
    ("numpy.lib.npyio.NpzFile", "py:class",
     "reference/generated/numpy.lib.npyio.NpzFile.html"),
]


def inventory(project: str, version: str, entries: list[tuple[str, str, str]]) -> bytes:
    """An objects.inv (format version 2): a plain header and the zlib-compressed lines
    ``name domain:role priority uri display-name`` ("$" in the uri stands for the name,
    "-" as the display name for the name)."""
    header = ("# Sphinx inventory version 2\n"
              f"# Project: {project}\n# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n")
    lines = "".join(f"{name} {role} 1 {page}#$ -\n" for name, role, page in sorted(entries))
    return header.encode() + zlib.compress(lines.encode())


# file name -> (project, version, entries)
INVENTORIES = {"python.inv": ("Python", "3", PYTHON), "numpy.inv": ("NumPy", "stable", NUMPY)}


def main() -> None:
    for name, (project, version, entries) in INVENTORIES.items():
        (HERE / name).write_bytes(inventory(project, version, entries))


if __name__ == "__main__":
    main()
