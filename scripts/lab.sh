#!/usr/bin/env bash
# Set everything up, then start JupyterLab on notebooks/ with jaxinspect enabled (CPU JAX by
# default; a CUDA jax installed into .venv works the same). Extra arguments go to `jupyter lab`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/.venv/bin/activate"
EXTRA=()
[ "$(id -u)" = 0 ] && EXTRA+=(--allow-root)
exec jupyter lab --notebook-dir="$ROOT/notebooks" "${EXTRA[@]}" "$@"
