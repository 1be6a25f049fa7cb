"""oslo.middleware's CORS, configured from magnum-lite's configuration ([cors]).

oslo.middleware's own paste factory wants `oslo_config_project`, with which it parses the
project's default config files a second time (and misses those given with --config-file);
this factory hands it the configuration the server already parsed.

A request that is no preflight (OPTIONS) and carries no Origin header is passed straight to the
application: oslo's CORS neither looks at it nor changes its response, but its webob wrapping
(a Request, a Response, and its signature inspection) cost a sixth of a small GET.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from oslo_middleware import cors

from magnum_lite.conf import CONF


class CORS(cors.CORS):
    """oslo.middleware's CORS, skipped for requests it leaves alone."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "OPTIONS" and "HTTP_ORIGIN" not in environ:
            return self.application(environ, start_response)
        return super().__call__(environ, start_response)


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory."""

    def _filter(app: Callable) -> CORS:
        return CORS(app, CONF)

    return _filter
