#!/usr/bin/env bash
# The GPU check, in one command on a machine with one NVIDIA GPU and no network:
#
#   scripts/gpu_check.sh OUT            on the GPU machine (about 8 minutes at most)
#   scripts/gpu_check.sh --dry-run OUT  here: every step that needs no GPU
#
# It needs what scripts/gpu_collect.sh gathers into .gpu/ (carried along: wheels, and
# the NVIDIA Apex sources with their provenance) and, on the GPU machine, the CUDA
# builds of PyTorch, CuPy and JAX, optax, numba, nvcc and ninja that machine has.
#
# GPU run, in order (each step's output in its own log; a step that fails does not
# stop the next):
#   env          nvidia-smi, the Python, torch, CuPy and JAX versions, the capability
#   install      novograd-ref (editable) and its test dependencies, offline from .gpu/wheels
#   apex_build   (in the background from here on) Apex's amp_C with FusedNovoGrad only,
#                for this GPU's capability: scripts/apex/build.py
#   cuda_tests   the backend suite on CuPy and on torch with cuda:0 as the default
#                device (tests/test_backends.py, tests/test_properties.py) and the fused
#                CuPy kernels (tests/test_fused.py)
#   cuda_tests_ran  scripts/backend_ran.py: the cupy and torch_cuda tests and the
#                fused kernels' test passed, none skipped for a missing library
#   fused_<p>    novograd-ref verify --impl novograd_ref.fused.ports:<p> --preset <p> on
#                CuPy arrays (NOVOGRAD_REF_FUSED_ARRAYS=cupy), for every preset <p>
#   apex_record  the recorder on Apex FusedNovoGrad: every standard case it can
#                express, float32 and float16, five flag settings each
#   apex_verify  novograd-ref verify --data (those records) --preset apex
#   apex_live    novograd-ref verify --impl apex --preset apex (float32)
#   gpu_step_resnet50, gpu_step_1e9   benchmarks/gpu_step.py on each tree, in the time left
# OUT receives: summary.json (each step: status, seconds, exit code), gpu_check.log
# (this output), logs.tar.gz (every step's log and JSON report), apex-vectors.tar.gz
# (the records, manifest and cases: unpack and verify with --data),
# gpu_step_resnet50.json and gpu_step_1e9.json.
#
# Dry run, in order: wheels (collected, every needed distribution there), install
# (into a fresh CPython 3.12 venv, offline; 3.12 is the GPU machine's Python), apex_src
# (sources and provenance; the build command; nvcc -E of each source for sm_90),
# cuda_tests and cuda_tests_skipped (collected, and every one skipped with its reason:
# scripts/backend_ran.py --all-skipped), apex_unavailable (the
# recorder refuses Apex cleanly where it is not built), fused_cupy (the ports refuse
# CuPy cleanly where it is missing). Exit status 0 only if every step passed.
set -uo pipefail

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
out="${1:?usage: scripts/gpu_check.sh [--dry-run] OUT}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
carried="$repo/.gpu"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
logs="$work/logs"
steps="$work/steps.tsv"
mkdir -p "$logs"
: >"$steps"
exec > >(tee "$out/gpu_check.log") 2>&1
cd "$repo" || exit 2
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# JAX must not reserve most of the GPU in every process that imports it
export XLA_PYTHON_CLIENT_PREALLOCATE=false
begin=$SECONDS
budget=480  # seconds the GPU run may take in all (the dry run: 900)
[ "$dry_run" = 1 ] && budget=900

# run NAME LIMIT_SECONDS COMMAND...: the command's output into logs/NAME.log, its tail
# here, and its exit status and duration into the step table. No step runs past the
# budget of the whole run: its limit is cut to what is left, and with under 10 s left
# it does not start (a failed step, saying so).
run() {
  local name="$1" limit="$2" start=$SECONDS rc=0
  local left=$((budget - (SECONDS - begin)))
  shift 2
  if [ "$left" -lt 10 ]; then cannot "$name" "out of time (budget ${budget}s)"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local shown="$*"
  shown="${shown//$'\n'/ }"
  echo "== $name (at most ${limit}s): ${shown:0:160}"
  timeout --kill-after=15 "$limit" "$@" </dev/null >"$logs/$name.log" 2>&1 || rc=$?
  tail -n 12 "$logs/$name.log" | sed 's/^/   /'
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >>"$steps"
  echo "-- $name: exit $rc in $((SECONDS - start))s"
}

# A step that could not run at all: recorded as failed with the reason.
cannot() {
  echo "== $1: cannot run: $2" | tee "$logs/$1.log"
  printf '%s\t%s\t%s\t%s\n' "$1" 99 0 "$2" >>"$steps"
}

