#!/usr/bin/env bash
# Run the backend tests of PyTorch or JAX in that framework's own environment:
#
#   scripts/backend_tests.sh torch|jax [PYTEST_ARGS...]
#
# The environment is made by scripts/make_env.sh under $NOVOGRAD_REF_BACKEND_ENVS
# (default: .venv-envs/ in this checkout, ignored by git) the first time, and reused
# after that. The tests are every backend-parametrized module, restricted to that
# backend (NOVOGRAD_REF_BACKENDS), run against this checkout's sources; then
# scripts/backend_ran.py checks from the JUnit report that the backend's tests passed
# rather than skipped. Exit status 0 only if both hold.
set -euo pipefail

name="${1:?usage: scripts/backend_tests.sh torch|jax [PYTEST_ARGS...]}"
shift
case "$name" in
  torch|jax) ;;
  *) echo "backend_tests.sh: unknown backend '$name' (expected torch or jax)" >&2; exit 2 ;;
esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${NOVOGRAD_REF_BACKEND_ENVS:-$repo/.venv-envs}"
python="$prefix/$name/bin/python"

# The backend-parametrized test modules (the conftest's backend fixture, or their own
# per-backend cases), and the optimizers checked as published on that framework.
FILES=(tests/test_backends.py tests/test_properties.py tests/test_lazy.py
       tests/test_api_fuzz.py tests/test_tfa_schedules.py tests/test_published_targets.py)

needs="$name, pytest, hypothesis, array_api_strict"
[ "$name" = jax ] && needs="$needs, keras"
if ! "$python" -c "import $needs" 2>/dev/null; then
  rm -rf "${prefix:?}/$name"
  "$repo/scripts/make_env.sh" "$name" "$prefix"
fi

report="$(mktemp "${TMPDIR:-/tmp}/backend_tests.XXXXXX.xml")"
trap 'rm -f "$report"' EXIT
cd "$repo"
status=0
NOVOGRAD_REF_BACKENDS="[\"$name\"]" PYTHONPATH="$repo" "$python" -m pytest -q -rs \
  -p no:cacheprovider -k "$name" --junitxml "$report" "${FILES[@]}" "$@" || status=$?
"$python" scripts/backend_ran.py "$report" "$name" || status=1
exit $status
