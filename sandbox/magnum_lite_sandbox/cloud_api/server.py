"""The stand-in's process: four WSGI apps behind keystonemiddleware, served by cheroot threads.

`python -m magnum_lite_sandbox.cloud_api --state-dir DIR [--no-auth]`. Ports come from
`sandbox.json` (`cloud_api`), else the contract's defaults; SIGTERM or SIGINT stops all four
servers within a second.
"""

import argparse
from collections.abc import Callable, Mapping
import logging
import os
import pathlib
import signal
import sys
import threading
import time
from typing import Any
from urllib import parse

from cheroot import wsgi
from keystoneauth1 import loading as ks_loading
from keystonemiddleware import auth_token
from oslo_config import cfg

from magnum_lite_sandbox import config
from magnum_lite_sandbox.cloud_api import base, glance, neutron, nova, octavia
from magnum_lite_sandbox.cloud_api.store import Store

LOG = logging.getLogger("magnum_lite_sandbox.cloud_api")

SERVICE_USER = "sandbox-cloud"
AUTH_GROUP = "keystone_authtoken"  # where keystonemiddleware reads its options
_SERVICE_KEY = "magnum_lite_sandbox.service_type"  # WSGI environ key: which service is asked
WSGIApp = Callable[..., Any]

_APP_CLASSES = {"image": glance.GlanceApp, "compute": nova.NovaApp,
                "network": neutron.NeutronApp, "load-balancer": octavia.OctaviaApp}


def auth_settings(sandbox: Mapping[str, Any]) -> dict[str, Any]:
    """keystonemiddleware settings: validate tokens as the `sandbox-cloud` service user.

    The service user's password plugin options live in a private ConfigOpts (the middleware
    reads plugin options from there; given in the settings dict it warns about each), which also
    keeps them out of the global CONF of magnum-lite's process when tests build the apps.
    """
    try:
        user = sandbox["users"][SERVICE_USER]
        keystone_url = sandbox["keystone_url"]
    except KeyError as e:
        raise SystemExit(f"sandbox.json lacks {e}: the service user {SERVICE_USER} and "
                         "keystone_url are needed to validate tokens (or use --no-auth)") from e
    conf = cfg.ConfigOpts()
    conf([], project="sandbox-cloud", default_config_files=[], default_config_dirs=[])
    conf.register_opts(ks_loading.get_auth_plugin_conf_options("password"), group=AUTH_GROUP)
    plugin_options = {
        "auth_url": keystone_url, "username": user["username"], "password": user["password"],
        "project_name": user["project_name"],
        "user_domain_name": user.get("user_domain_name", "Default"),
        "project_domain_name": user.get("project_domain_name", "Default"),
    }
    for name, value in plugin_options.items():
        conf.set_override(name, value, group=AUTH_GROUP)
    return {
        "oslo_config_config": conf,
        "auth_type": "password",
        "www_authenticate_uri": keystone_url,
        "region_name": sandbox.get("region", "RegionOne"),
        # auth_token looks Keystone up in the catalog as `internal` unless told; the sandbox
        # registers public endpoints only.
        "interface": "public",
        "delay_auth_decision": False,     # no valid token: 401 before the app runs
        "include_service_catalog": False,  # the stand-in calls no other service
        "token_cache_time": 300,
    }


def with_public_versions(app: base.ServiceApp, authed: WSGIApp, service_type: str) -> WSGIApp:
    """Version documents answer without a token, as the real services do; the rest: `authed`."""
    def dispatch(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "").rstrip("/") or "/"
        if path in app.public_paths:
            return app(environ, start_response)
        environ[_SERVICE_KEY] = service_type
        return authed(environ, start_response)
    return dispatch


def build_apps(store: Store, auth: Mapping[str, Any] | None) -> dict[str, WSGIApp]:
    """The app of every service type, behind keystonemiddleware unless `auth` is None.

    One auth_token instance serves all four, so a token validated by one service is in the
    cache for the others.
    """
    services = {stype: app_class(store) for stype, app_class in _APP_CLASSES.items()}
    if auth is None:
        return dict(services)

    def to_service(environ: dict, start_response: Callable) -> Any:
        return services[environ[_SERVICE_KEY]](environ, start_response)

    authed = auth_token.AuthProtocol(to_service, dict(auth))
    return {stype: with_public_versions(app, authed, stype) for stype, app in services.items()}


class CloudApiServer:
    """One cheroot server per service type, each on its own thread."""

    def __init__(self, apps: Mapping[str, WSGIApp], endpoints: Mapping[str, str],
                 host: str = "127.0.0.1") -> None:
        self.servers: dict[str, wsgi.Server] = {}
        for service_type, app in apps.items():
            port = parse.urlsplit(endpoints[service_type]).port
            port = 80 if port is None else port  # 0: any free port (tests)
            self.servers[service_type] = wsgi.Server(
                (host, port), app, numthreads=8, server_name=f"sandbox-{service_type}",
                shutdown_timeout=0.5, timeout=5)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Bind every port first (an OSError if one is taken), then serve."""
        prepared: list[wsgi.Server] = []
        try:
            for server in self.servers.values():
                server.prepare()
                prepared.append(server)
        except OSError:
            for server in prepared:  # their worker threads would keep the process alive
                server.stop()
            raise
        for service_type, server in self.servers.items():
            thread = threading.Thread(target=server.serve, name=f"cloud-api-{service_type}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def ports(self) -> dict[str, int]:
        """The bound port of each service (useful when the endpoints asked for port 0)."""
        return {name: server.bind_addr[1] for name, server in self.servers.items()}

    def stop(self, timeout: float = 1.0) -> None:
        """Stop all servers at once, waiting at most `timeout` seconds in all.

        cheroot closes connections its workers still hold once its shutdown_timeout passes;
        whatever is left after `timeout` is main's to end.
        """
        deadline = time.monotonic() + timeout
        stoppers = [threading.Thread(target=s.stop, daemon=True) for s in self.servers.values()]
        for stopper in stoppers:
            stopper.start()
        for thread in stoppers + self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m magnum_lite_sandbox.cloud_api",
        description="Serve the sandbox's stand-in Glance, Nova, Neutron and Octavia APIs.")
    parser.add_argument("--state-dir", type=pathlib.Path, default=None,
                        help="sandbox state directory holding sandbox.json (default: "
                             "$MAGNUM_LITE_SANDBOX_DIR or ~/.local/share/magnum-lite/sandbox)")
    parser.add_argument("--no-auth", action="store_true",
                        help="no Keystone: identity from X-Project-Id/X-User-Id/X-Roles headers")
    parser.add_argument("--lb-delay", type=float, default=1.0,
                        help="seconds a load balancer stays PENDING_CREATE/PENDING_DELETE")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    state_dir = (args.state_dir or config.default_state_dir()).expanduser()
    sandbox = config.load(state_dir) or {}
    endpoints = {**config.CLOUD_API, **sandbox.get("cloud_api", {})}
    auth = None if args.no_auth else auth_settings(sandbox)
    server = CloudApiServer(build_apps(Store(lb_delay=args.lb_delay,
                                                  state_dir=str(state_dir)), auth), endpoints)

    try:
        server.start()
    except OSError as e:
        LOG.error("cannot listen: %s", e)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    LOG.info("serving %s (auth: %s)",
             ", ".join(f"{name} :{port}" for name, port in server.ports().items()),
             "off" if auth is None else "keystone")
    while not stop.wait(0.2):
        pass
    server.stop()
    LOG.info("stopped")
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        # A cheroot worker still busy: the promise is to be gone within 2 s of SIGTERM.
        logging.shutdown()
        os._exit(0)
    return 0
