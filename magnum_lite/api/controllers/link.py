"""Links of API documents: `self` (versioned URL) and `bookmark` (unversioned URL)."""

from __future__ import annotations

import pecan
from wsme import types as wtypes


def base_url() -> str:
    """The URL the API is reached at (scheme, host and any path prefix it is mounted under)."""
    return pecan.request.application_url


def build_url(resource: str, args: str = "", bookmark: bool = False,
              base: str | None = None) -> str:
    """`{base}/v1/{resource}/{args}` (without /v1 for a bookmark); a query is appended as is.

    Like Magnum, an empty `args` leaves a trailing slash: `.../v1/clusters/`.
    """
    base = base_url() if base is None else base
    url = f"{base}/{resource}" if bookmark else f"{base}/v1/{resource}"
    return url + args if args.startswith("?") else f"{url}/{args}"


def make_link(rel: str, resource: str, args: str = "", bookmark: bool = False,
              base: str | None = None, media_type: str | None = None) -> dict:
    link = {"href": build_url(resource, args, bookmark, base), "rel": rel}
    if media_type:
        link["type"] = media_type
    return link


def self_and_bookmark(resource: str, ident: str, base: str | None = None) -> list[dict]:
    """The `links` of an object: its versioned and its unversioned URL."""
    base = base_url() if base is None else base
    return [make_link("self", resource, ident, base=base),
            make_link("bookmark", resource, ident, bookmark=True, base=base)]


class Link(wtypes.Base):
    """A link to a resource."""

    href = wtypes.text
    """The URL."""

    rel = wtypes.text
    """What the URL is to the document: self, bookmark, next, describedby."""

    type = wtypes.text
    """The media type of the linked document, when it is not the API's JSON."""
