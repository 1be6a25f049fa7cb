"""WSGI entry point for an external WSGI server: `magnum_lite.api.wsgi:application`.

For uwsgi, mod_wsgi or a gunicorn of your own. The configuration comes from the files named in
the environment variable MAGNUM_LITE_CONFIG_FILE (comma-separated), else from oslo.config's
default locations (~/.magnum-lite/, ~/, /etc/magnum-lite/, /etc/ for magnum-lite.conf). The
server's command line is never read: its arguments are not ours. Configure the server to load
the application in each worker after it forks (no preloading in the master), so that no RPC
transport or database connection is shared between processes.
"""

import magnum_lite  # noqa: F401, I001  (selects oslo.service's threading backend first)

import os
from typing import Any

CONFIG_FILE_ENV = "MAGNUM_LITE_CONFIG_FILE"
BINARY = "magnum-lite-api"


def config_args(environ: dict | None = None) -> list[str]:
    """`--config-file` arguments for the files named in MAGNUM_LITE_CONFIG_FILE."""
    value = (os.environ if environ is None else environ).get(CONFIG_FILE_ENV, "")
    args: list[str] = []
    for path in (p.strip() for p in value.split(",")):
        if path:
            args += ["--config-file", path]
    return args


def init_application() -> Any:
    """Parse the configuration, set up logging and build the WSGI application."""
    from oslo_service import backend

    # `import magnum_lite` chose threading; loaded here, before the application, as
    # magnum-lite-api's workers do (the startup report then names it).
    backend.init_backend(backend.BackendType.THREADING)

    from magnum_lite.api import app
    from magnum_lite.common import rpc, service
    from magnum_lite.conf import CONF

    service.prepare_service(config_args(), prog=BINARY)
    if rpc.is_embedded():
        raise RuntimeError(
            f"{BINARY}: [DEFAULT] transport_url is not set in the configuration "
            f"({CONFIG_FILE_ENV} or the default locations): the API reaches the conductor "
            "over the message bus.")
    service.log_process_report(BINARY)
    return app.load_app(CONF)


application = init_application()
