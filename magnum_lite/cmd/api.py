"""magnum-lite-api: the REST API, served by gunicorn embedded as a library.

    magnum-lite-api [--config-file FILE ...]

`[api] workers` processes, each with `[api] threads` threads (gunicorn's gthread worker), on
`[api] host`:`[api] port`. The application is loaded in each worker after the fork (no
preload), so no RPC transport or database connection is ever shared between processes, and the
master imports only the configuration, logging and gunicorn.
SIGTERM stops gracefully (exit code 0); exit code 2: not configured.
"""

import magnum_lite  # noqa: F401, I001  (selects oslo.service's threading backend first)

import sys
from typing import Any

BINARY = "magnum-lite-api"
# Seconds a stopping worker gets to finish its requests. API requests are short: the API
# never waits on the cloud.
GRACEFUL_TIMEOUT = 8
# Seconds a worker may spend on one request before gunicorn replaces it.
WORKER_TIMEOUT = 60


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _post_worker_init(worker: Any) -> None:
    from magnum_lite.common import service

    service.log_process_report(f"{BINARY} worker")


def gunicorn_options(conf: Any) -> dict[str, Any]:
    """gunicorn settings from our configuration."""
    return {
        "bind": [_bind(conf.api.host, conf.api.port)],
        "workers": conf.api.workers,
        "worker_class": "gthread",
        "threads": conf.api.threads,
        # Longer than polling clients' idle gaps: gunicorn's 2 s default closes a pooled
        # connection just as a client polling every 2 s reuses it (see the option's help).
        "keepalive": conf.api.keepalive_timeout,
        "preload_app": False,
        "proc_name": BINARY,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "timeout": WORKER_TIMEOUT,
        # Requests are logged by the application with their request id; gunicorn's own
        # access log would only repeat them.
        "accesslog": None,
        "errorlog": "-",
        # gunicorn >= 25.1 opens a control socket under $HOME by default: not for a service.
        "control_socket_disable": True,
        "post_worker_init": _post_worker_init,
    }


def make_application(conf: Any) -> Any:
    """A gunicorn application that loads magnum_lite's WSGI app in each worker."""
    from gunicorn.app import base as gunicorn_base

    class APIApplication(gunicorn_base.BaseApplication):
        def __init__(self) -> None:
            self.options = gunicorn_options(conf)
            super().__init__(usage=None, prog=BINARY)

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # In the worker, after the fork: the master never imports the application
            # (nor oslo.service's backend, oslo.messaging or the database layer), so it stays
            # the size of a bare gunicorn and shares nothing with the workers.
            from oslo_service import backend

            backend.init_backend(backend.BackendType.THREADING)

            from magnum_lite.api import app

            return app.load_app(conf)

    return APIApplication()


def run() -> int:
    """Serve until SIGTERM; the configuration is already parsed."""
    from magnum_lite.common import service
    from magnum_lite.conf import CONF

    service.log_process_report(BINARY)
    try:
        make_application(CONF).run()
    except SystemExit as stop:  # gunicorn's arbiter ends with sys.exit
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    # This is gunicorn's master: it parses the configuration and runs the arbiter. oslo.service's
    # threading backend is chosen by `import magnum_lite` (registered, not loaded) and loaded
    # by each worker before the application (APIApplication.load).
    from magnum_lite.common import service, transport_check
    from magnum_lite.conf import CONF

    return service.main_over_message_bus(
        BINARY, argv, run,
        is_embedded=lambda: not transport_check.transport_url_configured(CONF))


if __name__ == "__main__":
    sys.exit(main())
