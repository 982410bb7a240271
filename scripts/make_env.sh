#!/usr/bin/env bash
# Create a framework environment for recording or verifying golden vectors.
#
#   scripts/make_env.sh NAME [PREFIX]
#
# NAME is one of: jax, tf, torch. The environment is created at PREFIX/NAME
# (PREFIX defaults to $NOVOGRAD_REF_ENVS or /work/envs), outside the repository.
# Each environment gets the pinned framework and an editable install of this
# repository with its runtime dependencies only.
#
# Then, for example:
#   /work/envs/jax/bin/python -m novograd_ref.conformance.record optax
set -euo pipefail

name="${1:?usage: scripts/make_env.sh jax|tf|torch [PREFIX]}"
prefix="${2:-${NOVOGRAD_REF_ENVS:-/work/envs}}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3.11}"
env="$prefix/$name"

case "$name" in
  jax|tf|torch) ;;
  *) echo "make_env.sh: unknown environment '$name' (expected jax, tf or torch)" >&2; exit 2 ;;
esac

mkdir -p "$prefix"
"$python" -m venv "$env"
pip=("$env/bin/python" -m pip install --disable-pip-version-check)
"${pip[@]}" --upgrade pip setuptools wheel

case "$name" in
  jax)
    # optax 0.2.8 on the CPU jax it was recorded with.
    "${pip[@]}" "optax==0.2.8" "jax==0.10.2" "jaxlib==0.10.2"
    # what the backend tests need besides jax (scripts/backend_tests.sh jax), and Keras 3
    # for the keras: targets, which run on this JAX
    "${pip[@]}" pytest hypothesis array-api-strict "keras>=3,<4"
    ;;
  tf)
    # TensorFlow Addons needs TF < 2.16 (Keras 2); TF 2.15 needs numpy < 2.
    "${pip[@]}" "tensorflow-cpu==2.15.1" "tensorflow-addons==0.23.0" "numpy>=1.24,<2"
    ;;
  torch)
    # ---- torch family: torch first, so nothing pulls a CUDA build -------------------
    # torch 2.13.0 (CPU) must be installed before anything that depends on torch;
    # with it in place, the packages below resolve against it and add no CUDA wheels.
    "${pip[@]}" "torch==2.13.0"
    "${pip[@]}" "torch-optimizer==0.3.0" "pytorch_optimizer==4.1.0"
    # timm without its dependencies (torchvision has no CPU build here). The adapter
    # executes only timm/optim/nvnovograd.py and timm/optim/_helpers.py, which need
    # nothing but torch; the timm package itself is never imported.
    "${pip[@]}" --no-deps "timm==1.0.31"
    # NeMo: its Novograd is one torch-only file; take it out of the nemo-toolkit wheel
    # (no dependencies installed) into $env/nemo_novograd/, where the adapter
    # novograd_ref.conformance.frameworks.nemo loads it by path.
    nemo_version="3.0.0"
    nemo_tmp="$(mktemp -d)"
    "$env/bin/python" -m pip download --disable-pip-version-check --no-deps \
      --only-binary=:all: "nemo-toolkit==$nemo_version" -d "$nemo_tmp"
    "$env/bin/python" - "$nemo_tmp" "$env/nemo_novograd" "$nemo_version" <<'PY'
import hashlib, json, pathlib, sys, zipfile
src, dest, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
(wheel,) = sorted(src.glob("nemo_toolkit-*.whl"))
member = "nemo/core/optim/novograd.py"
with zipfile.ZipFile(wheel) as zf:
    code = zf.read(member)
dest.mkdir(parents=True, exist_ok=True)
(dest / "novograd.py").write_bytes(code)
info = {
    "distribution": "nemo-toolkit",
    "version": version,
    "wheel": wheel.name,
    "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
    "member": member,
    "member_sha256": hashlib.sha256(code).hexdigest(),
}
(dest / "SOURCE.json").write_text(json.dumps(info, indent=2) + "\n")
print(f"extracted {member} from {wheel.name} into {dest}")
PY
    rm -rf "$nemo_tmp"
    # pytest, so tests/test_torch_frameworks.py and the backend tests
    # (scripts/backend_tests.sh torch) can run in this environment.
    "${pip[@]}" pytest hypothesis array-api-strict
    # ---- end of torch family ----------------------------------------------------------
    ;;
esac

# The repository itself, runtime dependencies only (no test extras).
"${pip[@]}" -e "$repo"
"$env/bin/python" -c "import novograd_ref.vectors, novograd_ref.conformance.frameworks"
echo "environment ready: $env"
