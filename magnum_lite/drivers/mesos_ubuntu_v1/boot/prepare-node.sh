#!/bin/bash
# magnum-lite mesos_ubuntu_v1, every node: install the Docker engine (it runs ZooKeeper, Mesos
# and Marathon from pinned images) and mount the volume for /var/lib/mesos. cloud-init runs it
# as root after the cloud-config; output goes to /var/log/cloud-init-output.log.
# Never `set -x`: /etc/mesos holds the nodes' authentication secrets.
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive HOME="${HOME:-/root}"
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env

log "preparing $ROLE $NODE_INDEX of cluster $CLUSTER_UUID for Mesos $MESOS_VERSION"
sysctl --quiet --system

if [ "$DOCKER_VOLUME_SIZE" -gt 0 ]; then
    mount_volume /var/lib/mesos ext4 mkfs.ext4 -q -L mesos
fi

apt_get() {
    apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "$@"
}
retry 10 15 apt_get update
retry 5 30 apt_get install -y docker.io openssl curl
systemctl daemon-reload
systemctl enable docker
systemctl restart docker

mark_prepared
