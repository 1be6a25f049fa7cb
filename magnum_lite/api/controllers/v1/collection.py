"""Lists: the query parameters of a page (limit, marker, sort_key, sort_dir) and `next` links.

A list answers at most `limit` items ([api] max_limit when absent, 0 or larger). When a page is
full, `next` is the URL of the following page: the same query with the last item as marker.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
from typing import Any
from urllib import parse

import pecan

from magnum_lite.api.controllers import link
from magnum_lite.api.controllers.v1 import types
from magnum_lite.conf import CONF

SORT_DIRS = ("asc", "desc")


@dataclasses.dataclass(frozen=True)
class Page:
    """Which page of a list a request asks for."""

    limit: int
    marker: Any
    sort_key: str
    sort_dir: str


def query_param(name: str) -> str | None:
    """A query parameter given at most once (None when absent)."""
    values = pecan.request.GET.getall(name)
    if len(values) > 1:
        raise types.invalid(name, "given more than once.")
    return values[0] if values else None


def page(sort_keys: Iterable[str], default_sort_key: str = "id",
         marker_kind: str = "uuid", default_sort_dir: str = "asc") -> Page:
    """The validated paging parameters of the request.

    `sort_keys` are the fields a list may be sorted by; `marker_kind` is "uuid" (most
    resources) or "id" (quotas, whose marker is their integer id); `default_sort_dir` is
    desc for histories (cluster events), newest first.
    """
    max_limit = CONF.api.max_limit
    limit = max_limit
    raw_limit = query_param("limit")
    if raw_limit is not None:
        limit = types.check_int("limit", raw_limit, minimum=0) or max_limit
        limit = min(limit, max_limit)

    marker: Any = query_param("marker")
    if marker is not None:
        if marker_kind == "uuid":
            if not types.uuid_like(marker):
                raise types.invalid("marker", f"must be the UUID of an item, got "
                                              f"{types.quote(marker)}.")
        else:
            marker = types.check_int("marker", marker, minimum=1)

    sort_key = query_param("sort_key") or default_sort_key
    allowed = tuple(sort_keys)
    if sort_key not in allowed:
        raise types.invalid("sort_key", f"cannot sort by {types.quote(sort_key)}; choose one "
                                        f"of {', '.join(allowed)}.")
    sort_dir = query_param("sort_dir") or default_sort_dir
    if sort_dir not in SORT_DIRS:
        raise types.invalid("sort_dir", f"must be asc or desc, got {types.quote(sort_dir)}.")
    return Page(limit=limit, marker=marker, sort_key=sort_key, sort_dir=sort_dir)


def next_link(resource: str, items: list, current: Page, marker_field: str = "uuid",
              extra: dict | None = None) -> str | None:
    """The URL of the page after `items`, or None when `items` is the last page."""
    if not items or len(items) < current.limit:
        return None
    query = dict(extra or {})
    query.update(sort_key=current.sort_key, sort_dir=current.sort_dir, limit=current.limit,
                 marker=getattr(items[-1], marker_field))
    return link.build_url(resource, "?" + parse.urlencode(query))
