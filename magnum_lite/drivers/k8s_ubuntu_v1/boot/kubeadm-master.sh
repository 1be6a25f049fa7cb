#!/bin/bash
# magnum-lite k8s_ubuntu_v1, masters: master 0 creates the cluster (kubeadm init, the CNI,
# optional monitoring); the others join it as control-plane nodes (stacked etcd), retrying
# until master 0's API answers, since every node boots at the same time.
# Never `set -x` and never print the kubeadm configurations: they hold the join token and the
# certificate key that decrypts the uploaded control-plane certificates.
set -euo pipefail
umask 077
export DEBIAN_FRONTEND=noninteractive HOME="${HOME:-/root}" KUBECONFIG=/etc/kubernetes/admin.conf
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env
require_prepared Kubernetes

api_ready() {
    curl -fsk --noproxy '*' --max-time 10 -o /dev/null "https://${CONTROL_PLANE_ENDPOINT}/readyz"
}

join_cluster() {  # until it works or JOIN_TIMEOUT passes; a failed attempt is reset first
    local deadline=$((SECONDS + JOIN_TIMEOUT))
    until api_ready && kubeadm join --config "$etc/kubeadm-join.yaml"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "could not join $CONTROL_PLANE_ENDPOINT in ${JOIN_TIMEOUT}s"
            return 1
        fi
        kubeadm reset --force >/dev/null 2>&1 || true
        sleep 15
    done
}

cni_manifest() {  # the pinned manifest of the chosen CNI, set to this cluster's pod CIDR
    local file="$state/cni.yaml"
    case "$NETWORK_DRIVER" in
        flannel)
            curl -fsSL -o "$file" \
                "https://github.com/flannel-io/flannel/releases/download/${FLANNEL_VERSION}/kube-flannel.yml"
            sed -i "s|\"Network\": \"10.244.0.0/16\"|\"Network\": \"${POD_NETWORK_CIDR}\"|" "$file"
            grep -qF "\"Network\": \"${POD_NETWORK_CIDR}\"" "$file"
            ;;
        calico)
            curl -fsSL -o "$file" \
                "https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/calico.yaml"
            sed -i -e 's|# - name: CALICO_IPV4POOL_CIDR|- name: CALICO_IPV4POOL_CIDR|' \
                -e "s|#   value: \"192.168.0.0/16\"|  value: \"${POD_NETWORK_CIDR}\"|" "$file"
            grep -qF "value: \"${POD_NETWORK_CIDR}\"" "$file"
            ;;
        *) log "unknown network driver $NETWORK_DRIVER"; return 1 ;;
    esac
}

install_helm() {
    local arch tarball dir
    arch=$(dpkg --print-architecture)
    tarball="helm-${HELM_VERSION}-linux-${arch}.tar.gz"
    dir=$(mktemp -d)
    curl -fsSL -o "$dir/$tarball" "https://get.helm.sh/$tarball"
    curl -fsSL -o "$dir/$tarball.sha256sum" "https://get.helm.sh/$tarball.sha256sum"
    (cd "$dir" && sha256sum --quiet -c "$tarball.sha256sum")
    tar -xzf "$dir/$tarball" -C "$dir"
    install -m 0755 "$dir/linux-${arch}/helm" /usr/local/bin/helm
    rm -rf "$dir"
}

install_monitoring() {
    helm upgrade --install kube-prometheus-stack kube-prometheus-stack \
        --repo https://prometheus-community.github.io/helm-charts \
        --version "$KUBE_PROMETHEUS_STACK_VERSION" \
        --namespace monitoring --create-namespace
}

if [ "$NODE_INDEX" -eq 0 ]; then
    log "creating the cluster: kubeadm init, endpoint $CONTROL_PLANE_ENDPOINT"
    init_cluster() {
        kubeadm init --config "$etc/kubeadm-init.yaml" --upload-certs \
            --skip-token-print --skip-certificate-key-print && return 0
        kubeadm reset --force >/dev/null 2>&1 || true
        return 1
    }
    retry 3 30 init_cluster
    rm -f "$etc/kubeadm-join.yaml"
    log "applying the $NETWORK_DRIVER network"
    retry 10 15 cni_manifest
    retry 20 15 kubectl apply -f "$state/cni.yaml"
    if [ "$PROMETHEUS_MONITORING" = true ]; then
        log "installing kube-prometheus-stack $KUBE_PROMETHEUS_STACK_VERSION"
        retry 10 15 install_helm
        retry 20 30 install_monitoring
    fi
else
    log "joining the control plane at $CONTROL_PLANE_ENDPOINT as master $NODE_INDEX"
    rm -f "$etc/kubeadm-init.yaml"
    join_cluster
fi
log "master $NODE_INDEX is up"
