"""Command line of the recorder: ``python -m novograd_ref.conformance.record FRAMEWORK``.

Examples::

    python -m novograd_ref.conformance.record optax
    python -m novograd_ref.conformance.record tfa --cases const_lr quadratic --dtypes float32
    python -m novograd_ref.conformance.record optax --out /tmp/vectors

Run it in the framework's environment (``scripts/make_env.sh jax|tf|torch``). Exit
status (as ``novograd-ref``'s): 0 on success; 2 when the framework is unknown or not
importable, a dtype is not one it records, a case is unknown, ``--out`` cannot be a
directory or a write would leave it (a symbolic link; one line on standard error); 3
when the framework failed while recording (its exception on standard error).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from novograd_ref import vectors
from novograd_ref.conformance import frameworks
from novograd_ref.conformance.frameworks import FRAMEWORKS
from novograd_ref.conformance.golden._capture import (
    FrameworkUnavailableError,
    check_cases,
    check_dtypes,
    check_out_dir,
    record,
)

__all__ = ["add_arguments", "build_parser", "main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The recorder's arguments (shared with ``novograd-ref record``)."""
    parser.add_argument("framework", help=f"one of: {', '.join(FRAMEWORKS)}")
    parser.add_argument("--cases", nargs="+", default=None, help="case names (default: all)")
    parser.add_argument(
        "--dtypes", nargs="+", default=["float64", "float32"], help="parameter dtypes"
    )
    parser.add_argument(
        "--out", default=None, help="vectors directory to write (default: the bundled data)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def build_parser(
    prog: str = "python -m novograd_ref.conformance.record",
) -> argparse.ArgumentParser:
    """The argument parser of this module's command line."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Record golden vectors from a real NovoGrad implementation."
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Record as ``args`` say; return the exit status."""
    if args.framework not in FRAMEWORKS:
        print(
            f"error: unknown framework {args.framework!r} (known: {', '.join(FRAMEWORKS)})",
            file=sys.stderr,
        )
        return 2
    log = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        root = check_out_dir(args.out) if args.out is not None else vectors.data_root()
        check_dtypes(frameworks.load(args.framework), args.dtypes)
        check_cases(root, args.cases)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        entries = record(args.framework, args.out, args.cases, tuple(args.dtypes), log=log)
    except (FrameworkUnavailableError, vectors.UnsafePath, vectors.MalformedData) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (Exception, SystemExit) as exc:  # noqa: BLE001 (the framework failed)
        traceback.print_exc()
        print(f"error: the framework failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    print(f"recorded {len(entries)} runs of {args.framework}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
