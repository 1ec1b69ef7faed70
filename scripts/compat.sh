#!/usr/bin/env bash
# The Python unit tests on Python 3.11 with jax 0.10.2, so both JAX generations keep working.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY311="${JAXINSPECT_PYTHON311:-}"
if [ -z "$PY311" ]; then
  for c in $(command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep '^3\.11' | sort -rV | while read -r v; do PYENV_VERSION="$v" pyenv which python; done) python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then PY311="$(command -v "$c")"; break; fi
  done
fi
[ -n "$PY311" ] || { echo "compat: no Python 3.11 found; set JAXINSPECT_PYTHON311" >&2; exit 1; }
[ -x .venv-compat/bin/python ] || "$PY311" -m venv .venv-compat
.venv-compat/bin/python -m pip install -q --no-compile -r requirements-compat.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv-compat/bin/python -c "import jax; assert jax.__version__.startswith('0.10'), jax.__version__"
# the kernel started by the kernel tests must run this interpreter and this checkout
PATH="$ROOT/.venv-compat/bin:$PATH" PYTHONPATH="$ROOT" \
  .venv-compat/bin/python -m pytest -p no:cacheprovider --durations=15 -m "not node and not browser and not wheel" --ignore=tests/browser tests
