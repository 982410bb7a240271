"""The ``novograd-ref`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    """Run the optax docstring example on the reference ``optax`` preset."""
    import numpy as np

    from . import apply_updates, presets

    solver = presets.optax(learning_rate=0.003)
    params = np.array([1.0, 2.0, 3.0])
    print(f"Objective function: {np.sum(params**2)}")
    state = solver.init(params)
    for _ in range(5):
        updates, state = solver.update(2 * params, state, params)
        params = apply_updates(params, updates)
        print(f"Objective function: {np.sum(params**2):.2E}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``novograd-ref`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="novograd-ref",
        description="Reference NovoGrad: verify implementations against the oracle.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="print the optax docstring example, reproduced")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
