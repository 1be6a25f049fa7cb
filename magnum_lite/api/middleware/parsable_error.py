"""Rewrite every error response into Magnum's error document (see magnum_lite.api.errors).

Errors come from many places with their own bodies: the controllers (already in the final
form), pecan's routing (404, 405, its JSON or HTML), webob, WSME (`faultstring`), keystonemiddleware
(`{"error": {...}}`) and oslo.middleware (the 413 of the size limiter). Whatever the source, the
client gets `{"errors": [...]}` with the request id. A 500 never shows its cause: the client gets
"Internal error" and the request id; the log gets the traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import html
import json
import logging
import re
import sys
from typing import Any

from oslo_config import cfg

from magnum_lite.api import errors

LOG = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]+>")
# webob's plain text error bodies start with the status line ("404 Not Found").
_STATUS_LINE = re.compile(r"^\s*\d{3} [^\n]*\n")


def _detail_from_json(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("error"), dict):  # keystonemiddleware
        document = document["error"]
    for key in ("faultstring", "description", "message", "detail", "explanation"):
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    title = document.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return None


def _detail_from_text(text: str) -> str | None:
    text = html.unescape(_TAG.sub(" ", text))
    text = _STATUS_LINE.sub("", text, count=1)
    text = " ".join(text.split())
    return text or None


def _original_exception_detail(environ: dict) -> str | None:
    """The detail of the webob exception pecan turned into this response, if any."""
    original = environ.get("pecan.original_exception")
    for attr in ("detail", "explanation"):
        value = getattr(original, attr, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def error_document(status: int, status_phrase: str, body: bytes, environ: dict) -> bytes:
    """The Magnum error document for an error response with this body."""
    request_id = environ.get(errors.REQUEST_ID_KEY)
    document = None
    try:
        document = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None

    if isinstance(document, dict) and isinstance(document.get("errors"), list):
        # Already Magnum's document (the controllers write it, without causes for a 500).
        entries = [e for e in document["errors"] if isinstance(e, dict)]
        if entries:
            for entry in entries:
                if not entry.get("request_id"):
                    entry["request_id"] = request_id or ""
            return json.dumps({"errors": entries}).encode("utf-8")

    if status == 500:
        if body:
            LOG.error("Request %s failed with: %s", request_id, body[:2000])
        return errors.error_body(status, errors.internal_error_detail(request_id), request_id,
                                 title=errors.INTERNAL_ERROR)

    detail = _original_exception_detail(environ)
    if detail is None:
        detail = _detail_from_json(document)
    if detail is None and body and document is None:
        detail = _detail_from_text(body.decode("utf-8", errors="replace"))
    if status == 413 and detail and "(%s)" in detail:
        # oslo.middleware's size limiter leaves its message unformatted.
        detail = detail.replace("%s", str(_max_request_body_size()))
    return errors.error_body(status, detail or status_phrase, request_id)


def _max_request_body_size() -> object:
    try:
        return cfg.CONF.oslo_middleware.max_request_body_size
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return "the limit"


class ParsableErrorMiddleware:
    """Buffers error responses (only those) and rewrites their body."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        state: dict[str, Any] = {}

        def replacement_start_response(status: str, headers: list, exc_info: Any = None):
            code = int(status.split(" ", 1)[0])
            state.update(status=status, code=code, headers=headers, exc_info=exc_info)
            if code < 400:
                return start_response(status, headers, exc_info)
            # Error: hold the start until the new body (and its length) is known.
            return state.setdefault("chunks", []).append

        try:
            app_iter = self.app(environ, replacement_start_response)
            if state.get("code", 200) < 400:
                return app_iter
            try:
                body = b"".join([*state.get("chunks", []), *app_iter])
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()
        except Exception:
            request_id = environ.get(errors.REQUEST_ID_KEY)
            LOG.exception("Request %s failed", request_id)
            # If a success status already went out, the server must see the exception too.
            started = state.get("code", 500) < 400
            state.update(status="500 Internal Server Error", code=500, headers=[],
                         exc_info=sys.exc_info() if started else None)
            body = b""

        code = state["code"]
        phrase = state["status"].split(" ", 1)[1] if " " in state["status"] else ""
        new_body = error_document(code, phrase, body, environ)
        headers = [(name, value) for name, value in state["headers"]
                   if name.lower() not in ("content-type", "content-length")]
        headers += [("Content-Type", "application/json"),
                    ("Content-Length", str(len(new_body)))]
        start_response(state["status"], headers, state.get("exc_info"))
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [new_body]


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory."""
    return ParsableErrorMiddleware
