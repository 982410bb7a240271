"""``export`` and ``record`` output: merged manifests, preset-tagged names, framework
keywords, apex/flashlight cases, argument checks before writing, and the format doc."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from novograd_ref import cli, vectors
from novograd_ref.conformance import export_preset
from novograd_ref.testing import relative_error, rtol

DOC = Path(__file__).resolve().parents[1] / "docs" / "vectors.md"


def test_export_merges_into_an_existing_manifest(tmp_path: Path) -> None:
    assert cli.main(["export", "--preset", "nemo", "--out", str(tmp_path)]) == 0
    assert cli.main(["export", "--preset", "tfa", "--out", str(tmp_path)]) == 0
    entries = vectors.record_entries(root=tmp_path)
    assert {e["preset"] for e in entries} == {"nemo", "tfa"}
    assert all(e["tag"] == e["preset"] for e in entries)
    assert all(e["file"].endswith(f"__{e['preset']}.npz") for e in entries)
    assert len({e["file"] for e in entries}) == len(entries)
    assert not vectors.verify_files(tmp_path)
    on_disk = {f"records/{p.name}" for p in (tmp_path / "records").iterdir()}
    assert on_disk == {e["file"] for e in entries}  # no orphaned files


def test_export_keeps_recorded_entries(tmp_path: Path) -> None:
    assert cli.main(["export", "--preset", "nemo", "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    first = manifest["records"][0]
    recorded = {**first, "framework": "nemo", "tag": "",
                "file": "records/" + vectors.record_filename("nemo", first["case"],
                                                             first["dtype"])}
    manifest["records"].append(recorded)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main(["export", "--preset", "nemo", "--out", str(tmp_path)]) == 0
    frameworks = {e["framework"] for e in vectors.record_entries(root=tmp_path)}
    assert frameworks == {"nemo", "novograd_ref"}


def test_exported_tfa_float64_matches_the_bundled_tfa_records(tmp_path: Path) -> None:
    assert export_preset("tfa", tmp_path, dtypes=("float64",)) > 0
    bundled = {e["case"]: e for e in vectors.record_entries()
               if e["framework"] == "tfa" and e["dtype"] == "float64" and not e["tag"]}
    exported = vectors.record_entries(root=tmp_path)
    assert {e["case"] for e in exported} == set(bundled)
    tol = rtol("float64", "framework")
    for entry in exported:
        assert entry["preset_kwargs"]["hyper_dtype"] == "float32"
        got = vectors.load_record(entry, root=tmp_path).params
        want = vectors.load_record(bundled[entry["case"]]).params
        for leaf in want:
            assert relative_error(got[leaf][1:], want[leaf][1:]) <= tol, (entry["case"], leaf)


@pytest.mark.parametrize("preset", ["apex", "flashlight"])
def test_apex_and_flashlight_export_what_they_can_express(preset: str,
                                                          tmp_path: Path) -> None:
    assert cli.main(["export", "--preset", preset, "--out", str(tmp_path)]) == 0
    entries = vectors.record_entries(root=tmp_path)
    assert entries
    assert len({e["case"] for e in entries}) < len(vectors.case_entries())
    assert not vectors.verify_files(tmp_path)


def test_diff_accepts_apex() -> None:
    assert cli.main(["diff", "apex", "optax", "--examples", "20"]) in (0, 1)


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_export_to_a_file_is_a_usage_error(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert "not a directory" in _one_line_error(
        ["export", "--preset", "nemo", "--out", str(target)], capsys)
    assert "cannot be created" in _one_line_error(
        ["export", "--preset", "nemo", "--out", str(target / "sub")], capsys)
    assert target.read_text() == "x"


def test_export_of_an_inexpressible_preset_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from novograd_ref.conformance.live import _identify as _live

    monkeypatch.setattr(_live, "preset_kwargs_for", lambda preset, hyper: None)
    out = tmp_path / "d"
    assert "no keywords" in _one_line_error(
        ["export", "--preset", "apex", "--out", str(out)], capsys)
    assert not out.exists()


@pytest.mark.parametrize("dtype", ["float16", "float8"])
def test_record_rejects_dtypes_it_cannot_record(dtype: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new"
    assert cli.main(["record", "timm", "--out", str(out), "--dtypes", dtype]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not out.exists()


def test_record_to_a_file_is_a_usage_error(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert cli.main(["record", "timm", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_written_npz_members_are_sorted(tmp_path: Path) -> None:
    vectors.write_npz(tmp_path / "a.npz", {"b": np.zeros(1), "a": np.ones(2), "c": 1.0})
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert zf.namelist() == ["a.npy", "b.npy", "c.npy"]


def test_doc_names_the_bundled_files_with_unsorted_members() -> None:
    text = DOC.read_text()
    root = vectors.data_root()
    for entry in vectors.case_entries():
        with zipfile.ZipFile(root / entry["file"]) as zf:
            names = zf.namelist()
        if names != sorted(names):
            assert f"`{entry['name']}`" in text.split("## 3.")[0], entry["name"]


def test_doc_states_the_metric_and_limits_verify_uses() -> None:
    section = DOC.read_text().split("## 6.")[1].split("## 7.")[0]
    assert "max_s|q_s - q_0|" not in section.replace(" ", "")
    assert "1e-12" not in section
    assert "1e-5" not in section
    assert "relative_error" in section
    assert rtol("float64", "framework") == 4096 * 2.0**-52
    assert rtol("float32", "framework") == 32 * 2.0**-23
    assert "`4096 * 2^-52`, about 9.1e-13" in section
    assert "`32 * 2^-23`, about 3.8e-6" in section
