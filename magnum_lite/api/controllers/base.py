"""What every controller shares: the WSME base type and the `expose` decorator.

Controllers declare each resource as a WSME type (attributes with their constraints and a
docstring each); `controllers.v1.types.parse_object` validates request bodies against those
declarations and `to_dict` renders objects with them. `expose` turns a controller method into a
JSON endpoint that answers every failure with Magnum's error document.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import functools
import inspect
import json
import logging
from typing import Any

from oslo_db import exception as db_exc
import pecan
from pecan import rest
from pecan import util as pecan_util
import webob.exc
import wsme
from wsme import types as wtypes

from magnum_lite.api import errors
from magnum_lite.common import exception, policy

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answer:
    """A method's result with a status of its own instead of the one `expose` declares (a
    dry run's 200 from an action that otherwise answers 202)."""

    body: Any
    status: int


class APIBase(wtypes.Base):
    """Base of the API types: the timestamps every resource has."""

    created_at = wsme.wsattr(datetime.datetime, readonly=True)
    """When the resource was created (UTC)."""

    updated_at = wsme.wsattr(datetime.datetime, readonly=True)
    """When the resource was last changed (UTC)."""


def attribute_names(api_type: type) -> tuple[str, ...]:
    """The names of a WSME type's attributes, in declaration order."""
    wtypes.registry.register(api_type)
    return tuple(attr.name for attr in wtypes.list_attributes(api_type))


def json_value(value: Any) -> Any:
    """A value of an object field as JSON shows it."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.isoformat()
    return value


_UNSET = object()


@functools.lru_cache(maxsize=256)
def _attribute_names(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # ovo keeps a set field's value in the instance as "_obj_" + name.
    return tuple((name, "_obj_" + name) for name in names)


def to_dict(obj: Any, names: tuple[str, ...] | list[str]) -> dict:
    """The named fields of a versioned object (unset fields are null).

    A set field is read from the instance, without ovo's property (a quarter of a 50-item
    page went there); an unset one goes through the property, which may load it.
    """
    result = {}
    attributes = getattr(obj, "__dict__", {})
    datetime_type = datetime.datetime
    for name, attribute in _attribute_names(tuple(names)):
        value = attributes.get(attribute, _UNSET)
        if value is _UNSET:
            try:
                value = getattr(obj, name)
            except NotImplementedError:  # not set, and versioned objects cannot lazy-load it
                value = None
        if isinstance(value, datetime_type):
            value = json_value(value)
        result[name] = value
    return result


def context() -> Any:
    """The RequestContext of the request being served."""
    return pecan.request.context


def see_all_projects(context: Any, rule: str) -> None:
    """Let an admin act on every project's resources when `rule` (an *_all_projects rule)
    allows it; the database then stops filtering by the caller's project."""
    if context.is_admin and policy.authorize(context, rule, do_raise=False):
        context.all_projects = True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def request_json(allow_empty: bool = False) -> Any:
    """The request body, decoded as JSON; 400 when it is empty (None with `allow_empty`),
    not UTF-8 or not JSON."""
    body = pecan.request.body
    if not body or not body.strip():
        if allow_empty:
            return None
        raise exception.InvalidParameterValue(err="The request body is empty; expected JSON.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise exception.InvalidParameterValue(
            err="The request body is not valid UTF-8.") from err
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError as err:
        raise exception.InvalidParameterValue(
            err="The request body is not valid JSON: nested too deeply.") from err
    except ValueError as err:
        raise exception.InvalidParameterValue(
            err=f"The request body is not valid JSON: {err}.") from err


