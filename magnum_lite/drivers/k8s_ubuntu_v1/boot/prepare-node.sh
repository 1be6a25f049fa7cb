#!/bin/bash
# magnum-lite k8s_ubuntu_v1, every node: install containerd and the pinned kubeadm, kubelet and
# kubectl, and mount the container volume. cloud-init runs it as root after the cloud-config
# (files, apt source and proxies are in place); output goes to /var/log/cloud-init-output.log.
# Never `set -x`: /etc/magnum-lite holds the join token and, on masters, the certificate key.
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

log "preparing $ROLE $NODE_INDEX of cluster $CLUSTER_UUID for Kubernetes $KUBE_VERSION"
swapoff -a
modprobe overlay
modprobe br_netfilter
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
        mkfs.ext4 -q -L containerd "$device"
    fi
    mkdir -p /var/lib/containerd
    if ! grep -q '[[:space:]]/var/lib/containerd[[:space:]]' /etc/fstab; then
        echo "$device /var/lib/containerd ext4 defaults,nofail 0 2" >>/etc/fstab
    fi
    mountpoint -q /var/lib/containerd || mount /var/lib/containerd
fi

# The apt source (cloud-config) is signed by the key served next to the repository.
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
fetch_key() {
    curl -fsSL "https://pkgs.k8s.io/core:/stable:/${KUBE_MINOR}/deb/Release.key" \
        | gpg --dearmor --batch --yes -o "$keyring"
}
install -d -m 0755 /etc/apt/keyrings
retry 10 15 fetch_key
chmod 0644 "$keyring"

apt_get() {
    apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "$@"
}
retry 10 15 apt_get update
retry 5 30 apt_get install -y containerd \
    "kubelet=${KUBE_VERSION}-*" "kubeadm=${KUBE_VERSION}-*" "kubectl=${KUBE_VERSION}-*"
# Upgrades change these versions on purpose, never unattended-upgrades.
apt-mark hold kubelet kubeadm kubectl >/dev/null

systemctl daemon-reload
systemctl enable containerd kubelet
systemctl restart containerd

install -d -m 0700 "$state"
touch "$state/prepared"
log "node prepared"
