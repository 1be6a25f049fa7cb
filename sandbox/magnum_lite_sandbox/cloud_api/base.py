"""What the four stand-in services share: identity, routing, JSON, errors, request ids, paging.

Each service is a small WSGI app (webob) with a route table; the differences between the real
services (error documents, headers, pagination links) are hooks a subclass overrides.
"""

import dataclasses
import json
import logging
import re
from typing import Any, ClassVar
import uuid

import webob
import webob.dec

LOG = logging.getLogger(__name__)

# Identity of requests without Keystone (`--no-auth`) that carry no identity headers.
DEFAULT_PROJECT_ID = "0d1e2f3a4b5c4d6e8f9a0b1c2d3e4f50"
DEFAULT_USER_ID = "9f8e7d6c5b4a49388f7e6d5c4b3a2910"

# Project owning what the cloud itself provides (public images, the external network).
CLOUD_PROJECT_ID = "c10dc10dc10d4c10bc10dc10dc10dc10"


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who makes a request: the token's project, user and roles."""

    project_id: str
    user_id: str
    roles: tuple[str, ...] = ("member",)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def owns(self, obj: dict) -> bool:
        """Admin sees everything, as with the real services' default policies."""
        return self.is_admin or obj.get("project_id") == self.project_id


class ApiError(Exception):
    """An error answer; each service renders it in its own error document."""

    def __init__(self, status: int, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind  # Neutron's error type, e.g. "NetworkNotFound"


def identity_from_environ(environ: dict) -> Identity:
    """The identity keystonemiddleware put in the headers, or the `--no-auth` defaults.

    With auth, keystonemiddleware removes any X-Project-Id/X-User-Id/X-Roles the client sent and
    sets them from the validated token, so the same headers serve both modes.
    """
    roles = environ.get("HTTP_X_ROLES", "member")
    return Identity(
        project_id=environ.get("HTTP_X_PROJECT_ID") or DEFAULT_PROJECT_ID,
        user_id=environ.get("HTTP_X_USER_ID") or DEFAULT_USER_ID,
        roles=tuple(r.strip().lower() for r in roles.split(",") if r.strip()),
    )


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def json_response(body: Any, status: int = 200) -> webob.Response:
    response = webob.Response(status=status, content_type="application/json", charset=None)
    response.body = json.dumps(body).encode()
    return response


def empty_response(status: int) -> webob.Response:
    response = webob.Response(status=status)
    response.content_type = None
    return response


def read_json(req: webob.Request, wrapper: str) -> dict:
    """The object under `wrapper` in a JSON request body; 400 when missing or not JSON."""
    try:
        body = json.loads(req.body or b"null")
    except ValueError as e:
        raise ApiError(400, "Malformed request body", "HTTPBadRequest") from e
    if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
        raise ApiError(400, f"Resource body is missing the '{wrapper}' object",
                       "HTTPBadRequest")
    return body[wrapper]


def parse_limit(value: str | None, maximum: int, default: int) -> int:
    """A page size from `limit`: a non-negative integer, capped at the service's maximum."""
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError as e:
        raise ApiError(400, f"limit must be an integer, got '{value}'", "BadRequest") from e
    if limit < 0:
        raise ApiError(400, "limit must be a non-negative integer", "BadRequest")
    return min(limit, maximum)


def page(items: list[dict], marker: str | None, limit: int | None,
         what: str = "marker") -> tuple[list[dict], bool]:
    """Items after `marker` (an id), at most `limit`; and whether the page is full.

    A full page is what the real services answer with a `next` link, whether or not more
    items follow; an unknown marker is the client's error.
    """
    if marker is not None:
        ids = [item["id"] for item in items]
        if marker not in ids:
            raise ApiError(400, f"{what} [{marker}] not found", "BadRequest")
        items = items[ids.index(marker) + 1:]
    if limit is None:
        return items, False
    chunk = items[:limit]
    return chunk, bool(chunk) and len(chunk) == limit


def as_filter_text(value: Any) -> str:
    """How a field compares with a query filter: booleans as true/false, None as empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


Route = tuple[str, str, str]  # (method, path regex, handler method name)


class ServiceApp:
    """A WSGI app dispatching on (method, path regex) to handler methods.

    Handlers take (req, identity, **path groups) and return a webob.Response or raise ApiError.
    """

    routes: ClassVar[list[Route]] = []
    # Paths served without a token, like the real services' version documents.
    public_paths: ClassVar[frozenset[str]] = frozenset({"/"})

    def __init__(self) -> None:
        self._routes = [(method, re.compile(f"^{pattern}$"), handler)
                        for method, pattern, handler in self.routes]

    @webob.dec.wsgify
    def __call__(self, req: webob.Request) -> webob.Response:
        request_id = new_request_id()
        try:
            response = self._dispatch(req)
        except ApiError as e:
            response = self.error_response(req, e)
        response.headers["X-Openstack-Request-Id"] = request_id
        self.decorate(req, response, request_id)
        # The caller's request id (magnum-lite sends its own) matches its log lines with ours.
        LOG.info("%s (global %s) %s %s %s project=%s", request_id,
                 req.headers.get("X-Openstack-Request-Id", "-"), req.method, req.path_qs,
                 response.status_int, req.headers.get("X-Project-Id", "-"))
        return response

    def _dispatch(self, req: webob.Request) -> webob.Response:
        path = self.normalize_path(req.path_info.rstrip("/") or "/")
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != req.method and not (method == "GET" and req.method == "HEAD"):
                allowed.append(method)
                continue
            identity = identity_from_environ(req.environ)
            return getattr(self, handler)(req, identity, **match.groupdict())
        if allowed:
            raise ApiError(405, f"The method {req.method} is not allowed for this resource.",
                           "HTTPMethodNotAllowed")
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")

    def normalize_path(self, path: str) -> str:
        """A hook to rewrite the path before routing (Nova's legacy project id segment)."""
        return path

    def error_response(self, req: webob.Request, error: ApiError) -> webob.Response:
        raise NotImplementedError

    def decorate(self, req: webob.Request, response: webob.Response, request_id: str) -> None:
        """A hook to add the service's own response headers."""
