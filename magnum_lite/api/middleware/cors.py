"""oslo.middleware's CORS, configured from magnum-lite's configuration ([cors]).

oslo.middleware's own paste factory wants `oslo_config_project`, with which it parses the
project's default config files a second time (and misses those given with --config-file);
this factory hands it the configuration the server already parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oslo_middleware import cors

from magnum_lite.conf import CONF


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory."""

    def _filter(app: Callable) -> cors.CORS:
        return cors.CORS(app, CONF)

    return _filter
