"""Values of the command line's options, parsed and range-checked (argparse types).

Each function is an argparse ``type``: it returns the value or raises
``argparse.ArgumentTypeError``, which argparse reports as a usage error (one line, exit
status 2). The bounds are documented in ``docs/cli.md``:

- a count (``--examples``) is an integer from its minimum to :data:`MAX_EXAMPLES`;
- a time limit (``--timeout``) is a number of seconds above 0, at most
  :data:`MAX_SECONDS` (a day);
- a size (``--memory-limit``) is a byte count with an optional ``K``, ``M``, ``G``,
  ``T`` or ``P`` suffix (powers of 1024), above 0, at most :data:`MAX_BYTES` (1P);
- a name (``--impl``, ``--preset``, a file or folder) is not empty.

>>> count(0)("12"), seconds("1.5"), size("2G"), text("optax")
(12, 1.5, 2147483648, 'optax')
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MAX_EXAMPLES = 100_000  # generated examples per dtype (hypothesis runs them one by one)
MAX_SECONDS = 86_400.0  # one day per case
MAX_BYTES = 1 << 50  # 1P: beyond any address space a limit would still shape
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_DIGITS = 20  # more digits than this is out of every range here, whatever they say


def shown(value: str, width: int = 40) -> str:
    """``value`` quoted, cut to ``width`` characters in a message.

    >>> shown("9" * 50)
    "'99999999999999999999...' (50 characters)"
    """
    if len(value) <= width:
        return repr(value)
    return f"{value[:width // 2]!r}"[:-1] + f"...' ({len(value)} characters)"


def count(minimum: int, maximum: int = MAX_EXAMPLES) -> Callable[[str], int]:
    """An integer from ``minimum`` to ``maximum``.

    >>> count(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer from 1 to 100000, got '0'
    """
    def parse(value: str) -> int:
        number = None
        if len(value.strip()) <= _DIGITS:
            try:
                number = int(value)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{shown(value)} is not an "
                                                 "integer") from None
        if number is None or not minimum <= number <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer from {minimum} to "
                                             f"{maximum}, got {shown(value)}")
        return number

    return parse


def seconds(value: str) -> float:
    """A number of seconds above 0, at most :data:`MAX_SECONDS`.

    >>> seconds("1e18")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a number of seconds above 0 and at most 86400, got '1e18'
    """
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(value)} is not a number") from None
    if not (0 < number <= MAX_SECONDS and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 and at most "
                                         f"{MAX_SECONDS:g}, got {shown(value)}")
    return number


def size(value: str) -> int:
    """A byte count above 0, at most :data:`MAX_BYTES`, with an optional ``K``, ``M``,
    ``G``, ``T`` or ``P`` suffix (powers of 1024).

    >>> size(str(2**63))
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a size above 0 and at most 1P (1125899906842624 bytes), got '9223372036854775808'
    """
    suffix = value[-1:].upper()
    digits, unit = (value[:-1], _UNITS[suffix]) if suffix in _UNITS else (value, 1)
    number = None
    if len(digits.strip()) <= _DIGITS:
        try:
            number = int(digits) * unit
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown(value)} is not a size such as "
                                             "2G") from None
    if number is None or not 0 < number <= MAX_BYTES:
        raise argparse.ArgumentTypeError(f"must be a size above 0 and at most 1P "
                                         f"({MAX_BYTES} bytes), got {shown(value)}")
    return number


def text(value: str) -> str:
    """A value that is not empty (an empty one would otherwise read as "not given").

    >>> text("")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: an empty value is refused
    """
    if not value:
        raise argparse.ArgumentTypeError("an empty value is refused")
    return value
