#!/bin/bash
# magnum-lite swarm_fedora_v2: applies a cluster's renewed credentials on a running node (a
# new cluster CA after `openstack coe ca rotate`). Heat's script hook runs it with the
# deployment's inputs in the environment: `credentials` (JSON object: path -> content) and
# `cluster_uuid`. A manager re-issues its Docker API certificate from the new CA and restarts
# dockerd; a worker serves no TLS API, so the new CA certificate is all it needs.
# Never `set -x` and never print `credentials`: a manager's hold the CA private key.
set -euo pipefail
umask 077
# The helpers the node's cloud-config installed at boot.
# shellcheck source=../../heat/boot/common.sh
. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"
root=${MAGNUM_LITE_ROOT:-}  # tests run the script against a scratch directory
tls="$root/etc/docker/tls"

write_credentials "$root"
if ! is_changed /etc/docker/tls/ca.crt; then
    exit 0
fi
if [ ! -f "$tls/ca.key" ] || [ ! -f "$tls/server.crt" ]; then
    # A worker (no TLS API), or a manager whose boot has not issued its certificate yet.
    log "cluster $cluster_uuid: new CA in place (nothing to re-issue here)"
    exit 0
fi
log "re-issuing the Docker API certificate from the new CA"
# The same names as the certificate the boot issued.
sans=$(openssl x509 -in "$tls/server.crt" -noout -ext subjectAltName | tail -n 1 \
    | sed -e 's/ //g' -e 's/IPAddress:/IP:/g')
subject=$(openssl x509 -in "$tls/server.crt" -noout -subject -nameopt RFC2253 \
    | sed -e 's/^subject=//' -e 's/^ *//')
openssl req -new -newkey rsa:2048 -nodes -subj "/$subject" \
    -keyout "$tls/server.key.new" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" >"$tls/server.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$tls/server.ext" -out "$tls/server.crt"
mv -f "$tls/server.key.new" "$tls/server.key"
rm -f "$tls/server.csr" "$tls/server.ext"
if [ -n "$root" ]; then
    log "cluster $cluster_uuid: certificate re-issued under $root (test run: dockerd not restarted)"
    exit 0
fi
systemctl restart docker
log "cluster $cluster_uuid: credentials applied"