finish() {
  tar -czf "$out/logs.tar.gz" -C "$work" logs
  python3 - "$steps" "$out/summary.json" "$dry_run" "$((SECONDS - begin))" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
steps = [{"step": r[0], "exit": int(r[1]), "seconds": int(r[2]),
          "status": "pass" if r[1] == "0" else "timeout" if r[1] in ("124", "137")
          else "fail", **({"reason": r[3]} if len(r) > 3 else {})} for r in rows]
summary = {"dry_run": sys.argv[3] == "1", "seconds": int(sys.argv[4]),
           "passed": sum(s["status"] == "pass" for s in steps), "steps": steps}
summary["all_passed"] = bool(steps) and summary["passed"] == len(steps)
json.dump(summary, open(sys.argv[2], "w"), indent=2)
print("\nsummary:")
for s in steps:
    print(f"  {s['step']:24s} {s['status']:8s} {s['seconds']:4d}s")
print(f"{summary['passed']}/{len(steps)} steps passed in {summary['seconds']}s")
PY
  local status=$?
  rm -rf "$work"
  [ $status -eq 0 ] && python3 -c "import json,sys; sys.exit(0 if json.load(open('$out/summary.json'))['all_passed'] else 1)"
}

cuda_tests=(tests/test_backends.py tests/test_properties.py tests/test_fused.py)
cuda_select="cupy or torch_cuda or test_gpu_kernels_match_the_reference"
cuda_names=(cupy torch_cuda test_gpu_kernels_match_the_reference)
# the backend fixture holds these two alone: no other library is loaded by the tests
export NOVOGRAD_REF_BACKENDS='["cupy", "torch_cuda"]'

if [ ! -d "$carried/wheels" ] || [ ! -f "$carried/apex/PROVENANCE.json" ]; then
  cannot carried "$carried/wheels or $carried/apex/PROVENANCE.json is missing: run scripts/gpu_collect.sh here first"
  finish
  exit 1
fi

if [ "$dry_run" = 1 ]; then
  python="${PYTHON:-python3}"
  # ---- wheels: every distribution the GPU machine may lack is there, once
  run wheels 30 "$python" - "$carried/wheels" <<'PY'
import pathlib, sys
names = sorted(p.name for p in pathlib.Path(sys.argv[1]).glob("*.whl"))
dists = [n.split("-")[0].lower() for n in names]
print("\n".join(names))
need = {"array_api_compat", "array_api_strict", "hypothesis", "pytest", "pluggy",
        "iniconfig", "packaging", "pygments", "attrs", "sortedcontainers", "setuptools",
        "ninja"}
missing, twice = need - set(dists), {d for d in dists if dists.count(d) > 1}
for n in names:
    tags = n[:-4].split("-")[-3:]
    if tags[0] not in ("py3", "py2.py3", "cp312"):
        sys.exit(f"{n} is not for CPython 3.12")
if missing or twice:
    sys.exit(f"missing: {sorted(missing)}; more than one version: {sorted(twice)}")
