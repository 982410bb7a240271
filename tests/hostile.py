"""Hostile inputs for the command line: packages whose ``__init__`` misbehaves, output
paths that are anything but a regular file, and a snapshot of a folder to prove that
nothing in it was replaced.

Used by ``tests/test_cli_edges.py`` (one pinned case each) and
``tests/test_cli_fuzz.py`` (drawn combinations).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: What a hostile package's ``__init__`` does, and the failure cause the kit must report.
BEHAVIOURS = {
    "exit": ("import sys\nsys.exit(0)\n", "exit"),
    "os_exit": ("import os\nos._exit(0)\n", "exit"),
    "raise": ("raise RuntimeError('raised by the package')\n", "raised"),
    "missing_dependency": ("import novograd_ref_no_such_dependency\n", "raised"),
    "sleep": ("import time\ntime.sleep(600)\n", "timeout"),
}
STARTUP_SECONDS = 4.0  # the kit's allowance to start the child and import the port, here


def write_package(root: Path, behaviour: str, nested: bool = False) -> str:
    """A package in ``root`` whose ``__init__`` first records the id of the process
    importing it (in ``<package>.pids``), then does ``behaviour``; its module ``port``
    is a faithful port (``make``). With ``nested`` the misbehaving ``__init__`` is that
    of a sub-package. Returns the ``--impl`` spec."""
    name = f"hostile_{behaviour}"
    top = root / name
    inner = top / "inner" if nested else top
    inner.mkdir(parents=True)
    if nested:
        (top / "__init__.py").write_text("")
    record = f"import os\nwith open({str(root / (name + '.pids'))!r}, 'a') as fh:\n" \
             "    fh.write(f'{os.getpid()}\\n')\n"
    (inner / "__init__.py").write_text(record + BEHAVIOURS[behaviour][0])
    (inner / "port.py").write_text("from tests.flawed_ports import numpy_optax as make\n")
    return f"{name}{'.inner' if nested else ''}.port:make"


def importers(root: Path, spec: str) -> set[int]:
    """The ids of the processes that imported the package of ``spec``."""
    pids = root / (spec.split(".", 1)[0] + ".pids")
    return {int(line) for line in pids.read_text().split()} if pids.exists() else set()


@dataclasses.dataclass(frozen=True)
class Ran:
    """A finished command: its exit status, outputs and process id."""

    returncode: int
    stdout: str
    stderr: str
    pid: int


def run_cli(args: list[str], cwd: Path, timeout: float = 180) -> Ran:
    """``novograd-ref ARGS`` in a fresh process run from ``cwd``, the kit's allowance to
    start the child and import the port cut to :data:`STARTUP_SECONDS` (a hang past it
    must be a timeout of the port). Raises ``subprocess.TimeoutExpired`` (the command
    killed) if the command itself hangs."""
    code = ("import sys\nfrom novograd_ref.conformance.isolation import _runner\n"
            f"_runner.STARTUP_TIMEOUT = {STARTUP_SECONDS!r}\n"
            "from novograd_ref.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        return Ran(process.returncode, out, err, process.pid)


#: Kinds of things an output path may name that must be refused.
PATH_KINDS = ("fifo", "socket", "char_device", "link_to_devnull", "dangling_link",
              "link_loop", "directory", "long_name", "long_path", "missing_folder",
              "trailing_slash", "file_as_folder")


def make_path(root: Path, kind: str) -> str | None:
    """A path under ``root`` of ``kind`` (see :data:`PATH_KINDS`), made on disk where it
    is a thing; ``None`` where this system cannot make it (a device node without
    privileges, a socket path too long)."""
    target = root / f"out-{kind}"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(target))
        return str(target) if target.exists() else None
    elif kind == "char_device":
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (OSError, AttributeError):
            return None
    elif kind == "link_to_devnull":
        target.symlink_to(os.devnull)
    elif kind == "dangling_link":
        target.symlink_to(root / "nowhere" / "file")
    elif kind == "link_loop":
        target.symlink_to(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "long_name":
        return str(root / ("x" * 256))
    elif kind == "long_path":
        return str(root / "/".join(["y" * 200] * 25))
    elif kind == "missing_folder":
        return str(root / "missing" / "out.json")
    elif kind == "trailing_slash":
        return str(root) + "/"
    elif kind == "file_as_folder":
        target.write_text("a file")
        return str(target / "out.json")
    return str(target)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``root`` (links not followed): mode, size, modification time
    (of what is not a folder) and link target or content; equal snapshots mean nothing
    was replaced, created or left behind."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                extra = Path(path).read_bytes().hex()[:64]
            else:
                extra = ""
            when = 0 if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns  # entries: below
            out[os.path.relpath(path, root)] = (info.st_mode, info.st_size, when, extra)
    return out


@contextlib.contextmanager
def devnull_untouched() -> Iterator[None]:
    """Check that the system's null device is still a character device afterwards."""
    yield
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
