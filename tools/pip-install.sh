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
    collected=0 last="" total=0 before=0
    # pip installs silently: the dist-info directories it has written so far tell how far.
    installed() { find "$venv"/lib/python*/site-packages -maxdepth 1 -name '*.dist-info' \
                      2>/dev/null | wc -l; }
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
                "Building wheel"*)
                    echo "   pip [$((SECONDS - start)) s] ${line:0:100}" ;;
                "Installing collected packages:"*)
                    total=$(($(tr -cd ',' <<< "$line" | wc -c) + 1))
                    before=$(installed)
                    echo "   pip [$((SECONDS - start)) s] installing ${total} packages" ;;
                ERROR*) echo "   pip: $line" ;;
            esac
        elif [ $? -gt 128 ]; then
            if [ "$total" -gt 0 ]; then
                echo "   pip [$((SECONDS - start)) s] installed $(($(installed) - before))" \
                     "of ${total} packages"
            else
                echo "   pip [$((SECONDS - start)) s] still working (last: ${last:0:80})"
            fi
        else
            break
        fi
    done
    echo "   pip [$((SECONDS - start)) s] ended (log: ${log})"
}
code=${PIPESTATUS[0]}
if [ "$code" != 0 ]; then
    echo "pip install failed (exit ${code}); the end of ${log}:"
    tail -n 20 "$log"
    exit "$code"
fi
