"""oslo.middleware's RequestBodySizeLimiter, without its webob wrapping where it only passes
the request on.

A request whose Content-Length is a plain number within `[oslo_middleware]
max_request_body_size` is passed on unchanged by oslo's limiter, and so is one with neither a
Content-Length nor a chunked body (it has no body: oslo's limiter would wrap its empty input
in a reader that can never exceed the limit). Those go to the application here as oslo's
would send them (see passthrough.py); any other (too long, chunked, a Content-Length webob
would not read as a number) goes through oslo's limiter itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from oslo_middleware import sizelimit

from magnum_lite.api.middleware import passthrough


class RequestBodySizeLimiter(sizelimit.RequestBodySizeLimiter):
    """oslo.middleware's body size limit, answering within-limit requests as a plain WSGI
    layer."""

    def _passes_unchanged(self, environ: dict) -> bool:
        length = environ.get("CONTENT_LENGTH")
        if length is None:
            return "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        return (length.isascii() and length.isdigit()
                and int(length) <= self._conf_get("max_request_body_size"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._passes_unchanged(environ):
            return passthrough.call(self.application, environ, start_response)
        return super().__call__(environ, start_response)
