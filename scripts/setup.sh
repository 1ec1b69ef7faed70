#!/usr/bin/env bash
# Set up everything jaxinspect needs, idempotently: a Python >= 3.12 virtualenv in .venv with jax,
# flax and JupyterLab, the TypeScript extension built, jaxinspect installed (editable) and its
# labextension linked into the venv. Re-running is cheap.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
T0=$(date +%s)
say() { echo "==> $* (at $(( $(date +%s) - T0 )) s)"; }

find_python() {
  # Prefer 3.12 (what jax 0.12 and the rest of the stack are verified on), then newer ones.
  local candidates=("${JAXINSPECT_PYTHON:-}")
  local minor v
  for minor in 12 13 14; do
    if command -v pyenv >/dev/null 2>&1; then
      for v in $(pyenv versions --bare 2>/dev/null | grep -E "^3\.${minor}(\.|$)" | sort -rV); do
        candidates+=("$(PYENV_VERSION="$v" pyenv which python 2>/dev/null || true)")
      done
    fi
    candidates+=("python3.${minor}")
  done
  candidates+=(python3)
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  echo "jaxinspect setup: no Python >= 3.12 found (JAX >= 0.11 needs it). Install one, or set JAXINSPECT_PYTHON=/path/to/python3.12." >&2
  return 1
}

if ! command -v node >/dev/null 2>&1; then
  echo "jaxinspect setup: Node.js >= 20 is needed to build the JupyterLab extension (apt-get install nodejs)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python)"
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
say "installing Python dependencies"
python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# --no-compile: byte-compiling all ~9,000 modules of the stack costs ~35 s of CPU; Python compiles
# (and caches) the few thousand that are imported on first use.
python -m pip install -q --no-compile -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
python -c "import jax, jupyterlab, jupyter_builder" || { echo "jaxinspect setup: Python dependencies failed to install" >&2; exit 1; }

say "building the JupyterLab extension"
jlpm install
jlpm build:prod

say "installing jaxinspect (editable) and linking its labextension"
# An editable install writes the shared data (the labextension) into the venv; if that path is
# already our `develop` symlink it would write through it into the source tree: unlink it first.
LINK=.venv/share/jupyter/labextensions/jaxinspect
[ -L "$LINK" ] && rm "$LINK"
rm -f jaxinspect/labextension/install.json
python -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
jupyter labextension develop --overwrite . >/dev/null
# scripts/test.sh skips this check: tests/test_wheel.py makes the same one.
[ "${JAXINSPECT_SETUP_SKIP_CHECK:-0}" = 1 ] || jupyter labextension list 2>&1 | grep -q "jaxinspect.*enabled.*OK" || {
  jupyter labextension list >&2
  echo "jaxinspect setup: the labextension is not enabled/OK" >&2
  exit 1
}
say "setup done: $(python -c 'import jax, jaxinspect; print(f"jax {jax.__version__}, jaxinspect {jaxinspect.__version__}")')"
