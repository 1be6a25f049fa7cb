"""The WSGI application: the paste pipeline of etc/magnum-lite/api-paste.ini around pecan.

`load_app()` builds it once per server, before the server forks its workers: it opens no
connection and creates no RPC transport (the RPC client is made on first use, in the worker).
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from typing import Any

from oslo_config import cfg
from oslo_middleware import base as oslo_middleware_base
from oslo_middleware import cors
from paste import deploy
import pecan
from pecan import core as pecan_core
from pecan import routing as pecan_routing
from pecan import util as pecan_util

from magnum_lite.api import hooks
from magnum_lite.api.controllers import root
from magnum_lite.api.middleware import request_guard
from magnum_lite.common import policy
from magnum_lite.conf import CONF

# The pipelines of the paste file, one per [api] auth_strategy.
PIPELINES = ("keystone", "noauth")

# Where the default paste file is when no config directory has one: the repository (a source
# or editable install), then the installation prefix (data_files of a wheel).
_DEFAULT_DIRS = (
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                 "etc", "magnum-lite"),
    os.path.join(sys.prefix, "etc", "magnum-lite"),
)

_CORS_ALLOW_HEADERS = ["X-Auth-Token", "X-Identity-Status", "X-Roles", "X-Service-Catalog",
                       "X-User-Id", "X-Project-Id", "X-OpenStack-Request-ID",
                       "OpenStack-API-Version"]
_CORS_EXPOSE_HEADERS = ["X-Auth-Token", "X-Subject-Token", "X-Service-Token",
                        "X-OpenStack-Request-ID", "OpenStack-API-Version",
                        "OpenStack-API-Minimum-Version", "OpenStack-API-Maximum-Version"]


@functools.cache
def _controller_argspec(function: Any) -> Any:
    return pecan_util.getargspec(function)


def _cached_getargspec(controller: Any) -> Any:
    """pecan inspects the controller's signature twice per request (building a namedtuple
    class each time, ~0.2 ms); a function's signature never changes, so it is computed once."""
    return _controller_argspec(getattr(controller, "__func__", controller))


pecan_core.getargspec = pecan_routing.getargspec = _cached_getargspec

_detect_custom_path_segments = pecan_routing._detect_custom_path_segments


def _detect_custom_path_segments_once(obj: Any) -> None:
    """pecan looks for custom path segments of a controller's class once (then it is in
    `__observed_controllers__`), but lists the controller's attributes (`dir`) on every
    request before it looks whether it has; they are not used when it has."""
    if obj.__class__ not in _OBSERVED_CONTROLLERS:
        _detect_custom_path_segments(obj)


_OBSERVED_CONTROLLERS = pecan_routing.__observed_controllers__
pecan_routing._detect_custom_path_segments = _detect_custom_path_segments_once


@functools.cache
def _function_fullargspec(function: Any) -> Any:
    return inspect.getfullargspec(function)


def _cached_getfullargspec(function: Any) -> Any:
    """oslo.middleware's base middleware inspects its process_response's signature on every
    response (~0.1 ms per middleware); a method's signature never changes."""
    return _function_fullargspec(getattr(function, "__func__", function))


oslo_middleware_base.getfullargspec = _cached_getfullargspec


def setup_app(conf: Any = CONF) -> Any:
    """The pecan application (the innermost WSGI app of the pipeline)."""
    app = pecan.make_app(
        root.RootController(),
        hooks=[hooks.ContextHook(conf), hooks.RPCHook(), hooks.NoExceptionTracebackHook()],
        # "k8s.v1" is a template name, not a request for a ".v1" document.
        guess_content_type_from_ext=False,
        force_canonical=False,
        debug=False,
    )
    policy.init(conf)
    return request_guard.RequestGuard(app)


def app_factory(global_config: dict, **local_conf: Any) -> Any:
    """paste.deploy app factory."""
    return setup_app()


def find_paste_config(conf: Any = CONF) -> str:
    """The paste file: [api] api_paste_config if absolute, else next to the config files,
    else the repository's etc/magnum-lite, else <prefix>/etc/magnum-lite."""
    name = conf.api.api_paste_config
    if os.path.isabs(name):
        if os.path.exists(name):
            return name
        raise cfg.ConfigFilesNotFoundError([name])
    found = conf.find_file(name)
    if found:
        return os.path.abspath(found)
    for directory in _DEFAULT_DIRS:
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate):
            return candidate
    raise cfg.ConfigFilesNotFoundError([name])


def load_app(conf: Any = CONF) -> Any:
    """The whole WSGI application, with the pipeline `[api] auth_strategy` selects."""
    cors.set_defaults(allow_headers=_CORS_ALLOW_HEADERS, expose_headers=_CORS_EXPOSE_HEADERS,
                      allow_methods=["GET", "PUT", "POST", "DELETE", "PATCH"])
    pipeline = conf.api.auth_strategy
    if pipeline not in PIPELINES:
        raise cfg.ConfigFileValueError(f"[api] auth_strategy {pipeline!r} has no pipeline")
    return deploy.loadapp("config:" + find_paste_config(conf), name=pipeline)
