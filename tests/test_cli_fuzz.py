"""The command line under drawn hostile input: option values, output paths, ``--impl``
names, manifests' numbers and packages that misbehave when imported.

The promises: only the exit statuses the documentation gives for the case (usage
error 2, error of the implementation 3, nothing checked 4; 0 and 1 where the input is
valid), never 5 and never an uncaught exception; one line on stderr for a refused
path; nothing under the test's folder replaced, created or left behind unless it is the
named output; no hang (every subprocess has a time limit).

The ``ci`` hypothesis profile (the default) draws a few dozen cases in-process and a
handful of subprocesses; ``nightly`` (``NOVOGRAD_REF_HYPOTHESIS_PROFILE=nightly``)
draws many more.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novograd_ref import arguments, cli
from tests import hostile

ONE_DTYPE = ["--preset", "optax", "--dtype", "float64"]
#: Subprocess examples: a tenth of the profile's (3 under ci, 100 under nightly).
SUBPROCESS_EXAMPLES = max(3, settings.default.max_examples // 10)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """A scratch folder shared by a test's examples (each makes its own sub-folder)."""
    path = Path(tempfile.mkdtemp(prefix="novograd-ref-fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def status_of(argv: list[str]) -> int:
    """The exit status of ``novograd-ref ARGV`` run in this process (argparse's own
    refusals included)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# ------------------------------------------------------------- option values

NUMBERS = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1e18", "1e400", "nan", "-inf", "-0", "0x10", "1_0", "+5",
                     "\u0663", "2G", "1P", "1025P", "0K", "-1M", "9" * 5000, str(2**63),
                     str(2**64 + 1) + "K", "86400", "86400.0001", "100000", "100001",
                     "G", "4g", " 7 "]),
    st.text(max_size=12))


def within_bounds(option: str, value: str) -> bool:
    """Whether the documented bounds accept ``value`` (docs/cli.md, the help texts)."""
    try:
        if option == "--timeout":
            number = float(value)
            return math.isfinite(number) and 0 < number <= arguments.MAX_SECONDS
        if option == "--examples":
            return len(value.strip()) <= 20 and 0 <= int(value) <= arguments.MAX_EXAMPLES
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
        unit = units.get(value[-1:].upper(), 1)
        digits = value[:-1] if unit > 1 else value
        return len(digits.strip()) <= 20 and 0 < int(digits) * unit <= arguments.MAX_BYTES
    except ValueError:
        return False


@given(option=st.sampled_from(["--timeout", "--memory-limit", "--examples"]),
       value=NUMBERS, command=st.sampled_from(["verify", "identify", "explain"]))
def test_numeric_options_are_range_checked_before_any_work(
        option: str, value: str, command: str, folder: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A value out of its documented range is refused by name; one within it is taken,
    and the run is then refused for its missing report folder: nothing runs."""
    if option == "--examples":
        command = "verify"
    output = ["--report" if command == "verify" else "--json",
              str(folder / "missing" / "out.json")]
    status = status_of([command, "--impl", "tests.flawed_ports:numpy_optax", "--preset", "optax",
                        option, value, *output])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    named = f"argument {option}" in err
    assert named != within_bounds(option, value), err
    assert not (folder / "missing").exists()


NAME_PARTS = st.one_of(st.from_regex(r"\Azz[a-z_]{0,3}\Z"), st.sampled_from(
    ["", "9x", "a-b", "\x00", "\udcff", "é", "class", " ", "..", "x" * 300]))
IMPL = st.one_of(
    st.builds(lambda parts, factory, sep: ".".join(parts) + sep + factory,
              st.lists(NAME_PARTS, min_size=1, max_size=80), NAME_PARTS,
              st.sampled_from([":", "::", "", ":x:"])),
    st.sampled_from(["", ":", "preset:", "preset:nope", "framework:", "framework:nope",
                     "nope", "a" * 5000, ":make"]),
    st.text(max_size=40))


@given(spec=IMPL, command=st.sampled_from(["verify", "identify", "explain"]))
def test_an_impl_that_names_nothing_is_a_usage_error(
        spec: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Drawn names never match a real module (their components start with ``zz``, or
    are not names), so each is refused in one line, before anything runs."""
    status = status_of([command, "--impl", spec, "--preset", "optax"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()[-1]) < 600  # a long name is not echoed whole


# ------------------------------------------------------------------ paths

OUTPUTS = {
    "verify-report": ["verify", "--impl", "tests.flawed_ports:numpy_optax", *ONE_DTYPE, "--report"],
    "identify-json": ["identify", "--impl", "tests.flawed_ports:numpy_optax", "--json"],
    "explain-json": ["explain", "--impl", "tests.flawed_ports:numpy_optax", "--json"],
    "export-out": ["export", "--preset", "optax", "--out"],
    "verify-data": ["verify", "--data"],
    "record-out": ["record", "optax", "--cases", "nope", "--out"],
}
FOLDERS = ("export-out", "verify-data", "record-out")  # the options that name a folder
WRITABLE_FOLDERS = ("directory", "missing_folder", "trailing_slash")  # export may fill


@given(kind=st.sampled_from(hostile.PATH_KINDS), use=st.sampled_from(sorted(OUTPUTS)),
       plant=st.sampled_from(["path", "manifest.json", "records", "cases"]))
def test_hostile_output_paths_are_refused_in_one_line_and_untouched(
        kind: str, use: str, plant: str, folder: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An output file that is not a regular file, or a folder that is not a directory,
    is refused with one line and exit 2, as is a vectors folder holding such a thing as
    its manifest, ``cases`` or ``records`` (``plant``); nothing under the test's folder
    changes. Only export into a folder it can fill succeeds (0)."""
    root = Path(tempfile.mkdtemp(dir=folder))
    if use in FOLDERS and plant != "path":
        out = root / "vectors"
        out.mkdir()
        made = hostile.make_path(out, kind)
        if made is None or Path(made).name != f"out-{kind}" or not os.path.lexists(made):
            return  # this kind is only a name, or cannot be made here: nothing to plant
        os.rename(made, out / plant)
        path = str(out)
        refused = use != "export-out" or not (kind == "directory" and plant != "manifest.json")
    else:
        made = hostile.make_path(root, kind)
        if made is None:
            return
        path = made
        refused = use != "export-out" or kind not in WRITABLE_FOLDERS
    before = hostile.snapshot(root)
    with hostile.devnull_untouched():
        status = status_of([*OUTPUTS[use], path])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if refused:
        assert status == 2, (kind, use, plant, captured.err)
        assert len(captured.err.strip().splitlines()) == 1, captured.err
        assert hostile.snapshot(root) == before
    else:
        assert status == 0, (kind, use, plant, captured.err)
    shutil.rmtree(root)


# -------------------------------------------------------------- manifests

NUMBER_TEXT = st.one_of(
    st.integers(-10**40, 10**40).map(str),
    st.sampled_from(["9" * 5000, "-" + "9" * 4000, "1e400", "-1e400", "NaN", "Infinity",
                     "-0", "0.5", "1e-320", str(2**63), str(2**63 - 1)]))
PLACES = {
    "T": lambda m: m["cases"][0].__setitem__("T", "@N@"),
    "dimension": lambda m: m["cases"][0]["leaves"][0][1].__setitem__(0, "@N@"),
    "hyper": lambda m: m["cases"][0]["hyper"].__setitem__("b1", "@N@"),
    "preset_kwargs": lambda m: m["records"][0]["preset_kwargs"].__setitem__("b1", "@N@"),
    "schema_version": lambda m: m.__setitem__("schema_version", "@N@"),
}


@pytest.fixture(scope="module")
def exported(folder: Path) -> Path:
    out = folder / "exported"
    assert cli.main(["export", "--preset", "optax", "--out", str(out)]) == 0
    return out


@given(place=st.sampled_from(sorted(PLACES)), number=NUMBER_TEXT)
def test_numbers_in_a_manifest_are_bounded(place: str, number: str, exported: Path,
                                           folder: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Any number anywhere in a manifest is checked data: malformed (2), or a valid
    record that passes (0) or not (1); never a crash."""
    root = Path(tempfile.mkdtemp(dir=folder))
    shutil.copytree(exported, root / "v")
    manifest = json.loads((root / "v" / "manifest.json").read_text())
    PLACES[place](manifest)
    record = manifest["records"][0]["file"].removeprefix("records/")
    (root / "v" / "manifest.json").write_text(json.dumps(manifest).replace('"@N@"', number))
    status = status_of(["verify", "--data", str(root / "v"), "--record", record])
    err = capsys.readouterr().err
    assert status in (0, 1, 2), err
    assert "Traceback" not in err
    shutil.rmtree(root)


# ------------------------------------------------- packages that misbehave

@settings(max_examples=SUBPROCESS_EXAMPLES)
@given(behaviour=st.sampled_from(sorted(hostile.BEHAVIOURS)), nested=st.booleans(),
       command=st.sampled_from(["verify", "identify", "explain", "examples"]))
def test_a_package_misbehaving_on_import_never_passes(
        behaviour: str, nested: bool, command: str, folder: Path) -> None:
    """Run as a subprocess (the package exits or hangs): every command gives exit 3,
    names the import, and runs nothing of the package in the kit's own process."""
    root = Path(tempfile.mkdtemp(dir=folder))
    spec = hostile.write_package(root, behaviour, nested)
    argv = {"verify": ["verify", *ONE_DTYPE], "identify": ["identify", "--preset", "optax"],
            "explain": ["explain", "--preset", "optax"],
            "examples": ["verify", *ONE_DTYPE, "--examples", "2"]}[command]
    ran = hostile.run_cli([*argv, "--impl", spec, "--timeout", "2"], root)
    assert ran.returncode == 3, (behaviour, command, ran.stdout[-2000:], ran.stderr[-2000:])
    assert "import" in ran.stderr + ran.stdout
    assert ran.pid not in hostile.importers(root, spec)
    shutil.rmtree(root)


def test_option_parsers_take_their_documented_bounds() -> None:
    """The bounds themselves (what ``within_bounds`` above assumes)."""
    assert arguments.seconds(str(arguments.MAX_SECONDS)) == arguments.MAX_SECONDS
    assert arguments.size("1P") == arguments.MAX_BYTES
    assert arguments.count(0)(str(arguments.MAX_EXAMPLES)) == arguments.MAX_EXAMPLES
    for parse, value in ((arguments.seconds, "86401"), (arguments.size, "1025T"),
                         (arguments.count(0), "100001")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(value)
