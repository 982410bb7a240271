"""The one-off conversion tools under scripts/ still rebuild the bundled data exactly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from novograd_ref import vectors

REPO = Path(__file__).resolve().parents[1]


def _cases_only_copy(tmp_path: Path) -> Path:
    """A vectors root with the bundled manifest (no records) and case files."""
    root = tmp_path / "data"
    shutil.copytree(vectors.data_root() / "cases", root / "cases")
    manifest = vectors.load_manifest()
    vectors.write_manifest(root, {**manifest, "records": []})
    return root


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_write_cases_rebuilds_every_case_file_byte_for_byte(tmp_path: Path) -> None:
    root = _cases_only_copy(tmp_path)
    for file in (root / "cases").glob("*.npz"):
        if file.stem not in ("const_lr", "schedule_lr", "weight_decay", "grad_averaging",
                             "b2_zero", "eps_root"):
            file.unlink()  # generated cases: written again from their seeds
    done = _run("write_cases.py", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {len(vectors.case_entries())} cases")
    assert vectors.load_manifest(root)["cases"] == vectors.load_manifest()["cases"]
    for entry in vectors.case_entries():
        assert vectors.sha256_file(root / entry["file"]) == entry["sha256"], entry["name"]


def _shared_openseq2seq() -> Path | None:
    for shared in (REPO / "shared", REPO.parent / "shared", REPO.parents[1] / "shared"):
        src = shared / "recorded" / "openseq2seq"
        if (src / "cases" / "index.json").is_file():
            return src
    return None


def test_bundle_openseq2seq_rebuilds_the_bundled_records(tmp_path: Path) -> None:
    src = _shared_openseq2seq()
    if src is None:
        pytest.skip("shared OpenSeq2Seq recordings not present")
    root = _cases_only_copy(tmp_path)
    done = _run("bundle_openseq2seq.py", str(src), str(root))
    assert done.returncode == 0, done.stderr
    bundled = {e["file"]: e for e in vectors.record_entries(framework="openseq2seq")}
    rebuilt = vectors.load_manifest(root)["records"]
    assert {e["file"] for e in rebuilt} == set(bundled)
    for entry in rebuilt:
        want = bundled[entry["file"]]
        assert entry["sha256"] == want["sha256"], entry["file"]
        for key in ("constructor_kwargs", "preset_kwargs", "settings",
                    "learning_rate_keyword", "preset"):
            assert json.dumps(entry[key]) == json.dumps(want[key]), (entry["file"], key)


def test_bundle_openseq2seq_usage_error() -> None:
    done = _run("bundle_openseq2seq.py")
    assert done.returncode == 2
    assert "usage" in done.stderr
