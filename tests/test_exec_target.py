"""``--impl exec:COMMAND``: ports in C, Rust and JavaScript checked live over the exec
protocol, faithful ones and broken ones, and the client libraries that speak it.

The example ports are the documented ones (``docs/examples/port.*``), built with the
toolchain found here (gcc, rustc, node; a test skips with the reason otherwise). The
broken ports are the C example changed in one place, or small scripts.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from novograd_ref import _hyper, presets, vectors
from novograd_ref.cli import main
from novograd_ref.conformance import (
    ImplementationError,
    ImplementationFailed,
    Unsupported,
    implementation,
    run_trajectory,
)
from novograd_ref.conformance.live._identify import standard_cases
from novograd_ref.conformance.targets import (
    CLIENTS,
    canonical_hyper,
    client_files,
    copy_clients,
    resolve_command,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
SUMMARY = re.compile(r"(\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped")


def toolchain(program: str, language: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed here: the {language} port cannot be built")
    return found


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the client libraries, where the ports are built."""
    out = tmp_path_factory.mktemp("ports")
    copy_clients(out)
    return out


def build_c(folder: Path, name: str, source: str) -> Path:
    gcc = toolchain("gcc", "C")
    (folder / f"{name}.c").write_text(source)
    subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1",
                    "-o", name, f"{name}.c", "-lm"], cwd=folder, check=True)
    return folder / name


def build_rust(folder: Path, name: str, source: str) -> Path:
    rustc = toolchain("rustc", "Rust")
    (folder / f"{name}.rs").write_text(source)
    subprocess.run([rustc, "-O", "-D", "warnings", f"{name}.rs"], cwd=folder, check=True)
    return folder / name


def script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def js_port(folder: Path, name: str, source: str) -> Path:
    node = toolchain("node", "JavaScript")
    return script(folder, name, f"#!{node}\n" + source.removeprefix("#!/usr/bin/env node\n"))


STEP_START = "    novograd *opt = run->state;\n    int i;\n    long k;\n"


def c_variant(folder: Path, name: str, old: str, new: str, prefix: str = "") -> Path:
    """The example C port with ``old`` replaced by ``new`` (which must be there), and
    ``prefix`` before it."""
    source = (EXAMPLES / "port.c").read_text()
    assert old in source, old
    return build_c(folder, name, prefix + source.replace(old, new))


@pytest.fixture(scope="module")
def ports(folder: Path) -> dict[str, Callable[[], Path]]:
    """Builders of the three example ports (each builds on first use)."""
    built: dict[str, Path] = {}

    def once(language: str, make: Callable[[], Path]) -> Callable[[], Path]:
        def get() -> Path:
            if language not in built:
                built[language] = make()
            return built[language]
        return get

    return {
        "c": once("c", lambda: build_c(folder, "port", (EXAMPLES / "port.c").read_text())),
        "rust": once("rust", lambda: build_rust(folder, "port_rs",
                                                (EXAMPLES / "port.rs").read_text())),
        "js": once("js", lambda: js_port(folder, "port.mjs",
                                         (EXAMPLES / "port.mjs").read_text())),
    }


