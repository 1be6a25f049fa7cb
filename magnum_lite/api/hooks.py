"""pecan hooks: the request context, the conductor's RPC client, and no tracebacks to clients."""

from __future__ import annotations

import logging
import threading
from typing import Any

from oslo_db import exception as db_exc
from pecan import hooks
import webob

from magnum_lite.api import errors
from magnum_lite.common import context as magnum_context
from magnum_lite.common import policy
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)


class ContextHook(hooks.PecanHook):
    """Builds `pecan.request.context`, the RequestContext of the caller.

    With Keystone, keystonemiddleware has validated the token and set X-Project-Id, X-User-Id,
    X-Roles, ... (oslo.context reads them). In noauth mode the same headers are taken when
    present and the [api] noauth_* defaults otherwise, so an unauthenticated client (the CLI
    with --os-auth-type none) acts as the configured project and user.
    """

    def __init__(self, conf: Any = CONF) -> None:
        self.noauth = conf.api.auth_strategy == "noauth"
        self.noauth_project_id = conf.api.noauth_project_id
        self.noauth_user_id = conf.api.noauth_user_id
        self.noauth_roles = list(conf.api.noauth_roles)

    def before(self, state: Any) -> None:
        environ = state.request.environ
        context = magnum_context.RequestContext.from_environ(environ)
        if self.noauth:
            context.project_id = context.project_id or self.noauth_project_id
            context.user_id = context.user_id or self.noauth_user_id
            if "HTTP_X_ROLES" not in environ:
                context.roles = list(self.noauth_roles)
        # For requests to other services on the user's behalf (common.clients).
        context.user_auth_plugin = environ.get("keystone.token_auth")
        context.service_catalog = environ.get("HTTP_X_SERVICE_CATALOG")
        context.is_admin = policy.check_is_admin(context)
        state.request.context = context


class _LazyConductorAPI:
    """The conductor's RPC client of this process, created on first use.

    The API server loads the application and then forks its workers: a client (and its
    transport, with connections and threads) made before the fork would be shared by every
    worker. Made on first use, each worker has its own.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from magnum_lite.conductor import rpcapi

                    self._client = rpcapi.ConductorAPI()
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


class RPCHook(hooks.PecanHook):
    """Gives controllers `pecan.request.rpcapi`, the conductor's RPC client."""

    def __init__(self) -> None:
        self.conductor_api = _LazyConductorAPI()

    def before(self, state: Any) -> None:
        state.request.rpcapi = self.conductor_api


class NoExceptionTracebackHook(hooks.PecanHook):
    """Turns an exception that escaped the controllers into a bare 500 (or 503).

    The controllers answer their own errors; this catches what fails around them (routing,
    hooks). The traceback goes to the log with the request id, never to the client.
    """

    def on_error(self, state: Any, exc: Exception) -> webob.Response | None:
        if isinstance(exc, webob.exc.HTTPException):
            return None  # pecan answers it; the error middleware rewrites the body
        request_id = state.request.environ.get(errors.REQUEST_ID_KEY)
        if isinstance(exc, db_exc.DBConnectionError):
            LOG.error("Request %s: database unavailable: %s", request_id, exc)
            status, detail = 503, "The database is unavailable; retry later."
        else:
            LOG.error("Request %s failed", request_id, exc_info=exc)
            status, detail = 500, errors.internal_error_detail(request_id)
        body = errors.error_body(status, detail, request_id,
                                 title=errors.INTERNAL_ERROR if status == 500 else None)
        return webob.Response(body=body, status=status, content_type="application/json",
                              charset=None)
