"""Route `/healthcheck` to oslo.middleware's health check application, unauthenticated.

oslo.middleware ships the health check as an application (its filter factory is gone); this
filter sends the one path to it and everything else down the pipeline, without a URL map.
Options other than `path` are the health check's own (`backends`, `disable_by_file_path`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from oslo_middleware import healthcheck


class HealthcheckRoute:
    """Sends requests for `path` to the health check, the others to `app`."""

    def __init__(self, app: Callable, check: Callable, path: str) -> None:
        self.app = app
        self.check = check
        self.path = path.rstrip("/")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") or "").rstrip("/") == self.path:
            return self.check(environ, start_response)
        return self.app(environ, start_response)


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory."""
    path = local_conf.pop("path", "/healthcheck")
    check = healthcheck.Healthcheck.app_factory(None, **local_conf)

    def _filter(app: Callable) -> HealthcheckRoute:
        return HealthcheckRoute(app, check, path)

    return _filter
