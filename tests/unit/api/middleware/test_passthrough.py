"""The plain WSGI RequestId and body size limit answer exactly as oslo.middleware's own.

Each case sends the same request through oslo.middleware's webob-based middleware and through
ours, around the same inner application, and compares what reaches the server: the status,
the headers in order, the body, and what the inner application saw in its environ.
"""

from __future__ import annotations

import io
import sys

from oslo_context import context as oslo_context
from oslo_middleware import request_id as oslo_request_id
from oslo_middleware import sizelimit as oslo_sizelimit
import pytest
import webob.exc

from magnum_lite.api.middleware import request_id, sizelimit

GLOBAL_ID = "req-12345678-1234-1234-1234-123456789abc"


def _json_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def _relative_location_app(environ, start_response):
    start_response("201 Created", [("Location", "/v1/clusters/x"), ("Content-Length", "0")])
    return [b""]


def _protocol_relative_location_app(environ, start_response):
    start_response("302 Found", [("location", "//evil.example/x")])
    return [b""]


def _own_request_id_app(environ, start_response):
    start_response("200 OK", [("X-OpenStack-Request-ID", "req-mine")])
    return [b"ok"]


def _write_app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]


def _late_start_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"late "
    yield b"body"


def _raising_app(environ, start_response):
    raise webob.exc.HTTPConflict(explanation="busy")


def _exc_info_app(environ, start_response):
    start_response("200 OK", [])
    try:
        raise RuntimeError("after the start")
    except RuntimeError:
        start_response("500 Internal Server Error", [], sys.exc_info())
    return [b""]


def _reading_app(environ, start_response):
    body = webob.Request(environ).body
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"read %d" % len(body)]


APPS = [_json_app, _relative_location_app, _protocol_relative_location_app,
        _own_request_id_app, _write_app, _late_start_app, _raising_app, _exc_info_app,
        _reading_app]


def _environ(method="GET", body=None, headers=None, chunked=False):
    request = webob.Request.blank("/v1/clusters?limit=5", method=method,
                                  headers=headers or {})
    if body is not None:
        request.environ["wsgi.input"] = io.BytesIO(body)
        if chunked:
            request.environ.pop("CONTENT_LENGTH", None)
            request.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
            request.environ["wsgi.input_terminated"] = True
        else:
            request.environ["CONTENT_LENGTH"] = str(len(body))
    else:
        request.environ.pop("CONTENT_LENGTH", None)
    return request.environ


def _serve(middleware, environ):
    """What the server gets: (status, headers, body) or the exception raised to it, and the
    environ keys the inner application saw."""
    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, list(headers)))
        return lambda data: started.append(("write", data))

    try:
        chunks = middleware(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    except Exception as err:  # noqa: BLE001 (what the server would see)
        return ("raised", type(err).__name__, str(err))
    seen = {k: environ.get(k) for k in (oslo_request_id.ENV_REQUEST_ID,
                                        oslo_request_id.GLOBAL_REQ_ID)}
    return started, body, seen


@pytest.fixture
def fixed_request_id(monkeypatch):
    monkeypatch.setattr(oslo_context, "generate_request_id",
                        lambda: "req-00000000-0000-0000-0000-000000000001")


def _case_id(case: dict) -> str:
    body = case.get("body")
    return "-".join([case.get("method", "GET"), *(f"{k}={v}" for k, v in case.get(
        "headers", {}).items()), *([f"body{len(body)}"] if body is not None else []),
        *(["chunked"] if case.get("chunked") else [])])


CASES = [
    {},
    {"method": "HEAD"},
    {"method": "POST", "body": b'{"a": 1}', "headers": {"Content-Type": "application/json"}},
    {"method": "DELETE"},
    {"headers": {"X-OpenStack-Request-ID": GLOBAL_ID}},
    {"headers": {"X-OpenStack-Request-ID": "req-not-a-uuid"}},
]


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.__name__)
@pytest.mark.parametrize("case", CASES, ids=lambda c: _case_id(c))
def test_request_id_answers_as_oslo_middleware(app, case, fixed_request_id):
    theirs = _serve(oslo_request_id.RequestId(app), _environ(**case))
    ours = _serve(request_id.RequestId(app), _environ(**case))
    assert ours == theirs


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.__name__)
@pytest.mark.parametrize("case", CASES + [
    {"method": "POST", "body": b"x" * 2000},                      # over the limit
    {"method": "POST", "body": b"x" * 1000},                      # at the limit
    {"method": "POST", "body": b"x" * 2000, "chunked": True},     # chunked, over
    {"method": "POST", "body": b"x" * 10, "chunked": True},       # chunked, within
    {"method": "PUT", "body": b"", "headers": {"Content-Length": "0"}},
], ids=lambda c: _case_id(c))
def test_size_limit_answers_as_oslo_middleware(app, case, config):
    oslo_limiter = oslo_sizelimit.RequestBodySizeLimiter(app)  # registers the option
    our_limiter = sizelimit.RequestBodySizeLimiter(app)
    config.set_override("max_request_body_size", 1000, group="oslo_middleware")
    theirs = _serve(oslo_limiter, _environ(**case))
    ours = _serve(our_limiter, _environ(**case))
    assert ours == theirs


@pytest.mark.parametrize("length", ["12x", " 12", "+12", "", "١٢"])
def test_a_content_length_that_is_no_plain_number_goes_through_oslos_limiter(
        length, config, monkeypatch):
    calls = []
    monkeypatch.setattr(oslo_sizelimit.RequestBodySizeLimiter, "__call__",
                        lambda self, environ, start_response: calls.append(length) or [])
    environ = _environ(method="POST", body=b"x" * 12)
    environ["CONTENT_LENGTH"] = length
    limiter = sizelimit.RequestBodySizeLimiter(_json_app)
    config.set_override("max_request_body_size", 1000, group="oslo_middleware")
    limiter(environ, lambda *a: None)
    assert calls == [length]
