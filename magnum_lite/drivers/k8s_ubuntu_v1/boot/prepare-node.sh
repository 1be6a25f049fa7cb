#!/bin/bash
# magnum-lite k8s_ubuntu_v1, every node: install containerd and the pinned kubeadm, kubelet and
# kubectl, and mount the container volume. cloud-init runs it as root after the cloud-config
# (files, apt source and proxies are in place); output goes to /var/log/cloud-init-output.log.
# Never `set -x`: /etc/magnum-lite holds the join token and, on masters, the certificate key.
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive HOME="${HOME:-/root}"
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env

log "preparing $ROLE $NODE_INDEX of cluster $CLUSTER_UUID for Kubernetes $KUBE_VERSION"
swapoff -a
modprobe overlay
modprobe br_netfilter
sysctl --quiet --system

if [ "$DOCKER_VOLUME_SIZE" -gt 0 ]; then
    mount_volume /var/lib/containerd ext4 mkfs.ext4 -q -L containerd
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

mark_prepared
