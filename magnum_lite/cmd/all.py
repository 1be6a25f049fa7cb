"""magnum-lite-all: the whole service from one command, ready with no configuration at all.

    magnum-lite-all [--config-file FILE ...]

Embedded (no `transport_url` configured): one process holds the conductor, whose RPC server
listens on oslo.messaging's in-process transport, and the API on a threaded WSGI server
(cheroot). The database defaults to a SQLite file under `state_path`.

With a real `transport_url` (RabbitMQ): magnum-lite-api (gunicorn) and magnum-lite-conductor
run as two child processes; SIGTERM or SIGINT is passed on to them and this process exits once
they have stopped (exit code 0 if both stopped cleanly).

Either way the schema is upgraded at start, the credentials key is made when there is none
(`[credentials] encryption_key_file`, beside the SQLite file by default), and `[api]
auth_strategy` defaults to `noauth` for this command only (a configuration file may still say
`keystone`).
"""

import magnum_lite  # noqa: F401, I001  (selects oslo.service's threading backend first)

import os
import signal
import subprocess
import sys
import threading
import time

BINARY = "magnum-lite-all"
# Set in a child's environment to say which part it runs (an internal detail).
ROLE_ENV = "MAGNUM_LITE_ALL_ROLE"
ROLES = ("conductor", "api")
# Seconds the children get on top of their own stop timeout before they are killed.
CHILD_STOP_GRACE = 2.0


def _set_defaults() -> None:
    """This command's own defaults, before the configuration is parsed."""
    from magnum_lite.conf import CONF

    CONF.set_default("auth_strategy", "noauth", group="api")


def _ensure_credentials_key() -> bool:
    """Make the credentials key on first start when none is configured (beside the SQLite
    file by default, mode 0600), so that secrets are never stored in clear by default."""
    from oslo_log import log as logging

    from magnum_lite.common import encryption

    log = logging.getLogger(__name__)
    try:
        made = encryption.ensure_key()
    except (OSError, encryption.KeyFileUnreadable) as err:
        reason = err.strerror if isinstance(err, OSError) else str(err)
        log.error("Cannot make the credentials encryption key %s: %s. Set [credentials] "
                  "encryption_keys or encryption_key_file to a key this user can read.",
                  encryption.key_file(), reason or type(err).__name__)
        return False
    if made:
        log.info("Created the credentials encryption key %s (mode 0600)", made)
    return True


def _run_embedded() -> int:
    from magnum_lite.common import service
    from magnum_lite.conductor import service as conductor_service
    from magnum_lite.conf import CONF

    def load_app() -> object:
        from magnum_lite.api import app

        return app.load_app(CONF)

    service.log_process_report(BINARY)
    runner = service.ServiceRunner([
        conductor_service.ConductorService(),
        service.WSGIServerService(load_app, CONF.api.host, CONF.api.port, CONF.api.threads,
                                  keepalive=CONF.api.keepalive_timeout),
    ])
    code, clean = runner.run()
    return service.exit_process(code, clean)


class _Children:
    """The API and conductor child processes, stopped together."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        for role in ROLES:
            env = dict(os.environ, **{ROLE_ENV: role})
            self.processes[role] = subprocess.Popen(
                [sys.executable, "-m", "magnum_lite.cmd.all", *self.argv], env=env)

    def first_exited(self) -> str | None:
        return next((role for role, proc in self.processes.items()
                     if proc.poll() is not None), None)

    def stop(self, timeout: float) -> dict[str, int]:
        """SIGTERM to each child still running; SIGKILL after `timeout`. Exit codes."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes = {}
        for role, proc in self.processes.items():
            try:
                codes[role] = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[role] = proc.wait()
        return codes


def _run_children(argv: list[str]) -> int:
    from oslo_log import log as logging

    from magnum_lite.cmd import api
    from magnum_lite.common import service
    from magnum_lite.conf import CONF

    log = logging.getLogger(__name__)
    service.log_process_report(BINARY)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signo: int, frame: object) -> None:
        received.append(signo)
        stop.set()

    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, on_signal)
    children = _Children(argv)
    children.start()
    log.info("Started magnum-lite-api (pid %d) and magnum-lite-conductor (pid %d)",
             children.processes["api"].pid, children.processes["conductor"].pid)
    code = 0
    while not stop.wait(0.5):
        role = children.first_exited()
        if role is not None:
            log.error("The %s process exited with %s: stopping", role,
                      children.processes[role].returncode)
            code = 1
            break
    if received:
        log.info("Received %s: stopping the children", signal.Signals(received[0]).name)
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, signal.SIG_IGN)
    timeout = max(CONF.conductor.graceful_shutdown_timeout, api.GRACEFUL_TIMEOUT) + \
        CHILD_STOP_GRACE
    codes = children.stop(timeout)
    log.info("Children stopped: %s", codes)
    if code == 0 and any(codes.values()):
        code = 1
    return code


def _run_role(role: str) -> int:
    """A child of the RabbitMQ mode: run magnum-lite-api or magnum-lite-conductor."""
    from magnum_lite.cmd import api, conductor

    return api.run() if role == "api" else conductor.run()


def main(argv: list[str] | None = None) -> int:
    from oslo_service import backend

    backend.init_backend(backend.BackendType.THREADING)

    from magnum_lite.common import rpc, service

    argv = sys.argv[1:] if argv is None else argv
    role = os.environ.get(ROLE_ENV)
    if role is not None and role not in ROLES:
        sys.stderr.write(f"{BINARY}: unknown {ROLE_ENV}={role}\n")
        return 2
    _set_defaults()
    prog = {"api": "magnum-lite-api", "conductor": "magnum-lite-conductor"}.get(role, BINARY)
    service.prepare_service(argv, prog=prog)
    if role is not None:
        return _run_role(role)

    from oslo_log import log as logging
    from oslo_utils import strutils

    from magnum_lite.db import migration

    log = logging.getLogger(__name__)
    try:
        migration.upgrade()
        log.info("Database schema at revision %s", migration.version())
        from magnum_lite.objects import driver

        driver.seed_default_drivers()
    except Exception as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        log.error(
            "Could not upgrade the database schema: %s: %s. Check [database] connection.",
            type(err).__name__, strutils.mask_password(first_line))
        return 1
    if not _ensure_credentials_key():
        return 1
    if rpc.is_embedded():
        return _run_embedded()
    return _run_children(argv)


if __name__ == "__main__":
    sys.exit(main())
