#!/usr/bin/env bash
# Re-record the golden vectors of the frameworks that can be installed here.
#
#   scripts/record_vectors.sh [ENV...]        ENV in: jax tf torch (default: all three)
#
# Creates each environment with scripts/make_env.sh when it is missing (under
# $NOVOGRAD_REF_ENVS, default /work/envs), then runs the recorder of every framework of
# that environment, which rewrites novograd_ref/vectors/data/records/ and merges the
# entries into novograd_ref/vectors/data/manifest.json. Extra recorder options can be
# passed through RECORD_ARGS, e.g. RECORD_ARGS="--cases const_lr quadratic".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${NOVOGRAD_REF_ENVS:-/work/envs}"
envs=("$@")
[ ${#envs[@]} -eq 0 ] && envs=(jax tf torch)
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

for env in "${envs[@]}"; do
  case "$env" in
    jax) frameworks=(optax) ;;
    tf) frameworks=(tfa) ;;
    torch) frameworks=(torch_optimizer timm pytorch_optimizer nemo) ;;
    *) echo "record_vectors.sh: unknown environment '$env'" >&2; exit 2 ;;
  esac
  if [ ! -x "$prefix/$env/bin/python" ]; then
    "$repo/scripts/make_env.sh" "$env" "$prefix"
  fi
  for fw in "${frameworks[@]}"; do
    # shellcheck disable=SC2086
    (cd "$repo" && "$prefix/$env/bin/python" -W ignore -m novograd_ref.conformance.record "$fw" -q ${RECORD_ARGS:-})
  done
done
