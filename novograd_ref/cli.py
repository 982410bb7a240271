"""The ``novograd-ref`` command line.

- ``novograd-ref verify [--data DIR]``: every preset against the bundled golden vectors
  (or those of DIR, checked entry by entry first), as a table;
- ``novograd-ref verify --impl NAME|module:factory|exec:COMMAND [--preset P] [--examples N]
  [--report out.json] [--full] [--timeout S] [--memory-limit SIZE]``: a live
  implementation, run in a child process, next to the oracle; a mismatch is reported
  where it starts and where it peaks, with the smallest failing input marked;
- ``novograd-ref identify --impl ... [--json FILE]``: which presets it reproduces, as
  it is or in a float32 variant, and where each preset parts from it;
- ``novograd-ref explain --impl ... [--preset P] [--json FILE]``: what it does
  differently, found by experiment, the port also in a child process
  (docs/explain.md);
- ``novograd-ref export --preset P --out DIR``: the oracle's vectors for a port;
- ``novograd-ref clients --out DIR [--force]``: the exec protocol's client libraries
  (C, Rust, JavaScript) for a port in another language (docs/exec-protocol.md);
- ``novograd-ref diff A B``: the smallest input on which two presets differ;
- ``novograd-ref record FRAMEWORK``: record golden vectors from a real framework;
- ``novograd-ref demo``: the optax docstring example, reproduced.

Exit status: see :data:`EXIT_STATUSES`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import __version__, apply_updates, arguments, conformance, presets, vectors
from .conformance import record, targets
from .links import docs_url
from .output_paths import check_name, check_output_file

T = TypeVar("T")


EXIT_STATUSES = """\
exit status:
  0  everything checked matches (verdict pass)
  1  a mismatch (an error beyond the tolerance)
  2  a usage error of the command line, or malformed vector data (one line per
     problem on stderr): an empty value, a number out of its range, an --impl that
     names nothing, an output file that is not a regular file (new or replaced) in
     a folder where files can be created; checked before any work
  3  the implementation raised, exited, crashed, hung past --timeout, ran out of
     memory, or broke the adapter protocol (wrong output, modified input, oracle
     keywords the preset refuses) on some case, importing it included; the case,
     dtype, step, cause and its traceback or output are on stderr
  4  nothing was checked: every case was skipped, or the preset has no standard case
  5  an internal error of novograd-ref itself (its traceback is printed; please
     report it)
every sub-command uses these statuses (identify and explain: 0 a preset or a
configuration reproduces the implementation, 1 none does).
"""

EXIT_STATUS = {"pass": 0, "mismatch": 1, "error": 3, "nothing_checked": 4}
INTERNAL_ERROR = 5

#: The help of ``--impl``: every way of naming an implementation.
IMPL_HELP = ("the implementation to check: preset:NAME, a framework name (optax, tfa, timm, "
             "...), MODULE:FACTORY, where FACTORY(**keywords of --preset, without the "
             "learning rate) returns an adapter, an optimizer as published: "
             "torch:MODULE:CLASS, optax:MODULE:FUNCTION, keras:MODULE:CLASS (MODULE is looked "
             "up in the current directory first), or exec:COMMAND, a program in any language "
             "speaking the exec protocol on its standard input and output "
             f"({docs_url('exec-protocol.html')})")


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2."""


def progress(items: Iterable[T], label: str = "") -> Iterable[T]:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    items = list(items)
    if not sys.stderr.isatty():
        yield from items
        return
    width = 30
    for i, item in enumerate(items, start=1):
        filled = width * i // max(len(items), 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {i}/{len(items)}")
        sys.stderr.flush()
        yield item
    sys.stderr.write("\n")


def _verify_bundled(args: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-')}" for k in ("report", "examples", "timeout",
                                                   "memory_limit", "in_process", "full")
             if getattr(args, k)]
    if given:
        raise UsageError(f"{given[0]} needs --impl (it concerns a live implementation)")
    root = _data_dir(args.data)
    manifest = vectors.load_manifest(root)
    if not manifest["records"]:
        print(f"nothing was checked: {root or 'the bundled data'} holds no records")
        return EXIT_STATUS["nothing_checked"]
    if args.preset:
        _known_preset(args.preset)
    try:
        entries = conformance.select_records(manifest["records"], preset=args.preset,
                                             record=args.record, dtype=args.dtype)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    records = conformance.checked_records(manifest, entries, root)
    results = conformance.verify_bundled(records, progress=lambda it: progress(it, "verify"),
                                         root=root)
    print(conformance.bundled_text(entries, results, entries if args.preset or args.record
                                   or args.dtype else vectors.record_entries()))
    verdict = conformance.Report("the oracle", args.preset or "every preset", results).verdict
    return EXIT_STATUS[verdict]


