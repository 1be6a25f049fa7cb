"""Requests to magnum-lite's own API through python-magnumclient's HTTP client.

Every command here uses the client `openstack coe ...` already has
(`client_manager.container_infra`): the same session, endpoint lookup and microversion. That
client sends `OpenStack-API-Version: container-infra latest`, or the version given with
`--os-container-infra-api-version X.Y` / `OS_CONTAINER_INFRA_API_VERSION`; so do these
commands. Each command needs some microversion (drivers 1.15, events 1.16, ...): a version
asked for below it fails before any request, and a server whose newest version is below it
(Magnum, an older magnum-lite) gets an error that says so instead of its bare 404 or 406.
"""

from __future__ import annotations

from typing import Any
from urllib import parse

from magnumclient import exceptions as magnum_exceptions
from osc_lib import exceptions

LATEST = "latest"
MAX_VERSION_HEADER = "OpenStack-API-Maximum-Version"

#: The microversions that brought what these commands use.
DRIVERS = "1.15"
EVENTS = "1.16"
UPGRADE = "1.8"
UPGRADE_BY_DRIVER_VERSION = "1.17"
REPAIR = "1.19"


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def requested_version(http: Any) -> str:
    """The microversion python-magnumclient's client asks for: "latest" or "X.Y"."""
    return str(getattr(http, "api_version", None) or LATEST)


def _server_maximum(error: magnum_exceptions.HttpError) -> str | None:
    """The newest microversion the answering server speaks (from its error's headers)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get(MAX_VERSION_HEADER)
    return value.split()[-1] if value else None


class Client:
    """magnum-lite's own resources over python-magnumclient's HTTP client."""

    def __init__(self, app: Any) -> None:
        self.http = app.client_manager.container_infra.http_client

    def check_version(self, minimum: str, what: str) -> None:
        """Refuse, before any request, an explicit microversion older than `minimum`."""
        asked = requested_version(self.http)
        if asked.lower() != LATEST and _as_tuple(asked) < _as_tuple(minimum):
            raise exceptions.CommandError(
                f"{what} needs container-infra API version {minimum} or newer; "
                f"--os-container-infra-api-version (or OS_CONTAINER_INFRA_API_VERSION) asks "
                f"for {asked}.")

    def request(self, method: str, path: str, minimum: str, what: str,
                body: Any = None) -> Any:
        """The JSON answer of one request (None when empty); python-magnumclient's
        HttpError on an error, with a clearer one when the server is too old for `what`."""
        self.check_version(minimum, what)
        kwargs = {} if body is None else {"body": body}
        try:
            _response, document = self.http.json_request(method, path, **kwargs)
        except magnum_exceptions.HttpError as err:
            maximum = _server_maximum(err)
            if (err.http_status in (404, 406) and maximum is not None
                    and _as_tuple(maximum) < _as_tuple(minimum)):
                raise exceptions.CommandError(
                    f"{what} needs container-infra API version {minimum} or newer; the "
                    f"server speaks up to {maximum} (is it magnum-lite?).") from err
            raise
        return document or None

    def list_all(self, path: str, key: str, minimum: str, what: str,
                 query: dict[str, Any] | None = None, limit: int | None = None) -> list:
        """The items under `key` of a paginated list: one page of `limit` items when given,
        else every page (following the `next` link's marker)."""
        query = {name: value for name, value in (query or {}).items() if value is not None}
        if limit is not None:
            query["limit"] = limit
        items: list = []
        while True:
            suffix = f"?{parse.urlencode(query)}" if query else ""
            document = self.request("GET", path + suffix, minimum, what) or {}
            items.extend(document.get(key, []))
            following = document.get("next")
            if limit is not None or not following:
                return items
            markers = parse.parse_qs(parse.urlsplit(following).query).get("marker")
            if not markers:
                return items
            query["marker"] = markers[0]


def quote_path(ident: str) -> str:
    """A name or uuid as one URL path segment."""
    return parse.quote(ident, safe="")
