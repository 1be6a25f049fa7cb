"""keystonemiddleware's auth_token, except for the public documents (`/` and `/v1`).

Its options are read from magnum-lite's own configuration ([keystone_authtoken]): the paste
file names the project (`oslo_config_project`, for tools that load the pipeline on their own),
and this factory hands keystonemiddleware the configuration the server already parsed, so the
files given with --config-file count and nothing is parsed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from keystonemiddleware import auth_token

from magnum_lite.conf import CONF


class AuthTokenMiddleware(auth_token.AuthProtocol):
    """Token validation for every path but the public ones."""

    def __init__(self, app: Callable, conf: dict, public_paths: Iterable[str] = ()) -> None:
        self.public_paths = frozenset(p.rstrip("/") for p in public_paths)
        super().__init__(app, conf)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        path = (environ.get("PATH_INFO") or "/").rstrip("/")
        if path in self.public_paths:
            return self._app(environ, start_response)
        return super().__call__(environ, start_response)


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory; `acl_public_routes` is a comma separated list of paths."""
    public = [p.strip() for p in local_conf.pop("acl_public_routes", "").split(",") if p.strip()]
    # Only this filter's own options: paste's globals (`here`, `__file__`) are not auth_token's.
    conf = {**local_conf, "oslo_config_config": CONF}

    def _filter(app: Callable) -> AuthTokenMiddleware:
        return AuthTokenMiddleware(app, dict(conf), public_paths=public)

    return _filter
