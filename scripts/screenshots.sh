#!/usr/bin/env bash
# Refresh the README's screenshots (docs/img/*.png) from a real JupyterLab + Chromium run: the
# browser tests save them at the moments they assert on. Needs scripts/setup.sh (and chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
JAXINSPECT_SCREENSHOTS="$PWD/docs/img" JAXINSPECT_REQUIRE_BROWSER=1 python -m pytest tests/browser -q -p no:cacheprovider "$@"
ls -la docs/img
