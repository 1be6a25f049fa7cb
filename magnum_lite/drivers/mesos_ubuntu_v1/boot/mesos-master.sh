#!/bin/bash
# magnum-lite mesos_ubuntu_v1, masters: ZooKeeper, mesos-master and Marathon as containers.
# Master 0 starts a one-member ZooKeeper ensemble; every other master finds the elected master
# through the API load balancer, reads the ensemble from its ZooKeeper and adds itself with a
# dynamic reconfiguration (see userdata.py for why and what it costs). Running it again (a CA
# rotation does) keeps the node's ensemble membership and restarts the daemons.
# Never `set -x` and never print /etc/mesos: it holds the CA key and the principals' secrets.
set -euo pipefail
umask 077
export HOME="${HOME:-/root}"
mesos_etc=${MAGNUM_LITE_MESOS_ETC:-/etc/mesos}
zk_dir=${MAGNUM_LITE_ZK_DIR:-/var/lib/zookeeper}
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
load_node_env
require_prepared Mesos

my_ip=${MAGNUM_LITE_MY_IP:-$(hostname -I | awk '{print $1}')}
myid=$((NODE_INDEX + 1))
me="server.$myid=$my_ip:2888:3888:participant;0.0.0.0:2181"
ssl="$mesos_etc/ssl"

san_of() {  # an address or a name as a subjectAltName entry
    case "$1" in
        *:*) echo "IP:$1" ;;
        *[!0-9.]*) echo "DNS:$1" ;;
        *) echo "IP:$1" ;;
    esac
}

issue_certificate() {  # the master's TLS certificate, from the cluster CA it was given
    local sans host public
    sans="IP:$my_ip,IP:127.0.0.1,DNS:localhost,DNS:$(hostname)"
    for host in "$CONTROL_PLANE_HOST" "$API_PUBLIC_ADDRESS"; do
        if [ -n "$host" ]; then sans="$sans,$(san_of "$host")"; fi
    done
    # The node's floating IP, when it has one (the load balancer's is not known here).
    public=$(curl -fs --noproxy '*' --max-time 5 \
        http://169.254.169.254/latest/meta-data/public-ipv4 || true)
    case "$public" in ''|*[!0-9.]*) ;; *) sans="$sans,IP:$public" ;; esac
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" \
        >"$ssl/server.ext"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=mesos-master-$NODE_INDEX" \
        -keyout "$ssl/server.key" -out "$ssl/server.csr"
    if [ -f "$ssl/ca.key" ]; then
        openssl x509 -req -in "$ssl/server.csr" -CA "$ssl/ca.crt" -CAkey "$ssl/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
            -extfile "$ssl/server.ext" -out "$ssl/server.crt"
    else
        log "no cluster CA: the master's certificate is self-signed"
        openssl x509 -req -in "$ssl/server.csr" -signkey "$ssl/server.key" -days 3650 \
            -sha256 -extfile "$ssl/server.ext" -out "$ssl/server.crt"
    fi
    rm -f "$ssl/server.csr"
}

zk_cli() {  # host command...: one ZooKeeper CLI command against that host's ZooKeeper
    local host=$1
    shift
    docker run --rm --net=host --entrypoint zkCli.sh "$ZOOKEEPER_IMAGE" \
        -server "$host:2181" "$@" 2>/dev/null
}

