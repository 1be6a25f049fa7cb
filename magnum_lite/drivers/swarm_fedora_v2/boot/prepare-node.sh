#!/bin/bash
# magnum-lite swarm_fedora_v2, every node: mount the Docker volume, install the pinned
# docker-ce and, on managers, issue the Docker API's server certificate from the cluster CA.
# cloud-init runs it as root after the cloud-config; output goes to cloud-init-output.log.
# Never `set -x`: /etc/magnum-lite and /etc/docker/tls hold the join token and the CA key.
set -euo pipefail
umask 022
tls=${MAGNUM_LITE_TLS:-/etc/docker/tls}
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env
log "preparing $ROLE $NODE_INDEX of cluster $CLUSTER_UUID for Docker $DOCKER_VERSION"
modprobe overlay
modprobe br_netfilter
sysctl --quiet --system

if [ "$DOCKER_VOLUME_SIZE" -gt 0 ]; then
    if [ "$DOCKER_STORAGE_DRIVER" = btrfs ]; then
        mount_volume /var/lib/docker btrfs mkfs.btrfs -q -L docker
    else
        mount_volume /var/lib/docker xfs mkfs.xfs -q -L docker -n ftype=1  # overlay2 needs d_type
    fi
fi

# docker-ce from Docker's Fedora repository, pinned (dnf's NEVRA globs: epoch 3 and 1).
dnf_() { dnf -y -q "$@"; }
retry 10 15 dnf_ install dnf-plugins-core
if [ ! -f /etc/yum.repos.d/docker-ce.repo ]; then
    retry 10 15 curl -fsSL -o /etc/yum.repos.d/docker-ce.repo \
        https://download.docker.com/linux/fedora/docker-ce.repo
fi
retry 5 30 dnf_ install "docker-ce-3:${DOCKER_VERSION}-*" "docker-ce-cli-1:${DOCKER_VERSION}-*" \
    containerd.io openssl

if [ "$ROLE" = master ]; then
    # The Docker API's certificate, signed by the cluster CA (only managers hold its key),
    # for every address clients and the other managers reach this manager by.
    address=$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
    sans="IP:127.0.0.1,DNS:localhost,IP:$address"
    for host in "$CONTROL_PLANE_HOST" "$API_PUBLIC_ADDRESS"; do
        [ -z "$host" ] && continue
        case "$host" in
            *[!0-9.]*) sans="$sans,DNS:$host" ;;
            *) sans="$sans,IP:$host" ;;
        esac
    done
    install -d -m 0700 "$tls"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=swarm-manager-$NODE_INDEX" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" \
        >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -sha256 -extfile "$tls/server.ext" -out "$tls/server.crt"
    chmod 0600 "$tls/server.key"
    rm -f "$tls/server.csr"
fi

systemctl daemon-reload
systemctl enable --now containerd docker
mark_prepared
