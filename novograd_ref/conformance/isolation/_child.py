"""The child process that runs an implementation under test for the conformance kit.

``python -m novograd_ref.conformance.isolation._child COMMAND_FD REPLY_FD MEMORY_LIMIT``: reads
JSON-line commands on ``COMMAND_FD`` and answers on ``REPLY_FD`` (never on standard
output, which belongs to the implementation). ``MEMORY_LIMIT`` bytes (0: none) caps
the address space (``RLIMIT_AS``) before the rest of the kit and the implementation are
imported (the ``novograd_ref`` package itself is already loaded by ``-m``). Commands:

- first, unasked, once its own modules are imported (under the memory limit):
  ``{"started": true, "memory_limited": bool}`` (whether the OS applied the limit);
- ``{"op": "load", "spec": S, "preset": P}``: load the implementation, built with
  keywords of preset ``P`` (or ``null``); answers ``{"ready": true}``,
  ``{"usage": message}`` or ``{"failure": {...}}``;
- ``{"op": "run", "kwargs", "dtype", "name", "steps", "leaves", "job", "result"}``:
  run the problem stored in the ``job`` file (its leaves in the order ``leaves``);
  reports ``{"progress": call, "step": k}`` before each call, then answers ``{"oracle_kwargs": {...}}`` (trajectory written to
  ``result``), ``{"skip": reason}`` or ``{"failure": {...}, "exiting": bool}``.

After the implementation calls ``sys.exit`` the child reports it and exits. See
:mod:`novograd_ref.conformance.isolation._runner` for the parent side.
"""

from __future__ import annotations

import sys
from typing import Any


def _limit_memory(limit: int) -> bool:
    """Cap the address space at ``limit`` bytes; whether the OS applied it."""
    if limit <= 0:
        return False
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError, OverflowError):
        return False
    return True


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the kit's process dies (a killed run must
    not leave a hung implementation behind)."""
    import os

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


def main(argv: list[str]) -> int:
    """Serve commands until the command pipe closes."""
    command_fd, reply_fd, limit = int(argv[0]), int(argv[1]), int(argv[2])
    limited = _limit_memory(limit)
    _die_with_parent()
    import dataclasses
    import faulthandler
    import os

    faulthandler.enable()  # a crash prints the Python stack to the output log
    replies = os.fdopen(reply_fd, "w", buffering=1, encoding="utf-8")
    commands = os.fdopen(command_fd, "r", encoding="utf-8")

    def send(message: dict[str, Any]) -> None:
        replies.write(wire_line(message, unknown_as_repr=True))
        replies.flush()

    from novograd_ref import vectors
    from novograd_ref._json import from_wire, read_wire_line, to_wire, wire_line
    from novograd_ref.conformance.adapters._loader import ImplementationError, implementation
    from novograd_ref.conformance.adapters._protocol import Failure, raised
    from novograd_ref.conformance.isolation._runner import CompletedRun, Problem, Skipped, run_once

    send({"started": True, "memory_limited": limited})  # the kit runs: now the port
    load = read_wire_line(commands.readline() or "{}")
    try:
        impl = implementation(load["spec"], load.get("preset"))
    except ImplementationError as exc:
        send({"usage": str(exc)})
        return 0
    except (Exception, SystemExit) as exc:  # noqa: BLE001 (the port's import failed)
        failure = raised(exc, "import")
        send({"failure": dataclasses.asdict(failure.failure), "exiting": True})
        return 0
    send({"ready": True})
    for line in commands:
        job = read_wire_line(line)
        arrays = vectors.read_npz(job["job"])
        problem = Problem.from_arrays(job["name"], arrays, int(job["steps"]), job["leaves"])
        outcome = run_once(impl, from_wire(job["kwargs"]), job["dtype"], problem,
                           lambda call, step: send({"progress": call, "step": step}))
        if isinstance(outcome, Skipped):
            send({"skip": outcome.reason})
        elif isinstance(outcome, Failure):
            exiting = outcome.cause == "exit"
            send({"failure": dataclasses.asdict(outcome), "exiting": exiting})
            if exiting:
                return 0
        else:
            assert isinstance(outcome, CompletedRun)
            result = {f"params__{k}": v for k, v in outcome.params.items()}
            result |= {f"grads__{k}": v for k, v in outcome.grads.items()}
            with open(job["result"], "wb") as fh:
                fh.write(vectors.npz_bytes(result))
            send({"oracle_kwargs": to_wire(outcome.oracle_kwargs)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
