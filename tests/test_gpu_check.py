"""The GPU check (scripts/gpu_check.sh) and the pieces it runs, on a machine without a GPU.

The check itself runs only where a GPU is lent; here: its scripts parse, its dry run
passes on what ``scripts/gpu_collect.sh`` gathered into ``.gpu/`` (skipped, with the
reason, in a fresh clone, which has none), the JUnit reader that decides whether a
backend ran judges correctly, and the Apex adapter and the CuPy ports refuse cleanly
where their library is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from novograd_ref import presets, vectors

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
CARRIED = REPO / ".gpu"


def _run(*cmd: str, env: dict[str, str] | None = None, timeout: int = 120
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_collect.sh"])
def test_shell_scripts_parse(script: str) -> None:
    done = _run("bash", "-n", str(SCRIPTS / script))
    assert done.returncode == 0, done.stderr


def test_gpu_check_does_every_step_the_issue_lists() -> None:
    text = (SCRIPTS / "gpu_check.sh").read_text()
    for piece in ("--dry-run", "scripts/apex/build.py", "novograd_ref.fused.ports:$p",
                  "NOVOGRAD_REF_FUSED_ARRAYS=cupy", "conformance.record apex",
                  "verify --data", "--impl apex", "benchmarks/gpu_step.py",
                  "scripts/backend_ran.py", "--no-index", "summary.json"):
        assert piece in text, piece


def test_gpu_check_without_the_carried_folder_says_what_to_run(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    script = tmp_path / "repo" / "scripts" / "gpu_check.sh"
    script.parent.mkdir(parents=True)
    script.write_text((SCRIPTS / "gpu_check.sh").read_text())
    done = _run("bash", str(script), "--dry-run", str(tmp_path / "out"), env=env)
    assert done.returncode == 1
    assert "run scripts/gpu_collect.sh here first" in done.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["all_passed"] is False
    assert summary["steps"][0]["step"] == "carried"


def test_apex_build_script_refuses_a_missing_export(tmp_path: Path) -> None:
    done = _run(sys.executable, str(SCRIPTS / "apex" / "build.py"), str(tmp_path / "none"),
                str(tmp_path / "dest"), "--check")
    assert done.returncode == 1
    assert "PROVENANCE.json is missing" in done.stderr


# ------------------------------------------------------------------ backend_ran.py

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="t" name="test_a[cupy-case0]"/>
<testcase classname="t" name="test_a[torch-case0]"/>
<testcase classname="t" name="test_b[cupy-bfloat16]"><skipped message="cupy has no bfloat16"/></testcase>
<testcase classname="t" name="test_a[torch_cuda-case0]"><skipped message="backend torch_cuda unavailable: no CUDA"/></testcase>
<testcase classname="t" name="test_c[jax]"><failure message="boom"/></testcase>
<testcase classname="t" name="test_gpu_kernels[float32]"/>
</testsuite></testsuites>
"""


@pytest.mark.parametrize(("names", "flags", "ok"), [
    (["cupy"], [], True),  # a dtype skip is legitimate
    (["torch"], [], True),  # torch_cuda's cases are not torch's
    (["torch_cuda"], [], False),  # skipped for a missing device
    (["torch_cuda"], ["--all-skipped"], True),
    (["cupy"], ["--all-skipped"], False),
    (["jax"], [], False),  # failed
    (["dask"], [], False),  # nothing ran
    (["test_gpu_kernels"], [], True),
    (["cupy", "jax"], [], False),
])
def test_backend_ran_judges_a_junit_report(tmp_path: Path, names: list[str],
                                           flags: list[str], ok: bool) -> None:
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    done = _run(sys.executable, str(SCRIPTS / "backend_ran.py"), str(report), *names, *flags)
    assert done.returncode == (0 if ok else 1), done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) == set(names)


# --------------------------------------------------------- what the GPU run drives


def test_apex_framework_records_its_flags_in_float32_and_float16() -> None:
    from novograd_ref.conformance import frameworks

    apex = frameworks.load("apex")
    assert apex.preset == "apex"
    assert apex.recording_variants("float64") == []
    variants = apex.recording_variants("float16")
    assert [tag for tag, _ in variants] == ["", "defaults", "inf", "init_zero",
                                            "inside_inf_zero"]
    standard = apex.kwargs_for(vectors.case_entry("weight_decay")["hyper"])
    assert standard is not None
    for tag, settings in variants:
        kwargs = apex.preset_kwargs(dict(standard), "float16", settings)
        presets.apex(**kwargs)  # every recorded run is a valid preset configuration
        if tag == "inf":
            assert (kwargs["norm_type"], kwargs["reg_inside_moment"]) == (0, False)


def test_apex_framework_is_unavailable_without_a_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from novograd_ref.conformance.frameworks import apex

    monkeypatch.setenv("NOVOGRAD_REF_APEX_DIR", str(tmp_path))
    assert not apex.available()
    with pytest.raises(ImportError, match="holds no built Apex FusedNovoGrad"):
        apex.load_fused_novograd()
    (tmp_path / "PROVENANCE.json").write_text(json.dumps(
        {"repository": "https://github.com/NVIDIA/apex", "commit": "abc"}))
    assert apex.source_info() == {"repository": "https://github.com/NVIDIA/apex",
                                  "commit": "abc"}


def test_fused_ports_choose_their_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba", reason="the fused step needs numba")
    from novograd_ref.fused import ports

    monkeypatch.setenv("NOVOGRAD_REF_FUSED_ARRAYS", "jax")
    with pytest.raises(ValueError, match=r"NOVOGRAD_REF_FUSED_ARRAYS.*got 'jax'"):
        ports.factory("nemo")()
    monkeypatch.setenv("NOVOGRAD_REF_FUSED_ARRAYS", "numpy")
    assert ports.factory("nemo")().arrays == "numpy"
    monkeypatch.delenv("NOVOGRAD_REF_FUSED_ARRAYS")
    assert ports.FusedAdapter("nemo").name == "fused:nemo"


@pytest.mark.slow
def test_dry_run_passes_on_the_carried_folder(tmp_path: Path) -> None:
    if not (CARRIED / "wheels").is_dir() or not (CARRIED / "apex" / "PROVENANCE.json").is_file():
        pytest.skip(f"{CARRIED} is not there (a fresh clone): scripts/gpu_collect.sh "
                    "gathers it from the package index and an NVIDIA Apex clone")
    done = _run("bash", str(SCRIPTS / "gpu_check.sh"), "--dry-run", str(tmp_path / "out"),
                env={**os.environ, "TMPDIR": str(tmp_path), "PYTHON": sys.executable},
                timeout=900)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert done.returncode == 0, done.stdout[-4000:]
    assert summary["all_passed"], summary
    assert {s["step"] for s in summary["steps"]} == {
        "wheels", "install", "apex_src", "cuda_tests", "cuda_tests_skipped",
        "apex_unavailable", "fused_cupy"}
    assert "backend cupy unavailable" in done.stdout
