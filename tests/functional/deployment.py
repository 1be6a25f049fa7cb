"""Real magnum-lite processes for functional tests, on real databases and a real broker.

A `Deployment` writes a config file, upgrades the schema with `magnum-lite-manage`, starts
`magnum-lite-conductor` and `magnum-lite-api` (or `magnum-lite-all`) as child processes and
drives them over HTTP or with the real `openstack coe` CLI. The helpers that provision a
database or a RabbitMQ vhost clean up after themselves and skip (or, under CI=true, fail through
the conftest hook) when the service is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

BIN = pathlib.Path(sys.executable).parent
CITEST = "openstack_citest"
POSTGRESQL_ADMIN_URL = f"postgresql+psycopg2://{CITEST}:{CITEST}@127.0.0.1:5432/{CITEST}"
MARIADB_ADMIN_URL = f"mysql+pymysql://{CITEST}:{CITEST}@127.0.0.1:3306/"
START_TIMEOUT = 60.0
# A conductor stops within [conductor] graceful_shutdown_timeout (8 s) plus its RPC and
# heartbeat joins; the rest is room for a loaded CI machine (a hang still fails the test).
STOP_TIMEOUT = 30.0


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_engine(url: str):
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    except Exception as err:  # any driver error means: no usable server
        engine.dispose()
        pytest.skip(f"database server not usable at {url.split('@')[-1]} ({type(err).__name__}); "
                    "run tools/test-setup.sh")
    return engine


@contextlib.contextmanager
def postgresql_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    import sqlalchemy as sa

    engine = _admin_engine(POSTGRESQL_ADMIN_URL)
    name = f"mlfunc_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://{CITEST}:{CITEST}@127.0.0.1:5432/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :name"), {"name": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@contextlib.contextmanager
def mariadb_database() -> Iterator[str]:
    """A new, empty MariaDB database (utf8mb4); dropped afterwards."""
    import sqlalchemy as sa

    engine = _admin_engine(MARIADB_ADMIN_URL)
    name = f"mlfunc_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield f"mysql+pymysql://{CITEST}:{CITEST}@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost open to guest; deleted afterwards. Yields the transport URL."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if not port_open(5672) or rabbitmqctl is None:
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672 (or rabbitmqctl is missing)")
    vhost = f"mlfunc_{uuid.uuid4().hex[:12]}"

    def ctl(*args: str) -> None:
        subprocess.run([rabbitmqctl, *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"rabbit://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


class Deployment:
    """magnum-lite processes sharing one work directory, config file and log files."""

    def __init__(self, workdir: pathlib.Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.config_file: pathlib.Path | None = None
        self.env = dict(os.environ, HOME=str(workdir), PYTHONUNBUFFERED="1")
        self.env.pop("OS_CLOUD", None)

    def write_config(self, sections: dict[str, dict[str, str]]) -> pathlib.Path:
        lines = []
        for section, options in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {value}" for key, value in options.items())
            lines.append("")
        self.config_file = self.workdir / "magnum-lite.conf"
        self.config_file.write_text("\n".join(lines))
        return self.config_file

    def _config_args(self) -> list[str]:
        return ["--config-file", str(self.config_file)] if self.config_file else []

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "magnum-lite-manage"), *self._config_args(), *args],
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=True)

    def start(self, binary: str) -> subprocess.Popen:
        log = open(self.workdir / f"{binary}.log", "wb")  # noqa: SIM115 (closed in stop)
        proc = subprocess.Popen([str(BIN / binary), *self._config_args()], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                start_new_session=True)
        proc.log_file = log  # type: ignore[attr-defined]
        self.processes[binary] = proc
        return proc

    def log(self, binary: str) -> str:
        path = self.workdir / f"{binary}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for binary, proc in self.processes.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{binary} exited with {proc.returncode}:\n"
                                         f"{self.log(binary)[-4000:]}")
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.endpoint} did not answer within {START_TIMEOUT}s")

    def stop(self) -> dict[str, int]:
        """SIGTERM every process; kill what has not exited after STOP_TIMEOUT. Exit codes."""
        codes = {}
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for binary, proc in self.processes.items():
            try:
                codes[binary] = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[binary] = proc.wait(timeout=STOP_TIMEOUT)
            proc.log_file.close()  # type: ignore[attr-defined]
        self.processes.clear()
        return codes

    def run_openstack(self, *args: str) -> subprocess.CompletedProcess:
        """Run the real `openstack` CLI against this deployment without Keystone, whatever
        its exit code."""
        env = dict(self.env, OS_AUTH_TYPE="none", OS_ENDPOINT=self.endpoint + "/v1")
        for key in list(env):
            if key.startswith("OS_") and key not in ("OS_AUTH_TYPE", "OS_ENDPOINT"):
                env.pop(key)
        return subprocess.run([str(BIN / "openstack"), *args], env=env, capture_output=True,
                              text=True, timeout=120)

    def openstack(self, *args: str, parse_json: bool = True) -> object:
        """Run the real `openstack` CLI against this deployment without Keystone; fail unless
        it exits 0."""
        done = self.run_openstack(*args, *(["-f", "json"] if parse_json else []))
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        if not parse_json:
            return done.stdout
        # Some commands print a line ("Request to create ... accepted") before the JSON.
        start = min((i for i in (done.stdout.find("{"), done.stdout.find("[")) if i >= 0),
                    default=0)
        return json.loads(done.stdout[start:])

    def http(self, method: str, path: str, body: object = None,
             headers: dict | None = None) -> tuple[int, str]:
        """(status, body text) of one request to the API, as a noauth member of the default
        project at the latest microversion."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.endpoint + path, data=data, method=method,
            headers={"Content-Type": "application/json",
                     "OpenStack-API-Version": "container-infra latest", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_for(self, predicate, timeout: float = 30.0, interval: float = 0.3):
        """Poll `predicate` until it returns something truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(interval)
