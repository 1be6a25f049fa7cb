#!/usr/bin/env bash
# Install magnum-lite into .venv, start the sandbox cloud (real Keystone and real Heat with
# simulated compute, magnum-lite behind Keystone) and walk a cluster template and a cluster
# through the real `openstack coe` CLI with password authentication.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t0=$SECONDS

step() { echo "== [$((SECONDS - t0)) s] $*"; }

stamp=.venv/.magnum-lite-demo
wanted_stamp=$(cat setup.cfg pyproject.toml sandbox/setup.cfg sandbox/pyproject.toml \
    upper-constraints.txt | sha256sum)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted_stamp" ] && [ -x .venv/bin/openstack ] \
        && [ -x .venv/bin/magnum-lite-sandbox ]; then
    step ".venv is up to date (delete $stamp to reinstall)"
else
    if [ ! -x .venv/bin/python ]; then
        step "creating .venv with $(python3 --version)"
        python3 -m venv .venv
    fi
    step "installing magnum-lite, its sandbox cloud (sandbox/), the openstack CLI and the" \
         "kubernetes client into .venv" \
         "(pinned by upper-constraints.txt; a few minutes the first time)"
    tools/pip-install.sh .venv .venv/sandbox-demo-pip.log -c upper-constraints.txt \
        -e '.[postgresql]' -e ./sandbox python-openstackclient python-magnumclient kubernetes
    echo "$wanted_stamp" > "$stamp"
    # What quickstart.sh installs is a part of this: it need not install again.
    cat setup.cfg pyproject.toml upper-constraints.txt | sha256sum > .venv/.magnum-lite-quickstart
    step "installed"
fi

# The sandbox's magnum-lite-api needs port 9511. A magnum-lite-all that tools/quickstart.sh
# started there is moved: stopped now (its SQLite data stays), started again on a free port by
# quickstart once the sandbox is up.
quickstart_state="$HOME/.local/share/magnum-lite"
move_quickstart=0
qs_pid=$(cat "$quickstart_state/magnum-lite-all.pid" 2>/dev/null || true)
if [ -n "$qs_pid" ] && [ "$(cat "$quickstart_state/magnum-lite-all.port" 2>/dev/null)" = 9511 ] \
        && { tr '\0' ' ' < "/proc/$qs_pid/cmdline"; } 2>/dev/null | grep -q magnum-lite-all; then
    step "port 9511, which the sandbox's magnum-lite-api needs, is held by the magnum-lite-all" \
         "that tools/quickstart.sh started (pid ${qs_pid}): stopping it; quickstart starts it" \
         "again on a free port once the sandbox is up"
    kill "$qs_pid"
    for _ in $(seq 1 100); do kill -0 "$qs_pid" 2>/dev/null || break; sleep 0.2; done
    move_quickstart=1
fi

step "magnum-lite-sandbox start (the first time: a venv with Keystone and Heat, then every" \
     "service; a restart takes seconds)"
.venv/bin/magnum-lite-sandbox start
step "the sandbox is up"
if [ "$move_quickstart" = 1 ]; then
    step "tools/quickstart.sh: its magnum-lite-all again, beside the sandbox"
    MAGNUM_LITE_QUICKSTART_SKIP_INSTALL=1 tools/quickstart.sh
fi

state=${MAGNUM_LITE_SANDBOX_DIR:-$HOME/.local/share/magnum-lite/sandbox}
export OS_CLIENT_CONFIG_FILE="$state/clouds.yaml" OS_CLOUD=sandbox
openstack="${repo}/.venv/bin/openstack"

step "openstack token issue (user demo, project demo)"
"$openstack" token issue -c project_id -c user_id
if ! "$openstack" coe cluster template show sandbox-k8s >/dev/null 2>&1; then
    step "openstack coe cluster template create sandbox-k8s"
    "$openstack" coe cluster template create sandbox-k8s --coe kubernetes \
        --image ubuntu-22.04 --external-network public --flavor m1.small \
        --master-flavor m1.medium --network-driver flannel -c uuid -c name -c cluster_distro
fi
"$openstack" coe cluster template list
if ! "$openstack" coe cluster show sandbox-cluster >/dev/null 2>&1; then
    step "openstack coe cluster create sandbox-cluster"
    "$openstack" coe cluster create sandbox-cluster --cluster-template sandbox-k8s --node-count 2
fi
step "waiting for Heat to build it (about 30 s)"
previous=""
for _ in $(seq 1 180); do
    status=$("$openstack" coe cluster show sandbox-cluster -f value -c status)
    [ "$status" = "$previous" ] || step "cluster status: $status"
    previous=$status
    case "$status" in *_IN_PROGRESS) sleep 1 ;; *) break ;; esac
done
"$openstack" coe cluster show sandbox-cluster -c name -c status -c status_reason -c node_count \
    -c master_count -c api_address -c master_addresses -c node_addresses -c coe_version
step "openstack stack list (the cluster's stacks in Heat)"
"$openstack" stack list -c "Stack Name" -c "Stack Status"
step "openstack coe cluster config sandbox-cluster (a kubeconfig with the cluster's CA)"
config_dir="$state/demo-kubeconfig"
mkdir -p "$config_dir"
"$openstack" coe cluster config sandbox-cluster --dir "$config_dir" --force
step "the cluster's nodes, listed by the kubernetes Python client with that kubeconfig"
.venv/bin/python - "$config_dir/config" <<'PY'
import sys
import time

from kubernetes import client, config

for attempt in range(30):  # the guest agent serves a cluster within a second or two
    try:
        api = client.CoreV1Api(config.new_client_from_config(config_file=sys.argv[1]))
        nodes = api.list_node().items
        break
    except Exception:  # noqa: BLE001 - not served yet
        if attempt == 29:
            raise
        time.sleep(1)
for node in nodes:
    ready = next(c.status for c in node.status.conditions if c.type == "Ready")
    print(f"  {node.metadata.name:60} Ready={ready} {node.status.node_info.kubelet_version}")
PY
cat <<MSG

The sandbox is running (demo done in $((SECONDS - t0)) s). Use it:
  export OS_CLIENT_CONFIG_FILE=${state}/clouds.yaml
  ${openstack} --os-cloud sandbox coe cluster list         # user demo, project demo (member)
  ${openstack} --os-cloud sandbox-admin coe service list   # admin, project admin
  ${openstack} --os-cloud sandbox-alt coe cluster list     # user alt_demo, project alt_demo
  export KUBECONFIG=${config_dir}/config   # for kubectl
Status:   ${repo}/.venv/bin/magnum-lite-sandbox status
Stop it:  ${repo}/.venv/bin/magnum-lite-sandbox stop
MSG
