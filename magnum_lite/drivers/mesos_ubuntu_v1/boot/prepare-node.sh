#!/bin/bash
# magnum-lite mesos_ubuntu_v1, every node: install the Docker engine (it runs ZooKeeper, Mesos
# and Marathon from pinned images) and mount the volume for /var/lib/mesos. cloud-init runs it
# as root after the cloud-config; output goes to /var/log/cloud-init-output.log.
# Never `set -x`: /etc/mesos holds the nodes' authentication secrets.
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive HOME="${HOME:-/root}"
etc=${MAGNUM_LITE_ETC:-/etc/magnum-lite}  # tests run the script against scratch directories
state=${MAGNUM_LITE_STATE:-/var/lib/magnum-lite}
# shellcheck source=/dev/null
. "$etc/node.env"
if [ -f "$etc/proxy.env" ]; then
    # shellcheck source=/dev/null
    . "$etc/proxy.env"
fi

log() { echo "magnum-lite: $*"; }
retry() {  # attempts delay command...: transient mirror and network errors are common at boot
    local attempts=$1 delay=$2 n=1
    shift 2
    until "$@"; do
        if [ "$n" -ge "$attempts" ]; then
            log "failed $attempts times: $1"
            return 1
        fi
        n=$((n + 1))
        sleep "$delay"
    done
}

case "$NODE_INDEX" in
    ''|*[!0-9]*) log "NODE_INDEX '$NODE_INDEX' is not a number: was the placeholder replaced?"
                 exit 1 ;;
esac

log "preparing $ROLE $NODE_INDEX of cluster $CLUSTER_UUID for Mesos $MESOS_VERSION"
sysctl --quiet --system

if [ "$DOCKER_VOLUME_SIZE" -gt 0 ]; then
    # Heat attaches the Cinder volume after the server exists: wait for it.
    device=/dev/vdb
    for _ in $(seq 120); do
        [ -b "$device" ] && break
        sleep 5
    done
    if [ ! -b "$device" ]; then
        log "the ${DOCKER_VOLUME_SIZE} GiB volume never appeared as $device"
        exit 1
    fi
    if ! blkid "$device" >/dev/null 2>&1; then
        mkfs.ext4 -q -L mesos "$device"
    fi
    mkdir -p /var/lib/mesos
    if ! grep -q '[[:space:]]/var/lib/mesos[[:space:]]' /etc/fstab; then
        echo "$device /var/lib/mesos ext4 defaults,nofail 0 2" >>/etc/fstab
    fi
    mountpoint -q /var/lib/mesos || mount /var/lib/mesos
fi

apt_get() {
    apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "$@"
}
retry 10 15 apt_get update
retry 5 30 apt_get install -y docker.io openssl curl
systemctl daemon-reload
systemctl enable docker
systemctl restart docker

install -d -m 0700 "$state"
touch "$state/prepared"
log "node prepared"
