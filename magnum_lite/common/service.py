"""Process plumbing shared by the entry points: configuration and logging, a startup report,
a threaded WSGI server, and a runner that stops everything cleanly on SIGTERM or SIGINT.

Plain threads and signal handlers rather than an oslo.service launcher: the threading launcher
forks a child per service (cotyledon), which `magnum-lite-all` cannot use with its in-process
transport, and a runner we own can promise to exit within a bounded time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import importlib.metadata
import os
import signal
import socket
import sys
import threading
from typing import Any, Protocol

from oslo_log import log as logging
from oslo_service import backend as oslo_service_backend

from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

PROJECT = "magnum-lite"
# Seconds the process waits on top of its services' own stop timeouts before it gives up
# waiting for them and exits anyway.
STOP_GRACE = 0.5
# Library loggers that are noisy at INFO in a service's log.
_QUIET_LOGGERS = ["stevedore=WARN", "kombu=WARN", "cheroot=WARN", "futurist=WARN",
                  "alembic=WARN"]


def version() -> str:
    try:
        return importlib.metadata.version(PROJECT)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def prepare_service(argv: Sequence[str], prog: str,
                    default_config_files: list[str] | None = None) -> None:
    """Parse the command line and configuration files, then set up logging.

    `argv` excludes the program name. Registering oslo.log's options must precede parsing.
    """
    logging.register_options(CONF)
    logging.set_defaults(default_log_levels=logging.get_default_log_levels() + _QUIET_LOGGERS)
    CONF(list(argv), project=PROJECT, prog=prog, version=version(),
         default_config_files=default_config_files)
    logging.setup(CONF, PROJECT)


def main_over_message_bus(binary: str, argv: Sequence[str] | None,
                          run: Callable[[], int],
                          is_embedded: Callable[[], bool] | None = None) -> int:
    """Entry point of a process that meets the others over the message bus: parse the
    configuration, refuse to start (exit 2) without a transport_url, else `run()`.
    `is_embedded` answers "no transport_url?" (rpc.is_embedded by default)."""
    prepare_service(sys.argv[1:] if argv is None else argv, prog=binary)
    if is_embedded is None:
        from magnum_lite.common import rpc

        is_embedded = rpc.is_embedded
    if is_embedded():
        sys.stderr.write(missing_transport_message(binary) + "\n")
        return 2
    return run()


def missing_transport_message(binary: str) -> str:
    """Why `binary` refuses to start without a transport_url, and what to do."""
    return (f"{binary}: [DEFAULT] transport_url is not set. magnum-lite-api and "
            "magnum-lite-conductor meet over the message bus (RabbitMQ): set transport_url "
            "for both, or run magnum-lite-all, which holds both in one process.")


def eventlet_monkey_patched() -> list[str]:
    """The stdlib modules eventlet has patched in this process; by design there are none."""
    patched = []
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        patched = [name for name in ("os", "select", "socket", "thread", "time")
                   if patcher.is_monkey_patched(name)]
    if socket.socket.__module__ != "socket" and "socket" not in patched:
        patched.append("socket")
    return patched


def process_report(binary: str) -> str:
    """One line for the log: what runs, where, and that nothing is monkey patched."""
    backend = oslo_service_backend.get_backend_type()
    patched = eventlet_monkey_patched()
    return (f"{binary} {version()} on host {CONF.host} (pid {os.getpid()}): "
            f"oslo.service backend {backend.value if backend else 'not loaded'}, "
            f"eventlet monkey patching: {', '.join(patched) if patched else 'none'}")


def log_process_report(binary: str) -> None:
    LOG.info("%s", process_report(binary))


class Service(Protocol):
    """What the runner drives: start, report liveness, stop within a bounded time."""

    name: str
    stop_timeout: float  # the longest stop() may take

    def start(self) -> None:
        """Start serving; raise if that is impossible."""

    def is_alive(self) -> bool:
        """False once the service died on its own (the process then stops)."""

    def stop(self) -> bool:
        """Stop; False if threads doing work were left running (the process must not wait)."""


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived while services were still starting.

    A BaseException, so that a library retrying a connection in a broad `except Exception`
    loop lets it through.
    """


