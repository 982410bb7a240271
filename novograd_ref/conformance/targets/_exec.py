"""``--impl exec:COMMAND``: a port in any language, driven over its standard input and
output with the novograd-ref protocol (version :data:`PROTOCOL_VERSION`).

The protocol is specified in ``docs/exec-protocol.md``; in short, line-oriented ASCII:

- handshake: the kit writes ``novograd-ref-protocol 1``, the port answers its own
  version line;
- ``configure DTYPE H K`` followed by ``H`` lines ``hyper NAME VALUE`` (canonical
  hyperparameters) and ``K`` lines ``keyword NAME VALUE...`` (the preset's own
  keywords); the port answers ``ready``, ``unsupported REASON`` or ``error MESSAGE``;
- ``init N``, ``lr constant X`` or ``lr table T X1 .. XT``, then per leaf ``leaf NDIM
  D1 .. DN NAME`` and ``param HEX...``; the port answers ``ready`` or ``error MESSAGE``;
- per step ``step K LR`` and ``N`` lines ``grad HEX...``; the port answers ``N`` lines
  ``param HEX...`` (the parameters after the step) or ``error MESSAGE``;
- ``end``: the port exits with status 0.

Array values are IEEE-754 bit patterns in fixed-width hexadecimal (float16: 4 digits,
float32: 8, float64: 16), most significant digit first, in row-major order; scalars
are shortest round-trip decimals (Python's ``repr``).

One process is started per run (per :meth:`ExecTarget.build`), in the process group of
the kit's child process: the kit's per-case time limit and memory limit
(``RLIMIT_AS``, inherited) cover it, and it is killed with that child. Its standard
error is the child's, so its tail comes with a failure.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import signal
import subprocess
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ... import _hyper, presets
from ..adapters._protocol import ImplementationFailed, LearningRate, Unsupported
from ._constructor_keywords import needs_preset
from ._grammar import TargetError

PROTOCOL_VERSION = 1
GREETING = "novograd-ref-protocol"
#: Hexadecimal digits of one value of each dtype the protocol carries.
HEX_DIGITS = {"float16": 4, "float32": 8, "float64": 16}
_SHOWN = 200  # characters of an offending line quoted in a message


def resolve_command(spec: str) -> list[str]:
    """The argument vector of ``exec:COMMAND``: split as a POSIX shell would
    (``shlex.split``), its program found relative to the current directory first,
    then on ``PATH``, as an absolute path. Raises :class:`TargetError` when the program
    is missing or not executable; nothing is run.

    >>> resolve_command("exec:sh -c true")[1:]
    ['-c', 'true']
    >>> resolve_command("exec:./no-such-port")
    Traceback (most recent call last):
    ...
    novograd_ref.conformance.targets._grammar.TargetError: exec:./no-such-port: './no-such-port' does not exist
    """
    try:
        argv = shlex.split(spec.removeprefix("exec:"))
    except ValueError as exc:
        raise TargetError(f"{spec}: cannot split the command: {exc}") from None
    if not argv:
        raise TargetError(f"{spec}: no command after 'exec:' (exec:COMMAND [ARGS...])")
    program = argv[0]
    here = Path(program)
    if os.sep not in program and not here.exists():
        found = shutil.which(program)
        if found is None:
            raise TargetError(f"{spec}: {program!r} is neither in the current directory "
                              "nor on PATH")
        here = Path(found)
    if not here.exists():
        raise TargetError(f"{spec}: {program!r} does not exist")
    if here.is_dir():
        raise TargetError(f"{spec}: {program!r} is a directory, not an executable")
    if not os.access(here, os.X_OK):
        raise TargetError(f"{spec}: {program!r} is not executable (no execute permission; "
                          f"chmod +x {shlex.quote(program)})")
    missing = missing_interpreter(here)
    if missing:
        raise TargetError(f"{spec}: {program!r} needs {missing}")
    return [str(here.resolve()), *argv[1:]]


def missing_interpreter(program: Path) -> str:
    """For a script, its ``#!`` interpreter when that is not installed (a missing
    toolchain), else ``""``: an absolute path that is not an executable file, or the
    program ``/usr/bin/env`` would look up on ``PATH``.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".mjs") as script:
    ...     _ = script.write("#!/usr/bin/env no-such-node\\n")
    ...     script.flush()
    ...     missing_interpreter(Path(script.name))
    "'no-such-node' (#!/usr/bin/env no-such-node), which is not on PATH"
    """
    try:
        with open(program, "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return ""
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode("utf-8", "replace").split()
    line = first.decode("utf-8", "replace").strip()
    if not words:
        return ""
    interpreter = Path(words[0])
    if not (interpreter.is_file() and os.access(interpreter, os.X_OK)):
        return f"{words[0]!r} ({line}), which is not installed"
    if interpreter.name == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if names and shutil.which(names[0]) is None:
            return f"{names[0]!r} ({line}), which is not on PATH"
    return ""


class ExecTarget:
    """The implementation ``exec:COMMAND``: :meth:`build` starts one port process,
    configured with keywords of ``preset`` (the port is told their canonical
    hyperparameters too, so it must know whose keywords they are)."""

    def __init__(self, spec: str, preset: str | None = None) -> None:
        self.spec, self.preset = spec, preset
        self.argv = resolve_command(spec)

    def build(self, kwargs: dict[str, Any], dtype: str) -> ExecAdapter:
        """A started, configured port for one run (``Unsupported`` if it declines)."""
        return ExecAdapter(self.spec, self.argv, kwargs, dtype,
                           needs_preset(self.spec, self.preset))


def canonical_hyper(preset: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical hyperparameters of ``preset``'s keywords ``kwargs`` as the
    protocol's ``hyper`` lines spell them (``novograd_ref._hyper.to_stored``, the vector
    files' names): every key of ``novograd_ref._hyper.REQUIRED``, then of ``OPTIONAL``
    (defaults filled in), in that order. A preset's other settings (``state_dtype``,
    ``max_lr``...) are not among them: they reach a port as its keywords only.

    >>> canonical_hyper("nemo", {"betas": (0.9, 0.98), "eps": 1e-8, "weight_decay": 0.0,
    ...     "grad_averaging": True, "amsgrad": False})["grad_averaging"]
    True
    """
    keys = (*_hyper.REQUIRED, *_hyper.OPTIONAL)
    full = presets.spec(preset).canonical(**kwargs)
    hyper = _hyper.complete({k: full[k] for k in keys if k in full})
    return _hyper.to_stored({k: hyper[k] for k in keys})


