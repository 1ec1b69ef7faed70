#!/usr/bin/env bash
# Set everything up, then run the whole suite: lint, TypeScript unit tests, Python tests (unit,
# real kernel, wheel, browser in Debian Chromium), and the Python 3.11 + jax 0.10.2 compat run.
#
# Independent parts run side by side (this machine has 2 cores; the browser tests and the compat
# run spend much of their time waiting on kernels, sleeping cells and the browser):
#   compat   the Python 3.11 + jax 0.10.2 run, in its own venv: starts first, beside the setup
#   lab      JupyterLab + Chromium (tests/browser), then the demo notebooks in real kernels
#            (tests/test_notebooks.py): starts once the setup is done
#   main     setup, lint, TypeScript tests, the other Python tests: in this terminal
# Each background branch writes its own log, printed here when it ends; the run fails (after
# every branch ended) if any branch failed. JAXINSPECT_SERIAL=1 runs the branches one after another.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/jaxinspect-test.XXXXXX")"
declare -A BRANCH_PID=()

branch() {  # branch NAME CMD...: run CMD in the background (its own process group), log to a file
  local name=$1
  shift
  if [ "${JAXINSPECT_SERIAL:-0}" = 1 ]; then
    echo "==> $name"
    "$@"
    return
  fi
  echo "==> $name: started in the background (log: $LOGS/$name.log)"
  # shellcheck disable=SC2016
  setsid bash -c 't0=$(date +%s); rc=0; "$@" || rc=$?; echo "==> $0 ended after $(( $(date +%s) - t0 )) s"; exit $rc' \
    "$name" "$@" >"$LOGS/$name.log" 2>&1 &
  BRANCH_PID[$name]=$!
}

join() {  # join NAME: wait for the branch, print its log and its time; return its exit status
  local name=$1 rc=0 t0
  [ -n "${BRANCH_PID[$name]:-}" ] || return 0
  t0=$(date +%s)
  wait "${BRANCH_PID[$name]}" || rc=$?
  unset "BRANCH_PID[$name]"
  echo "==> $name: exit status $rc ($(( $(date +%s) - t0 )) s waited for it here); its log:"
  cat "$LOGS/$name.log"
  return "$rc"
}

stop_branches() {  # on an early exit: end the branches still running, show what they printed
  local name
  for name in "${!BRANCH_PID[@]}"; do
    kill -TERM -- "-${BRANCH_PID[$name]}" 2>/dev/null || kill -TERM "${BRANCH_PID[$name]}" 2>/dev/null || true
    wait "${BRANCH_PID[$name]}" 2>/dev/null || true
    echo "==> $name: stopped (the run failed elsewhere); its log so far:"
    cat "$LOGS/$name.log"
  done
}
trap stop_branches EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

branch compat "$ROOT/scripts/compat.sh"

JAXINSPECT_SETUP_SKIP_CHECK=1 "$ROOT/scripts/setup.sh"  # tests/test_wheel.py checks the labextension
# shellcheck disable=SC1091
source .venv/bin/activate

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "==> setup done after $(( $(date +%s) - start )) s"

# With JAXINSPECT_REQUIRE_BROWSER=1 a missing browser fails the run instead of skipping.
export JAXINSPECT_REQUIRE_BROWSER=1
LAB_TESTS=(tests/browser tests/test_notebooks.py)
branch lab python -m pytest -p no:cacheprovider --durations=15 "${LAB_TESTS[@]}"

echo "==> lint"
ruff check jaxinspect tests benchmarks
lint-imports  # the layers of DESIGN.md: a contract in pyproject.toml, not by eye

echo "==> TypeScript unit tests"
jlpm test

echo "==> Python tests (jax $(python -c 'import jax; print(jax.__version__)')), all but the lab branch's"
main_rc=0
python -m pytest -p no:cacheprovider --durations=15 tests "${LAB_TESTS[@]/#/--ignore=}" || main_rc=$?
echo "==> Python tests: exit status $main_rc after $(( $(date +%s) - start )) s"

lab_rc=0; compat_rc=0
join lab || lab_rc=$?
join compat || compat_rc=$?
trap - EXIT
if [ "$main_rc$lab_rc$compat_rc" != 000 ]; then
  echo "==> FAILED: python tests $main_rc, lab tests $lab_rc, compat run $compat_rc (exit statuses)" >&2
  exit 1
fi
echo "==> all tests passed in $(( $(date +%s) - start )) s"
