#!/bin/bash
# magnum-lite swarm_fedora_v2, managers: manager 0 starts the swarm; the others ask the
# managers' TLS Docker API (through the load balancer) for the manager token and a manager's
# address, authenticated by a client certificate they sign with the cluster CA, and join.
# Never `set -x` and never print a token.
set -euo pipefail
umask 077
tls=${MAGNUM_LITE_TLS:-/etc/docker/tls}
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
# Not load_node_env: the docker CLI here needs no proxy.env.
# shellcheck source=/dev/null
. "$etc/node.env"

state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true; }
address=$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')

if [ "$(state)" = active ]; then
    log "already in the swarm"
    exit 0
fi
if [ "$NODE_INDEX" = 0 ]; then
    docker swarm init --advertise-addr "$address" --listen-addr "0.0.0.0:$SWARM_PORT" >/dev/null
    log "swarm started on $address:$SWARM_PORT"
    exit 0
fi

# A client certificate for asking the other managers.
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=swarm-manager-$NODE_INDEX-join" \
    -keyout "$tls/join.key" -out "$tls/join.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$tls/join.ext"
openssl x509 -req -in "$tls/join.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 1 -sha256 -extfile "$tls/join.ext" -out "$tls/join.crt" 2>/dev/null
remote() {
    docker --tlsverify --tlscacert "$tls/ca.crt" --tlscert "$tls/join.crt" \
        --tlskey "$tls/join.key" -H "tcp://$CONTROL_PLANE_HOST:$API_PORT" "$@"
}
deadline=$(($(date +%s) + JOIN_TIMEOUT))
until [ "$(state)" = active ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "could not join the swarm within $JOIN_TIMEOUT seconds"
        exit 1
    fi
    # The load balancer may pick a manager that is not in the swarm yet: ask again.
    token=$(remote swarm join-token --quiet manager 2>/dev/null || true)
    managers=$(remote info --format '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}' \
        2>/dev/null || true)
    for manager in $managers; do
        if [ -n "$token" ] && docker swarm join --token "$token" --advertise-addr "$address" \
                --listen-addr "0.0.0.0:$SWARM_PORT" "$manager" >/dev/null 2>&1; then
            break
        fi
    done
    [ "$(state)" = active ] || sleep 10
done
rm -f "$tls/join.key" "$tls/join.csr" "$tls/join.crt" "$tls/join.ext"
log "joined the swarm as a manager"
