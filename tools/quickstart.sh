#!/usr/bin/env bash
# Install magnum-lite into .venv, start the embedded default (magnum-lite-all: API and
# conductor in one process, SQLite, no broker, no Keystone) in the background, and show it
# answering the real `openstack coe` CLI.
#
# The port is $MAGNUM_LITE_PORT (default 9511). Before starting anything it looks at what
# answers there: its own magnum-lite-all from an earlier run, or another magnum-lite without
# authentication, is used; anything else (a Keystone-protected API such as the sandbox's
# magnum-lite-api, another service) is left alone and magnum-lite-all starts on the next free
# port. MAGNUM_LITE_QUICKSTART_SKIP_INSTALL=1 skips the install (the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t0=$SECONDS

step() { echo "== [$((SECONDS - t0)) s] $*"; }

wanted_port=${MAGNUM_LITE_PORT:-9511}
state="${HOME}/.local/share/magnum-lite"
pid_file="${state}/magnum-lite-all.pid"
port_file="${state}/magnum-lite-all.port"
log_file="${state}/magnum-lite-all.log"
mkdir -p "$state"

stamp=.venv/.magnum-lite-quickstart
wanted_stamp=$(cat setup.cfg pyproject.toml upper-constraints.txt | sha256sum)
if [ "${MAGNUM_LITE_QUICKSTART_SKIP_INSTALL:-0}" = 1 ]; then
    step "install skipped (MAGNUM_LITE_QUICKSTART_SKIP_INSTALL=1)"
elif [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted_stamp" ] \
        && [ -x .venv/bin/magnum-lite-all ] && [ -x .venv/bin/openstack ]; then
    step ".venv is up to date (delete $stamp to reinstall)"
else
    if [ ! -x .venv/bin/python ]; then
        step "creating .venv with $(python3 --version)"
        python3 -m venv .venv
    fi
    step "installing magnum-lite, python-openstackclient and python-magnumclient into .venv" \
         "(pinned by upper-constraints.txt; a few minutes the first time)"
    tools/pip-install.sh .venv "${state}/quickstart-pip.log" -c upper-constraints.txt -e . \
        python-openstackclient python-magnumclient
    echo "$wanted_stamp" > "$stamp"
    step "installed"
fi

# What answers on a port, as one word: none, noauth (a magnum API answering without a token),
# keystone (401 without a token), http-<code> (something else over HTTP), not-http.
probe() {
    local port=$1 code root
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
        echo none; return
    fi
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' \
        "http://127.0.0.1:${port}/v1/clustertemplates" || true)
    case "$code" in
        200)
            root=$(curl -s -m 5 "http://127.0.0.1:${port}/" || true)
            case "$root" in *'"OpenStack Magnum API"'*) echo noauth ;; *) echo http-200 ;; esac ;;
        401) echo keystone ;;
        000|"") echo not-http ;;
        *) echo "http-${code}" ;;
    esac
}

describe() {
    case "$1" in
        keystone) echo "an API that wants a Keystone token (401 without one; the sandbox's" \
                       "magnum-lite-api, say)" ;;
        not-http) echo "something that does not answer HTTP" ;;
        http-*) echo "an HTTP service that is not a magnum-lite API (GET /v1/clustertemplates" \
                     "answers ${1#http-})" ;;
    esac
}

own_pid() {  # the pid of the magnum-lite-all an earlier run started, if it still runs
    local pid
    pid=$(cat "$pid_file" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q magnum-lite-all \
        && echo "$pid"
}

free_port_from() {  # the first port from $1 up that nothing listens on
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

port=""
if pid=$(own_pid) && [ -f "$port_file" ] && [ "$(probe "$(cat "$port_file")")" = noauth ]; then
    port=$(cat "$port_file")
    step "magnum-lite-all started by an earlier quickstart run (pid ${pid}) answers on" \
         "port ${port}: using it"
else
    found=$(probe "$wanted_port")
    case "$found" in
        none)
            port=$wanted_port ;;
        noauth)
            port=$wanted_port
            step "a magnum-lite API without authentication, not started by quickstart, answers" \
                 "on port ${port}: using it (stop it yourself when done)" ;;
        *)
            port=$(free_port_from $((wanted_port + 1)))
            step "port ${wanted_port} is taken by $(describe "$found"): leaving it alone;" \
                 "magnum-lite-all goes to free port ${port} instead" ;;
    esac
    if [ "$found" != noauth ]; then
        step "starting magnum-lite-all on 127.0.0.1:${port} (log: ${log_file})"
        # A file of its own, always: without one oslo.config would read the machine's
        # /etc/magnum-lite/magnum-lite.conf (devstack's, say), which is not the embedded default.
        printf '[api]\nport = %s\n' "$port" > "${state}/quickstart.conf"
        nohup .venv/bin/magnum-lite-all --config-file "${state}/quickstart.conf" \
            >"$log_file" 2>&1 &
        echo $! > "$pid_file"
        echo "$port" > "$port_file"
        for _ in $(seq 1 300); do
            [ "$(probe "$port")" = noauth ] && break
            if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
                echo "magnum-lite-all exited:"; tail -n 30 "$log_file"; exit 1
            fi
            sleep 0.2
        done
        [ "$(probe "$port")" = noauth ] || {
            echo "magnum-lite-all did not answer on port ${port} within 60 s; log:"
            tail -n 30 "$log_file"; exit 1; }
        step "magnum-lite-all is up (pid $(cat "$pid_file"))"
    fi
fi

export OS_AUTH_TYPE=none OS_ENDPOINT="http://127.0.0.1:${port}/v1"
unset OS_CLOUD
openstack="${repo}/.venv/bin/openstack"
step "GET http://127.0.0.1:${port}/"
curl -fsS "http://127.0.0.1:${port}/"; echo
if ! "$openstack" coe cluster template show quickstart-k8s >/dev/null 2>&1; then
    step "openstack coe cluster template create quickstart-k8s"
    "$openstack" coe cluster template create quickstart-k8s --coe kubernetes \
        --image fedora-coreos --external-network public --flavor m1.small \
        --network-driver flannel --labels kube_tag=v1.30.1 -c uuid -c name -c coe -c labels
fi
step "openstack coe cluster template list"
"$openstack" coe cluster template list
if pid=$(own_pid) && [ "$(cat "$port_file" 2>/dev/null)" = "$port" ]; then
    stop_hint="kill ${pid}   # magnum-lite-all, started by quickstart"
else
    stop_hint="(not started by quickstart: stop it the way it was started)"
fi
cat <<MSG

magnum-lite answers on http://127.0.0.1:${port}/ (done in $((SECONDS - t0)) s).
Use it:   export OS_AUTH_TYPE=none OS_ENDPOINT=http://127.0.0.1:${port}/v1
          ${openstack} coe cluster template list
Stop it:  ${stop_hint}
MSG
