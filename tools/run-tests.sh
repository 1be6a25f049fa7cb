#!/usr/bin/env bash
# The project's test command: lint plus every test tier (unit, functional, and the sandbox
# integration tier).
#
#   tools/run-tests.sh [pytest arguments]     default: every tier (see below)
#
# Installs into .venv when needed (tools/install-venv.sh), prepares the local PostgreSQL and
# MariaDB accounts (tools/test-setup.sh), runs ruff, then pytest. Tests that need a service
# skip where it is missing, unless CI=true, where such a skip fails the run.
#
# Every tier in order, each reporting its 10 slowest tests and its time:
#   1. ruff and the unit tier (tests/unit, and sandbox/tests: the sandbox distribution's own),
#      UNIT_WORKERS at once (pytest-xdist; each test has its own SQLite and temp dir):
#      the fast gate (the sandbox starts meanwhile, in the background);
#      a failure here stops the run;
#   2. the sandbox tests that can share the sandbox, SANDBOX_WORKERS at once (pytest-xdist;
#      each makes its own clusters and templates), beside the functional tier;
#   3. the disruptive sandbox tests (they kill or stop sandbox processes), one at a time;
#   devstack: tools/devstack-check.sh (devstack's stack.sh with the plugin, the CLI against
#      it, unstack.sh), in the background beside the disruptive tier, as root with the
#      upstream snapshots in ../shared/upstream; MAGNUM_LITE_DEVSTACK=0 leaves it out.
# The closing summary gives each tier's time and result.
set -euo pipefail
cd "$(dirname "$0")/.."

UNIT_WORKERS=${UNIT_WORKERS:-2}
# The sandbox's Heat polls a resource's completion this often (seconds) instead of once a
# second (sandbox/magnum_lite_sandbox/heat_plugins/sandbox_fast_poll.py); empty: Heat's own.
export MAGNUM_LITE_SANDBOX_HEAT_POLL=${MAGNUM_LITE_SANDBOX_HEAT_POLL-0.2}
SANDBOX_WORKERS=${SANDBOX_WORKERS:-3}
DURATIONS=(--durations=10 --durations-min=1.0)

tools/install-venv.sh
tools/test-setup.sh

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

