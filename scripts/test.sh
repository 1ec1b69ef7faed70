#!/usr/bin/env bash
# Set everything up, then run the whole suite: lint, TypeScript unit tests, Python tests (unit,
# real kernel, wheel, browser in Debian Chromium), and the Python 3.11 + jax 0.10.2 compat run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
"$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source .venv/bin/activate

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "==> lint"
ruff check jaxinspect tests benchmarks
lint-imports  # the layers of DESIGN.md: a contract in pyproject.toml, not by eye

echo "==> TypeScript unit tests"
jlpm test

echo "==> Python tests (jax $(python -c 'import jax; print(jax.__version__)'))"
JAXINSPECT_REQUIRE_BROWSER=1 python -m pytest -p no:cacheprovider tests

echo "==> compatibility run: Python 3.11 + jax 0.10.2"
"$ROOT/scripts/compat.sh"

echo "==> all tests passed in $(( $(date +%s) - start )) s"
