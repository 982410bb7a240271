"""Where a written vector came from: one provenance block and one timestamp format.

Every record and export entry of a manifest carries a ``provenance`` object with at
least ``framework_version``, ``versions``, ``platform``, ``command`` and
``recorded_at`` (``docs/vectors.md``).
"""

from __future__ import annotations

import datetime
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np


def utc_timestamp() -> str:
    """Now, in UTC, as ``YYYY-MM-DDTHH:MM:SSZ``.

    >>> len(utc_timestamp())
    20
    """
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(framework_version: str, versions: Mapping[str, str], command: str,
               **extra: Any) -> dict[str, Any]:
    """The provenance block of one written record.

    ``versions`` are the recording packages' versions; this process's NumPy and Python
    versions are added unless given. The platform, machine and time are this process's
    (``recorded_at`` now) unless ``extra`` gives them (a recording made elsewhere);
    other ``extra`` keys (``case_sha256``, ``notes``...) follow.

    >>> block = provenance("1.0", {"optax": "1.0"}, "novograd-ref record optax")
    >>> sorted(block)[:4]
    ['command', 'framework_version', 'machine', 'platform']
    """
    return {"framework_version": framework_version,
            "versions": {"numpy": np.__version__, "python": platform.python_version(),
                         **versions},
            "platform": platform.platform(), "machine": platform.machine(),
            "command": command, "recorded_at": utc_timestamp(), **extra}