def _data_dir(data: str | None) -> Path | None:
    """``--data DIR``: an existing directory (None: the bundled vectors)."""
    if data is None:
        return None
    if not os.path.isdir(check_name(data, "--data")):
        raise UsageError(f"--data {data!r}: not a directory")
    return Path(data)


def _prepare(args: argparse.Namespace, *outputs: str) -> tuple[str, str, dict[str, Any]]:
    """Before any work: refuse the output files (the options named ``outputs``) that
    may not be written (a usage error) and the runner's options that conflict; then
    the implementation's spec (checked, not imported here), the preset whose keywords
    it takes and the runner's options. ``--impl module:factory`` is found in the
    current directory first, as ``python -m`` does (an installed ``novograd-ref``
    script does not put it on ``sys.path``)."""
    for option in outputs:
        path = getattr(args, option.removeprefix("--").replace("-", "_"))
        if path is not None:
            check_output_file(path, option)
    if args.in_process and (args.timeout is not None or args.memory_limit is not None):
        raise UsageError("--timeout and --memory-limit limit the child process; "
                         "--in-process has none")
    timeout = conformance.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    options = {"timeout": timeout, "memory_limit": args.memory_limit,
               "in_process": args.in_process}
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    spec = targets.with_options(args.impl, args.kw, args.map)
    language = _known_preset(conformance.keywords_preset(spec, args.preset))
    conformance.check_spec(spec)
    return spec, language, options


def _junit(args: argparse.Namespace, name: str) -> conformance.JUnitReport | None:
    """``--junit-xml``: the report, written as not complete yet (None: not asked)."""
    return conformance.JUnitReport.start(args.junit_xml, name) if args.junit_xml else None


def _verify_impl(args: argparse.Namespace) -> int:
    if args.data is not None or args.record is not None:
        raise UsageError("--record selects a bundled record and --data a vectors "
                         "directory; they do not apply with --impl")
    spec, preset, options = _prepare(args, "--report", "--junit-xml")
    if args.examples:
        _needs_hypothesis()
    dtypes = [args.dtype] if args.dtype else ["float64", "float32"]
    junit = _junit(args, "novograd-ref verify")

    def on_update(report: Any) -> None:
        if args.report is not None:
            report.write(args.report)
        if junit is not None:
            junit.verify(report)

    report = conformance.verify_implementation(
        spec, preset, dtypes, args.examples, progress=lambda it: progress(it, "verify"),
        identify=True, full=args.full, on_update=on_update, **options)
    print(conformance.report_text(report, args.impl))
    errors = [c for c in report.comparisons if c.status == "error"]
    print(conformance.failures_text(errors), end="", file=sys.stderr)
    print(conformance.conclusion_text(report))
    return EXIT_STATUS[report.verdict]


def _needs_hypothesis() -> None:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise UsageError("--examples needs hypothesis (pip install hypothesis)") from None


def _identify(args: argparse.Namespace) -> int:
    spec, language, options = _prepare(args, "--json", "--junit-xml")
    dtype = args.dtype or "float64"
    junit = _junit(args, f"novograd-ref identify {spec}")
    matches = conformance.identify(spec, language, dtype,
                                   progress=lambda it: progress(it, "identify"), **options)
    if junit is not None:
        junit.identify(spec, matches, dtype)
    print(conformance.failures_text(list(matches.errors)), end="", file=sys.stderr)
    print(conformance.identify_text(args.impl, matches, dtype))
    if args.json:
        conformance.write_json(args.json,
                               conformance.identify_json(spec, language, dtype, matches))
    if matches.errors:
        return EXIT_STATUS["error"]
    if not any(s.compared for s in matches.standings):
        print("\nnothing was checked: the implementation ran no case")
        return EXIT_STATUS["nothing_checked"]
    return 0 if matches or matches.variants else 1


