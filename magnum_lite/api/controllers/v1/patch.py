"""JSON patch (RFC 6902) for PATCH requests: the operations add, replace and remove.

A resource is patched as a flat document of its fields; dictionaries listed as `nested`
(labels) may also be patched key by key (`/labels/kube_tag`). python-magnumclient sends a
replaced `labels` as the text of a Python dict ("{'a': 'b'}"); that text is read as a dict, like
Magnum does. Errors are 400s naming the field (the first path segment).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
from typing import Any

from magnum_lite.api.controllers.v1 import types
from magnum_lite.common import exception

OPS = ("add", "replace", "remove")
_KEYS = frozenset({"op", "path", "value"})


@dataclasses.dataclass(frozen=True)
class Operation:
    op: str
    path: tuple[str, ...]
    value: Any = None

    @property
    def field(self) -> str:
        return self.path[0]


def _bad_patch(problem: str) -> exception.InvalidParameterValue:
    return exception.InvalidParameterValue(err=f"patch: {problem}")


def _decode_path(path: Any, index: int) -> tuple[str, ...]:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise _bad_patch(f"operation {index}: path must be a JSON pointer such as "
                         f"'/node_count', got {types.quote(path)}.")
    tokens = []
    for raw in path[1:].split("/"):
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise _bad_patch(f"operation {index}: invalid escape in path {types.quote(path)}.")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    if not tokens[0]:
        raise _bad_patch(f"operation {index}: path {types.quote(path)} names no field.")
    return tuple(tokens)


def parse(body: Any) -> list[Operation]:
    """The operations of a JSON patch document (a non-empty list of operation objects)."""
    if not isinstance(body, list):
        raise _bad_patch("the request body must be a JSON list of patch operations, got "
                         f"{type(body).__name__}.")
    if not body:
        raise _bad_patch("the request body is an empty list: nothing to change.")
    operations = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise _bad_patch(f"operation {index} must be an object with op, path and value.")
        unknown = sorted(str(k) for k in item if k not in _KEYS)
        if unknown:
            raise _bad_patch(f"operation {index}: unknown member {types.quote(unknown[0])}.")
        op = item.get("op")
        if op not in OPS:
            raise _bad_patch(f"operation {index}: op must be one of add, replace, remove; got "
                             f"{types.quote(op)}.")
        path = _decode_path(item.get("path"), index)
        if op == "remove":
            if "value" in item:
                raise types.invalid(path[0], "a remove operation takes no value.")
            operations.append(Operation(op, path))
            continue
        if item.get("value") is None:
            raise types.invalid(path[0], f"the {op} operation needs a value.")
        operations.append(Operation(op, path, item["value"]))
    return operations


def literal(field: str, value: Any) -> Any:
    """A dict or list given as the text of a Python or JSON value (python-magnumclient's
    labels, node labels and taints); other values as they are."""
    if not isinstance(value, str):
        return value
    try:
        parsed = ast.literal_eval(value)
    except Exception as err:  # SyntaxError, ValueError, RecursionError, MemoryError
        raise types.invalid(field, f"must be an object of key/value strings, got "
                                   f"{types.quote(value)}.") from err
    return parsed


def apply(document: dict, operations: list[Operation], read_only: frozenset[str] = frozenset(),
          nested: frozenset[str] = frozenset({"labels"})) -> dict:
    """A copy of `document` with the operations applied, in order.

    Every top-level field of the document exists (possibly null): `remove` sets it to null,
    `add` and `replace` set it. Inside a `nested` dict, keys are added, replaced and removed
    as RFC 6902 says (replace and remove need the key to exist). Fields in `read_only` (and
    any other field not in the document) cannot be patched.
    """
    result = copy.deepcopy(document)
    for operation in operations:
        field = operation.field
        if field in read_only:
            raise types.invalid(field, "is read-only and cannot be changed.")
        if field not in result:
            raise types.invalid(field[:80], "unknown field.")
        if len(operation.path) == 1:
            if operation.op == "remove":
                result[field] = None
            elif field in nested:
                result[field] = literal(field, operation.value)
            else:
                result[field] = operation.value
            continue
        if field not in nested or len(operation.path) != 2:
            raise types.invalid(field, f"path /{'/'.join(operation.path)} cannot be patched; "
                                       f"patch /{field} as a whole.")
        key = operation.path[1]
        container = result[field]
        if container is None:
            container = {}
        if not isinstance(container, dict):
            raise types.invalid(field, "is not an object.")
        container = dict(container)
        if operation.op in ("replace", "remove") and key not in container:
            raise types.invalid(f"{field}/{key}"[:80], f"no key {types.quote(key)} to "
                                                       f"{operation.op}.")
        if operation.op == "remove":
            del container[key]
        else:
            container[key] = operation.value
        result[field] = container
    return result
