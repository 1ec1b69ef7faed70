#!/usr/bin/env bash
# Refresh the README's pictures (docs/img/*.png) from the demo notebooks: each is run top to
# bottom in a real JupyterLab + Chromium with the sidebar at its default width (250 px), and every
# picture is taken in the light theme (<name>.png) and the dark one (<name>-dark.png).
# Needs scripts/setup.sh (the built labextension, chromium). Pass pytest options after it, e.g.
# `scripts/screenshots.sh -k keys` for one picture.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
JAXINSPECT_SCREENSHOTS="$PWD/docs/img" JAXINSPECT_REQUIRE_BROWSER=1 \
  python -m pytest tests/browser/test_screenshots.py -q -p no:cacheprovider "$@"
ls -la docs/img
