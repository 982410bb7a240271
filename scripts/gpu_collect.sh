#!/usr/bin/env bash
# Gather, here (with the package index), what scripts/gpu_check.sh carries to a GPU
# machine that has no network, into the ignored folder .gpu/ of this checkout:
#
#   scripts/gpu_collect.sh APEX_GIT_DIR
#
# - .gpu/wheels/: the pure-Python wheels novograd-ref and its tests need that the GPU
#   machine may lack or have too old (array-api-compat, array-api-strict, hypothesis,
#   pytest and their pure-Python dependencies, setuptools to build novograd-ref), and
#   ninja (torch's extension builder); downloaded with --no-deps, every one named below.
#   NumPy, PyTorch, CuPy, JAX, optax and numba are the GPU machine's own.
# - .gpu/apex/: the files of NVIDIA Apex that FusedNovoGrad needs (the optimizer, the
#   multi-tensor-apply helper, the novograd and per-tensor norm kernels and the headers
#   they include, Apex's setup.py for its build flags, its LICENSE), exported from a git
#   clone or mirror APEX_GIT_DIR at its HEAD, with PROVENANCE.json: the repository, the
#   commit and each file's sha256. Nothing of Apex is part of this repository.
#
# Re-running replaces both folders. The total is checked against the 64 MiB a device
# call carries.
set -euo pipefail

apex_git="${1:?usage: scripts/gpu_collect.sh APEX_GIT_DIR (a clone or mirror of NVIDIA/apex)}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
out="$repo/.gpu"

# Pinned: the versions this project is tested with, pure Python (py3-none-any).
WHEELS=(
  "array-api-compat==1.16.0" "array-api-strict==2.6.1"
  "hypothesis==6.170.27" "attrs==26.1.0" "sortedcontainers==2.4.0"
  "pytest==9.2.0" "pluggy==1.7.0" "iniconfig==2.3.1" "packaging==26.4" "pygments==2.21.0"
  "setuptools==84.2.1"
)
NINJA="ninja==1.13.2"

# The Apex files FusedNovoGrad needs (see novograd_ref/conformance/frameworks/apex.py).
APEX_FILES=(
  apex/optimizers/fused_novograd.py
  apex/multi_tensor_apply/__init__.py
  apex/multi_tensor_apply/multi_tensor_apply.py
  csrc/multi_tensor_novograd.cu
  csrc/multi_tensor_l2norm_kernel.cu
  csrc/multi_tensor_apply.cuh
  csrc/type_shim.h
  setup.py
  LICENSE
)

rm -rf "$out/wheels" "$out/apex"
mkdir -p "$out/wheels" "$out/apex"
# For the GPU machine's CPython 3.12 on x86-64 (where a package has compiled wheels).
"$python" -m pip download --disable-pip-version-check --no-deps -q -d "$out/wheels" \
  --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_28_x86_64 "${WHEELS[@]}" "$NINJA" 2>&1 | grep -v "is ignored" || true

if [ -e "$apex_git/.git" ]; then gitc=(git -C "$apex_git"); else gitc=(git --git-dir "$apex_git"); fi
commit="$("${gitc[@]}" rev-parse HEAD)"
for f in "${APEX_FILES[@]}"; do
  mkdir -p "$out/apex/$(dirname "$f")"
  "${gitc[@]}" show "$commit:$f" >"$out/apex/$f"
done
remote="$("${gitc[@]}" config --get remote.origin.url 2>/dev/null || true)"
"$python" - "$out/apex" "$commit" "${remote:-https://github.com/NVIDIA/apex}" "${APEX_FILES[@]}" <<'PY'
import hashlib, json, pathlib, sys
root, commit, remote, files = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
info = {
    "repository": "https://github.com/NVIDIA/apex",
    "fetched_from": remote,
    "commit": commit,
    "license": "BSD-3-Clause (LICENSE)",
    "files": {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files},
}
(root / "PROVENANCE.json").write_text(json.dumps(info, indent=2) + "\n")
PY

size="$(du -sm "$out" | cut -f1)"
echo "collected into $out: $(ls "$out/wheels" | wc -l) wheels, ${#APEX_FILES[@]} Apex files at $commit (${size} MiB)"
if [ "$size" -ge 60 ]; then
  echo "gpu_collect.sh: $out is ${size} MiB; a device call carries at most 64 MiB" >&2
  exit 1
fi
