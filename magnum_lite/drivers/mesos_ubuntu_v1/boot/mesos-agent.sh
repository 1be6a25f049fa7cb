#!/bin/bash
# magnum-lite mesos_ubuntu_v1, workers: mesos-agent as a container, pointed at the masters'
# ZooKeeper ensemble. The agent finds the elected master itself and keeps retrying, so a
# worker booting with the masters (or added by a resize) needs no wait of its own.
# Never `set -x` and never print /etc/mesos: it holds the agent's secret.
set -euo pipefail
umask 077
export HOME="${HOME:-/root}"
mesos_etc=${MAGNUM_LITE_MESOS_ETC:-/etc/mesos}
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env
require_prepared Mesos
if [ -z "$ZOOKEEPER_URL" ]; then
    log "no ZooKeeper ensemble to join"
    exit 1
fi

my_ip=${MAGNUM_LITE_MY_IP:-$(hostname -I | awk '{print $1}')}
# The agent registers by its IP; the attribute magnum_lite_node names its server (the host
# name cloud-init set), by which magnum-lite finds it to drain it (drivers' coe.py).
node_name=${MAGNUM_LITE_NODE_NAME-$(hostname -s)}
node_name=$(printf '%s' "$node_name" | tr -c 'A-Za-z0-9_.-' '-')
[ -n "$node_name" ] || node_name=$my_ip
attributes="magnum_lite_node:$node_name${AGENT_ATTRIBUTES:+;$AGENT_ATTRIBUTES}"
ssl="$mesos_etc/ssl"
install -d -m 0700 "$mesos_etc" "$ssl"
# Agents hold no CA key: their certificate is their own (masters do not verify it; the
# agent proves itself with its CRAM-MD5 secret).
if [ ! -f "$ssl/agent.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
        -subj "/CN=mesos-agent-$NODE_INDEX" -addext "subjectAltName=IP:$my_ip" \
        -keyout "$ssl/agent.key" -out "$ssl/agent.crt"
fi

cat >"$mesos_etc/agent.env" <<ENV
MESOS_MASTER=$ZOOKEEPER_URL
MESOS_WORK_DIR=/var/lib/mesos/agent
MESOS_HOSTNAME=$my_ip
MESOS_IP=$my_ip
MESOS_PORT=5051
MESOS_CREDENTIAL=/etc/mesos/agent-credential.json
MESOS_CONTAINERIZERS=docker,mesos
MESOS_DOCKER_MESOS_IMAGE=$MESOS_AGENT_IMAGE
MESOS_SYSTEMD_ENABLE_SUPPORT=false
MESOS_ATTRIBUTES=$attributes
LIBPROCESS_SSL_ENABLED=true
LIBPROCESS_SSL_SUPPORT_DOWNGRADE=false
LIBPROCESS_SSL_CERT_FILE=/etc/mesos/ssl/agent.crt
LIBPROCESS_SSL_KEY_FILE=/etc/mesos/ssl/agent.key
LIBPROCESS_SSL_CA_FILE=/etc/mesos/ssl/ca.crt
LIBPROCESS_SSL_VERIFY_CERT=false
ENV

log "starting mesos-agent $MESOS_VERSION as worker $NODE_INDEX, masters $ZOOKEEPER_URL"
retry 10 15 docker pull -q "$MESOS_AGENT_IMAGE" >/dev/null
docker rm -f mesos-agent >/dev/null 2>&1 || true
# The Docker containerizer drives the host's engine; the agent sees the host's processes.
docker run -d --name mesos-agent --restart=always --net=host --pid=host --privileged \
    -v "$mesos_etc:/etc/mesos:ro" -v /var/lib/mesos:/var/lib/mesos \
    -v /var/run/docker.sock:/var/run/docker.sock -v /sys/fs/cgroup:/sys/fs/cgroup \
    -v /usr/bin/docker:/usr/local/bin/docker:ro \
    --env-file "$mesos_etc/agent.env" "$MESOS_AGENT_IMAGE" >/dev/null
log "worker $NODE_INDEX started"