class RestController(rest.RestController):
    """A REST controller with Magnum's URL scheme, routed in one pass.

    Methods by path: `GET /` get_all (or get), `POST /` post, `GET /{id}` get_one (or get),
    `PATCH /{id}` patch, `DELETE /{id}` delete, `GET /detail` an entry of `_custom_actions`.
    Attributes that are RestControllers are sub-resources (`/v1/clusters`); those named in
    `_item_children` hang below an item (`/v1/clusters/{id}/nodegroups`) and get the item's id
    as their methods' first argument. HEAD is GET without a body. A method the resource lacks
    is a 405 with `Allow`.

    pecan's own RestController routing inspects the signature of every candidate method on every
    request (its getargspec builds a namedtuple class per call): milliseconds per request.
    """

    _custom_actions: dict[str, list[str]] = {}
    _item_children: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._children = None

    def _child_controllers(self) -> dict[str, RestController]:
        children = type(self).__dict__.get("_children")
        if children is None:
            children = {name: getattr(self, name) for name in dir(type(self))
                        if not name.startswith("_") and name not in self._item_children
                        and isinstance(getattr(type(self), name, None), RestController)}
            type(self)._children = children
        return children

    def _handler(self, names: tuple[str, ...]) -> Callable | None:
        for name in names:
            handler = getattr(self, name, None)
            if handler is not None and pecan_util.iscontroller(handler):
                return handler
        return None

    def _allowed(self, item: bool) -> list[str]:
        if item:
            table = (("GET", ("get_one", "get")), ("PATCH", ("patch",)),
                     ("DELETE", ("delete",)))
        else:
            table = (("GET", ("get_all", "get")), ("POST", ("post",)))
        return [method for method, names in table if self._handler(names)]

    @pecan.expose()
    def _route(self, args: list[str], request: Any = None) -> tuple[Callable, list[str]]:
        request = pecan.request if request is None else request
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        remainder = [segment for segment in args if segment]
        if remainder:
            child = self._child_controllers().get(remainder[0])
            if child is not None:
                return child._route(remainder[1:], request)
            if len(remainder) > 1 and remainder[1] in self._item_children:
                # pecan hands routing_args to the endpoint before the path segments.
                request.pecan.setdefault("routing_args", []).append(remainder[0])
                return getattr(self, remainder[1])._route(remainder[2:], request)
            action = self._custom_actions.get(remainder[0])
            if action is not None and len(remainder) == 1:
                if method not in action:
                    raise webob.exc.HTTPMethodNotAllowed(allow=action)
                return getattr(self, remainder[0]), []
        names = {
            ("GET", False): ("get_all", "get"), ("POST", False): ("post",),
            ("GET", True): ("get_one", "get"), ("PATCH", True): ("patch",),
            ("DELETE", True): ("delete",),
        }.get((method, bool(remainder)), ())
        handler = self._handler(names)
        if handler is None:
            allowed = self._allowed(bool(remainder))
            if not allowed:  # this resource has no items (or no collection): no such path
                raise webob.exc.HTTPNotFound()
            raise webob.exc.HTTPMethodNotAllowed(allow=allowed)
        return handler, remainder


def _error(status: int, detail: str) -> pecan.Response:
    request_id = pecan.request.environ.get(errors.REQUEST_ID_KEY)
    title = errors.INTERNAL_ERROR if status == 500 else None
    response = pecan.response
    response.status = status
    response.body = errors.error_body(status, detail, request_id, title=title)
    response.content_type = "application/json"
    return response


def expose(status: int = 200) -> Callable:
    """Expose a controller method as a JSON endpoint.

    The method takes its path segments as positional arguments (one per parameter after
    `self`) and returns a JSON-able value, or None for an empty response. A wrong number of
    path segments is a 404 (405 when the method needs an item and got the collection).
    MagnumLiteException becomes its HTTP status with the message; anything else a 500 whose
    cause goes to the log only.

    pecan is told the method takes `*remainder` only: its own argument matching would hand
    query or body parameters named like a parameter to the method as extra arguments.
    """

    def decorate(func: Callable) -> Callable:
        params = list(inspect.signature(func).parameters)[1:]

        @functools.wraps(func)
        def endpoint(self: Any, *remainder: str) -> Any:
            if len(remainder) != len(params):
                # No path segment where the method needs one: the collection lacks it.
                if not remainder:
                    raise webob.exc.HTTPMethodNotAllowed()
                raise webob.exc.HTTPNotFound()
            try:
                result = func(self, *remainder)
            except exception.MagnumLiteException as err:
                if err.code >= 500:
                    LOG.warning("Request %s: %s", pecan.request.environ.get(
                        errors.REQUEST_ID_KEY), err)
                return _error(err.code, errors.message_of(err))
            except webob.exc.HTTPException:
                raise
            except db_exc.DBConnectionError as err:
                LOG.error("Request %s: database unavailable: %s",
                          pecan.request.environ.get(errors.REQUEST_ID_KEY), err)
                return _error(503, "The database is unavailable; retry later.")
            except Exception:
                request_id = pecan.request.environ.get(errors.REQUEST_ID_KEY)
                LOG.exception("Request %s failed", request_id)
                return _error(500, errors.internal_error_detail(request_id))
            response = pecan.response
            response.status = status
            if isinstance(result, Answer):
                response.status, result = result.status, result.body
            if result is None:
                pecan.request.pecan["content_type"] = None
                response.content_type = None
                response.body = b""
            else:
                response.body = json.dumps(result).encode("utf-8")
                response.content_type = "application/json"
            return response

        pecan.expose(content_type="application/json")(endpoint)
        pecan_util._cfg(endpoint)["argspec"] = inspect.FullArgSpec(
            args=["self"], varargs="remainder", varkw=None, defaults=None, kwonlyargs=[],
            kwonlydefaults=None, annotations={})
        return endpoint

    return decorate
