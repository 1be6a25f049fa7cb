#!/bin/bash
# magnum-lite k8s_ubuntu_v1: applies a cluster's renewed credentials on a running node (a new
# cluster CA after `openstack coe ca rotate`, a new trustee after a credentials rotation).
# Heat's script hook runs it with the deployment's inputs in the environment: `credentials`
# (JSON object: file path -> content) and `cluster_uuid`.
# Never `set -x` and never print `credentials`: it holds the CA private keys and the trustee's
# password.
set -euo pipefail
umask 077
export KUBECONFIG=/etc/kubernetes/admin.conf
# The helpers the node's cloud-config installed at boot.
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
root=${MAGNUM_LITE_ROOT:-}  # tests run the script against a scratch directory
etc=${MAGNUM_LITE_ETC:-$root/etc/magnum-lite}
pki="$root/etc/kubernetes/pki"

write_credentials "$root"

if ! is_changed /etc/kubernetes/pki/ca.crt; then
    exit 0  # the CA stays: nothing signed by it needs renewing
fi
if [ -n "$root" ]; then
    log "cluster $cluster_uuid: new CA written under $root (test run: nothing restarted)"
    exit 0
fi

if [ -f "$pki/ca.key" ]; then
    # A master: re-issue what the old CA signed, then restart the control plane and kubelet.
    log "re-issuing the control plane's certificates and kubeconfigs from the new CA"
    backup="/var/lib/magnum-lite/pki-before-$(date +%s)"
    mkdir -p "$backup"
    for file in apiserver apiserver-kubelet-client; do
        mv -f "$pki/$file.crt" "$pki/$file.key" "$backup/" 2>/dev/null || true
    done
    for file in admin super-admin controller-manager scheduler kubelet; do
        mv -f "/etc/kubernetes/$file.conf" "$backup/" 2>/dev/null || true
    done
    kubeadm init phase certs apiserver --config "$etc/kubeadm-init.yaml"
    kubeadm init phase certs apiserver-kubelet-client --config "$etc/kubeadm-init.yaml"
    kubeadm init phase kubeconfig all --config "$etc/kubeadm-init.yaml"
    rm -f /var/lib/kubelet/pki/kubelet-client-*.pem
    crictl ps --name 'kube-(apiserver|controller-manager|scheduler)' -q | xargs -r crictl stop
    systemctl restart kubelet
else
    # A worker: join again, checking the API against the new CA.
    log "joining the cluster again with the new CA"
    hash=$(openssl x509 -pubkey -noout -in "$pki/ca.crt" \
        | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
    join="$etc/kubeadm-join.yaml"
    sed -i -e "s/sha256:[0-9a-f]\{64\}/sha256:$hash/" "$join"
    kubeadm reset --force --cleanup-tmp-dir
    kubeadm join --config "$join"
fi
log "cluster $cluster_uuid: credentials applied"