def _explain(args: argparse.Namespace) -> int:
    """Diagnose a port: the summary, then the details; exit 0 when a preset or a
    configuration reproduces it, 1 when nothing does, 3 when no run completed because
    the port failed, 4 when none ran."""
    spec, language, options = _prepare(args, "--json", "--junit-xml")

    def note(message: str) -> None:
        print(f"explain: {message}", file=sys.stderr, flush=True)

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: at least 1 child process is needed")
    junit = _junit(args, f"novograd-ref explain {spec}")
    found = conformance.explain(spec, language, progress=note, jobs=args.jobs, **options)
    if junit is not None:
        junit.explain(found)
    if args.json:
        conformance.write_json(args.json, found.to_json())
    print(found.summary())
    print()
    print(found.details())
    if found.verdict == "not_run" and found.errors:
        return EXIT_STATUS["error"]
    return {"matches": 0, "reproduced": 0, "differs": 1}.get(found.verdict,
                                                             EXIT_STATUS["nothing_checked"])


def _verify(args: argparse.Namespace) -> int:
    return _verify_impl(args) if args.impl is not None else _verify_bundled(args)


def _export(args: argparse.Namespace) -> int:
    _known_preset(args.preset)
    try:
        out = vectors.out_directory(args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if (out / "manifest.json").exists():
        vectors.load_manifest(out)  # one to merge into must be well formed, checked first
    try:
        count = conformance.export_preset(args.preset, args.out,
                                          progress=lambda it: progress(it, "export"))
    except vectors.UnsafePath as exc:
        raise UsageError(f"--out {args.out}: {exc}") from None
    if not count:
        raise UsageError(f"preset {args.preset!r} has no keywords for the standard cases")
    print(f"wrote {count} trajectories of preset {args.preset!r} to {args.out} "
          f"(format: {docs_url('vectors.html')})")
    return 0


def _clients(args: argparse.Namespace) -> int:
    try:
        written = targets.copy_clients(args.out, overwrite=args.force)
    except (ValueError, FileExistsError) as exc:
        raise UsageError(f"--out {args.out}: {exc}") from None
    print(f"wrote {', '.join(p.name for p in written)} to {args.out} (the protocol: "
          f"{docs_url('exec-protocol.html')})")
    return 0


def _diff(args: argparse.Namespace) -> int:
    for name in (args.a, args.b):
        _known_preset(name)
    try:
        found = conformance.find_difference(args.a, args.b, max_examples=args.examples)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if found is None:
        print(f"{args.a} and {args.b} agree on {args.examples} searched inputs")
        return 0
    print(conformance.difference_text(args.a, args.b, found))
    return 1


def _demo(args: argparse.Namespace) -> int:
    """Run the optax docstring example on the reference ``optax`` preset."""
    import numpy as np

    solver = presets.optax(learning_rate=0.003)
    params = np.array([1.0, 2.0, 3.0])
    print(f"Objective function: {np.sum(params**2)}")
    state = solver.init(params)
    for _ in range(5):
        updates, state = solver.update(2 * params, state, params)
        params = apply_updates(params, updates)
        print(f"Objective function: {np.sum(params**2):.2E}")
    return 0


def _add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=arguments.seconds, default=None, metavar="SECONDS",
                        help="time limit of one case of the implementation, above 0 and at "
                             f"most {arguments.MAX_SECONDS:g} (default "
                             f"{conformance.DEFAULT_TIMEOUT:g}; "
                             "starting it and importing it may take up to "
                             f"max(SECONDS, {conformance.STARTUP_TIMEOUT:g}))")
    parser.add_argument("--memory-limit", type=arguments.size, default=None, metavar="SIZE",
                        help="address-space limit of the implementation's process, e.g. "
                             "4G, at most 1P (where the OS allows; default none)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the implementation in this process (for debugging: no "
                             "time or memory limit, its crash ends the run)")
    parser.add_argument("--junit-xml", metavar="FILE",
                        help="also write a JUnit XML report here, one test case per "
                             "comparison, rewritten as the run goes (default: none)")
    parser.add_argument("--kw", action="append", default=[], metavar="NAME=VALUE",
                        help="with a torch:, optax: or keras: target: pass this constructor "
                             "keyword as it is (VALUE a Python literal); repeatable")
    parser.add_argument("--map", action="append", default=[], metavar="THEIRS=OURS",
                        help="with a torch:, optax: or keras: target: the constructor's "
                             "THEIRS carries the hyperparameter OURS (b1, eps, ... or a "
                             "preset keyword); repeatable")


