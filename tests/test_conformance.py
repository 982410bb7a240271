"""The conformance kit: golden vectors replayed through every preset, the command line,
and proof that the checker catches (and names) classic porting mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from novograd_ref import cli, vectors
from novograd_ref.conformance import (
    PresetAdapter,
    find_difference,
    identify,
    implementation,
    verify_implementation,
    verify_record,
)

RECORDS = vectors.record_entries()


@pytest.mark.parametrize("entry", RECORDS, ids=[e["file"][8:-4] for e in RECORDS])
def test_every_preset_reproduces_its_framework(entry: dict[str, Any]) -> None:
    result = verify_record(entry)
    assert result.passed, (f"{result.label}: leaf {result.leaf} step {result.step} error "
                           f"{result.error:.3g} > {result.tolerance:.3g}")


def test_frameworks_that_disagree_make_presets_disagree() -> None:
    """The optax record of zero_first_grads is not reproduced by the PyTorch family's
    preset, and the torch_optimizer record not by optax's (same canonical settings)."""
    optax_rec = vectors.record_entries(framework="optax", case="zero_first_grads",
                                       dtype="float64", tag="")[0]
    torch_rec = vectors.record_entries(framework="torch_optimizer", case="zero_first_grads",
                                       dtype="float64", tag="")[0]
    as_torch = PresetAdapter("torch_optimizer", **torch_rec["preset_kwargs"])
    as_optax = PresetAdapter("optax", **optax_rec["preset_kwargs"])
    assert not verify_record(optax_rec, as_torch).passed
    assert not verify_record(torch_rec, as_optax).passed


def test_verify_command_prints_a_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--preset", "optax"]) == 0
    out = capsys.readouterr()
    assert "worst rel err" in out.out
    assert "first failing record" not in out.out
    assert "64 passed, 0 failed" in out.out
    assert "\r" not in out.err  # no progress bar when stderr is not a terminal


def factory(spec: str) -> Any:
    return implementation(spec)


def test_faithful_port_passes_and_is_identified() -> None:
    spec = "tests.flawed_ports:numpy_optax"
    report = verify_implementation(factory(spec), "optax", examples=5)
    assert report.passed
    assert any(c.skipped for c in report.comparisons)  # no eps_root in this port
    assert {"optax", "paper"} <= set(identify(factory(spec), "optax"))
    torch_spec = "tests.flawed_ports:numpy_torch"
    assert verify_implementation(factory(torch_spec), "torch_optimizer").passed
    found = identify(factory(torch_spec), "torch_optimizer")
    assert {"torch_optimizer", "timm", "nemo", "dle"} <= set(found)
    assert "optax" not in found


@pytest.mark.parametrize(("flaw", "preset", "caught_on"), [
    ("eps_inside_sqrt", "optax", "eps_large"),
    ("extra_one_minus_b1", "optax", "const_lr"),
    ("lr_inside_momentum", "optax", "schedule_lr"),
    ("v_from_zero", "optax", "const_lr"),
    ("float32_norm", "optax", "tree_mixed"),
    ("missing_one_minus_b1", "torch_optimizer", "grad_averaging"),
])
def test_wrong_ports_are_caught_and_named(flaw: str, preset: str, caught_on: str) -> None:
    spec = f"tests.flawed_ports:{flaw}"
    report = verify_implementation(factory(spec), preset)
    failed = {c.case for c in report.comparisons if not c.passed}
    assert caught_on in failed
    assert preset not in identify(factory(spec), preset)


def test_lr_inside_port_is_named_tfa() -> None:
    spec = "tests.flawed_ports:lr_inside_momentum"
    assert "tfa" in identify(factory(spec), "optax", candidates=["optax", "tfa"])


def test_verify_impl_command_reports_and_reproduces(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    status = cli.main(["verify", "--impl", "tests.flawed_ports:v_from_zero", "--preset", "optax",
                       "--dtype", "float64", "--report", str(report)])
    out = capsys.readouterr().out
    assert status == 1
    assert "first divergence: tests.flawed_ports:v_from_zero / const_lr / float64" in out
    assert "load_implementation('tests.flawed_ports:v_from_zero', dtype='float64'" in out
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert data["matches"] == []
    snippet = out.split("prints the same excerpt):\n\n", 1)[1].split("\n\nverdict:")[0]
    exec(compile(snippet, "<reproducer>", "exec"), {})  # noqa: S102 (the printed reproducer runs)


def test_export_writes_readable_vectors(tmp_path: Path) -> None:
    assert cli.main(["export", "--preset", "nemo", "--out", str(tmp_path)]) == 0
    entries = vectors.record_entries(root=tmp_path)
    assert entries
    assert not vectors.verify_files(tmp_path)
    rec = vectors.load_record(entries[0], root=tmp_path)
    assert np.isfinite(rec.params[next(iter(rec.params))]).all()


def test_diff_optax_torch_lands_on_a_zero_first_gradient() -> None:
    found = find_difference("optax", "torch_optimizer")
    assert found is not None
    first = found["problem"]["grads"][0]
    assert any(not np.any(np.asarray(g)) for g in first.values())


def test_diff_optax_tfa_lands_on_a_changing_learning_rate() -> None:
    found = find_difference("optax", "tfa")
    assert found is not None
    lr = found["problem"]["lr"]
    assert isinstance(lr, list)
    assert len(set(lr)) > 1


def test_diff_command_prints_both_trajectories(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "optax", "torch_optimizer"]) == 1
    out = capsys.readouterr().out
    assert "smallest input found" in out
    assert "torch_optimizer {" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["verify", "--preset", "nonesuch"], "unknown preset 'nonesuch'"),
    (["verify", "--impl", "no_such_module:make"], "cannot import 'no_such_module'"),
    (["verify", "--impl", "tests.flawed_ports:nothing"], "has no callable 'nothing'"),
    (["verify", "--impl", "frobnicate"], "unknown implementation 'frobnicate'"),
    (["export", "--preset", "adamw", "--out", "x"], "unknown preset 'adamw'"),
    (["diff", "optax", "adamw"], "unknown preset 'adamw'"),
])
def test_user_mistakes_are_one_line(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_malformed_and_pickled_vector_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "records" / "x.npz"
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"x\.npz"):
        vectors.read_npz(bad)
    pickled = tmp_path / "p.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"p\.npz"):
        vectors.read_npz(pickled)


def test_demo_prints_the_optax_docstring_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[1:]] == ["1.40E+01", "1.39E+01", "1.39E+01",
                                                         "1.38E+01", "1.37E+01"]
