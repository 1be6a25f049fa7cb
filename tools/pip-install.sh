#!/usr/bin/env bash
# pip install into a venv, showing progress: a line per ten packages collected, the install
# step, and a line every 20 s while pip works silently; pip's whole output goes to a log.
#
#     tools/pip-install.sh VENV LOG PIP-INSTALL-ARGUMENTS...
set -uo pipefail
venv=$1 log=$2
shift 2
mkdir -p "$(dirname "$log")"
start=$SECONDS
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@" 2>&1 \
        | tee "$log" | {
    collected=0 last=""
    while true; do
        if IFS= read -r -t 20 line; then
            last=$line
            case "$line" in
                Collecting*)
                    collected=$((collected + 1))
                    if [ $((collected % 10)) = 1 ]; then
                        echo "   pip [$((SECONDS - start)) s] collecting package ${collected}:" \
                             "${line#Collecting }"
                    fi ;;
                "Building wheel"*|"Installing collected packages:"*)
                    echo "   pip [$((SECONDS - start)) s] ${line:0:100}" ;;
                ERROR*) echo "   pip: $line" ;;
            esac
        elif [ $? -gt 128 ]; then
            echo "   pip [$((SECONDS - start)) s] still working (last: ${last:0:80})"
        else
            break
        fi
    done
    echo "   pip [$((SECONDS - start)) s] ended (${collected} packages collected; log: ${log})"
}
code=${PIPESTATUS[0]}
if [ "$code" != 0 ]; then
    echo "pip install failed (exit ${code}); the end of ${log}:"
    tail -n 20 "$log"
    exit "$code"
fi
