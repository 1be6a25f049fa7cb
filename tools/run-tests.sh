#!/usr/bin/env bash
# The project's test command: lint plus every test tier (unit, functional).
#
#   tools/run-tests.sh [pytest arguments]     default: -q tests
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

echo "run-tests: pytest"
if [ $# -eq 0 ]; then
    set -- -q tests
fi
tests=0
.venv/bin/python -m pytest "$@" || tests=$?
if [ "$tests" -eq 5 ]; then
    # pytest's "no tests collected" is not a pass.
    echo "run-tests: pytest collected no tests" >&2
    tests=1
fi
if [ "$lint" -ne 0 ]; then
    echo "run-tests: ruff found problems (see above)" >&2
fi
[ "$lint" -eq 0 ] && [ "$tests" -eq 0 ]