def scalar_text(value: Any) -> str:
    """A hyperparameter or keyword value as the protocol writes it: numbers as their
    shortest round-trip decimal, ``true``/``false``, ``none``, a sequence as its items
    separated by spaces, a string as itself.

    >>> scalar_text(0.1), scalar_text(True), scalar_text((0.9, 0.98)), scalar_text(None)
    ('0.1', 'true', '0.9 0.98', 'none')
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (tuple, list)):
        return " ".join(scalar_text(v) for v in value)
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"the protocol cannot carry the value {value!r} (empty or with "
                         "white space)")
    return text


def encode_values(array: np.ndarray, dtype: str) -> str:
    """The values of ``array`` (in ``dtype``) as space-separated bit patterns.

    >>> encode_values(np.array([1.0, -2.0]), "float32")
    '3f800000 c0000000'
    """
    digits = HEX_DIGITS[dtype]
    text = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder(">")).tobytes().hex()
    return " ".join(text[i:i + digits] for i in range(0, len(text), digits))


def decode_values(tokens: list[str], dtype: str) -> np.ndarray:
    """The inverse of :func:`encode_values` (``ValueError`` on a malformed token).

    >>> decode_values(["3f800000", "C0000000"], "float32")
    array([ 1., -2.], dtype=float32)
    """
    digits = HEX_DIGITS[dtype]
    bad = next((t for t in tokens if len(t) != digits), None)
    if bad is not None:
        raise ValueError(f"{bad[:40]!r} is not {digits} hexadecimal digits")
    try:
        raw = bytes.fromhex("".join(tokens))
    except ValueError:
        bad = next(t for t in tokens if not all(c in "0123456789abcdefABCDEF" for c in t))
        raise ValueError(f"{bad!r} is not {digits} hexadecimal digits") from None
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder(">")).astype(dtype)


class ExecAdapter:
    """One run of an ``exec:`` port, through the :class:`~novograd_ref.conformance.Adapter`
    protocol. Constructing it starts the process, does the handshake and sends the
    configuration: an ``unsupported`` answer raises
    :class:`~novograd_ref.conformance.Unsupported`; the port's death, an ``error``
    answer or anything out of protocol raises
    :class:`~novograd_ref.conformance.ImplementationFailed` with what it sent.
    """

    def __init__(self, spec: str, argv: list[str], kwargs: Mapping[str, Any],
                 dtype: str, preset: str) -> None:
        self.name = spec
        if dtype not in HEX_DIGITS:
            raise Unsupported(f"the exec protocol carries {', '.join(HEX_DIGITS)}, not "
                              f"{dtype}")
        self.dtype = dtype
        hyper = canonical_hyper(preset, kwargs)
        self._leaves: dict[str, tuple[int, ...]] = {}
        self._rate: LearningRate = 0.0
        self._step = -1  # -1: not initialized
        self._buffer = b""
        self._pending: list[str] = []  # answer lines read and not yet used
        try:
            self._process = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, bufsize=0)
        except OSError as exc:  # e.g. a script without its #! line
            raise ImplementationFailed(f"cannot start {argv[0]}: {exc.strerror}", "factory",
                                       cause="raised") from None
        self._finalizer = weakref.finalize(self, _finish, self._process)
        assert self._process.stdin is not None
        os.set_blocking(self._process.stdin.fileno(), False)  # write what fits, then read
        call = "factory"
        line = self._send([f"{GREETING} {PROTOCOL_VERSION}"], 1, call, None)[0]
        words = line.split()
        if len(words) != 2 or words[0] != GREETING:
            raise self._failed(f"expected the version line '{GREETING} "
                               f"{PROTOCOL_VERSION}', got {_shown(line)}", call, None)
        if words[1] != str(PROTOCOL_VERSION):
            self._finalizer()
            raise ImplementationFailed(
                f"protocol version mismatch: the port speaks version {words[1][:20]}, this "
                f"kit speaks version {PROTOCOL_VERSION}", call, None, cause="protocol")
        lines = [f"configure {dtype} {len(hyper)} {len(kwargs)}"]
        lines += [f"hyper {k} {scalar_text(v)}" for k, v in hyper.items()]
        lines += [f"keyword {k} {scalar_text(v)}" for k, v in kwargs.items()]
        answer = self._send(lines, 1, call, None)[0]
        if answer == "unsupported" or answer.startswith("unsupported "):
            self._finalizer()
            raise Unsupported(answer.removeprefix("unsupported").strip()
                              or "the port declined this configuration")
        self._expect_ready(answer, call, None)

    # -- the adapter protocol
    def init(self, params: Mapping[str, np.ndarray], learning_rate: LearningRate) -> int:
        """Send the learning rate and the initial parameters."""
        if self._step != -1:
            raise RuntimeError("an exec adapter runs once: build another for a new run")
        self._leaves = {k: np.shape(v) for k, v in params.items()}
        self._rate = learning_rate
        if isinstance(learning_rate, np.ndarray):
            rates = " ".join(scalar_text(float(x)) for x in learning_rate)
            lines = [f"init {len(params)}", f"lr table {learning_rate.size} {rates}"]
        else:
            lines = [f"init {len(params)}", f"lr constant {scalar_text(float(learning_rate))}"]
        for name, value in params.items():
            if "\n" in name or not name:
                raise ValueError(f"leaf name {name!r}: the protocol carries non-empty names "
                                 "without line breaks")
            shape = np.shape(value)
            lines += [" ".join(["leaf", str(len(shape)), *map(str, shape), name]),
                      f"param {encode_values(np.asarray(value), self.dtype)}".rstrip()]
        self._expect_ready(self._send(lines, 1, "init()", 0)[0], "init()", 0)
        self._step = 0
        return self._step

    def update(self, grads: Mapping[str, np.ndarray], state: int
               ) -> tuple[dict[str, np.ndarray], int]:
        """Send one step's gradients; read back the parameters after it."""
        step = state + 1
        rate = (float(self._rate[state]) if isinstance(self._rate, np.ndarray)
                else float(self._rate))
        lines = [f"step {step} {scalar_text(rate)}"]
        lines += [f"grad {encode_values(np.asarray(grads[k]), self.dtype)}".rstrip()
                  for k in self._leaves]
        answer = self._send(lines, len(self._leaves), "update()", step)
        params = {}
        for (name, shape), line in zip(self._leaves.items(), answer):
            params[name] = self._param(line, name, shape, step)
        self._step = step
        return params, step

    def close(self) -> None:
        """Send ``end`` and stop the process (also done when the adapter is dropped)."""
        self._finalizer()

    # -- reading and writing
    def _param(self, line: str, name: str, shape: tuple[int, ...], step: int) -> np.ndarray:
        words = line.split()
        size = int(np.prod(shape))
        where = f"leaf {name!r} (shape {shape}, {size} value{'s' * (size != 1)})"
        if not words or words[0] != "param":
            raise self._failed(f"expected 'param' and the values of {where}, got "
                               f"{_shown(line)}", "update()", step)
        if len(words) - 1 != size:
            raise self._failed(f"answered {len(words) - 1} value{'s' * (len(words) != 2)} "
                               f"for {where}: {_shown(line)}", "update()", step)
        try:
            return decode_values(words[1:], self.dtype).reshape(shape)
        except ValueError as exc:
            raise self._failed(f"{where}: {exc} ({self.dtype}): {_shown(line)}",
                               "update()", step) from None

    def _expect_ready(self, answer: str, call: str, step: int | None) -> None:
        if answer.strip() != "ready":
            raise self._failed(f"expected 'ready', got {_shown(answer)}", call, step)

    def _send(self, lines: list[str], replies: int, call: str, step: int | None
              ) -> list[str]:
        """Write ``lines`` while reading ``replies`` answer lines (both at once, so a
        port that answers before it has read everything cannot block on a full pipe);
        an ``error`` answer raises at once."""
        data = ("\n".join(lines) + "\n").encode("ascii")
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        while len(self._pending) < replies:
            readable, writable, _ = select.select([stdout], [stdin] if data else [], [])
            if writable:
                try:
                    data = data[os.write(stdin.fileno(), data[:1 << 16]):]
                except BlockingIOError:
                    pass
                except OSError:  # the port is gone or closed its input: its reply says
                    data = b""
            if readable:
                self._read(call, step)
            for line in self._pending[:replies]:
                if line == "error" or line.startswith("error "):
                    raise self._failed("the port reported an error: "
                                       + line.removeprefix("error").strip(), call, step,
                                       cause="raised")
        out, self._pending = self._pending[:replies], self._pending[replies:]
        return out

    def _read(self, call: str, step: int | None) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        chunk = os.read(stdout.fileno(), 1 << 16)
        if not chunk:
            raise self._died(call, step)
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        self._pending += [line.decode("ascii", "replace").rstrip("\r") for line in lines]

    def _died(self, call: str, step: int | None) -> ImplementationFailed:
        try:
            status = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return self._failed("the port closed its standard output and did not exit",
                                call, step)
        unread = [*self._pending, self._buffer.decode("ascii", "replace")]
        text = "\n".join(line for line in unread if line)
        sent = f"; the end of what it sent: {_shown(text[-_SHOWN:])}" if text else ""
        self._finalizer()
        if status < 0:
            name = signal.Signals(-status).name
            return ImplementationFailed(f"the port was killed by {name}{sent}", call, step,
                                        cause="signal")
        return ImplementationFailed(f"the port exited with status {status} before "
                                    f"answering{sent}", call, step, cause="exit")

    def _failed(self, message: str, call: str, step: int | None, cause: str = "protocol"
                ) -> ImplementationFailed:
        with contextlib.suppress(OSError):
            self._process.kill()  # out of protocol: no "end" for it
        self._finalizer()
        if cause == "protocol":
            message = f"the port answered out of protocol: {message}"
        return ImplementationFailed(message, call, step, cause=cause)


def _shown(text: str) -> str:
    """An offending line as quoted in a message (cut to :data:`_SHOWN` characters)."""
    return repr(text[:_SHOWN]) + (f" ... ({len(text)} characters)" if len(text) > _SHOWN
                                  else "")


def _finish(process: subprocess.Popen[bytes]) -> None:
    """Say ``end``, close the pipes and reap the process (killed if it lingers)."""
    if process.poll() is None and process.stdin is not None:
        with contextlib.suppress(OSError):
            os.write(process.stdin.fileno(), b"end\n")
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
