#!/usr/bin/env bash
# Install magnum-lite into .venv, start the embedded default (magnum-lite-all: API and
# conductor in one process, SQLite, no broker, no Keystone) in the background, and show it
# answering the real `openstack coe` CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${MAGNUM_LITE_PORT:-9511}
state="${HOME}/.local/share/magnum-lite"
mkdir -p "$state"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
echo "== installing (pinned by upper-constraints.txt)"
.venv/bin/pip install -q -c upper-constraints.txt -e . python-openstackclient python-magnumclient

if curl -fsS "http://127.0.0.1:${port}/" >/dev/null 2>&1; then
    echo "== something already answers on port ${port}; using it"
else
    echo "== starting magnum-lite-all on 127.0.0.1:${port} (log: ${state}/magnum-lite-all.log)"
    args=()
    if [ "$port" != 9511 ]; then
        printf '[api]\nport = %s\n' "$port" > "${state}/quickstart.conf"
        args=(--config-file "${state}/quickstart.conf")
    fi
    nohup .venv/bin/magnum-lite-all "${args[@]}" >"${state}/magnum-lite-all.log" 2>&1 &
    echo $! > "${state}/magnum-lite-all.pid"
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:${port}/" >/dev/null 2>&1 && break
        if ! kill -0 "$(cat "${state}/magnum-lite-all.pid")" 2>/dev/null; then
            echo "magnum-lite-all exited:"; tail -n 30 "${state}/magnum-lite-all.log"; exit 1
        fi
        sleep 0.2
    done
fi

export OS_AUTH_TYPE=none OS_ENDPOINT="http://127.0.0.1:${port}/v1"
openstack=.venv/bin/openstack
echo "== GET /"
curl -fsS "http://127.0.0.1:${port}/"; echo
if ! $openstack coe cluster template show quickstart-k8s >/dev/null 2>&1; then
    echo "== openstack coe cluster template create quickstart-k8s"
    $openstack coe cluster template create quickstart-k8s --coe kubernetes \
        --image fedora-coreos --external-network public --flavor m1.small \
        --network-driver flannel --labels kube_tag=v1.30.1 -c uuid -c name -c coe -c labels
fi
echo "== openstack coe cluster template list"
$openstack coe cluster template list
cat <<MSG

magnum-lite is running (pid $(cat "${state}/magnum-lite-all.pid" 2>/dev/null || echo '?')).
Use it:   export OS_AUTH_TYPE=none OS_ENDPOINT=http://127.0.0.1:${port}/v1; .venv/bin/openstack coe ...
Stop it:  kill \$(cat ${state}/magnum-lite-all.pid)
MSG