leader_host() {  # the elected master's address, asked through the API load balancer
    local url
    url=$(curl -sk --noproxy '*' --max-time 10 -o /dev/null -w '%{redirect_url}' \
        "https://${CONTROL_PLANE_HOST}:${API_PORT}/master/redirect") || return 1
    url=${url#*://}
    url=${url%%/*}
    [ -n "$url" ] || return 1
    echo "${url%:*}"
}

start_zookeeper() {
    docker rm -f zookeeper >/dev/null 2>&1 || true
    docker run -d --name zookeeper --restart=always --net=host -v "$zk_dir:/data" \
        -e SERVER_JVMFLAGS=-Dzookeeper.skipACL=yes \
        "$ZOOKEEPER_IMAGE" zkServer.sh start-foreground /data/zoo.cfg >/dev/null
}

configure_zookeeper() {  # a new member's configuration; the ensemble file comes next
    install -d -m 0755 "$zk_dir"
    cat >"$zk_dir/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/data
standaloneEnabled=false
reconfigEnabled=true
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
dynamicConfigFile=/data/zoo.cfg.dynamic
CFG
    echo "$myid" >"$zk_dir/myid"
}

ensemble_of() {  # host: the ensemble that host's ZooKeeper serves (server.N lines)
    local out
    out=$(zk_cli "$1" config || true)  # read whole: a reader quitting early breaks the pipe
    printf '%s\n' "$out" | grep '^server\.' || true
}

join_ensemble() {  # until this master is a member or JOIN_TIMEOUT passes
    local deadline=$((SECONDS + JOIN_TIMEOUT)) seed="" members=""
    until seed=$(leader_host) && members=$(ensemble_of "$seed") && [ -n "$members" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "no elected master answered at $CONTROL_PLANE_HOST:$API_PORT in ${JOIN_TIMEOUT}s"
            return 1
        fi
        sleep 15
    done
    log "joining the ZooKeeper ensemble of the master at $seed"
    configure_zookeeper
    { printf '%s\n' "$members" | grep -v "^server\.$myid="; echo "$me"; } \
        >"$zk_dir/zoo.cfg.dynamic"
    start_zookeeper
    add_member() {  # done once the ensemble lists this master (also after a lost answer)
        local out
        out=$(zk_cli "$seed" reconfig -add "$me" || true)
        case "$out" in *"Committed new configuration"*) return 0 ;; esac
        ensemble_of "$seed" | grep -qF "$me"
    }
    retry 20 15 add_member
}

install -d -m 0700 "$mesos_etc" "$ssl"
if ! { [ -f "$ssl/server.crt" ] && openssl verify -CAfile "$ssl/ca.crt" "$ssl/server.crt" \
        >/dev/null 2>&1; }; then
    issue_certificate
fi

if [ -f "$zk_dir/myid" ]; then
    log "already a member of the ZooKeeper ensemble: restarting it"
    start_zookeeper
elif [ "$NODE_INDEX" -eq 0 ]; then
    log "starting the ZooKeeper ensemble as its first member"
    configure_zookeeper
    echo "$me" >"$zk_dir/zoo.cfg.dynamic"
    start_zookeeper
else
    join_ensemble
fi

cat >"$mesos_etc/master.env" <<ENV
MESOS_ZK=zk://$my_ip:2181/mesos
MESOS_QUORUM=$QUORUM
MESOS_WORK_DIR=/var/lib/mesos/master
MESOS_HOSTNAME=$my_ip
MESOS_IP=$my_ip
MESOS_PORT=$API_PORT
MESOS_CLUSTER=$CLUSTER_NAME
MESOS_CREDENTIALS=/etc/mesos/credentials.json
MESOS_AUTHENTICATE_AGENTS=true
MESOS_AUTHENTICATE_FRAMEWORKS=true
MESOS_AUTHENTICATE_HTTP_READWRITE=true
MESOS_AUTHENTICATE_HTTP_FRAMEWORKS=true
MESOS_HTTP_FRAMEWORK_AUTHENTICATORS=basic
LIBPROCESS_SSL_ENABLED=true
LIBPROCESS_SSL_SUPPORT_DOWNGRADE=false
LIBPROCESS_SSL_CERT_FILE=/etc/mesos/ssl/server.crt
LIBPROCESS_SSL_KEY_FILE=/etc/mesos/ssl/server.key
LIBPROCESS_SSL_CA_FILE=/etc/mesos/ssl/ca.crt
LIBPROCESS_SSL_VERIFY_CERT=false
ENV
grep -v '^MESOS_' "$mesos_etc/master.env" >"$mesos_etc/marathon.env"
echo "LIBPROCESS_IP=$my_ip" >>"$mesos_etc/marathon.env"

log "starting mesos-master $MESOS_VERSION (quorum $QUORUM of $MASTER_COUNT)"
retry 10 15 docker pull -q "$MESOS_MASTER_IMAGE" >/dev/null
docker rm -f mesos-master >/dev/null 2>&1 || true
docker run -d --name mesos-master --restart=always --net=host \
    -v "$mesos_etc:/etc/mesos:ro" -v /var/lib/mesos:/var/lib/mesos \
    --env-file "$mesos_etc/master.env" "$MESOS_MASTER_IMAGE" >/dev/null

# Marathon's keystore: the master's certificate (with the CA) and key, as PKCS#12, which
# Java reads as a keystore; made again with each certificate (a CA rotation runs this again).
# SHA1-3DES, not OpenSSL 3's default AES: the Java 8 of Marathon's image reads only that.
keystore_password=$(sed -n 's/^MARATHON_SSL_KEYSTORE_PASSWORD=//p' "$mesos_etc/marathon-http.env")
chain=()
if [ -f "$ssl/ca.crt" ]; then chain=(-certfile "$ssl/ca.crt"); fi
KEYSTORE_PASSWORD=$keystore_password openssl pkcs12 -export -name marathon \
    -in "$ssl/server.crt" -inkey "$ssl/server.key" "${chain[@]}" \
    -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 \
    -passout env:KEYSTORE_PASSWORD -out "$ssl/marathon.p12"

log "starting Marathon $MARATHON_VERSION"
retry 10 15 docker pull -q "$MARATHON_IMAGE" >/dev/null
docker rm -f marathon >/dev/null 2>&1 || true
# HTTPS only, every request with the operator's credentials (marathon-http.env); a standby
# proxies to the leader, whose certificate names its address but which the JVM's trust
# store does not know (the cluster CA): hence no hostname check on that hop.
# Declining the offers of machines in maintenance: a feature in v1.6, the default from v1.7.
features=()
case "$MARATHON_VERSION" in v1.6.*) features=(--enable_features maintenance_mode) ;; esac
docker run -d --name marathon --restart=always --net=host -v "$mesos_etc:/etc/mesos:ro" \
    --env-file "$mesos_etc/marathon.env" --env-file "$mesos_etc/marathon-http.env" \
    "$MARATHON_IMAGE" \
    --master "zk://$my_ip:2181/mesos" --zk "zk://$my_ip:2181/marathon" \
    --hostname "$my_ip" --disable_http --https_port "$MARATHON_PORT" \
    --ssl_keystore_path /etc/mesos/ssl/marathon.p12 --leader_proxy_ssl_ignore_hostname \
    "${features[@]}" --mesos_authentication \
    --mesos_authentication_principal marathon \
    --mesos_authentication_secret_file /etc/mesos/marathon.secret >/dev/null
log "master $NODE_INDEX is up"
