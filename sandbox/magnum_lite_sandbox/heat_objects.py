"""Reading python-heatclient's answers the same way in every part of the guest agent.

heatclient returns resource objects whose attributes are the API's JSON fields (plain dicts
in places, and in the unit tests' fake), and a missing stack or deployment surfaces as
different exception classes depending on the call. Both the guest duties (``agent``) and the
cluster APIs (``cluster_apis``) read stacks and deployments, so they share these readers
rather than each keeping its own.
"""

from typing import Any


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a heatclient resource object (attribute) or of a plain dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def is_not_found(exc: Exception) -> bool:
    """Whether Heat answered 404 (heatclient's HTTPNotFound, keystoneauth's NotFound, or any
    error carrying the code), so that a stack deleted during a sweep is not a warning."""
    return type(exc).__name__ in ("HTTPNotFound", "NotFound") or \
        getattr(exc, "code", None) == 404 or getattr(exc, "http_status", None) == 404