if [ $# -gt 0 ]; then
    echo "run-tests: ruff"
    lint=0
    .venv/bin/ruff check magnum_lite sandbox osc tests benchmarks tools || lint=$?
    echo "run-tests: pytest $*"
    tests=0
    run_pytest "$@" || tests=$?
    [ "$lint" -eq 0 ] || echo "run-tests: ruff found problems (see above)" >&2
    [ "$lint" -eq 0 ] && [ "$tests" -eq 0 ]
    exit
fi

summary=()
failed=0
run_start=$SECONDS
# tier NAME CODE STARTED: one line of the closing summary.
tier() {
    local result=passed
    [ "$2" -eq 0 ] || { result="FAILED (exit $2)"; failed=1; }
    summary+=("$(printf '%-34s %5ds  %s' "$1" $((SECONDS - $3)) "$result")")
}
print_summary() {
    echo
    echo "run-tests: where the time went"
    printf '  %s\n' "${summary[@]}"
    printf '  %-34s %5ds\n' "whole run" $((SECONDS - run_start))
}

# The devstack tier: beside the disruptive tier (it uses its own ports, database role,
# databases and broker user; the serial disruptive tests leave the CPUs idle most of the time,
# the tiers before them do not).
devstack_log=$(mktemp)
devstack_pid=
devstack_skip=
if [ "${MAGNUM_LITE_DEVSTACK:-1}" = "0" ]; then
    devstack_skip="MAGNUM_LITE_DEVSTACK=0"
elif [ "$(id -u)" -ne 0 ]; then
    devstack_skip="not root"
elif ! ls "${MAGNUM_LITE_UPSTREAM:-../shared/upstream}"/devstack-*.tar.gz >/dev/null 2>&1; then
    devstack_skip="no devstack snapshot in ${MAGNUM_LITE_UPSTREAM:-../shared/upstream}"
fi
start_devstack_tier() {
    [ -z "$devstack_skip" ] || return 0
    echo "run-tests: tools/devstack-check.sh (in the background, report at the end)"
    (
        began=$SECONDS
        code=0
        tools/devstack-check.sh </dev/null || code=$?
        echo "devstack-check-exit $code $((SECONDS - began))"
        exit "$code"
    ) >"$devstack_log" 2>&1 &
    devstack_pid=$!
}

# The sandbox: started now (it takes minutes from nothing) and stopped at the end unless it
# was running before or MAGNUM_LITE_SANDBOX_KEEP=1.
sandbox_log=$(mktemp)
sandbox_was_running=0
.venv/bin/magnum-lite-sandbox status >/dev/null 2>&1 && sandbox_was_running=1
(
    began=$SECONDS
    code=0
    .venv/bin/magnum-lite-sandbox start || code=$?
    echo "sandbox-start $((SECONDS - began)) s"
    exit "$code"
) >"$sandbox_log" 2>&1 &
sandbox_pid=$!
others_pid=
cleanup() {
    [ -z "$others_pid" ] || kill "$others_pid" 2>/dev/null || true
    if [ -n "$devstack_pid" ]; then
        # Its own trap unstacks and puts back what it changed.
        pkill -TERM -P "$devstack_pid" 2>/dev/null || true
        wait "$devstack_pid" 2>/dev/null || true
    fi
    rm -f "$devstack_log"
    kill "$sandbox_pid" 2>/dev/null || true
    if [ "$sandbox_was_running" -eq 0 ] && [ "${MAGNUM_LITE_SANDBOX_KEEP:-}" != "1" ]; then
        .venv/bin/magnum-lite-sandbox stop >/dev/null 2>&1 || true
    fi
    rm -f "$sandbox_log" "${others_log:-}"
}
trap cleanup EXIT

# 1. The gate.
t=$SECONDS
echo "run-tests: ruff"
code=0
.venv/bin/ruff check magnum_lite sandbox osc tests benchmarks tools || code=$?
tier "ruff" "$code" "$t"
t=$SECONDS
echo "run-tests: pytest tests/unit sandbox/tests -n $UNIT_WORKERS"
code=0
run_pytest -q -p no:cacheprovider "${DURATIONS[@]}" -n "$UNIT_WORKERS" tests/unit sandbox/tests \
    || code=$?
tier "unit" "$code" "$t"
if [ "$failed" -ne 0 ]; then
    echo "run-tests: the fast gate failed; the other tiers were not run" >&2
    print_summary
    exit 1
fi

code=0
wait "$sandbox_pid" || code=$?
echo "run-tests: magnum-lite-sandbox start (exit $code):"
cat "$sandbox_log"
summary+=("$(printf '%-34s %5ss  %s' "sandbox start (beside the gate)" \
    "$(awk '/^sandbox-start/ {print $2}' "$sandbox_log")" \
    "$([ "$code" -eq 0 ] && echo passed || echo "FAILED (exit $code)")")")
# A sandbox that cannot start here (exit 2: no PostgreSQL/RabbitMQ) lets the integration
# tests skip, which fails them under CI=true; any other failure fails them anyway.

# 2. Functional beside the shared-sandbox tests; the functional report follows.
others_log=$(mktemp)
t_functional=$SECONDS
echo "run-tests: pytest tests/functional (in the background, report below)"
(
    code=0
    run_pytest -q -p no:cacheprovider "${DURATIONS[@]}" tests/functional || code=$?
    echo "functional-exit=$code $((SECONDS - t_functional))" >>"$others_log.status"
    exit "$code"
) >"$others_log" 2>&1 &
others_pid=$!
t=$SECONDS
echo "run-tests: pytest tests/integration -m 'not disruptive' -n $SANDBOX_WORKERS"
code=0
run_pytest -q -p no:cacheprovider "${DURATIONS[@]}" -n "$SANDBOX_WORKERS" \
    --dist loadfile -m "not disruptive" tests/integration || code=$?
tier "integration, shared sandbox (x$SANDBOX_WORKERS)" "$code" "$t"
code=0
wait "$others_pid" || code=$?
others_pid=
echo "run-tests: pytest tests/functional:"
cat "$others_log"
summary+=("$(printf '%-34s %5ds  %s' "functional (beside the above)" \
    "$(awk '{print $2}' "$others_log.status" 2>/dev/null || echo 0)" \
    "$([ "$code" -eq 0 ] && echo passed || echo "FAILED (exit $code)")")")
[ "$code" -eq 0 ] || failed=1
rm -f "$others_log.status"

# 3. The disruptive sandbox tests, one at a time, with the devstack tier beside them.
start_devstack_tier
t=$SECONDS
echo "run-tests: pytest tests/integration -m disruptive"
code=0
run_pytest -q -p no:cacheprovider "${DURATIONS[@]}" -m disruptive tests/integration || code=$?
tier "integration, disruptive (serial)" "$code" "$t"

# The devstack tier's report.
t=$SECONDS
if [ -n "$devstack_pid" ]; then
    echo "run-tests: waiting for tools/devstack-check.sh"
    code=0
    wait "$devstack_pid" || code=$?
    devstack_pid=
    echo "run-tests: tools/devstack-check.sh (exit $code):"
    grep -v '^devstack-check-exit ' "$devstack_log"
    summary+=("$(printf '%-34s %5ss  %s' "devstack (beside the disruptive)" \
        "$(awk '/^devstack-check-exit/ {print $3}' "$devstack_log")" \
        "$([ "$code" -eq 0 ] && echo passed || echo "FAILED (exit $code)")")")
    summary+=("$(printf '%-34s %5ds' "  waited for it at the end" $((SECONDS - t)))")
    [ "$code" -eq 0 ] || failed=1
else
    echo "run-tests: devstack tier not run: $devstack_skip"
    if [ "${CI:-}" = "true" ] && [ "${MAGNUM_LITE_DEVSTACK:-1}" != "0" ]; then
        summary+=("$(printf '%-34s %5ss  %s' "devstack" - "FAILED (not run: $devstack_skip)")")
        failed=1
    else
        summary+=("$(printf '%-34s %5ss  %s' "devstack" - "skipped ($devstack_skip)")")
    fi
fi

print_summary
[ "$failed" -eq 0 ]