print(f"{len(names)} wheels, every needed distribution once")
PY
  # ---- install: a fresh CPython 3.12 venv, offline, the wheels then novograd-ref
  py312=""
  for candidate in ${PYTHON312:-} python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      py312="$candidate"; break
    fi
  done
  if [ -z "$py312" ]; then
    cannot install "no CPython 3.12 here to install the GPU machine's cp312 wheels into"
  else
    run install 240 bash -c '
      set -euo pipefail
      "$1" -m venv "$2/venv"
      pip=("$2/venv/bin/python" -m pip --disable-pip-version-check)
      "${pip[@]}" install -q --no-index --no-deps "$3"/wheels/*.whl
      "${pip[@]}" install -q --no-index --no-deps --no-build-isolation -e .
      "$2/venv/bin/python" -c "import array_api_compat, hypothesis, pytest, setuptools; print(\"imports ok\")"
      # numpy is the GPU machine'"'"'s own: nothing else may be missing
      "${pip[@]}" check | tee "$2/check.txt" || true
      if grep -v -i "numpy" "$2/check.txt" | grep -q -i "requires\|has requirement"; then
        echo "unmet requirements besides numpy"; exit 1
      fi
      echo "installed offline into a fresh $("$2/venv/bin/python" --version) venv"
    ' install "$py312" "$work" "$carried"
  fi
  # ---- apex_src: provenance, sources, the build command, nvcc -E for sm_90
  run apex_src 180 "$python" scripts/apex/build.py "$carried/apex" "$work/apex" --check
  # ---- cuda_tests: collected, and every one skipped with its reason
  run cuda_tests 300 "$python" -m pytest -q -p no:randomly -p no:cacheprovider -rs \
    -k "$cuda_select" --junitxml "$logs/cuda_tests.xml" "${cuda_tests[@]}"
  run cuda_tests_skipped 30 "$python" scripts/backend_ran.py "$logs/cuda_tests.xml" \
    --all-skipped "${cuda_names[@]}"
  # ---- apex_unavailable: without a built Apex the recorder exits 2, saying why
  run apex_unavailable 60 bash -c '
    NOVOGRAD_REF_APEX_DIR="$2/no-apex" "$1" -m novograd_ref.conformance.record apex \
      --out "$2/vectors" --dtypes float32 -q
    rc=$?; echo "exit $rc"; [ $rc -eq 2 ]
  ' apex_unavailable "$python" "$work"
  # ---- fused_cupy: the ports select CuPy arrays, and refuse cleanly without CuPy
  run fused_cupy 60 "$python" -c '
import importlib.util, os
os.environ["NOVOGRAD_REF_FUSED_ARRAYS"] = "cupy"
from novograd_ref.fused.ports import factory
if importlib.util.find_spec("cupy") is None:
    try:
        factory("nemo")()
    except ImportError as exc:
        print("without CuPy the port refuses:", exc)
    else:
        raise SystemExit("the port accepted cupy without CuPy")
else:
    print("CuPy is installed here:", factory("nemo")().name)
'
  finish
  exit $?
fi

# ===================================================================== the GPU run
python="${PYTHON:-python3}"
run env 60 bash -c '
  nvidia-smi; nvcc --version; command -v ninja && ninja --version
  "$1" -c "
import sys, torch; print(sys.version); print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda)
print(\"device\", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
import cupy; print(\"cupy\", cupy.__version__)
import jax; print(\"jax\", jax.__version__, jax.devices())
"' env "$python"

# setuptools first: the build runs without isolation, on the interpreter's own
run install 150 bash -c '
  set -e
  pip=("$1" -m pip install --disable-pip-version-check -q --no-index --find-links "$2")
  "${pip[@]}" "setuptools>=77"
  "${pip[@]}" --no-build-isolation -e ".[fast]" array-api-strict pytest ninja
  "$1" -c "import novograd_ref, array_api_strict, pytest; print(\"installed\", novograd_ref.__file__)"
' install "$python" "$carried/wheels"
# the entry point is in the interpreter's bin, which may not be on PATH
novograd_ref=("$python" -m novograd_ref)

# Apex builds on the CPUs while the GPU runs the tests.
(run apex_build 330 "$python" scripts/apex/build.py "$carried/apex" "$work/apex") \
  >"$work/apex_build.console" 2>&1 &
apex_build_pid=$!

xdist=()
"$python" -c "import xdist" 2>/dev/null && xdist=(-n 6)
run cuda_tests 200 "$python" -m pytest -q -p no:randomly -p no:cacheprovider -rs \
  -k "$cuda_select" --junitxml "$logs/cuda_tests.xml" "${xdist[@]}" "${cuda_tests[@]}"
run cuda_tests_ran 30 "$python" scripts/backend_ran.py "$logs/cuda_tests.xml" \
  "${cuda_names[@]}"

presets="$("$python" -c 'from novograd_ref import presets; print(" ".join(presets.names()))')"
[ -n "$presets" ] || cannot fused "novograd_ref.presets.names() could not be read"
export NOVOGRAD_REF_FUSED_ARRAYS=cupy
fused_pids=()
for p in $presets; do  # eight at a time
  run "fused_$p" 150 "${novograd_ref[@]}" verify --impl "novograd_ref.fused.ports:$p" \
    --preset "$p" --report "$logs/fused_$p.json" &
  fused_pids+=($!)
  while [ "$(jobs -rp | wc -l)" -gt 8 ]; do sleep 1; done
done
wait "${fused_pids[@]}"
unset NOVOGRAD_REF_FUSED_ARRAYS

wait "$apex_build_pid"
cat "$work/apex_build.console"
export NOVOGRAD_REF_APEX_DIR="$work/apex"
run apex_record 150 "$python" -m novograd_ref.conformance.record apex --out "$work/vectors" \
  --dtypes float32 float16
run apex_verify 90 "${novograd_ref[@]}" verify --data "$work/vectors" --preset apex
run apex_live 90 "${novograd_ref[@]}" verify --impl apex --preset apex --dtype float32 \
  --report "$logs/apex_live.json"
[ -d "$work/vectors" ] && tar -czf "$out/apex-vectors.tar.gz" -C "$work" vectors

# the small tree first, so that its numbers come back even if the large one runs out
run gpu_step_resnet50 150 "$python" benchmarks/gpu_step.py \
  --tree resnet50 --repeat 5 --json "$out/gpu_step_resnet50.json"
run gpu_step_1e9 "$budget" "$python" benchmarks/gpu_step.py --tree transformer-1b \
  --repeat 5 --json "$out/gpu_step_1e9.json"
finish
