#!/usr/bin/env bash
# A real devstack with the magnum-lite plugin: devstack's own stack.sh in OFFLINE mode, the
# `openstack coe` CLI against it, then unstack.sh. Run as root on a Debian 12 machine of the
# project's kind (no systemd as PID 1); see README.rst, "devstack".
#
#   tools/devstack-check.sh
#
# What it does, in order (each step prints the seconds elapsed):
#   1. installs the Debian packages devstack itself would install for these services (OFFLINE
#      mode installs none) and the `stack` user devstack runs as;
#   2. lays out /opt/stack: devstack and requirements from the snapshots in
#      ../shared/upstream (MAGNUM_LITE_UPSTREAM), Keystone and Heat from their PyPI source
#      distributions, this checkout as magnum-lite;
#   3. builds the Python environments devstack's install phase would (its global venv, with
#      the upper constraints of the requirements snapshot), since OFFLINE mode installs none;
#   4. diverts /usr/bin/systemctl to a stand-in for the run (docker-systemctl-replacement for
#      devstack's own units, Apache and memcached; the machine's shared PostgreSQL and
#      RabbitMQ are never started, restarted or stopped by it);
#   5. runs stack.sh with local.conf enabling PostgreSQL, Keystone, Heat and magnum-lite, and
#      the machine's RabbitMQ as an external broker (devstack's own `rabbit` service would
#      delete RabbitMQ's guest user, which the test suite uses);
#   6. plays the missing compute cloud for Heat with the sandbox's pieces (its Heat
#      environment and plugins, and its guest agent), then runs `openstack coe cluster
#      template list` and a cluster create until a terminal status;
#   7. unstack.sh, puts back what it changed, and checks that PostgreSQL (trust), MariaDB
#      (root, empty password) and RabbitMQ (guest/guest) still work as before.
# Exit status 0 only when stack.sh succeeded, the cluster reached CREATE_COMPLETE and the
# shared services passed the final check. Logs: /opt/stack/logs (stack.sh.log and others).
#
# Environment: MAGNUM_LITE_UPSTREAM (snapshot dir), MAGNUM_LITE_PYTHON (the project's Python,
# .venv/bin/python, made by tools/install-venv.sh when missing), DEVSTACK_CHECK_KEEP=1 (leave the stack
# running at the end), DEVSTACK_CHECK_TIMEOUT (seconds a cluster may take, 600).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

