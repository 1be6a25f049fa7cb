"""The error document of Magnum's API, which python-magnumclient parses.

    {"errors": [{"request_id": "req-...", "code": "client" | "server", "status": 400,
                 "title": "...", "detail": "...", "links": []}]}

python-magnumclient shows `title` to the user (`<title> (HTTP 400) (Request-ID: req-...)`), so
the title is the first sentence of the detail, not the status phrase: it must say what is wrong
and name the field at fault.
"""

import json
import re

# The key under which the request-id middleware (oslo.middleware) leaves the request id.
REQUEST_ID_KEY = "openstack.request_id"

INTERNAL_ERROR = "Internal error"

# oslo.messaging rebuilds an exception the conductor raised in an RPC call as a subclass named
# "<class>_Remote" (in module "<module>_Remote") whose str() is the message, a new line and the
# conductor's traceback; where the class cannot be subclassed, the traceback joins args[0].
_REMOTE_SUFFIX = "_Remote"
_REMOTE_TRACEBACK = "\nTraceback (most recent call last):"

# A sentence ends at a period followed by white space: "k8s.v1" stays one word.
_SENTENCE_END = re.compile(r"(?<=\.)\s")


def title_of(detail: str) -> str:
    """The first sentence of `detail`, without its final period."""
    first = _SENTENCE_END.split(detail.strip(), maxsplit=1)[0].strip()
    return first[:-1] if first.endswith(".") else first


def error_entry(status: int, detail: str, request_id: str | None = None,
                title: str | None = None) -> dict:
    return {
        "request_id": request_id or "",
        "code": "client" if status < 500 else "server",
        "status": status,
        "title": title or title_of(detail) or str(status),
        "detail": detail,
        "links": [],
    }


def error_body(status: int, detail: str, request_id: str | None = None,
               title: str | None = None, **extra: object) -> bytes:
    """The JSON error document for one error; `extra` keys join the error entry."""
    entry = error_entry(status, detail, request_id, title)
    entry.update(extra)
    return json.dumps({"errors": [entry]}).encode("utf-8")


def message_of(err: BaseException) -> str:
    """What an exception says, for a client. An exception the conductor raised in an RPC call
    says its own message on one line, without the conductor's traceback."""
    cls = type(err)
    if not (cls.__name__.endswith(_REMOTE_SUFFIX) and cls.__module__.endswith(_REMOTE_SUFFIX)):
        text = str(err)
        if _REMOTE_TRACEBACK not in text:
            return text
    else:
        text = super(cls, err).__str__()  # the message of the class it was rebuilt as
    text = text.split(_REMOTE_TRACEBACK, 1)[0]
    return " ".join(text.split())


def internal_error_detail(request_id: str | None) -> str:
    """What a 500 tells the client: nothing of the cause, only where to look it up."""
    if request_id:
        return f"{INTERNAL_ERROR}. Look for request {request_id} in the API log."
    return f"{INTERNAL_ERROR}."
