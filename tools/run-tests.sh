#!/usr/bin/env bash
# The project's test command: lint plus every test tier (unit, functional, and the sandbox
# integration tier).
#
#   tools/run-tests.sh [pytest arguments]     default: every tier (see below)
#
# Installs into .venv when needed (tools/install-venv.sh), prepares the local PostgreSQL and
# MariaDB accounts (tools/test-setup.sh), runs ruff, then pytest. Tests that need a service
# skip where it is missing, unless CI=true, where such a skip fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-venv.sh
tools/test-setup.sh

# Lint and tests both run, so one report shows every problem; either failing fails the run.
echo "run-tests: ruff"
lint=0
.venv/bin/ruff check magnum_lite tests benchmarks tools || lint=$?

# pytest's exit code, with "no tests collected" (5) counted as a failure.
run_pytest() {
    local code=0
    .venv/bin/python -m pytest "$@" || code=$?
    if [ "$code" -eq 5 ]; then
        echo "run-tests: pytest $* collected no tests" >&2
        code=1
    fi
    return "$code"
}

tests=0
if [ $# -eq 0 ]; then
    # Every tier. The sandbox tier (tests/integration) mostly waits on Heat, so the unit and
    # functional tiers run beside it in a second pytest; its report follows the sandbox's.
    others_log=$(mktemp)
    echo "run-tests: pytest tests/unit tests/functional (in the background, report below)"
    run_pytest -q -p no:cacheprovider tests/unit tests/functional >"$others_log" 2>&1 &
    others=$!
    trap 'kill "$others" 2>/dev/null || true; rm -f "$others_log"' EXIT
    echo "run-tests: pytest tests/integration"
    run_pytest -q tests/integration || tests=$?
    others_code=0
    wait "$others" || others_code=$?
    echo "run-tests: pytest tests/unit tests/functional:"
    cat "$others_log"
    [ "$others_code" -eq 0 ] || tests=$others_code
else
    echo "run-tests: pytest $*"
    run_pytest "$@" || tests=$?
fi
if [ "$lint" -ne 0 ]; then
    echo "run-tests: ruff found problems (see above)" >&2
fi
[ "$lint" -eq 0 ] && [ "$tests" -eq 0 ]
