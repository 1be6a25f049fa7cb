# shellcheck shell=bash
# magnum-lite: what the plugins' node scripts share. cloud-init installs it on every node as
# /usr/local/lib/magnum-lite/common.sh (tests set MAGNUM_LITE_LIB to this directory); each
# node's user data carries it within Nova's size limit, so keep it short.
etc=${MAGNUM_LITE_ETC:-/etc/magnum-lite}
state=${MAGNUM_LITE_STATE:-/var/lib/magnum-lite}

log() { echo "magnum-lite: $*"; }

retry() {  # attempts delay command...: mirrors and networks fail now and then at boot
    local attempts=$1 delay=$2 n=1
    shift 2
    until "$@"; do
        if [ "$n" -ge "$attempts" ]; then
            log "failed $attempts times: $1"
            return 1
        fi
        n=$((n + 1))
        sleep "$delay"
    done
}

load_node_env() {  # the cloud-config's node.env and proxy.env, then a check of NODE_INDEX
    # shellcheck source=/dev/null
    . "$etc/node.env"
    if [ -f "$etc/proxy.env" ]; then
        # shellcheck source=/dev/null
        . "$etc/proxy.env"
    fi
    # Heat's placeholder left in place would read as "not 0": a master would join, not init.
    case "$NODE_INDEX" in
        ''|*[!0-9]*) log "NODE_INDEX '$NODE_INDEX' is not a number: was the placeholder replaced?"
                     exit 1 ;;
    esac
}

require_prepared() {  # what: a role script starts nothing where prepare-node.sh failed
    if [ ! -f "$state/prepared" ]; then
        log "node preparation failed (see above); not starting $1"
        exit 1
    fi
}

mark_prepared() {
    install -d -m 0700 "$state"
    touch "$state/prepared"
    log "node prepared"
}

mount_volume() {  # directory fstype mkfs...: the Cinder volume /dev/vdb, formatted once
    local dir=$1 fstype=$2 device=/dev/vdb
    shift 2
    # Heat attaches the volume after the server exists: wait for it.
    for _ in $(seq 120); do
        [ -b "$device" ] && break
        sleep 5
    done
    if [ ! -b "$device" ]; then
        log "the ${DOCKER_VOLUME_SIZE} GiB volume never appeared as $device"
        exit 1
    fi
    if ! blkid "$device" >/dev/null 2>&1; then
        "$@" "$device"
    fi
    mkdir -p "$dir"
    if ! grep -q "[[:space:]]${dir}[[:space:]]" /etc/fstab; then
        echo "$device $dir $fstype defaults,nofail 0 2" >>/etc/fstab
    fi
    mountpoint -q "$dir" || mount "$dir"
}

write_credentials() {  # root: writes the deployment's `credentials` (path -> content) under
    # root, only the files whose content changed; sets $changed to their paths. Never print it.
    : "${credentials:?the deployment gave no credentials input}"
    : "${cluster_uuid:?the deployment gave no cluster_uuid input}"
    changed=$(python3 - "$1" <<'PY'
import json, os, sys
for path, content in sorted(json.loads(os.environ["credentials"]).items()):
    target = sys.argv[1] + path
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
}

is_changed() { printf '%s\n' "$changed" | grep -qx "$1"; }  # path: written by write_credentials?
