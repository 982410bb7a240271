"""Running the implementation under test: in a child process (the default) or in-process.

A :class:`Runner` builds the implementation with a case's constructor keywords and
steps it through one :class:`Problem`; the outcome (a :data:`RunResult`) is a
:class:`CompletedRun` (the parameter trajectory and the gradients fed),
:class:`Skipped` (the factory raised :class:`~novograd_ref.conformance.Unsupported` or
``NotImplementedError``) or a :class:`~novograd_ref.conformance.Failure`.

:class:`IsolatedRunner` runs the implementation in a child process
(``python -m novograd_ref.conformance.isolation._child``), started once and restarted after it
dies. Commands and replies travel as JSON lines on two private pipes, arrays as
``.npz`` files in a private temporary folder; the child's standard output and error go
to a log file whose tail is attached to a failure, so a port printing to stdout cannot
corrupt the protocol. Each case has a time limit (``timeout`` seconds, for the
factory and every step together; starting the child and importing the port may take
up to ``max(timeout, 60)`` seconds); the child's address space can be limited
(``memory_limit`` bytes, ``RLIMIT_AS``, where the OS allows). A child that exits, is
killed by a signal, runs out of time or memory, or answers out of protocol becomes a
:class:`~novograd_ref.conformance.Failure` of that case, with the last call and step
it reported starting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, Union

import numpy as np

from ... import vectors
from ..._json import from_wire, read_wire_line, to_wire, wire_line
from ..adapters._loader import Implementation, ImplementationError, check_spec, implementation
from ..adapters._protocol import Failure, ImplementationFailed, raised
from ..judging._verify import Watch, run_trajectory

DEFAULT_TIMEOUT = 60.0  # seconds per case (factory and every step)
STARTUP_TIMEOUT = 60.0  # seconds at least for the child to start and import the port
_OUTPUT_TAIL = 4000  # characters of the implementation's output kept with a failure


@dataclasses.dataclass(frozen=True)
class Problem:
    """The inputs of one run: starting parameters (in the run dtype), a constant rate or
    a per-step table, and the gradients: fixed ``(steps, *shape)`` arrays in the run
    dtype, or a quadratic's float64 ``target`` and ``curvature``."""

    name: str
    params0: dict[str, np.ndarray]
    learning_rate: float | np.ndarray
    steps: int
    grads: dict[str, np.ndarray] | None = None
    target: dict[str, np.ndarray] | None = None
    curvature: dict[str, np.ndarray] | None = None

    @classmethod
    def from_case(cls, case: vectors.Case, dtype: str) -> Problem:
        """A standard case in ``dtype``."""
        params0 = case.params0_as(dtype)
        if case.grads is not None:
            grads = {n: case.grads[n].astype(dtype) for n in params0}
            return cls(case.name, params0, case.learning_rate(), case.T, grads=grads)
        return cls(case.name, params0, case.learning_rate(), case.T, target=case.target,
                   curvature=case.curvature)

    def grads_at(self, step: int, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The gradients of step ``step + 1`` given the parameters before it."""
        if self.grads is not None:
            return {n: g[step] for n, g in self.grads.items()}
        assert self.target is not None
        assert self.curvature is not None
        return vectors.quadratic_grad(params, self.target, self.curvature)

    def arrays(self) -> dict[str, np.ndarray]:
        """The problem as ``.npz`` members (see :meth:`from_arrays`)."""
        out = {f"params0__{k}": v for k, v in self.params0.items()}
        out["lr"] = np.asarray(self.learning_rate, dtype=np.float64)
        for prefix, leaves in (("grads", self.grads), ("target", self.target),
                               ("curvature", self.curvature)):
            out |= {f"{prefix}__{k}": v for k, v in (leaves or {}).items()}
        return out

    @classmethod
    def from_arrays(cls, name: str, arrays: Mapping[str, np.ndarray], steps: int,
                    leaves: list[str]) -> Problem:
        """The problem :meth:`arrays` wrote, its leaves in the order ``leaves``."""
        def part(prefix: str) -> dict[str, np.ndarray] | None:
            found = {leaf: arrays[f"{prefix}__{leaf}"] for leaf in leaves
                     if f"{prefix}__{leaf}" in arrays}
            return found or None

        lr = arrays["lr"]
        rate: float | np.ndarray = float(lr) if lr.ndim == 0 else lr
        return cls(name, part("params0") or {}, rate, steps, part("grads"), part("target"),
                   part("curvature"))


@dataclasses.dataclass(frozen=True)
class CompletedRun:
    """A completed run: the keywords it was built with, the oracle keywords that
    reproduce it, the parameter trajectory ``(steps + 1, *shape)`` and the gradients
    fed ``(steps, *shape)``."""

    oracle_kwargs: dict[str, Any]
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Skipped:
    """The implementation does not have the case's options."""

    reason: str


#: What one run of the implementation came to.
RunResult = Union[CompletedRun, Skipped, Failure]  # noqa: UP007 (a runtime alias on 3.10)


def run_once(impl: Implementation, kwargs: Mapping[str, Any], dtype: str, problem: Problem,
             watch: Watch | None = None) -> RunResult:
    """Build ``impl`` with ``kwargs`` for ``dtype`` and step it through ``problem``.

    ``Unsupported`` / ``NotImplementedError`` from the factory is a skip; any other
    exception (``sys.exit`` included) or a broken protocol is a failure.
    """
    if watch is not None:
        watch("factory", 0)
    try:
        adapter = impl.build(dict(kwargs), dtype)
        oracle_kwargs = impl.oracle_kwargs(dict(kwargs), dtype)
    except NotImplementedError as exc:
        return Skipped(f"{type(exc).__name__}: {exc}")
    except ImplementationError as exc:  # the loader's own check of what came back
        return Failure("protocol", str(exc), "factory")
    except ImplementationFailed as exc:  # a port process that failed while starting
        return exc.failure
    except (Exception, SystemExit) as exc:  # noqa: BLE001 (any error of the factory)
        return raised(exc, "factory").failure
    try:
        params, grads = run_trajectory(adapter, problem.params0, problem.learning_rate,
                                       problem.grads_at, problem.steps, watch)
    except ImplementationFailed as exc:
        return exc.failure
    return CompletedRun(dict(oracle_kwargs), params, grads)


class Runner(Protocol):
    """Runs the implementation under test (see :func:`open_runner`)."""

    spec: str

    def run(self, kwargs: Mapping[str, Any], dtype: str, problem: Problem) -> RunResult: ...


class InProcessRunner:
    """Runs the implementation in this process (for debugging: its crash is ours).

    A spec is loaded at the first run, with keywords of ``preset`` (see
    :func:`~novograd_ref.conformance.implementation`); an exception raised while
    importing it (not :class:`~novograd_ref.conformance.ImplementationError`: the spec
    names nothing) is a failure of every run, as in a child process.
    """

    def __init__(self, impl: Implementation | str, preset: str | None = None) -> None:
        self.spec, self.preset = (impl if isinstance(impl, str) else impl.spec), preset
        self.impl: Implementation | Failure | None = None if isinstance(impl, str) else impl

    def run(self, kwargs: Mapping[str, Any], dtype: str, problem: Problem) -> RunResult:
        """See :func:`run_once`."""
        if self.impl is None:
            try:
                self.impl = implementation(self.spec, self.preset)
            except ImplementationError:
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001 (the port's import failed)
                self.impl = raised(exc, "import").failure
        if isinstance(self.impl, Failure):
            return self.impl
        return run_once(self.impl, kwargs, dtype, problem)


def private_folder(kind: str) -> Path:
    """A new temporary folder of this process, ``novograd-ref-<kind>-<pid>-*``; the ones
    of the same kind that a killed novograd-ref process left behind go first."""
    remove_abandoned_folders(kind)
    return Path(tempfile.mkdtemp(prefix=f"novograd-ref-{kind}-{os.getpid()}-"))


def remove_abandoned_folders(kind: str) -> list[Path]:
    """Remove the ``novograd-ref-<kind>-<pid>-*`` folders of the temporary directory
    whose process is gone (a kit killed before it could clean up), owned by this user;
    return them. A folder whose process may still run, or that this user does not own,
    is left alone. Nothing is done where processes cannot be probed (not POSIX).

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> mine = private_folder("doctest")
    >>> remove_abandoned_folders("doctest")  # this process still runs: kept
    []
    >>> mine.rmdir()
    """
    if os.name != "posix":
        return []
    removed = []
    prefix = f"novograd-ref-{kind}-"
    for folder in Path(tempfile.gettempdir()).glob(prefix + "*-*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink() and \
                    folder.stat().st_uid == os.getuid():
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or not a pid): leave its folder alone
    return True


class IsolatedRunner:
    """Runs the implementation ``spec`` in a child process (see the module docstring),
    built with keywords of ``preset``.

    Raises :class:`~novograd_ref.conformance.ImplementationError` when ``spec`` names
    nothing that can be loaded (checked here without importing it, and by the child).
    """

    def __init__(self, spec: str, timeout: float = DEFAULT_TIMEOUT,
                 memory_limit: int | None = None, preset: str | None = None) -> None:
        check_spec(spec)
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.spec, self.timeout, self.memory_limit = spec, float(timeout), memory_limit
        self.preset = preset
        self.memory_limited: bool | None = None  # whether the OS applied the limit
        self._folder = private_folder("run")
        self._child: subprocess.Popen[bytes] | None = None
        self._commands = self._replies = -1
        self._buffer = b""
        self._log_path = self._folder / "output-0.log"
        self._jobs = 0
        self._broken: Failure | None = None  # the child cannot even load the port
        self._allowed = self.timeout  # seconds the answer awaited now may take

    # -- life cycle
    def _start(self, deadline: float) -> Failure | None:
        command_read, self._commands = os.pipe()
        self._replies, reply_write = os.pipe()
        self._log_path = self._folder / f"output-{self._jobs}.log"
        argv = [sys.executable, "-m", "novograd_ref.conformance.isolation._child", str(command_read),
                str(reply_write), str(self.memory_limit or 0)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(_import_path())}
        with open(self._log_path, "wb") as log:
            self._child = subprocess.Popen(argv, pass_fds=(command_read, reply_write),
                                           stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True)
        os.close(command_read)
        os.close(reply_write)
        self._buffer = b""
        self._kit_started(deadline)
        self._send({"op": "load", "spec": self.spec, "preset": self.preset})
        reply, failure = self._receive(deadline, ["import", None])
        if failure is not None:
            return failure
        assert reply is not None
        if "usage" in reply:
            self._stop()
            raise ImplementationError(str(reply["usage"]))
        if "failure" in reply:
            return self._failure(reply, ["import", None])
        if reply.get("ready") is not True:
            return self._protocol(f"unexpected reply {reply!r} to loading")
        return None

    def _kit_started(self, deadline: float) -> None:
        """Wait until the child runs the kit's own code, before it loads the port. A child
        that cannot get there failed on the kit's side, never the port's:
        :class:`ImplementationError` under a memory limit (too small, or one the OS does
        not apply), ``RuntimeError`` (a bug of the kit) otherwise."""
        reply, failure = self._receive(deadline, [None, None])
        if failure is None and reply is not None and reply.get("started") is True:
            self.memory_limited = bool(reply.get("memory_limited"))
            if self.memory_limit and not self.memory_limited:
                self._stop()
                raise ImplementationError("--memory-limit: this system does not let the kit "
                                          "limit the address space (RLIMIT_AS)")
            return
        self._stop()
        why = failure.message if failure is not None else f"unexpected reply {reply!r}"
        last = _tail(self._log_path, 0).strip().splitlines()[-1:]
        why += f" ({last[0].strip()})" if last else ""
        if self.memory_limit:
            raise ImplementationError(f"--memory-limit {self.memory_limit} bytes: the kit's "
                                      f"child process cannot start within it: {why}")
        raise RuntimeError(f"the kit's child process did not start: {why}")

    def _stop(self) -> None:
        child, self._child = self._child, None
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._commands = self._replies = -1
        if child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def close(self) -> None:
        """Stop the child and remove the temporary folder."""
        self._stop()
        shutil.rmtree(self._folder, ignore_errors=True)

    # -- one run
    def run(self, kwargs: Mapping[str, Any], dtype: str, problem: Problem) -> RunResult:
        """Run one problem in the child; restart the child first if it is gone."""
        if self._broken is not None:
            return self._broken
        self._jobs += 1
        if self._child is None:
            self._allowed = max(self.timeout, STARTUP_TIMEOUT)
            failure = self._start(time.monotonic() + self._allowed)
            if failure is not None:
                self._broken = dataclasses.replace(failure, output=_tail(self._log_path, 0))
                return self._broken
        self._allowed = self.timeout
        deadline = time.monotonic() + self.timeout
        log, start = self._log_path, self._log_path.stat().st_size
        job = self._folder / f"job-{self._jobs}.npz"
        result = self._folder / f"result-{self._jobs}.npz"
        job.write_bytes(vectors.npz_bytes(problem.arrays()))
        self._send({"op": "run", "kwargs": to_wire(dict(kwargs)), "dtype": dtype,
                    "name": problem.name, "steps": problem.steps,
                    "leaves": list(problem.params0), "job": str(job),
                    "result": str(result)})
        where: list[Any] = ["factory", 0]
        reply, failure = self._receive(deadline, where)
        job.unlink(missing_ok=True)
        if failure is None:
            assert reply is not None
            if "skip" in reply:
                return Skipped(str(reply["skip"]))
            if "failure" in reply:
                failure = self._failure(reply, where)
            else:
                outcome = self._result(reply, result, problem, dtype)
                result.unlink(missing_ok=True)
                if isinstance(outcome, CompletedRun):
                    return outcome
                failure = outcome
        return dataclasses.replace(failure, output=_tail(log, start))

    def _result(self, reply: Mapping[str, Any], result: Path, problem: Problem, dtype: str
                ) -> CompletedRun | Failure:
        if not isinstance(reply.get("oracle_kwargs"), dict):
            return self._protocol(f"unexpected reply {reply!r}")
        shapes = {f"params__{k}": ((problem.steps + 1, *v.shape), dtype)
                  for k, v in problem.params0.items()}
        shapes |= {f"grads__{k}": ((problem.steps, *v.shape), dtype)
                   for k, v in problem.params0.items()}
        try:
            arrays = vectors.parse_npz(str(result), result.read_bytes(), shapes=shapes)
        except (OSError, ValueError) as exc:
            return self._protocol(f"unreadable result: {exc}")
        params = {k: arrays[f"params__{k}"] for k in problem.params0}
        grads = {k: arrays[f"grads__{k}"] for k in problem.params0}
        return CompletedRun(from_wire(reply["oracle_kwargs"]), params, grads)

    def _failure(self, reply: Mapping[str, Any], where: list[Any]) -> Failure:
        data = reply["failure"]
        if reply.get("exiting"):
            self._stop()
        try:
            return Failure(**data)
        except TypeError:
            return self._protocol(f"unexpected failure reply {reply!r}", where)

    def _protocol(self, message: str, where: list[Any] | None = None) -> Failure:
        self._stop()
        call, step = where or ("", None)
        return Failure("protocol", f"the child process answered out of protocol: {message}",
                       call, step)

    # -- pipes
    def _send(self, message: Mapping[str, Any]) -> None:
        data = wire_line(message).encode()
        try:
            while data:
                data = data[os.write(self._commands, data):]
        except OSError:
            pass  # the child is gone; the reply side says how

    def _receive(self, deadline: float, where: Any
                 ) -> tuple[dict[str, Any] | None, Failure | None]:
        """The next final reply, following progress messages (``where`` is updated to
        the last call and step the child reported), or how the child failed."""
        while True:
            line = self._line(deadline)
            if isinstance(line, Failure):
                return None, dataclasses.replace(line, call=where[0] or "",
                                                 step=where[1])
            try:
                message = read_wire_line(line)
            except ValueError:
                return None, self._protocol(f"not JSON: {line[:200]!r}", where)
            if not isinstance(message, dict):
                return None, self._protocol(f"not an object: {line[:200]!r}", where)
            if "progress" in message:
                where[0], where[1] = message["progress"], message.get("step")
                continue
            return message, None

    def _line(self, deadline: float) -> str | Failure:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([self._replies], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self._stop()
                allowed = self._allowed
                return Failure("timeout", f"no answer within {allowed:g} s; the "
                                          "child process was killed")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                return self._died()
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def _died(self) -> Failure:
        child = self._child
        assert child is not None
        try:
            status = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            status = None
        self._stop()
        if status is None:
            return Failure("protocol", "the child process closed its reply pipe and did "
                                       "not exit; it was killed")
        if status < 0:
            name = signal.Signals(-status).name
            return Failure("signal", f"the child process was killed by {name}")
        return Failure("exit", f"the child process exited with status {status}")



def _tail(path: Path, start: int) -> str:
    """The last characters written to ``path`` from offset ``start``."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(min(start, size), size - _OUTPUT_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _import_path() -> list[str]:
    """This process's module search path, for the child to import the same modules."""
    return [p or os.getcwd() for p in sys.path]


@contextlib.contextmanager
def open_runner(impl: Implementation | str, *, in_process: bool = False,
                timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                preset: str | None = None) -> Iterator[Runner]:
    """A runner for ``impl`` (closed on exit): in a child process by default, which
    loads the implementation from its spec (``impl.spec``) with keywords of ``preset``;
    with ``in_process``, here."""
    if in_process:
        if isinstance(impl, str):
            check_spec(impl)
        yield InProcessRunner(impl, preset)
        return
    runner = IsolatedRunner(impl if isinstance(impl, str) else impl.spec, timeout,
                            memory_limit, preset)
    try:
        yield runner
    finally:
        runner.close()
