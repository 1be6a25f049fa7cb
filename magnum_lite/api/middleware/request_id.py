"""oslo.middleware's RequestId without its webob wrapping.

Every request gets `openstack.request_id` (a new `req-<uuid>`), and `openstack.global_request_id`
when the caller sent a well-formed X-OpenStack-Request-ID; every response carries
x-openstack-request-id unless it already has one. The same as oslo.middleware's, with the
response passed on as its webob wrapping would (see passthrough.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import re

from oslo_context import context
from oslo_middleware import request_id as oslo_request_id

from magnum_lite.api.middleware import passthrough

_INBOUND_KEY = "HTTP_" + oslo_request_id.INBOUND_HEADER.upper().replace("-", "_")
_ID_FORMAT = re.compile(oslo_request_id.ID_FORMAT)


class RequestId(oslo_request_id.RequestId):
    """oslo.middleware's RequestId as a plain WSGI layer."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        global_id = environ.get(_INBOUND_KEY, "")
        if _ID_FORMAT.match(global_id):
            environ[oslo_request_id.GLOBAL_REQ_ID] = global_id
        request_id = context.generate_request_id()
        environ[oslo_request_id.ENV_REQUEST_ID] = request_id
        names = [oslo_request_id.HTTP_RESP_HEADER_REQUEST_ID, *self.compat_headers]

        def add_request_id(status: str, headers: list) -> list:
            present = {name.lower() for name, _ in headers}
            for name in names:
                if name.lower() not in present:
                    headers.append((name, request_id))
                    present.add(name.lower())
            return headers

        return passthrough.call(self.application, environ, start_response, add_request_id)
