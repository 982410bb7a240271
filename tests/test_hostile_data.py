"""Hostile or corrupt vector directories: ``verify --data DIR`` names every malformed entry
and field (exit 2) before trusting anything, reads nothing outside DIR, allocates
nothing a header merely claims; ``export`` writes only inside ``--out``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from novograd_ref import cli, vectors

ENTRY = "records/optax__const_lr__float64.npz"
OTHER = "records/optax__const_lr__float32.npz"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A copy of the bundled cases and the optax records only (small and quick)."""
    root = tmp_path / "data"
    bundled = vectors.data_root()
    manifest = vectors.load_manifest()
    manifest["records"] = [e for e in manifest["records"] if e["framework"] == "optax"]
    shutil.copytree(bundled / "cases", root / "cases")
    (root / "records").mkdir()
    for entry in manifest["records"]:
        shutil.copyfile(bundled / entry["file"], root / entry["file"])
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def edit_manifest(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def record_of(manifest: dict[str, Any], file: str = ENTRY) -> dict[str, Any]:
    return next(e for e in manifest["records"] if e["file"] == file)


def verify(root: Path, capsys: pytest.CaptureFixture[str], *extra: str
           ) -> tuple[int, str, str]:
    status = cli.main(["verify", "--data", str(root), *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("novograd-ref: ")]


def test_a_good_directory_verifies(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = verify(data, capsys)
    assert status == 0
    assert "64 passed, 0 failed (64 recorded trajectories)" in out


def test_an_exported_directory_verifies(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", "--preset", "timm", "--out", str(tmp_path / "v")]) == 0
    status, out, _ = verify(tmp_path / "v", capsys)
    assert status == 0
    assert " passed, 0 failed" in out


def test_a_framework_name_that_climbs_out_is_refused(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "x__const_lr__float64.npz"
    shutil.copyfile(data / ENTRY, outside)

    def climb(manifest: dict[str, Any]) -> None:
        entry = record_of(manifest)
        entry["framework"] = "../../../../x"
        entry["file"] = "records/../../../../x__const_lr__float64.npz"

    edit_manifest(data, climb)
    status, out, err = verify(data, capsys)
    assert status == 2
    assert out == ""
    assert problem_lines(err) == [
        (f"novograd-ref: {data / 'manifest.json'}: records[6]: record "
        "'records/../../../../x__const_lr__float64.npz': key 'framework' must match "
        "^[a-z0-9][a-z0-9_]*$, got '../../../../x'")]


@pytest.mark.parametrize("target", ["inside", "outside", "system"])
def test_a_symlinked_record_is_refused(target: str, data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = data / ENTRY
    source = {"inside": data / OTHER, "outside": tmp_path / "copy.npz",
              "system": Path("/etc/passwd")}[target]
    if target == "outside":
        shutil.copyfile(path, source)
    if not source.exists():
        pytest.skip(f"{source} does not exist here")
    path.unlink()
    path.symlink_to(source)
    status, _, err = verify(data, capsys)
    assert status == 2
    assert problem_lines(err) == [(f"novograd-ref: record {ENTRY!r}: {path}: is a symbolic "
                                  "link (refused)")]
    assert hashlib.sha256(source.read_bytes()).hexdigest() not in err


def test_a_fifo_or_a_folder_in_place_of_a_record_is_refused(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / ENTRY).unlink()
    os.mkfifo(data / ENTRY)  # opening it for reading must not wait for a writer
    (data / OTHER).unlink()
    (data / OTHER).mkdir()
    status, _, err = verify(data, capsys)
    assert status == 2
    assert problem_lines(err) == [
        f"novograd-ref: record {name!r}: {data / name}: not a regular file (refused)"
        for name in (OTHER, ENTRY)]


def test_a_symlinked_manifest_or_folder_is_refused(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "manifest.json"
    (data / "manifest.json").rename(real)
    (data / "manifest.json").symlink_to(real)
    status, _, err = verify(data, capsys)
    assert status == 2
    assert "manifest.json: is a symbolic link (refused)" in err
    (data / "manifest.json").unlink()
    real.rename(data / "manifest.json")
    (data / "records").rename(tmp_path / "records")
    (data / "records").symlink_to(tmp_path / "records")
    status, _, err = verify(data, capsys)
    assert status == 2
    assert f"{data / 'records'}: is a symbolic link or not a directory (refused)" in err


def write_record(root: Path, file: str, arrays: dict[str, np.ndarray]) -> None:
    """Replace a record's arrays and update its sha256, as a careful forger would."""
    data = vectors.npz_bytes(arrays)
    (root / file).write_bytes(data)
    edit_manifest(root, lambda m: record_of(m, file).update(
        sha256=hashlib.sha256(data).hexdigest()))


def test_a_record_that_is_not_its_case_is_refused(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arrays = vectors.read_npz(data / ENTRY)
    write_record(data, ENTRY, {k: np.full_like(v, np.nan) if k.startswith("params__") else v
                               for k, v in arrays.items()})
    arrays = vectors.read_npz(data / OTHER)
    arrays["grads__vec"] = arrays["grads__vec"] * 2
    write_record(data, OTHER, arrays)
    status, _, err = verify(data, capsys)
    assert status == 2
    assert problem_lines(err) == [
        (f"novograd-ref: record {OTHER!r}: {data / OTHER}: member 'grads__vec' differs from "
        "the gradients of case 'const_lr'"),
        (f"novograd-ref: record {ENTRY!r}: {data / ENTRY}: member 'params__bias' row 0 "
        "differs from the starting parameters of case 'const_lr'")]


def npy_header(shape: tuple[int, ...]) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False,
                                               "shape": shape})
    return out.getvalue()


def test_a_header_claiming_terabytes_allocates_nothing(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for key, value in vectors.read_npz(data / ENTRY).items():
            member = io.BytesIO()
            np.lib.format.write_array(member, value)
            payload = member.getvalue()
            if key == "params__bias":
                payload = npy_header((10**6, 10**6)) + b"\0" * 64
            zf.writestr(f"{key}.npy", payload)
    (data / ENTRY).write_bytes(buffer.getvalue())
    edit_manifest(data, lambda m: record_of(m).update(
        sha256=hashlib.sha256(buffer.getvalue()).hexdigest()))
    status, _, err = verify(data, capsys)
    assert status == 2
    assert problem_lines(err) == [
        (f"novograd-ref: record {ENTRY!r}: {data / ENTRY}: member 'params__bias' declares "
        "shape (1000000, 1000000) of float64, which does not fit its 64 bytes")]


@pytest.mark.parametrize(("change", "line"), [
    (lambda m: m["records"].extend([1, "x"]),
     ["records[64]: record '?': not a JSON object", ("records[65]: record '?': not a JSON "
      "object")]),
    (lambda m: record_of(m).update(dtype="bfloat16"),
     [("records[6]: record 'records/optax__const_lr__float64.npz': key 'dtype' must be one of "
      "('float16', 'float32', 'float64'), got 'bfloat16'")]),
    (lambda m: m.update(schema_version=True),
     ["manifest: schema_version True is not supported (this version reads 1)"]),
    (lambda m: m["cases"][0].update(T=10**9),
     ["cases[0]: case 'const_lr': key 'T' must be between 1 and 100000"]),
    (lambda m: m["cases"][0]["leaves"][0].__setitem__(1, [10**6, 10**6]),
     [("cases[0]: case 'const_lr': key 'leaves' has a bad leaf ['bias', [1000000, 1000000]] "
      "(expected [name, [dims...]], at most 67108864 elements)")]),
])
def test_malformed_entries_are_named_one_line_each(
        change: Callable[[dict[str, Any]], None], line: list[str], data: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    edit_manifest(data, change)
    status, out, err = verify(data, capsys)
    assert status == 2
    assert out == ""
    assert problem_lines(err) == [f"novograd-ref: {data / 'manifest.json'}: {x}" for x in line]


def test_preset_keywords_the_oracle_refuses_are_named(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_manifest(data, lambda m: record_of(m)["preset_kwargs"].update(betas=5))
    edit_manifest(data, lambda m: record_of(m, OTHER).update(preset="nonesuch"))
    status, _, err = verify(data, capsys)
    assert status == 2
    lines = problem_lines(err)
    assert len(lines) == 2
    assert lines[0] == (f"novograd-ref: record {OTHER!r}: key 'preset': unknown preset "
                        "'nonesuch'")
    assert lines[1].startswith(f"novograd-ref: record {ENTRY!r}: key 'preset_kwargs': ")


def test_a_missing_data_directory_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = verify(tmp_path / "nowhere", capsys)
    assert status == 2
    assert "not a directory" in err


def test_export_never_writes_through_a_planted_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main(["export", "--preset", "optax", "--out", str(out)]) == 0
    victims = [tmp_path / f"victim{i}" for i in range(3)]
    for victim in victims:
        victim.write_text("precious")
    record = out / "records/novograd_ref__const_lr__float64__optax.npz"
    (out / "manifest.json.tmp").symlink_to(victims[0])
    Path(f"{record}.tmp").symlink_to(victims[1])
    record.unlink()
    record.symlink_to(victims[2])
    assert cli.main(["export", "--preset", "optax", "--out", str(out)]) == 0
    assert [v.read_text() for v in victims] == ["precious"] * 3
    assert record.is_file()
    assert not record.is_symlink()
    assert not vectors.verify_files(out)
    capsys.readouterr()


def test_export_refuses_a_linked_folder_and_an_empty_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (tmp_path / "elsewhere").mkdir()
    out.mkdir()
    (out / "cases").symlink_to(tmp_path / "elsewhere")
    assert cli.main(["export", "--preset", "optax", "--out", str(out)]) == 2
    assert "is a symbolic link or not a directory (refused)" in capsys.readouterr().err
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert cli.main(["export", "--preset", "optax", "--out", ""]) == 2
    assert "empty directory name" in capsys.readouterr().err
    assert cli.main(["record", "optax", "--out", ""]) == 2
    assert "empty directory name" in capsys.readouterr().err


def test_record_never_writes_through_a_planted_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("optax")
    out, victim = tmp_path / "out", tmp_path / "victim"
    victim.write_text("precious")
    (out / "records").mkdir(parents=True)
    (out / "records/optax__const_lr__float64.npz").symlink_to(victim)
    argv = ["record", "optax", "--cases", "const_lr", "--dtypes", "float64", "--out",
            str(out), "-q"]
    assert cli.main(argv) == 0
    assert victim.read_text() == "precious"
    assert not (out / "records/optax__const_lr__float64.npz").is_symlink()
    capsys.readouterr()
    status, output, _ = verify(out, capsys)
    assert status == 0
    assert "2 passed, 0 failed (2 recorded trajectories)" in output  # jit and nojit
