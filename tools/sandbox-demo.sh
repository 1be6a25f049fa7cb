#!/usr/bin/env bash
# Install magnum-lite into .venv, start the sandbox cloud (real Keystone and real Heat with
# simulated compute, magnum-lite behind Keystone) and walk a cluster template and a cluster
# through the real `openstack coe` CLI with password authentication.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
echo "== installing (pinned by upper-constraints.txt)"
.venv/bin/pip install -q -c upper-constraints.txt -e '.[postgresql]' python-openstackclient \
    python-magnumclient

echo "== magnum-lite-sandbox start"
.venv/bin/magnum-lite-sandbox start

state=${MAGNUM_LITE_SANDBOX_DIR:-$HOME/.local/share/magnum-lite/sandbox}
export OS_CLIENT_CONFIG_FILE="$state/clouds.yaml" OS_CLOUD=sandbox
openstack=.venv/bin/openstack

echo "== openstack token issue (user demo, project demo)"
$openstack token issue -c project_id -c user_id
if ! $openstack coe cluster template show sandbox-k8s >/dev/null 2>&1; then
    echo "== openstack coe cluster template create sandbox-k8s"
    $openstack coe cluster template create sandbox-k8s --coe kubernetes \
        --image ubuntu-22.04 --external-network public --flavor m1.small \
        --master-flavor m1.medium --network-driver flannel -c uuid -c name -c cluster_distro
fi
$openstack coe cluster template list
if ! $openstack coe cluster show sandbox-cluster >/dev/null 2>&1; then
    echo "== openstack coe cluster create sandbox-cluster"
    $openstack coe cluster create sandbox-cluster --cluster-template sandbox-k8s --node-count 2
fi
echo "== waiting for Heat to build it (about 30 s)"
for _ in $(seq 1 180); do
    status=$($openstack coe cluster show sandbox-cluster -f value -c status)
    case "$status" in *_IN_PROGRESS) sleep 1 ;; *) break ;; esac
done
$openstack coe cluster show sandbox-cluster -c name -c status -c status_reason -c node_count \
    -c master_count -c api_address -c master_addresses -c node_addresses -c coe_version
echo "== openstack stack list (the cluster's stacks in Heat)"
$openstack stack list -c "Stack Name" -c "Stack Status"
cat <<MSG

The sandbox is running. Use it:
  export OS_CLIENT_CONFIG_FILE=$state/clouds.yaml OS_CLOUD=sandbox
  .venv/bin/openstack coe cluster list
Stop it:  .venv/bin/magnum-lite-sandbox stop
MSG
