#!/bin/bash
# magnum-lite mesos_ubuntu_v1: applies a cluster's renewed credentials on a running node (a new
# cluster CA after `openstack coe ca rotate`). Heat's script hook runs it with the
# deployment's inputs in the environment: `credentials` (JSON object: file path -> content)
# and `cluster_uuid`. Never `set -x` and never print `credentials`: it holds the CA key.
set -euo pipefail
umask 077
: "${credentials:?the deployment gave no credentials input}"
: "${cluster_uuid:?the deployment gave no cluster_uuid input}"
root=${MAGNUM_LITE_ROOT:-}  # tests run the script against a scratch directory

log() { echo "magnum-lite: $*"; }

# Write each file whose content changed; print the changed paths.
changed=$(python3 - "$root" <<'PY'
import json, os, sys
root = sys.argv[1]
for path, content in sorted(json.loads(os.environ["credentials"]).items()):
    target = root + path
    try:
        with open(target, encoding="utf-8") as f:
            if f.read() == content:
                continue
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = target + ".new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(tmp, 0o644 if path.endswith(".crt") else 0o600)
    os.replace(tmp, target)
    print(path)
PY
)
log "cluster $cluster_uuid: $(printf '%s\n' "$changed" | grep -c . || true) credential file(s) changed"

if ! printf '%s\n' "$changed" | grep -qx '/etc/mesos/ssl/ca.crt'; then
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