def _known_preset(name: str) -> str:
    """``name`` if it names a preset; else a usage error that lists the presets."""
    if name not in presets.names():
        raise UsageError(f"unknown preset {name!r}; known: {', '.join(presets.names())}")
    return name


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and adds ``(default: ...)`` to every option whose
    default is a value (an option whose default is "none given" says so in its help)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" not in text and action.option_strings
                and default not in (None, argparse.SUPPRESS)
                and not isinstance(default, bool)):
            text += " (default: %(default)s)"
        return text


def _sub_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command's parser, with the help layout of every sub-command."""
    parser: argparse.ArgumentParser = sub.add_parser(name, formatter_class=_Formatter,
                                                     **kwargs)
    return parser


def _add_implementation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--impl`` (required) and ``--preset``, of ``identify`` and ``explain``."""
    parser.add_argument("--impl", type=arguments.text, required=True, help=IMPL_HELP)
    parser.add_argument("--preset", type=arguments.text,
                        help="the preset whose keywords the factory takes (default: the "
                             "framework's own preset, else optax)")


def _add_verify(sub: Any) -> None:
    verify = _sub_command(sub, "verify", help="check presets against the bundled vectors, "
                                              "or a live implementation with --impl",
                          description="Without --impl: replay every bundled golden record "
                                      "through its preset.\nWith --impl: step the "
                                      "implementation through the standard cases next to "
                                      "the oracle.",
                          epilog=EXIT_STATUSES)
    verify.add_argument("--impl", type=arguments.text,
                        help=IMPL_HELP + " (default: none, check the presets against "
                                            "the bundled records)")
    verify.add_argument("--preset", type=arguments.text,
                        help="with --impl: the preset to compare with, whose keywords the "
                             "factory takes (default: the framework's own preset, else "
                             "optax); without: only this preset's bundled records "
                             "(default: all)")
    verify.add_argument("--examples", type=arguments.count(0), default=0,
                        help="hypothesis-generated cases per dtype, with --impl (at most "
                             f"{arguments.MAX_EXAMPLES})")
    verify.add_argument("--dtype", choices=["float64", "float32"],
                        help="check this parameter dtype only (default: float64 and float32)")
    verify.add_argument("--report", type=arguments.text, metavar="FILE",
                        help="with --impl: write the run as JSON to FILE, rewritten after "
                             "every case (a regular file, new or replaced, in an existing "
                             "folder; default: none)")
    verify.add_argument("--full", action="store_true",
                        help="with --impl: print every element of the leaf where a mismatch "
                             "starts (default: off, only the differing elements and their "
                             "neighbours, marked *)")
    verify.add_argument("--record", type=arguments.text, metavar="FILE",
                        help="without --impl: only this record file, e.g. "
                             "timm__const_lr__float64.npz (default: all)")
    verify.add_argument("--data", type=arguments.text, metavar="DIR",
                        help="without --impl: check the records of this vectors directory "
                             "(for example made with record or export), each entry checked "
                             "first (default: the bundled vectors)")
    _add_runner_arguments(verify)
    verify.set_defaults(run=_verify)


def _add_identify(sub: Any) -> None:
    ident = _sub_command(sub, "identify", help="say which presets an implementation matches",
                         description="Step the implementation through the standard "
                                     "cases and compare it with every preset;\nthen with "
                                     "their float32-state and float32-arithmetic variants.",
                         epilog=EXIT_STATUSES)
    _add_implementation_arguments(ident)
    ident.add_argument("--dtype", choices=["float64", "float32"],
                       help="the parameter dtype to check (default: float64)")
    ident.add_argument("--json", type=arguments.text, metavar="FILE",
                       help="also write the result as JSON here: matches, variants, each "
                            "preset's first divergence and peak, errors (default: none)")
    _add_runner_arguments(ident)
    ident.set_defaults(run=_identify)


def _add_explain(sub: Any) -> None:
    expl = _sub_command(sub, "explain", help="say what an implementation does differently, "
                                             "by experiment (probes and a switch search)",
                        description="Run the implementation on the standard cases and "
                                    "on designed probes, then search\nthe switches of "
                                    "Config for what reproduces it "
                                    f"({docs_url('explain.html')}).",
                        epilog=EXIT_STATUSES)
    _add_implementation_arguments(expl)
    expl.add_argument("--json", type=arguments.text, metavar="FILE",
                      help="also write the explanation here as JSON (schema: "
                           f"{docs_url('explain.html')}; default: none)")
    expl.add_argument("--jobs", type=int, metavar="N",
                      help="child processes running the port at once (default: the "
                           "number of cores; --in-process runs one)")
    _add_runner_arguments(expl)
    expl.set_defaults(run=_explain)


def _add_export(sub: Any) -> None:
    export = _sub_command(sub, "export", help="write the oracle's vectors for a port",
                          description="Write the oracle's trajectories of every standard "
                                      "case the preset can express,\nin the golden-vector "
                                      f"format ({docs_url('vectors.html')}).")
    export.add_argument("--preset", type=arguments.text, required=True,
                        help="the preset to run")
    export.add_argument("--out", required=True, metavar="DIR",
                        help="the vectors folder to write (its manifest.json is merged into)")
    export.set_defaults(run=_export)


def _add_clients(sub: Any) -> None:
    clients = _sub_command(sub, "clients", help="copy the exec protocol's client libraries "
                                                "(C, Rust, JavaScript) into a folder",
                           description="Write novograd_ref.h, novograd_ref.rs and "
                                       "novograd_ref.mjs, which speak the protocol of "
                                       "--impl exec:COMMAND\nfor a port "
                                       f"({docs_url('exec-protocol.html')}).")
    clients.add_argument("--out", required=True, metavar="DIR", help="an existing folder")
    clients.add_argument("--force", action="store_true",
                         help="overwrite client files already there")
    clients.set_defaults(run=_clients)


def _add_diff(sub: Any) -> None:
    diff = _sub_command(sub, "diff", help="smallest input on which two presets differ")
    diff.add_argument("a", type=arguments.text, help="a preset")
    diff.add_argument("b", type=arguments.text, help="another preset")
    diff.add_argument("--examples", type=arguments.count(1), default=400,
                      help=f"inputs to search (hypothesis examples, 1 to "
                           f"{arguments.MAX_EXAMPLES})")
    diff.set_defaults(run=_diff)


def _add_record(sub: Any) -> None:
    """``record``: the recorder's own arguments and run (``python -m
    novograd_ref.conformance.record`` is the same command)."""
    parser = _sub_command(sub, "record", help="record golden vectors from a real framework")
    record.add_arguments(parser)
    parser.set_defaults(run=record.run)


def _add_demo(sub: Any) -> None:
    demo = _sub_command(sub, "demo", help="print the optax docstring example, reproduced")
    demo.set_defaults(run=_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``novograd-ref`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="novograd-ref", formatter_class=_Formatter,
        description="Reference NovoGrad: verify implementations against the oracle.\n"
                    "Without a sub-command, runs verify (with the options given).",
        epilog=f"documentation: {docs_url()}")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", title="sub-commands")
    for add in (_add_verify, _add_identify, _add_explain, _add_export, _add_clients,
                _add_diff, _add_record, _add_demo):
        add(sub)
    return parser


def _tolerant_output() -> None:
    """Print what the terminal cannot encode (a file name in another encoding) as
    escapes instead of failing on it."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the sub-command (default: ``verify``).

    Returns the exit status (see :data:`EXIT_STATUSES`); a bug of novograd-ref itself
    prints its traceback and returns :data:`INTERNAL_ERROR`.
    """
    _tolerant_output()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = next(a.choices for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    if not (argv[:1] and argv[0] in commands) and not {"-h", "--help", "--version"} & set(argv):
        argv = ["verify", *argv]  # no sub-command: verify, with the options given
    args = parser.parse_args(argv)
    try:
        with conformance.private_hypothesis_home():
            return int(args.run(args))
    except UsageError as exc:
        print(f"novograd-ref: {exc}", file=sys.stderr)
        return 2
    except (conformance.ImplementationError, vectors.MalformedData, vectors.UnsafePath) as exc:
        for line in str(exc).splitlines():
            print(f"novograd-ref: {line}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 (a bug of the kit: say so, with its traceback)
        import traceback

        traceback.print_exc()
        print("novograd-ref: internal error (a bug of novograd-ref, not of what it checks); "
              f"exit status {INTERNAL_ERROR}", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
