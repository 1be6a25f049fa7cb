"""Refuse requests the application could not even decode, before pecan tries to.

pecan and webob decode the URL, the query string and form bodies as they route; bytes that are
not UTF-8 (or a NUL, which PostgreSQL refuses in text) would surface as a 500 from deep inside
them. Here they get a 400 that says what is wrong; a body in another format than JSON gets 415.

Bodies are checked whatever the method: pecan decodes the JSON body of every request but a GET
while routing (and webob a form body of any method), so a DELETE or a GET with a body that is not
UTF-8 or nests too deeply would fail inside them. The API gives a body on GET, HEAD and DELETE no
meaning (RFC 9110 §9.3; Magnum's clients send none) and ignores one that passes these checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import re
from urllib import parse

import webob

from magnum_lite.api import errors

_JSON_TYPES = ("application/json",)

#: The deepest nesting of arrays and objects a JSON body may have. Magnum's bodies nest three
#: levels at most (a JSON patch of a label); Python's decoder fails somewhere near 1000 levels,
#: at a depth that depends on the stack it is called from, so the limit is checked, not caught.
MAX_JSON_DEPTH = 32

# C0 control characters and DEL.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

# JSON strings (whose brackets do not nest) and the brackets outside them.
_JSON_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _has_control_characters(text: str) -> bool:
    return _CONTROL_CHARACTER.search(text) is not None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or (media_type.startswith("application/")
                                         and media_type.endswith("+json"))


def check(environ: dict) -> tuple[int, str] | None:
    """(status, detail) of what makes this request unreadable, or None."""
    try:
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return 400, "The request URL is not valid UTF-8."
    if _has_control_characters(path):
        return 400, "The request URL contains control characters."

    query = environ.get("QUERY_STRING", "")
    if query:
        try:
            params = parse.parse_qsl(query, keep_blank_values=True, encoding="utf-8",
                                     errors="strict")
        except (UnicodeDecodeError, ValueError):
            return 400, "The query string is not valid UTF-8."
        for name, value in params:
            if _has_control_characters(name) or _has_control_characters(value):
                return 400, f"Query parameter {name!r} contains control characters."
            if name == "_method":
                # pecan would let "?_method=delete" turn a POST into a DELETE.
                return 400, "_method: method override is not supported."

    has_body = (environ.get("CONTENT_LENGTH") not in (None, "", "0")
                or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower())
    if has_body:
        return _check_body(environ)
    return None


def _nested_deeper_than(text: str, limit: int) -> bool:
    """True when the JSON text nests arrays and objects more than `limit` levels deep."""
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return True
        elif token == "]" or token == "}":
            depth -= 1
    return False


def _check_body(environ: dict) -> tuple[int, str] | None:
    """(status, detail) of what makes the request's body unreadable, or None."""
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.strip():
        # A body without a type is read as JSON (webob would parse it as a form).
        environ["CONTENT_TYPE"] = "application/json"
    elif not _is_json(content_type):
        return 415, (f"Content-Type: unsupported media type {content_type!r}; the body "
                     f"must be application/json.")
    # webob keeps the body it reads (seekable) for pecan and the controllers.
    try:
        text = webob.Request(environ).body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "The request body is not valid UTF-8."
    if _nested_deeper_than(text, MAX_JSON_DEPTH):
        return 400, (f"The request body nests JSON arrays or objects deeper than "
                     f"{MAX_JSON_DEPTH} levels.")
    return None  # whether it is JSON at all, the controller that reads it says


class RequestGuard:
    """WSGI wrapper answering undecodable requests with an error document."""

    _PHRASES = {400: "400 Bad Request", 415: "415 Unsupported Media Type"}

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        problem = check(environ)
        if problem is None:
            return self.app(environ, start_response)
        status, detail = problem
        body = errors.error_body(status, detail, environ.get(errors.REQUEST_ID_KEY))
        start_response(self._PHRASES[status], [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
        return [body]
