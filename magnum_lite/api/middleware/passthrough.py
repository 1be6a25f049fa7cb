"""Calling the next application as oslo.middleware's webob-based middleware does, without
building webob's Request and Response for it.

oslo.middleware's RequestId and RequestBodySizeLimiter are `webob.dec.wsgify` methods that
hand the request on with `req.get_response(app)` and return that Response: a webob Request,
two Responses and a header view per layer, a sixth of a small GET for the two. What that
wrapping does to a response is small and is all done here, in the same order: the next
application's start_response is held until it returns (output written through its `write`
is gathered, its exc_info re-raised), a webob HTTP exception it raises becomes the response,
a relative Location is made absolute against the request's URL, and a HEAD response loses
its body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import webob
from webob import response as webob_response
import webob.exc

#: (status, headers) -> headers: what the middleware adds to the response it passes on.
HeaderEditor = Callable[[str, list], list]


def call(app: Callable, environ: dict, start_response: Callable,
         edit_headers: HeaderEditor | None = None) -> Iterable[bytes]:
    """`app`'s response to this request as a wsgify middleware returning
    `req.get_response(app)` (with `edit_headers` applied to it) would answer."""
    captured: list = []
    output: list[bytes] = []

    def held_start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        if exc_info is not None:  # webob re-raises it: the server sees the exception
            raise exc_info[1].with_traceback(exc_info[2])
        captured[:] = [status, headers]
        return output.append

    try:
        app_iter = app(environ, held_start_response)
        if output or not captured:
            try:
                output.extend(app_iter)
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()
            app_iter = output
        status, headers = captured
        headers = list(headers)
        if edit_headers is not None:
            headers = edit_headers(status, headers)
    except webob.exc.HTTPException as exc:
        return exc(environ, start_response)
    for index, (name, value) in enumerate(headers):
        if name.lower() == "location":
            headers[index] = (name, webob.Response._make_location_absolute(environ, value))
    start_response(status, headers)
    if environ["REQUEST_METHOD"] == "HEAD":
        return webob_response.EmptyResponse(app_iter)
    return app_iter
