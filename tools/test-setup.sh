#!/usr/bin/env bash
# Prepare the local services for the functional tests, the way OpenStack CI does:
# an `openstack_citest` account (password `openstack_citest`) on PostgreSQL and MariaDB that
# may create and drop databases, because oslo.db's opportunistic tests make a randomly named
# database per test and drop it afterwards.
#
# Idempotent: run it as often as you like. A service that is not there is reported and
# skipped, never fatal (its tests then skip, or fail under CI=true). Under CI=true, services
# that are down are started first (tools/start-services.sh).
set -u

CITEST=openstack_citest
HERE=$(cd "$(dirname "$0")" && pwd)

say() { echo "test-setup: $*"; }

port_open() {
    # bash's /dev/tcp: no netcat needed
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if [ "${CI:-}" = "true" ]; then
    "$HERE/start-services.sh" || say "some services could not be started (see above)"
fi

# ------------------------------------------------------------------ PostgreSQL
pg_admin() {
    # psql as a superuser: over TCP with trust auth as postgres or root, else over the
    # socket as the postgres system user (peer auth).
    local user
    for user in postgres root; do
        if psql -h 127.0.0.1 -U "$user" -d postgres -w -tAc "SELECT 1" >/dev/null 2>&1; then
            psql -h 127.0.0.1 -U "$user" -d postgres -w -v ON_ERROR_STOP=1 -q "$@"
            return
        fi
    done
    if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
        runuser -u postgres -- psql -d postgres -w -v ON_ERROR_STOP=1 -q "$@"
        return
    fi
    return 1
}

setup_postgresql() {
    if ! command -v psql >/dev/null 2>&1; then
        say "PostgreSQL: psql is not installed: skipped"
        return
    fi
    if ! port_open 5432; then
        say "PostgreSQL: nothing listens on 127.0.0.1:5432: skipped"
        return
    fi
    # CREATEDB is all oslo.db's provisioning needs (PostgreSQL >= 9.2 lets a role end its own
    # sessions before DROP DATABASE); no superuser.
    if ! pg_admin <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$CITEST') THEN
        CREATE ROLE $CITEST LOGIN CREATEDB PASSWORD '$CITEST';
    ELSE
        ALTER ROLE $CITEST LOGIN CREATEDB PASSWORD '$CITEST';
    END IF;
END
\$\$;
SQL
    then
        say "PostgreSQL: could not log in as a superuser to create $CITEST: skipped"
        return
    fi
    if [ "$(pg_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$CITEST'")" != 1 ]; then
        pg_admin -c "CREATE DATABASE $CITEST OWNER $CITEST"
    fi
    if PGPASSWORD=$CITEST psql -h 127.0.0.1 -U $CITEST -d $CITEST -w -tAc "SELECT 1" \
            >/dev/null 2>&1; then
        say "PostgreSQL: role and database $CITEST ready"
    else
        say "PostgreSQL: $CITEST cannot log in over TCP (check pg_hba.conf)"
    fi
}

# ------------------------------------------------------------------ MariaDB / MySQL
mysql_admin() {
    # root without a password over TCP, else over the socket (unix_socket auth as root).
    if mysql -h 127.0.0.1 -P 3306 -u root -e "SELECT 1" >/dev/null 2>&1; then
        mysql -h 127.0.0.1 -P 3306 -u root "$@"
    elif [ "$(id -u)" = 0 ] && mysql -u root -e "SELECT 1" >/dev/null 2>&1; then
        mysql -u root "$@"
    else
        return 1
    fi
}

setup_mariadb() {
    if ! command -v mysql >/dev/null 2>&1; then
        say "MariaDB: the mysql client is not installed: skipped"
        return
    fi
    if ! port_open 3306; then
        say "MariaDB: nothing listens on 127.0.0.1:3306: skipped"
        return
    fi
    # Provisioning creates and drops databases of random names: privileges on *.*.
    # Both hosts: a client of 127.0.0.1 is seen as 'localhost' when the name resolves.
    if ! mysql_admin <<SQL
CREATE USER IF NOT EXISTS '$CITEST'@'%' IDENTIFIED BY '$CITEST';
CREATE USER IF NOT EXISTS '$CITEST'@'localhost' IDENTIFIED BY '$CITEST';
ALTER USER '$CITEST'@'%' IDENTIFIED BY '$CITEST';
ALTER USER '$CITEST'@'localhost' IDENTIFIED BY '$CITEST';
GRANT ALL PRIVILEGES ON *.* TO '$CITEST'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$CITEST'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS $CITEST CHARACTER SET utf8mb4;
FLUSH PRIVILEGES;
SQL
    then
        say "MariaDB: could not log in as root to create $CITEST: skipped"
        return
    fi
    if mysql -h 127.0.0.1 -P 3306 -u $CITEST -p$CITEST -e "SELECT 1" >/dev/null 2>&1; then
        say "MariaDB: user and database $CITEST ready"
    else
        say "MariaDB: $CITEST cannot log in over TCP"
    fi
}

# ------------------------------------------------------------------ RabbitMQ
check_rabbitmq() {
    # Nothing to create: the functional tests add (and delete) a vhost of their own.
    if port_open 5672; then
        say "RabbitMQ: reachable on 127.0.0.1:5672"
    else
        say "RabbitMQ: nothing listens on 127.0.0.1:5672: its tests will skip"
    fi
}

setup_postgresql
setup_mariadb
check_rabbitmq
exit 0
