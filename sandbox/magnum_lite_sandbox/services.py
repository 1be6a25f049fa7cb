"""The shared services Heat needs: PostgreSQL and RabbitMQ.

They are used when they answer on 127.0.0.1; when not, and we are root on Debian/Ubuntu, they
are installed with apt and started; otherwise start stops with a message naming what to
install. The sandbox owns only its databases, roles, vhost and RabbitMQ user, created
idempotently; it never stops the services themselves (other projects may use them).
"""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import time

from magnum_lite_sandbox import config

POSTGRES_PORT = 5432
RABBIT_PORT = 5672
# Notifications a queue of the sandbox's vhost keeps while nothing consumes them.
NOTIFICATIONS_KEPT = 10000
APT_PACKAGES = {"postgresql": "postgresql", "rabbitmq": "rabbitmq-server"}


class ServiceError(RuntimeError):
    """A shared service is missing and cannot be installed here; the message says what to do."""


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def can_install() -> bool:
    """Root on a Debian/Ubuntu machine: apt may install what is missing."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def missing_message(missing: list[str]) -> str:
    names = " ".join(APT_PACKAGES[m] for m in missing)
    return (f"the sandbox needs {' and '.join(missing)} answering on 127.0.0.1 "
            f"(ports {POSTGRES_PORT}/{RABBIT_PORT}); install and start them "
            f"(Debian/Ubuntu: apt-get install -y {names}) or run this command as root on "
            f"Debian/Ubuntu to have it done")


def _run(argv: list[str], log: Path, check: bool = True, timeout: float = 600,
         **kwargs: object) -> subprocess.CompletedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                              stdin=subprocess.DEVNULL, check=check, timeout=timeout,
                              **kwargs)  # type: ignore[call-overload]


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not answer on 127.0.0.1:{port} within {timeout:.0f} s")
        time.sleep(0.3)


def _start_postgres(log: Path) -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise ServiceError("PostgreSQL is installed but has no cluster under /etc/postgresql")
    _run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], log,
         check=False)
    _wait_port(POSTGRES_PORT, 60, "PostgreSQL")


def _start_rabbit(log: Path) -> None:
    _run(["rabbitmq-server", "-detached"], log, check=False)
    _wait_port(RABBIT_PORT, 90, "RabbitMQ")
    _run(["rabbitmqctl", "await_startup"], log, check=False, timeout=90)


def _missing() -> list[str]:
    return [name for name, port in (("postgresql", POSTGRES_PORT), ("rabbitmq", RABBIT_PORT))
            if not port_open(port)]


def _not_installed(missing: list[str]) -> list[str]:
    installed = {"postgresql": shutil.which("pg_ctlcluster") is not None,
                 "rabbitmq": shutil.which("rabbitmq-server") is not None}
    return [m for m in missing if not installed[m]]


def precheck() -> None:
    """Fail at once (not after the venv's minute) when the services cannot be had here."""
    missing = _missing()
    if missing and not can_install():
        if _not_installed(missing):
            raise ServiceError(missing_message(missing))
        if os.geteuid() != 0:
            raise ServiceError(f"{' and '.join(missing)} installed but not running: start "
                               f"them (as root: pg_ctlcluster ... main start / "
                               f"rabbitmq-server -detached)")


def ensure_running(log: Path, say: Callable[[str], None]) -> None:
    """Make PostgreSQL and RabbitMQ answer on 127.0.0.1, installing them when allowed."""
    precheck()
    missing = _missing()
    if not missing:
        return
    to_install = _not_installed(missing)
    if to_install:
        say(f"installing {', '.join(APT_PACKAGES[m] for m in to_install)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "update"], log, env=env, check=False)
        _run(["apt-get", "install", "-y", *(APT_PACKAGES[m] for m in to_install)], log, env=env)
    if not port_open(POSTGRES_PORT):
        say("starting PostgreSQL")
        _start_postgres(log)
    if not port_open(RABBIT_PORT):
        say("starting RabbitMQ")
        _start_rabbit(log)


def _psql(sql: str, log: Path, database: str = "postgres") -> str:
    """Run SQL as the postgres superuser (trust auth on 127.0.0.1, else via `su postgres`)."""
    argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
            "-tAq", "-c", sql]
    res = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,  # noqa: S603
                         env=dict(os.environ, PGCONNECT_TIMEOUT="5"), timeout=60)
    if res.returncode != 0 and os.geteuid() == 0 and shutil.which("runuser"):
        argv = ["runuser", "-u", "postgres", "--", "psql", "-d", database, "-v",
                "ON_ERROR_STOP=1", "-tAq", "-c", sql]
        res = subprocess.run(argv, capture_output=True, text=True,  # noqa: S603
                             stdin=subprocess.DEVNULL, timeout=60)
    if res.returncode != 0:
        with open(log, "a") as out:
            out.write(res.stdout + res.stderr)
        raise ServiceError(f"psql failed ({sql.split()[0]} ...): {res.stderr.strip()}")
    return res.stdout.strip()


