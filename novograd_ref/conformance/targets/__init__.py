"""Implementations the kit reaches without Python glue.

``exec:COMMAND`` (:class:`ExecTarget`): a port in any language, started as a process and
driven over its standard input and output with the novograd-ref protocol
(``docs/exec-protocol.md``). The client libraries that speak it for a port, in C
(``novograd_ref.h``), Rust (``novograd_ref.rs``) and JavaScript (``novograd_ref.mjs``),
ship in ``clients/``; :func:`copy_clients` (``novograd-ref clients --out DIR``) copies
them out.
"""

from ._clients import CLIENTS, client_files, copy_clients
from ._exec import (
    PROTOCOL_VERSION,
    ExecAdapter,
    ExecTarget,
    TargetError,
    canonical_hyper,
    resolve_command,
)

__all__ = ("CLIENTS", "PROTOCOL_VERSION", "ExecAdapter", "ExecTarget", "TargetError",
           "canonical_hyper", "client_files", "copy_clients", "resolve_command")
