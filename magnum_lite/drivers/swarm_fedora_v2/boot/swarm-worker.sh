#!/bin/bash
# magnum-lite swarm_fedora_v2, workers: join the swarm through any manager with the worker
# token Heat carried from manager 0 (join.env). Never `set -x` and never print the token.
set -euo pipefail
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
# Not load_node_env: the docker CLI here needs no proxy.env.
# shellcheck source=/dev/null
. "$etc/node.env"
# shellcheck source=/dev/null
. "$etc/join.env"

state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true; }

deadline=$(($(date +%s) + JOIN_TIMEOUT))
until [ "$(state)" = active ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "could not join the swarm within $JOIN_TIMEOUT seconds"
        exit 1
    fi
    for manager in $MANAGER_ADDRESSES; do
        if docker swarm join --token "$WORKER_JOIN_TOKEN" "$manager:$SWARM_PORT" \
                >/dev/null 2>&1; then
            break
        fi
    done
    [ "$(state)" = active ] || sleep 10
done
log "joined the swarm as a worker"