def postgres_statements(db: str, user: str, password: str, role_exists: bool,
                        db_exists: bool) -> list[str]:
    """The SQL that brings a role and its database to the wanted state (pure, for tests)."""
    stmts = [f"ALTER ROLE {user} WITH LOGIN PASSWORD '{password}'" if role_exists
             else f"CREATE ROLE {user} WITH LOGIN PASSWORD '{password}'"]
    if not db_exists:
        stmts.append(f"CREATE DATABASE {db} OWNER {user}")
    return stmts


def ensure_database(db: str, user: str, password: str, log: Path) -> str:
    """A database and its owning role (password kept in step); returns the SQLAlchemy URL."""
    role_exists = _psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'", log) == "1"
    db_exists = _psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'", log) == "1"
    for stmt in postgres_statements(db, user, password, role_exists, db_exists):
        _psql(stmt, log)
    return f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{POSTGRES_PORT}/{db}"


def _rabbitmqctl(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True,  # noqa: S603
                          text=True, stdin=subprocess.DEVNULL, timeout=60)


def ensure_vhost(password: str, log: Path) -> str:
    """The sandbox's RabbitMQ vhost and user; returns the oslo.messaging transport URL.

    The user's password is set only when it is new, so a running sandbox keeps its connections.
    """
    if shutil.which("rabbitmqctl") is None:
        raise ServiceError("rabbitmqctl not found: the sandbox creates its RabbitMQ vhost and "
                           "user with it (install rabbitmq-server)")
    vhost, user = config.RABBIT_VHOST, config.RABBIT_USER
    vhosts = _rabbitmqctl(["list_vhosts", "--no-table-headers"]).stdout.split()
    if vhost not in vhosts:
        _check(_rabbitmqctl(["add_vhost", vhost]), log)
    users = [line.split()[0] for line in
             _rabbitmqctl(["list_users", "--no-table-headers"]).stdout.splitlines() if line]
    if user not in users:
        _check(_rabbitmqctl(["add_user", user, password]), log)
    elif _rabbitmqctl(["authenticate_user", user, password]).returncode != 0:
        _check(_rabbitmqctl(["change_password", user, password]), log)
    _check(_rabbitmqctl(["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]), log)
    # magnum-lite's notifications (and Heat's, where on) fill the queues oslo.messaging
    # declares for them while nothing consumes them: keep only the newest.
    _check(_rabbitmqctl(["set_policy", "-p", vhost, "--apply-to", "queues",
                         "notifications-bounded", r"^notifications\.",
                         json.dumps({"max-length": NOTIFICATIONS_KEPT})]), log)
    return f"rabbit://{user}:{password}@127.0.0.1:{RABBIT_PORT}/{vhost}"


def _check(res: subprocess.CompletedProcess, log: Path) -> None:
    if res.returncode != 0:
        with open(log, "a") as out:
            out.write(res.stdout + res.stderr)
        raise ServiceError(f"rabbitmqctl failed: {(res.stderr or res.stdout).strip()}")


def urls(secrets: dict[str, str]) -> tuple[str, str, str]:
    """(Heat DB URL, magnum-lite DB URL, transport URL) for the sandbox's credentials."""
    def db(name: str, user: str, password: str) -> str:
        return f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{POSTGRES_PORT}/{name}"

    return (db(config.HEAT_DB, config.HEAT_DB_USER, secrets["heat_db"]),
            db(config.MAGNUM_DB, config.MAGNUM_DB_USER, secrets["magnum_db"]),
            f"rabbit://{config.RABBIT_USER}:{secrets['rabbit']}@127.0.0.1:{RABBIT_PORT}/"
            f"{config.RABBIT_VHOST}")


def ready_urls(secrets: dict[str, str]) -> tuple[str, str, str] | None:
    """The URLs when both databases and the vhost already accept the sandbox's credentials.

    A login is ~10 ms, where psql and rabbitmqctl cost seconds (rabbitmqctl boots an Erlang
    VM): on a set-up machine start skips them. None when anything is missing or refused.
    """
    heat_db, magnum_db, transport = urls(secrets)
    try:
        import amqp
        import psycopg2
    except ImportError:
        return None
    try:
        for name, user, password in ((config.HEAT_DB, config.HEAT_DB_USER, secrets["heat_db"]),
                                     (config.MAGNUM_DB, config.MAGNUM_DB_USER,
                                      secrets["magnum_db"])):
            psycopg2.connect(host="127.0.0.1", port=POSTGRES_PORT, dbname=name, user=user,
                             password=password, connect_timeout=3).close()
        conn = amqp.Connection(host=f"127.0.0.1:{RABBIT_PORT}", userid=config.RABBIT_USER,
                               password=secrets["rabbit"], virtual_host=config.RABBIT_VHOST,
                               connect_timeout=3)
        conn.connect()
        conn.close()
    except Exception:  # noqa: BLE001 - any refusal means: set them up the slow way
        return None
    return heat_db, magnum_db, transport