# The 2026.1 releases: the ones the requirements snapshot's upper constraints can hold (Heat
# 27 needs a newer oslo.versionedobjects than the snapshot pins).
KEYSTONE_VERSION=29.1.0
HEAT_VERSION=26.0.2
DEST=/opt/stack
STACK_USER=stack
CHECK_DIR=$DEST/devstack-check
SIM_DIR=$CHECK_DIR/sim
LOG_DIR=$DEST/logs
CACHE_DIR=/var/cache/magnum-lite-devstack
UPSTREAM=${MAGNUM_LITE_UPSTREAM:-$REPO/../shared/upstream}
CLUSTER_TIMEOUT=${DEVSTACK_CHECK_TIMEOUT:-600}
# Not the sandbox's 9511: both may run at once.
API_PORT=9611
ADMIN_PASSWORD=devstack-check-admin
SERVICE_PASSWORD=devstack-check-service
DATABASE_PASSWORD=devstackcheckdb
DATABASE_USER=devstack_root
RABBIT_USER=devstack-check
RABBIT_PASSWORD=devstack-check-rabbit
pg_conf_dirs=(/etc/postgresql/*/main)
PG_CONF_DIR=${pg_conf_dirs[-1]}

began=$SECONDS
say() { echo "devstack-check [$((SECONDS - began)) s]: $*"; }
die() { echo "devstack-check: error: $*" >&2; exit 1; }
as_stack() { sudo -u "$STACK_USER" -H env PATH=/usr/local/bin:/usr/bin:/bin "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root (devstack's stack user and packages are set up here)"
grep -q '^ID=debian' /etc/os-release || die "made for Debian (devstack's bookworm support)"
snapshots=("$UPSTREAM"/devstack-*.tar.gz "$UPSTREAM"/requirements-*.tar.gz)
devstack_tgz=${snapshots[0]}
requirements_tgz=${snapshots[-1]}
if [ ! -f "$devstack_tgz" ] || [ ! -f "$requirements_tgz" ]; then
    die "no devstack/requirements snapshots in $UPSTREAM (set MAGNUM_LITE_UPSTREAM)"
fi
[ -d "$PG_CONF_DIR" ] || die "no PostgreSQL cluster under /etc/postgresql"

# The project's venv runs the sandbox's guest agent; MAGNUM_LITE_PYTHON names another one.
project_python=${MAGNUM_LITE_PYTHON:-$REPO/.venv/bin/python}
if [ ! -x "$project_python" ]; then
    say "no $project_python: tools/install-venv.sh"
    tools/install-venv.sh
fi

exec 9>/tmp/magnum-lite-devstack-check.lock
flock -n 9 || { say "another devstack check runs; waiting for it"; flock 9; }

# ------------------------------------------------------------------ the shared services
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pg_trust_ok() { psql -h 127.0.0.1 -U postgres -d postgres -w -tAc 'SELECT 1' >/dev/null 2>&1; }
mariadb_ok() {
    ! port_open 3306 || mysql -h 127.0.0.1 -u root --password= -e 'SELECT 1' >/dev/null 2>&1
}
rabbit_guest_ok() { rabbitmqctl -q authenticate_user guest guest >/dev/null 2>&1; }
check_shared() {  # what the rest of the suite relies on; prints each, 0 when all hold
    local ok=0
    if pg_trust_ok; then say "PostgreSQL: trust login as postgres works"
    else say "PostgreSQL: trust login as postgres FAILS"; ok=1; fi
    if mariadb_ok; then say "MariaDB: root with the empty password works (or not running)"
    else say "MariaDB: root with the empty password FAILS"; ok=1; fi
    if rabbit_guest_ok; then say "RabbitMQ: guest/guest authenticates"
    else say "RabbitMQ: guest/guest FAILS"; ok=1; fi
    return $ok
}

if ! port_open 5432 || ! port_open 5672; then
    say "starting the local services"
    tools/start-services.sh || true
fi
port_open 5432 || die "PostgreSQL does not answer on 127.0.0.1:5432"
port_open 5672 || die "RabbitMQ does not answer on 127.0.0.1:5672"
check_shared || die "the shared services are not as the suite expects before the run"

# ------------------------------------------------------------------ 1. packages and user
# devstack's own lists (files/debs) for what local.conf enables, as install_prereqs.sh reads
# them: NOPRIME entries are left out, `dist:` entries kept only for this release.
debs_of() {  # devstack_dir list...
    local dir=$1 codename
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
    shift
    local name
    for name in "$@"; do
        grep -v NOPRIME "$dir/files/debs/$name" | while read -r pkg rest; do
            [[ -z "$pkg" || "$pkg" == \#* ]] && continue
            if [[ "$rest" == *dist:* ]] && [[ "$rest" != *"$codename"* ]]; then
                continue
            fi
            echo "$pkg"
        done
    done
}

say "unpacking devstack ($(basename "$devstack_tgz")) and requirements"
work=$(mktemp -d)
cleanup_work() { rm -rf "$work"; }
tar xzf "$devstack_tgz" -C "$work"
tar xzf "$requirements_tgz" -C "$work"
packages=$(debs_of "$work/devstack" general keystone | sort -u | tr '\n' ' ')
# install_apache_uwsgi's packages, and sudo (devstack runs its root steps through it).
packages+=" uwsgi uwsgi-plugin-python3 sudo"
say "apt-get install (devstack's package lists for general and keystone, and uwsgi)"
export DEBIAN_FRONTEND=noninteractive
apt_log=$(mktemp)
# shellcheck disable=SC2086  # one word per package
if ! apt-get install -y -q --no-install-recommends $packages >"$apt_log" 2>&1; then
    apt-get update -q >>"$apt_log" 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $packages >>"$apt_log" 2>&1 \
        || { tail -30 "$apt_log"; die "apt-get install failed"; }
fi
rm -f "$apt_log"
# Debian starts what it installs where it can: without systemd nothing is running now,
# and the stand-in below starts Apache and memcached for devstack.

if ! id "$STACK_USER" >/dev/null 2>&1; then
    say "creating the $STACK_USER user (devstack's tools/create-stack-user.sh)"
    STACK_USER=$STACK_USER HOME=$DEST "$work/devstack/tools/create-stack-user.sh" >/dev/null
fi
install -d -o "$STACK_USER" -g "$STACK_USER" "$DEST"

# ------------------------------------------------------------------ 2. the source trees
# /usr/bin/systemctl is diverted (dpkg-divert) to the stand-in while devstack runs.
restore_systemctl() {
    if dpkg-divert --list /usr/bin/systemctl | grep -q devstack-check; then
        rm -f /usr/bin/systemctl
        dpkg-divert --quiet --package devstack-check --rename --remove /usr/bin/systemctl
    fi
}
divert_systemctl() {
    restore_systemctl
    dpkg-divert --quiet --package devstack-check --rename \
        --divert /usr/bin/systemctl.distrib --add /usr/bin/systemctl
    ln -s "$CHECK_DIR/bin/systemctl" /usr/bin/systemctl
}

# What an earlier run left running (killed before its unstack.sh) would hold ports and files.
if [ -x "$DEST/devstack/unstack.sh" ] && [ -f "$DEST/devstack/local.conf" ] \
    && [ -x "$CHECK_DIR/systemctl-venv/bin/systemctl3" ] && [ "${DEVSTACK_CHECK_KEEP:-}" != "1" ]; then
    say "stopping what an earlier run left running (unstack.sh)"
    mkdir -p "$LOG_DIR"
    divert_systemctl
    (cd "$DEST/devstack" && as_stack ./unstack.sh >"$LOG_DIR/unstack-leftovers.log" 2>&1) \
        || true
    "$CHECK_DIR/systemctl-venv/bin/systemctl3" stop apache2 memcached >/dev/null 2>&1 || true
    restore_systemctl
fi

say "laying out $DEST"
[ ! -d "$DEST/requirements/.venv" ] || mv "$DEST/requirements/.venv" "$work/requirements/.venv"
for tree in devstack requirements; do
    rm -rf "${DEST:?}/$tree"
    mv "$work/$tree" "$DEST/$tree"
done
cleanup_work
mkdir -p "$CACHE_DIR"
for sdist in "keystone==$KEYSTONE_VERSION" "openstack-heat==$HEAT_VERSION"; do
    file=$(ls "$CACHE_DIR"/"$(echo "${sdist%%==*}" | tr - _)"-"${sdist##*==}".tar.gz \
        2>/dev/null || true)
    if [ -z "$file" ]; then
        say "pip download $sdist (source distribution)"
        python3 -m pip download -q --no-binary :all: --no-deps "$sdist" -d "$CACHE_DIR"
    fi
done
for pair in "keystone:keystone-$KEYSTONE_VERSION" "heat:openstack_heat-$HEAT_VERSION"; do
    name=${pair%%:*}
    rm -rf "${DEST:?}/$name"
    tar xzf "$CACHE_DIR/${pair#*:}.tar.gz" -C "$DEST"
    mv "$DEST/${pair#*:}" "$DEST/$name"
done
# This checkout as it is (tracked files and new ones git does not ignore).
rm -rf "$DEST/magnum-lite"
mkdir -p "$DEST/magnum-lite"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$DEST/magnum-lite"
chown -R "$STACK_USER:$STACK_USER" "$DEST"

# ------------------------------------------------------------------ 3. the Python environments
UC=$DEST/requirements/upper-constraints.txt
VENV=$DEST/data/venv
pip_log=$LOG_DIR/devstack-check-pip.log
install -d -o "$STACK_USER" "$LOG_DIR" "$DEST/data"
# Rebuilt only when what it is built from changed (a stamp holds their digest): the
# editable installs point at paths that are laid out anew above with the same content.
stamp=$(cat "$UC" "$DEST/magnum-lite/setup.cfg" <(echo "$KEYSTONE_VERSION $HEAT_VERSION") \
    | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.devstack-check-stamp" ] && [ "$(cat "$VENV/.devstack-check-stamp")" = "$stamp" ] \
    && [ -x "$DEST/requirements/.venv/bin/edit-constraints" ]; then
    say "devstack's venvs are current (built from the same constraints and versions)"
else
say "building devstack's venvs (the requirements tools, and $VENV with Keystone, Heat, \
magnum-lite and the clients, under the snapshot's upper constraints; log: $pip_log)"
as_stack bash -euc "
    rm -rf $DEST/requirements/.venv $VENV
    /usr/bin/python3 -m venv $DEST/requirements/.venv
    $DEST/requirements/.venv/bin/pip install -q -U pbr 'setuptools[core]'
    PBR_VERSION=0.0.1 $DEST/requirements/.venv/bin/pip install -q $DEST/requirements
    /usr/bin/python3 -m venv --system-site-packages $VENV
    $VENV/bin/pip install -q -c $UC -U pip 'setuptools[core]' pbr
    $VENV/bin/pip install -q -c $UC os-testr python-openstackclient python-magnumclient \
        keystonemiddleware python-memcached psycopg2 \
        -e $DEST/keystone -e $DEST/heat -e '$DEST/magnum-lite[postgresql]'
" >"$pip_log" 2>&1 || { tail -30 "$pip_log"; die "building the venvs failed (log: $pip_log)"; }
echo "$stamp" >"$VENV/.devstack-check-stamp"
fi

# ------------------------------------------------------------------ 4. the systemctl stand-in
say "installing the systemctl stand-in (docker-systemctl-replacement) in $CHECK_DIR"
install -d -o "$STACK_USER" "$CHECK_DIR" "$CHECK_DIR/bin" "$SIM_DIR"
if [ ! -x "$CHECK_DIR/systemctl-venv/bin/systemctl3" ]; then
    python3 -m venv "$CHECK_DIR/systemctl-venv"
    "$CHECK_DIR/systemctl-venv/bin/pip" install -q docker-systemctl-replacement
fi
cat >"$CHECK_DIR/bin/systemctl" <<EOF
#!/bin/bash
# systemctl for devstack on a machine without systemd, installed by tools/devstack-check.sh.
# The machine's PostgreSQL, MariaDB and RabbitMQ are shared with the test suite: they are
# never started, restarted or stopped here (devstack asks to restart them after editing their
# configuration; the edits are put back after the run). systemd-journald does not exist
# here. Everything else (devstack@*.service, apache2, memcached) goes to
# docker-systemctl-replacement's systemctl3.
verb=""
units=()
for arg in "\$@"; do
    case "\$arg" in
        -*) ;;
        *) if [ -z "\$verb" ]; then verb=\$arg; else units+=("\$arg"); fi ;;
    esac
done
for unit in "\${units[@]}"; do
    case "\${unit%.service}" in
        postgresql*|mariadb|mysql|rabbitmq-server)
            echo "systemctl stand-in: \$verb \$unit: left alone (shared with the test suite)" >&2
            exit 0 ;;
        systemd-journald)
            echo "systemctl stand-in: \$verb \$unit: not on this machine" >&2
            exit 0 ;;
    esac
done
exec $CHECK_DIR/systemctl-venv/bin/systemctl3 "\$@"
EOF
chmod 755 "$CHECK_DIR/bin/systemctl"

# ------------------------------------------------------------------ what the run changes
# devstack edits postgresql.conf and pg_hba.conf (put back after the run), creates its
# database role, and the broker user below (both removed after the run).
cp -p "$PG_CONF_DIR/postgresql.conf" "$CHECK_DIR/postgresql.conf.orig"
cp -p "$PG_CONF_DIR/pg_hba.conf" "$CHECK_DIR/pg_hba.conf.orig"
max_connections=$(psql -h 127.0.0.1 -U postgres -w -tAc 'SHOW max_connections')

agent_pid=
stack_pid=
stacked=0
finish() {
    local code=$?
    set +e
    [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
    if [ -n "$stack_pid" ]; then
        say "stopping stack.sh"
        kill "$stack_pid" 2>/dev/null
        wait "$stack_pid" 2>/dev/null
    fi
    if [ "$stacked" -eq 1 ] && [ "${DEVSTACK_CHECK_KEEP:-}" != "1" ]; then
        say "unstack.sh"
        if (cd "$DEST/devstack" && as_stack ./unstack.sh >"$LOG_DIR/unstack.log" 2>&1); then
            say "unstack.sh done (log: $LOG_DIR/unstack.log)"
        else
            say "unstack.sh FAILED (log: $LOG_DIR/unstack.log)"
            code=1
        fi
        # What the stand-in started for devstack and unstack.sh leaves running.
        "$CHECK_DIR/systemctl-venv/bin/systemctl3" stop apache2 memcached >/dev/null 2>&1
    fi
    if [ "${DEVSTACK_CHECK_KEEP:-}" != "1" ]; then
        restore_systemctl
        cp -p "$CHECK_DIR/postgresql.conf.orig" "$PG_CONF_DIR/postgresql.conf"
        cp -p "$CHECK_DIR/pg_hba.conf.orig" "$PG_CONF_DIR/pg_hba.conf"
        rabbitmqctl -q delete_user "$RABBIT_USER" >/dev/null 2>&1
        # stack.sh links some commands of its venv into /usr/local/bin (openstack among
        # them): not left pointing into a stack that no longer runs.
        find /usr/local/bin -maxdepth 1 -lname "$VENV/*" -delete
        # The plugin's config names this run's broker user and databases: a magnum-lite
        # started later without --config-file would read it (oslo.config's default files).
        rm -rf /etc/magnum-lite
    fi
    if check_shared; then
        say "the shared services are as the suite expects"
    else
        code=1
    fi
    say "finished with exit status $code"
    exit "$code"
}
trap finish EXIT
# A run stopped by a signal still unstacks and puts back what it changed.
trap 'exit 143' TERM INT

# The stand-in writes each unit's output to /var/log/journal/<unit>.log: this run's only.
rm -f /var/log/journal/devstack@*.service.log
divert_systemctl

# RabbitMQ: the machine's broker, as an external one (RABBIT_HOST and credentials).
rabbitmqctl -q add_user "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null 2>&1 \
    || rabbitmqctl -q change_password "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
rabbitmqctl -q set_permissions -p / "$RABBIT_USER" '.*' '.*' '.*' >/dev/null

# ------------------------------------------------------------------ 5. stack.sh
# Heat without Nova, Neutron and Glance: the sandbox's global environment maps their resource
# types to provider templates that create nothing, and its Heat plugins accept their
# constraints (sandbox/magnum_lite_sandbox/simulation.py).
sim=$(as_stack env PYTHONPATH="$DEST/magnum-lite/sandbox" /usr/bin/python3 -m \
    magnum_lite_sandbox.simulation prepare --state-dir "$SIM_DIR")
sim_env_dir=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["environment_dir"])' "$sim")
sim_plugins=$(python3 -c 'import json,sys; print(",".join(json.loads(sys.argv[1])["plugin_dirs"]))' "$sim")

cat >"$DEST/devstack/local.conf" <<EOF
[[local|localrc]]
OFFLINE=True
DEST=$DEST
LOGFILE=$LOG_DIR/stack.sh.log
LOGDAYS=1
HOST_IP=127.0.0.1
SERVICE_HOST=127.0.0.1
SERVICE_LISTEN_ADDRESS=127.0.0.1
ADMIN_PASSWORD=$ADMIN_PASSWORD
SERVICE_PASSWORD=$SERVICE_PASSWORD
DATABASE_PASSWORD=$DATABASE_PASSWORD
DATABASE_USER=$DATABASE_USER
# The machine's PostgreSQL keeps its connection limit.
MAX_DB_CONNECTIONS=$max_connections
INSTALL_DATABASE_SERVER_PACKAGES=False
RABBIT_HOST=127.0.0.1
RABBIT_USERID=$RABBIT_USER
RABBIT_PASSWORD=$RABBIT_PASSWORD
API_WORKERS=1
HEAT_ENGINE_WORKERS=1

disable_all_services
enable_service postgresql key
enable_plugin heat file://$DEST/heat
enable_plugin magnum-lite file://$DEST/magnum-lite
MAGNUM_LITE_SERVICE_PORT=$API_PORT
MAGNUM_LITE_API_WORKERS=1

[[post-config|\$HEAT_CONF]]
# The sandbox's plugins include sandbox_db_pool: the engine keeps this max_overflow (Heat
# alone raises it to its RPC thread pool, 64) and so stays inside the shared PostgreSQL.
[DEFAULT]
plugin_dirs = $sim_plugins
environment_dir = $sim_env_dir
[database]
max_pool_size = 2
max_overflow = 8

[[post-config|\$KEYSTONE_CONF]]
[database]
max_pool_size = 2
max_overflow = 4

[[post-config|\$MAGNUM_LITE_CONF]]
[database]
max_pool_size = 2
max_overflow = 4
[conductor]
reconcile_interval = 0.5
EOF
chown "$STACK_USER:$STACK_USER" "$DEST/devstack/local.conf"

say "stack.sh (OFFLINE; log: $LOG_DIR/stack.sh.log)"
stacked=1
code=0
# In the background and waited for, so that a TERM reaches this script's trap at once (and
# stack.sh through sudo, which passes it on).
(cd "$DEST/devstack" && exec sudo -u "$STACK_USER" -H env PATH=/usr/local/bin:/usr/bin:/bin \
    ./stack.sh) >"$LOG_DIR/devstack-check-stack.out" 2>&1 &
stack_pid=$!
wait "$stack_pid" || code=$?
stack_pid=
# stack.sh's summary (its success line last), and its own last words.
sed 's/^/  stack.sh: /' "$LOG_DIR/stack.sh.log.summary" 2>/dev/null || true
tail -n 25 "$LOG_DIR/devstack-check-stack.out"
[ "$code" -eq 0 ] || die "stack.sh failed (exit $code); see $LOG_DIR/stack.sh.log"
grep -q 'stack.sh completed in' "$LOG_DIR/stack.sh.log.summary" \
    || die "stack.sh exited 0 without its success line"
say "stack.sh succeeded"

# ------------------------------------------------------------------ 6. the CLI
# The sandbox's guest agent plays the servers (it signals their wait conditions and reports
# their software deployments) as devstack's admin, through devstack's Keystone and Heat.
cat >"$SIM_DIR/sandbox.json" <<EOF
{"keystone_url": "http://127.0.0.1/identity/v3", "region": "RegionOne",
 "users": {"admin": {"username": "admin", "password": "$ADMIN_PASSWORD",
                     "project_name": "admin", "user_domain_name": "Default",
                     "project_domain_name": "Default"}}}
EOF
"$project_python" -m magnum_lite_sandbox.agent --state-dir "$SIM_DIR" \
    >"$LOG_DIR/devstack-check-agent.log" 2>&1 &
agent_pid=$!

coe() {  # openstack --os-cloud devstack (the demo user) coe ...
    echo "+ openstack --os-cloud devstack coe $*"
    as_stack "$VENV/bin/openstack" --os-cloud devstack coe "$@"
}
coe cluster template list
cluster=devstack-check-$$
# status_of NAME: the cluster's status, "gone" once it is deleted.
status_of() {
    as_stack "$VENV/bin/openstack" --os-cloud devstack coe cluster show "$1" -f value \
        -c status 2>/dev/null || echo gone
}
# wait_status NAME: poll until a terminal status (or gone); prints it.
wait_status() {
    local deadline=$((SECONDS + CLUSTER_TIMEOUT)) status=
    while [ $SECONDS -lt $deadline ]; do
        status=$(status_of "$1")
        case "$status" in *_COMPLETE|*_FAILED|gone) break ;; esac
        sleep 3
    done
    echo "$status"
}
t=$SECONDS
coe cluster create "$cluster" --cluster-template k8s-ubuntu --master-count 1 --node-count 1
status=$(wait_status "$cluster")
say "cluster $cluster: $status after $((SECONDS - t)) s"
coe cluster show "$cluster" -c name -c status -c status_reason -c api_address \
    -c master_addresses -c node_addresses -c coe_version
[ "$status" = CREATE_COMPLETE ] || die "the cluster ended $status, not CREATE_COMPLETE"
# The plugin has Heat send its stack notifications and the conductor listen to them.
conductor_log=/var/log/journal/devstack@magnum-lite-conductor.service.log
grep -qE "Heat notification orchestration\.stack\.create\.end \($cluster-.*: checking cluster" \
    "$conductor_log" \
    || die "the conductor never acted on Heat's create.end notification (see $conductor_log)"
say "the conductor acted on Heat's notifications"
t=$SECONDS
coe cluster delete "$cluster"
status=$(wait_status "$cluster")
say "cluster $cluster: $status after $((SECONDS - t)) s"
[ "$status" = gone ] || die "the cluster's delete ended $status"
coe cluster list
say "devstack check passed"
