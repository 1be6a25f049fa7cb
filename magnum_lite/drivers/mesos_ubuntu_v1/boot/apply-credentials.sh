#!/bin/bash
# magnum-lite mesos_ubuntu_v1: applies a cluster's renewed credentials on a running node (a new
# cluster CA after `openstack coe ca rotate`). Heat's script hook runs it with the
# deployment's inputs in the environment: `credentials` (JSON object: file path -> content)
# and `cluster_uuid`. Never `set -x` and never print `credentials`: it holds the CA key.
set -euo pipefail
umask 077
# The helpers the node's cloud-config installed at boot.
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
root=${MAGNUM_LITE_ROOT:-}  # tests run the script against a scratch directory

write_credentials "$root"

if ! is_changed /etc/mesos/ssl/ca.crt; then
    exit 0  # the CA stays: nothing signed by it needs renewing
fi
if [ -n "$root" ]; then
    log "cluster $cluster_uuid: new CA written under $root (test run: nothing restarted)"
    exit 0
fi
if [ -f /etc/mesos/ssl/ca.key ]; then
    # A master: its boot script issues a certificate the new CA verifies and restarts
    # ZooKeeper, mesos-master and Marathon (keeping the ensemble membership).
    log "re-issuing the master's certificate from the new CA"
    bash /var/lib/cloud/instance/scripts/20-mesos-master.sh
else
    # An agent's own certificate is not signed by the CA: only the CA file changed.
    docker restart mesos-agent >/dev/null
fi
log "cluster $cluster_uuid: credentials applied"
