#!/bin/bash
# magnum-lite k8s_ubuntu_v1, workers: join the cluster with the bootstrap token, retrying until
# the control plane answers (masters and workers boot at the same time; workers added by a
# resize join a running cluster, which is why the token never expires).
# Never `set -x` and never print /etc/magnum-lite/kubeadm-join.yaml: it holds the join token.
set -euo pipefail
umask 077
export HOME="${HOME:-/root}"
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env
require_prepared Kubernetes

api_ready() {
    curl -fsk --noproxy '*' --max-time 10 -o /dev/null "https://${CONTROL_PLANE_ENDPOINT}/readyz"
}

log "joining the cluster at $CONTROL_PLANE_ENDPOINT as worker $NODE_INDEX"
deadline=$((SECONDS + JOIN_TIMEOUT))
until api_ready && kubeadm join --config "$etc/kubeadm-join.yaml"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "could not join $CONTROL_PLANE_ENDPOINT in ${JOIN_TIMEOUT}s"
        exit 1
    fi
    kubeadm reset --force >/dev/null 2>&1 || true
    sleep 15
done
log "worker $NODE_INDEX joined"