class ServiceRunner:
    """Runs services in this process until SIGTERM or SIGINT, then stops them in reverse."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = list(services)
        self._stop = threading.Event()
        self._starting = True
        self.signal_received: int | None = None

    def _on_signal(self, signo: int, frame: Any) -> None:
        self.signal_received = signo
        self._stop.set()
        if self._starting:
            raise StopRequested(signal.Signals(signo).name)

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> tuple[int, bool]:
        """Serve until told to stop. Returns (exit code, whether every thread was stopped)."""
        previous = {signo: signal.signal(signo, self._on_signal)
                    for signo in (signal.SIGTERM, signal.SIGINT)}
        started: list[Service] = []
        code = 0
        try:
            for service in self.services:
                # Listed first: a half-started service (signal or error in start) is stopped
                # too, so it releases what it had opened.
                started.append(service)
                service.start()
            self._starting = False
            while not self._stop.wait(0.5):
                dead = [s.name for s in started if not s.is_alive()]
                if dead:
                    LOG.error("%s stopped on its own: stopping the process", ", ".join(dead))
                    code = 1
                    break
        except StopRequested:
            pass  # logged below, as any signal
        except Exception:
            LOG.exception("Could not start %s", ", ".join(s.name for s in self.services))
            code = 1
        finally:
            self._starting = False
            # A second SIGTERM or SIGINT while stopping changes nothing: stopping is bounded.
            for signo in previous:
                signal.signal(signo, signal.SIG_IGN)
        if self.signal_received is not None:
            LOG.info("Received %s: stopping", signal.Signals(self.signal_received).name)
        clean = self._stop_all(started)
        for signo, handler in previous.items():
            signal.signal(signo, handler)
        return code, clean

    def _stop_all(self, started: list[Service]) -> bool:
        """Stop in reverse order; a service that takes too long is left behind, not waited on."""
        deadline = sum(service.stop_timeout for service in started) + STOP_GRACE
        result: list[bool] = []
        stopper = threading.Thread(target=self._stop_in_order, args=(started, result),
                                   name="stop-services", daemon=True)
        stopper.start()
        stopper.join(deadline)
        if stopper.is_alive():
            LOG.error("Services did not stop within %.1fs", deadline)
            return False
        return all(result)

    @staticmethod
    def _stop_in_order(started: list[Service], result: list[bool]) -> None:
        clean = True
        for service in reversed(started):
            try:
                clean = service.stop() and clean
                LOG.info("Stopped %s", service.name)
            except Exception:
                LOG.exception("Error stopping %s", service.name)
        result.append(clean)


def exit_process(code: int, clean: bool) -> int:
    """Return `code`, or end the process at once when threads were left running.

    Interpreter exit would join the thread pools' workers (futurist registers an atexit
    join), and a worker stuck in a cloud call would keep the process alive past its deadline.
    """
    if not clean:
        LOG.warning("Exiting with work threads still running")
        logging_shutdown()
        os._exit(code)
    return code


def logging_shutdown() -> None:
    import logging as std_logging

    std_logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()


class WSGIServerService:
    """A threaded WSGI server in this process (cheroot: a production HTTP/1.1 server)."""

    name = "wsgi server"

    def __init__(self, app_factory: Callable[[], Any], host: str, port: int, threads: int,
                 shutdown_timeout: float = 2.0, keepalive: float = 10.0) -> None:
        self._app_factory = app_factory
        # cheroot's `timeout`: how long an idle kept-alive connection stays open (and the
        # socket timeout of a request being read).
        self.keepalive = keepalive
        self.host = host
        self.port = port
        self.threads = threads
        self.shutdown_timeout = shutdown_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from cheroot import wsgi

        app = self._app_factory()
        self._server = wsgi.Server((self.host, self.port), app, numthreads=self.threads,
                                   server_name=f"{PROJECT}-api",
                                   shutdown_timeout=self.shutdown_timeout,
                                   timeout=self.keepalive)
        self._server.prepare()  # binds now: a port in use fails the start, not a thread
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name="wsgi-server",
                                        daemon=True)
        self._thread.start()
        LOG.info("Serving the API on http://%s:%d/ with %d threads", self.host, self.port,
                 self.threads)

    @property
    def stop_timeout(self) -> float:
        """The longest `stop()` takes: requests in flight get `shutdown_timeout`."""
        return 2 * self.shutdown_timeout

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> bool:
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(self.shutdown_timeout)
            return not self._thread.is_alive()
        return True

