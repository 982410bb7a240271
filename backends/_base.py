"""What every backend module provides (no NovoGrad math lives here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Backend:
    """One array library, as the tests, benchmarks and conformance tools see it.

    - ``xp``: the Array API namespace (through array-api-compat where needed).
    - ``from_numpy(a, device=None)`` / ``to_numpy(x)``: conversions (copies).
    - ``devices``: devices to place arrays on; the first is the default, later ones
      are alternates used to check that outputs stay on their inputs' device.
    - ``synchronize()``: block until queued work is done (before a timer stops).
    - ``float_dtypes``: names of the floating dtypes the library supports.
    - ``lazy``: whether operations build a graph instead of computing.
    """

    name: str
    xp: Any
    from_numpy: Callable[..., Any]
    to_numpy: Callable[[Any], Any]
    devices: tuple[Any, ...] = (None,)
    synchronize: Callable[[], None] = lambda: None
    float_dtypes: tuple[str, ...] = ("float32", "float64")
    lazy: bool = False