def run_cli(args: list[str], folder: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(folder)
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def summary(out: str) -> tuple[int, int, int, int]:
    found = SUMMARY.search(out)
    assert found, out
    passed, failed, errors, skipped = map(int, found.groups())
    return passed, failed, errors, skipped


# -- faithful ports pass

def assert_port_passes_optax(language: str, ports: dict[str, Callable[[], Path]], folder: Path,
                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                             ) -> None:
    port = ports[language]()
    status, out, err = run_cli(["verify", "--impl", f"exec:./{port.name}", "--preset",
                                "optax"], folder, capsys, monkeypatch)
    assert status == 0, out + err
    passed, failed, errors, skipped = summary(out)
    assert passed >= 30
    assert (failed, errors, skipped) == (0, 0, 0)
    assert "verdict: pass" in out


def test_c_port_passes(ports: dict[str, Callable[[], Path]], folder: Path,
                       capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert_port_passes_optax("c", ports, folder, capsys, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("language", ["rust", "js"])
def test_rust_and_javascript_ports_pass(language: str, ports: dict[str, Callable[[], Path]],
                                        folder: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert_port_passes_optax(language, ports, folder, capsys, monkeypatch)


@pytest.mark.parametrize("language", ["c", "rust", "js"])
def test_each_port_on_the_first_cases_in_process(language: str,
                                                  ports: dict[str, Callable[[], Path]],
                                                  folder: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from novograd_ref.conformance import PresetAdapter, compare, replay

    port = ports[language]()
    monkeypatch.chdir(folder)
    impl = implementation(f"exec:./{port.name}", "optax")
    for case, kwargs in standard_cases("optax")[:3]:
        for dtype in ("float64", "float32"):
            params0 = case.params0_as(dtype)
            got, fed = run_trajectory(impl.build(kwargs, dtype), params0,
                                      case.learning_rate(), case.grads_at, case.T)
            want, _ = run_trajectory(PresetAdapter("optax", **kwargs), params0,
                                     case.learning_rate(), replay(fed), case.T)
            assert compare("port", case.name, dtype, got, want, 4e-6 if dtype == "float32"
                           else 1e-12).passed, (case.name, dtype)


# -- values travel bit for bit, rounded once to the run's dtype

SCALE_C = r"""
#define NOVOGRAD_REF_IMPLEMENTATION
#include "novograd_ref.h"
static const char *configure(nr_run *run) { (void)run; return NULL; }
static void init(nr_run *run) { (void)run; }
static void step(nr_run *run) {
    int i; long k;
    for (i = 0; i < run->n_leaves; i++)
        for (k = 0; k < run->leaves[i].size; k++)
            run->leaves[i].param[k] = run->leaves[i].grad[k] * run->lr;
}
int main(void) { return nr_serve(configure, init, step); }
"""

SCALE_RUST = """
mod novograd_ref;
use novograd_ref::{Port, Refusal, Run};
struct Scale;
impl Port for Scale {
    fn configure(_run: &Run) -> Result<Self, Refusal> { Ok(Scale) }
    fn init(&mut self, _run: &Run) -> Result<(), String> { Ok(()) }
    fn step(&mut self, run: &mut Run) -> Result<(), String> {
        let lr = run.lr;
        for leaf in run.leaves.iter_mut() {
            for k in 0..leaf.param.len() { leaf.param[k] = leaf.grad[k] * lr; }
        }
        Ok(())
    }
}
fn main() { std::process::exit(novograd_ref::serve::<Scale>()) }
"""

SCALE_JS = """
import { serve } from "./novograd_ref.mjs";
serve({
  configure() {},
  init() {},
  step(run) {
    for (const leaf of run.leaves) leaf.grad.forEach((g, k) => { leaf.param[k] = g * run.lr; });
  },
});
"""


def every_finite(dtype: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` finite values of ``dtype`` drawn from all bit patterns (subnormals,
    the largest values and both zeros included)."""
    bits = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}[dtype]
    info = np.iinfo(bits)
    drawn = rng.integers(0, int(info.max), size=4 * size, dtype=bits,
                         endpoint=True).view(dtype)
    drawn = drawn[np.isfinite(drawn)][:size - 4]
    big = np.finfo(dtype).max
    return np.concatenate([drawn, np.array([0.0, -0.0, big, -big], dtype=dtype)])


@pytest.mark.parametrize("language", ["c", "rust", "js"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_values_round_trip_and_are_rounded_once(language: str, dtype: str, folder: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that returns ``grad * lr``: every value comes back as the double product
    rounded once to the dtype (NumPy's cast), bit for bit, overflow included."""
    build = {"c": lambda: build_c(folder, "scale", SCALE_C),
             "rust": lambda: build_rust(folder, "scale_rs", SCALE_RUST),
             "js": lambda: js_port(folder, "scale.mjs", SCALE_JS)}[language]
    name = f"scale{'_rs' if language == 'rust' else '.mjs' if language == 'js' else ''}"
    port = folder / name if (folder / name).exists() else build()
    monkeypatch.chdir(folder)
    rng = np.random.default_rng(7)
    grads = [every_finite(dtype, 400, rng).reshape(20, 20) for _ in range(3)]
    rates = np.array([1 / 3, 1.5, 1e-3])
    adapter = implementation(f"exec:./{port.name}", "optax").build(
        presets.spec("optax").case_keywords(_hyper.base()) or {}, dtype)
    got, _ = run_trajectory(adapter, {"w": np.zeros((20, 20), dtype)}, rates,
                            lambda k, p: {"w": grads[k]}, 3)
    with np.errstate(over="ignore"):
        want = [(g.astype(np.float64) * r).astype(dtype) for g, r in zip(grads, rates)]
    for k in range(3):
        assert got["w"][k + 1].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got["w"][k + 1].view(f"u{np.dtype(dtype).itemsize}"),
                                      want[k].view(f"u{np.dtype(dtype).itemsize}"))


# -- what the port is told

def test_the_port_is_told_what_the_named_presets_keywords_mean() -> None:
    """The same keyword means what the named preset means by it (``epsilon`` is outside
    the root for TFA, inside it for OpenSeq2Seq): the preset is given, never guessed."""
    tfa = canonical_hyper("tfa", {"beta_1": 0.9, "epsilon": 1e-6})
    openseq2seq = canonical_hyper("openseq2seq", {"beta1": 0.9, "epsilon": 1e-6})
    assert (tfa["eps"], tfa["eps_root"]) == (1e-6, 0.0)
    assert (openseq2seq["eps"], openseq2seq["eps_root"]) == (0.0, 1e-6)
    assert list(tfa) == list(openseq2seq) == PROTOCOL_HYPER


def test_an_exec_port_without_a_preset_is_refused_with_what_to_name(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = script(folder, "never-started", "#!/bin/sh\nexit 3\n")
    monkeypatch.chdir(folder)
    with pytest.raises(ImplementationError, match="name the preset"):
        implementation(f"exec:./{port.name}").build({"b1": 0.9}, "float64")


PROTOCOL_HYPER = ["b1", "b2", "eps", "eps_root", "weight_decay", "weight_decay_mode",
                  "grad_averaging", "amsgrad", "luc", "luc_trust", "luc_eps", "adam_debias",
                  "maximize"]


def test_canonical_hyperparameters_of_every_case_in_every_presets_keywords() -> None:
    """The port gets the case's canonical hyperparameters back from any preset's
    keywords: the presets that accept the same keywords agree on what they mean."""
    checked = 0
    for entry in vectors.case_entries():
        for name in presets.names():
            kwargs = presets.spec(name).case_keywords(entry["hyper"])
            if kwargs is None:
                continue
            hyper = _hyper.to_stored(_hyper.complete(entry["hyper"]))  # as the files say
            told = canonical_hyper(name, kwargs)
            assert list(told) == PROTOCOL_HYPER  # docs/exec-protocol.md, section 3.2
            wd_on = hyper["weight_decay"] > 0
            assert {k: v for k, v in told.items() if k in hyper and
                    (wd_on or k != "weight_decay_mode")} == \
                {k: v for k, v in hyper.items() if wd_on or k != "weight_decay_mode"}, name
            checked += 1
    assert checked > 100


def test_the_port_is_told_keywords_hyperparameters_rates_and_leaves(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that writes what it read to a file, then declines: the messages of a
    run, as the protocol page specifies them."""
    log = folder / "told.txt"
    port = script(folder, "tell", f"""#!{sys.executable}
import sys
seen = open({str(log)!r}, "w")
def read():
    line = sys.stdin.readline()
    seen.write(line)
    return line.split()
read(); print("novograd-ref-protocol 1", flush=True)
head = read()
for _ in range(int(head[2]) + int(head[3])):
    read()
print("ready", flush=True)
head = read()
read()
for _ in range(2 * int(head[1])):
    read()
print("ready", flush=True)
read(); read(); read()
print("param 3ff0000000000000 4000000000000000", flush=True)
print("param 0000000000000000", flush=True)
read()
""")
    monkeypatch.chdir(folder)
    adapter = implementation(f"exec:./{port.name}", "nemo").build(
        {"betas": (0.9, 0.98), "eps": 1e-8, "weight_decay": 0.0, "grad_averaging": True,
         "amsgrad": False}, "float64")
    state = adapter.init({"layer 1/w": np.array([1.0, -2.0]), "b": np.array(0.5)},
                         np.array([0.1, 0.2]))
    params, _ = adapter.update({"layer 1/w": np.array([0.25, 0.5]), "b": np.array(1.0)},
                               state)
    adapter.close()
    assert params["layer 1/w"].tolist() == [1.0, 2.0]
    assert params["b"].shape == ()
    lines = log.read_text().splitlines()
    assert lines[0] == "novograd-ref-protocol 1"
    assert lines[1].startswith("configure float64 ")
    assert "hyper b1 0.9" in lines
    assert "hyper grad_averaging true" in lines
    assert "hyper weight_decay_mode inside" in lines
    assert "keyword betas 0.9 0.98" in lines
    assert "keyword eps 1e-08" in lines
    at = lines.index("init 2")
    assert lines[at + 1:at + 6] == [
        "lr table 2 0.1 0.2", "leaf 1 2 layer 1/w", "param 3ff0000000000000 c000000000000000",
        "leaf 0 b", "param 3fe0000000000000"]
    assert lines[at + 6:] == ["step 1 0.1", "grad 3fd0000000000000 3fe0000000000000",
                              "grad 3ff0000000000000", "end"]


# -- broken ports: the right verdict, with what they sent

def verify_broken(port: Path, folder: Path, capsys: pytest.CaptureFixture[str],
                  monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, str, str]:
    return run_cli(["verify", "--impl", f"exec:./{port.name}", "--preset", "optax",
                    "--dtype", "float64", *extra], folder, capsys, monkeypatch)


def test_a_wrong_first_step_is_a_mismatch(folder: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    port = c_variant(folder, "wrong_first", "leaf->param[k] = R(leaf->param[k] - R(run->lr",
                     "leaf->param[k] = R(leaf->param[k] - R((run->step == 1 ? 2 : 1) * "
                     "run->lr")
    status, out, err = verify_broken(port, folder, capsys, monkeypatch)
    assert status == 1, out + err
    assert summary(out)[1] > 10
    assert "first divergence: step 1" in out
    assert "verdict: mismatch" in out


@pytest.mark.parametrize(("crash", "name"), [("raise(SIGSEGV);", "SIGSEGV"),
                                             ("abort();", "SIGABRT")])
def test_a_crash_is_an_error_naming_the_signal(crash: str, name: str, folder: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    port = c_variant(folder, f"crash_{name}", STEP_START,
                     STEP_START + "    if (run->step == 2) { " + crash + " }\n",
                     "#include <signal.h>\n")
    status, out, err = verify_broken(port, folder, capsys, monkeypatch)
    assert status == 3, out + err
    assert summary(out)[2] > 10
    assert "verdict: error" in out
    assert f"step 2, in update()) [signal]: the port was killed by {name}" in err


def test_a_hang_times_out_and_the_port_dies_with_it(folder: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that hangs on one case (the one with a leaf 'big') is killed at the time
    limit, with the kit's child process; the other cases go on."""
    port = c_variant(folder, "hang", STEP_START, STEP_START + (
        "    for (i = 0; i < run->n_leaves; i++)\n"
        "        if (strcmp(run->leaves[i].name, \"big\") == 0) {\n"
        "            FILE *f = fopen(\"hang.pid\", \"w\");\n"
        "            fprintf(f, \"%ld\\n\", (long)getpid());\n"
        "            fclose(f);\n"
        "            for (;;) sleep(1);\n"
        "        }\n"), "#define _POSIX_C_SOURCE 200809L\n#include <unistd.h>\n")
    status, out, err = verify_broken(port, folder, capsys, monkeypatch, "--timeout", "2")
    assert status == 3, out + err
    passed, _, errors, _ = summary(out)
    assert (passed, errors) == (15, 1)
    assert "in update()) [timeout]: no answer within 2 s" in err
    pid = int((folder / "hang.pid").read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the hung port outlived the run")


def test_garbage_on_standard_output_is_a_protocol_error_showing_it(
        folder: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = c_variant(folder, "chatty", "        den = R(",
                     "        printf(\"debug: nu = %g\\n\", opt->nu[i]);\n        den = R(")
    status, out, err = verify_broken(port, folder, capsys, monkeypatch)
    assert status == 3, out + err
    assert "in update()) [protocol]: the port answered out of protocol: expected 'param' " \
           "and the values of leaf" in err
    assert "got 'debug: nu = " in err


def test_a_protocol_version_mismatch_names_both_versions(
        folder: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = script(folder, "v2", "#!/bin/sh\nread greeting\necho novograd-ref-protocol 2\n")
    status, out, err = verify_broken(port, folder, capsys, monkeypatch)
    assert status == 3, out + err
    assert ("in factory) [protocol]: protocol version mismatch: the port speaks version 2, "
            "this kit speaks version 1") in err


def misbehaving(folder: Path, name: str, at_step: str) -> Path:
    """A Python port that follows the protocol up to the step, then answers
    ``at_step`` (a line, or a Python expression of the leaves' sizes)."""
    return script(folder, name, f"""#!{sys.executable}
import sys
def read():
    return sys.stdin.readline().split()
read(); print("novograd-ref-protocol 1", flush=True)
head = read()
for _ in range(int(head[2]) + int(head[3])):
    read()
print("ready", flush=True)
sizes = []
head = read(); read()
for _ in range(int(head[1])):
    leaf = read(); read()
    size = 1
    for d in leaf[2:2 + int(leaf[1])]:
        size *= int(d)
    sizes.append(size)
print("ready", flush=True)
read()
for _ in sizes:
    read()
{at_step}
sys.stdout.flush()
read()
""")


def test_a_port_may_answer_while_it_reads(folder: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaves far larger than a pipe's buffer, answered line by line as they arrive
    (here: the parameters become the gradients): nothing blocks."""
    port = script(folder, "streaming", f"""#!{sys.executable}
import sys
def read():
    return sys.stdin.readline()
read(); print("novograd-ref-protocol 1", flush=True)
head = read().split()
for _ in range(int(head[2]) + int(head[3])):
    read()
print("ready", flush=True)
leaves = int(read().split()[1]); read()
for _ in range(2 * leaves):
    read()
print("ready", flush=True)
while read().startswith("step"):
    for _ in range(leaves):
        sys.stdout.write("param" + read()[4:])
        sys.stdout.flush()
""")
    from novograd_ref.conformance.isolation._runner import CompletedRun, Problem, open_runner

    monkeypatch.chdir(folder)
    rng = np.random.default_rng(1)
    grads = {"a": rng.standard_normal(60_000), "b": rng.standard_normal((200, 300))}
    problem = Problem("big", {k: np.zeros_like(v) for k, v in grads.items()}, 0.1, 2,
                      grads={k: np.stack([v, v]) for k, v in grads.items()})
    with open_runner(f"exec:./{port.name}", timeout=60,
                     preset="optax") as runner:  # blocked: a timeout
        outcome = runner.run(presets.spec("optax").case_keywords(_hyper.base()) or {},
                             "float64", problem)
    assert isinstance(outcome, CompletedRun), outcome
    for name, grad in grads.items():
        np.testing.assert_array_equal(outcome.params[name][2], grad)


def test_wrong_shapes_are_an_error_naming_the_leaf(folder: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    port = misbehaving(folder, "short", "for size in sizes:\n"
                       "    print('param' + ' 0000000000000000' * (size - 1))")
    monkeypatch.chdir(folder)
    adapter = implementation(f"exec:./{port.name}", "optax").build(
        presets.spec("optax").case_keywords(_hyper.base()) or {}, "float64")
    with pytest.raises(ImplementationFailed) as failed:
        run_trajectory(adapter, {"w": np.ones((2, 3))}, 0.1,
                       lambda k, p: {"w": np.ones((2, 3))}, 2)
    assert failed.value.failure.cause == "protocol"
    assert (failed.value.failure.call, failed.value.failure.step) == ("update()", 1)
    assert "answered 5 values for leaf 'w' (shape (2, 3), 6 values)" in failed.value.failure.message


def test_an_error_reply_is_the_ports_error(folder: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = misbehaving(folder, "refusing", "print('error the device is out of memory')")
    monkeypatch.chdir(folder)
    adapter = implementation(f"exec:./{port.name}", "optax").build(
        presets.spec("optax").case_keywords(_hyper.base()) or {}, "float64")
    with pytest.raises(ImplementationFailed) as failed:
        run_trajectory(adapter, {"w": np.ones(3)}, 0.1, lambda k, p: {"w": np.ones(3)}, 1)
    assert failed.value.failure.cause == "raised"
    assert failed.value.failure.message == \
        "the port reported an error: the device is out of memory"


def test_an_exit_and_a_program_that_cannot_start_are_errors(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exits = script(folder, "exits", "#!/bin/sh\nread greeting\n"
                   "echo novograd-ref-protocol 1\nread configure\nexit 7\n")
    unstartable = script(folder, "no-shebang", "echo hello\n")
    monkeypatch.chdir(folder)
    kwargs = presets.spec("optax").case_keywords(_hyper.base()) or {}
    with pytest.raises(ImplementationFailed) as failed:
        implementation(f"exec:./{exits.name}", "optax").build(kwargs, "float64")
    assert (failed.value.failure.cause, failed.value.failure.call) == ("exit", "factory")
    assert failed.value.failure.message == "the port exited with status 7 before answering"
    with pytest.raises(ImplementationFailed) as failed:
        implementation(f"exec:./{unstartable.name}", "optax").build(kwargs, "float64")
    assert failed.value.failure.message == f"cannot start {unstartable}: Exec format error"


def test_a_death_shows_the_end_of_what_the_port_sent(folder: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    port = script(folder, "dies", "#!/bin/sh\nread greeting\necho novograd-ref-protocol 1\n"
                  "read configure\nprintf 'half a line'\nkill -SEGV $$\n")
    monkeypatch.chdir(folder)
    with pytest.raises(ImplementationFailed) as failed:
        implementation(f"exec:./{port.name}", "optax").build(
            presets.spec("optax").case_keywords(_hyper.base()) or {}, "float64")
    assert failed.value.failure.cause == "signal"
    assert failed.value.failure.message == \
        "the port was killed by SIGSEGV; the end of what it sent: 'half a line'"


def test_the_port_inherits_the_memory_limit(folder: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The port runs under the kit's child process, with its address-space limit."""
    from novograd_ref.conformance import Failure
    from novograd_ref.conformance.isolation._runner import Problem, open_runner

    port = script(folder, "limit", "#!/bin/sh\nread greeting\n"
                  "echo novograd-ref-protocol 1\necho \"error address space $(ulimit -v) KiB\"\n")
    monkeypatch.chdir(folder)
    case, kwargs = standard_cases("optax")[0]
    with open_runner(f"exec:./{port.name}", memory_limit=1 << 30,
                     preset="optax") as runner:
        outcome = runner.run(kwargs, "float64", Problem.from_case(case, "float64"))
    assert isinstance(outcome, Failure)
    assert outcome.message == "the port reported an error: address space 1048576 KiB"


def test_an_unsupported_configuration_is_skipped_with_the_reason(
        ports: dict[str, Callable[[], Path]], folder: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The example port has optax's switches only: nemo's amsgrad, gradient
    averaging and update clipping cases are skipped, with the port's reasons."""
    port = ports["c"]()
    status, out, _ = run_cli(["verify", "--impl", f"exec:./{port.name}", "--preset",
                              "nemo", "--dtype", "float64"], folder, capsys, monkeypatch)
    assert status == 1  # nemo's first step differs from optax's on zero_first_grads
    passed, _, errors, skipped = summary(out)
    assert passed > 0
    assert skipped == 7
    assert errors == 0
    assert "skipped 4: Unsupported: no grad_averaging = true" in out
    assert "skipped 2: Unsupported: no amsgrad = true" in out
    monkeypatch.chdir(folder)
    with pytest.raises(Unsupported, match="no amsgrad = true"):
        implementation(f"exec:./{port.name}", "nemo").build(
            presets.spec("nemo").case_keywords(_hyper.base(amsgrad=True)) or {}, "float64")


# -- bad input: one line, exit 2, nothing run

@pytest.mark.parametrize(("target", "message"), [
    ("exec:./no-such-port", "exec:./no-such-port: './no-such-port' does not exist"),
    ("exec:no-such-port-anywhere", ("'no-such-port-anywhere' is neither in the current "
                                    "directory nor on PATH")),
    ("exec:./plain.txt", ("'./plain.txt' is not executable (no execute permission; "
                          "chmod +x ./plain.txt)")),
    ("exec:./a-folder", "'./a-folder' is a directory, not an executable"),
    ("exec:", "no command after 'exec:'"),
    ("exec:./needs-node", ("'./needs-node' needs 'no-such-node' (#!/usr/bin/env "
                           "no-such-node), which is not on PATH")),
    ("exec:./needs-python", ("'./needs-python' needs '/no/such/python' (#!/no/such/python), "
                             "which is not installed")),
    ("exec:./port 'unbalanced", "cannot split the command: No closing quotation"),
])
def test_a_target_that_cannot_run_is_one_line_and_exit_2(
        target: str, message: str, folder: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "plain.txt").write_text("#!/bin/sh\n")
    (folder / "a-folder").mkdir(exist_ok=True)
    script(folder, "needs-node", "#!/usr/bin/env no-such-node\n")
    script(folder, "needs-python", "#!/no/such/python\n")
    for command in ("verify", "identify", "explain"):
        status, out, err = run_cli([command, "--impl", target], folder, capsys, monkeypatch)
        assert status == 2, (command, out, err)
        assert err.count("\n") == 1, err
        assert message in err, err
    monkeypatch.chdir(folder)
    with pytest.raises(ImplementationError):
        implementation(target)


def test_a_command_is_found_on_path_and_keeps_its_arguments(tmp_path: Path) -> None:
    assert resolve_command("exec:sh -c 'echo a b'")[1:] == ["-c", "echo a b"]
    assert Path(resolve_command("exec:sh")[0]).is_absolute()


# -- identify and explain

def test_identify_names_the_c_ports_preset(ports: dict[str, Callable[[], Path]],
                                           folder: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = ports["c"]()
    status, out, err = run_cli(["identify", "--impl", f"exec:./{port.name}"], folder,
                               capsys, monkeypatch)
    assert status == 0, out + err
    assert re.search(rf"exec:\./{port.name} reproduces: .*\boptax\b", out), out


@pytest.mark.slow
def test_explain_finds_the_c_ports_preset(ports: dict[str, Callable[[], Path]],
                                          folder: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    port = ports["c"]()
    status, out, err = run_cli(["explain", "--impl", f"exec:./{port.name}", "--preset",
                                "optax"], folder, capsys, monkeypatch)
    assert status == 0, out + err
    assert "optax" in out


# -- the client libraries

def test_clients_are_copied_out_and_never_overwritten_unasked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, err = run_cli(["clients", "--out", "out"], tmp_path, capsys, monkeypatch)
    assert status == 2
    assert err == "novograd-ref: --out out: 'out' is not an existing folder\n"
    (tmp_path / "out").mkdir()
    status, out, err = run_cli(["clients", "--out", "out"], tmp_path, capsys, monkeypatch)
    assert status == 0, err
    assert out.startswith("wrote novograd_ref.h, novograd_ref.rs, novograd_ref.mjs to out")
    for source in client_files():
        assert (tmp_path / "out" / source.name).read_bytes() == source.read_bytes()
    (tmp_path / "out" / "novograd_ref.h").write_text("mine")
    status, _, err = run_cli(["clients", "--out", "out"], tmp_path, capsys, monkeypatch)
    assert status == 2
    assert err.count("\n") == 1
    assert "already exist" in err
    assert "--force" in err
    assert (tmp_path / "out" / "novograd_ref.h").read_text() == "mine"
    status, _, err = run_cli(["clients", "--out", "out", "--force"], tmp_path, capsys,
                             monkeypatch)
    assert status == 0
    assert (tmp_path / "out" / "novograd_ref.h").read_bytes() == client_files()[0].read_bytes()


def test_clients_are_small_and_dependency_free() -> None:
    texts = {p.name: p.read_text() for p in client_files()}
    assert sorted(texts) == sorted(CLIENTS)
    for name, text in texts.items():
        assert len(text.splitlines()) <= 320, name
    c_includes = set(re.findall(r"#include <([^>]+)>", texts["novograd_ref.h"]))
    assert c_includes <= {"stddef.h", "inttypes.h", "math.h", "stdarg.h", "stdint.h",
                          "stdio.h", "stdlib.h", "string.h"}
    assert set(re.findall(r"^use (\w+)", texts["novograd_ref.rs"], re.MULTILINE)) == {"std"}
    assert re.findall(r'^import .* from "([^"]+)"', texts["novograd_ref.mjs"], re.MULTILINE) == \
        ["node:fs"]


@pytest.mark.slow
def test_the_wheel_ships_the_clients(tmp_path: Path) -> None:
    import zipfile

    from tests.test_packaging import build

    names = zipfile.ZipFile(build("wheel", tmp_path)).namelist()
    for client in CLIENTS:
        assert f"novograd_ref/conformance/targets/clients/{client}" in names
