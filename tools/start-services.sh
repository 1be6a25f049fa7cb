#!/usr/bin/env bash
# Start the local PostgreSQL, MariaDB, RabbitMQ and Redis that are installed but not running,
# and wait (bounded) until they answer. Used by CI (.ci/run) and by tools/test-setup.sh under
# CI=true.
# A service that is not installed is reported and left alone. Exit status: 0 when every
# installed service answers, 1 otherwise.
set -u

WAIT_SECONDS=${WAIT_SECONDS:-90}
failed=0

say() { echo "start-services: $*"; }

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {  # name port
    local deadline=$((SECONDS + WAIT_SECONDS))
    while ! port_open "$2"; do
        if [ $SECONDS -ge $deadline ]; then
            say "$1: still not answering on port $2 after ${WAIT_SECONDS}s"
            failed=1
            return 1
        fi
        sleep 1
    done
    say "$1: answering on port $2"
}

# ------------------------------------------------------------------ PostgreSQL
if port_open 5432; then
    say "PostgreSQL: already running"
elif command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    say "PostgreSQL: starting"
    # shellcheck disable=SC2046  # one cluster version directory, e.g. 15
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start \
        || say "PostgreSQL: pg_ctlcluster failed"
    wait_for_port PostgreSQL 5432
else
    say "PostgreSQL: not installed"
fi

# ------------------------------------------------------------------ MariaDB
if port_open 3306; then
    say "MariaDB: already running"
elif [ -x /usr/sbin/mariadbd ]; then
    say "MariaDB: starting"
    # The socket directory lives on a tmpfs: it is gone after a reboot.
    if [ ! -d /run/mysqld ] && id mysql >/dev/null 2>&1; then
        install -d -o mysql -g mysql /run/mysqld
    fi
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
        || say "MariaDB: start-stop-daemon failed"
    wait_for_port MariaDB 3306
else
    say "MariaDB: not installed"
fi

# ------------------------------------------------------------------ RabbitMQ
if port_open 5672; then
    say "RabbitMQ: already running"
elif command -v rabbitmq-server >/dev/null 2>&1; then
    say "RabbitMQ: starting"
    rabbitmq-server -detached || say "RabbitMQ: rabbitmq-server failed"
    if command -v rabbitmqctl >/dev/null 2>&1; then
        timeout "$WAIT_SECONDS" rabbitmqctl await_startup >/dev/null 2>&1 \
            || say "RabbitMQ: rabbitmqctl await_startup did not succeed"
    fi
    wait_for_port RabbitMQ 5672
else
    say "RabbitMQ: not installed"
fi

# ------------------------------------------------------------------ Redis (tooz membership tests)
if port_open 6379; then
    say "Redis: already running"
elif command -v redis-server >/dev/null 2>&1; then
    say "Redis: starting"
    install -d /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log \
        || say "Redis: redis-server failed"
    wait_for_port Redis 6379
else
    say "Redis: not installed"
fi

exit $failed
