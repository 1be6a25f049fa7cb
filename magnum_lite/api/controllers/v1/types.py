"""Field types of the v1 API and the validation of request bodies against the WSME types.

WSME's own JSON decoding is lenient in ways that hurt (it turns 1.9 into 1, names only the top
argument in its errors, and fails with a 500 on a body that is not an object), so request
bodies are checked here, strictly, against the same WSME attribute declarations: every error is
an InvalidParameterValue (400) whose message starts with the field at fault.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from oslo_utils import strutils, uuidutils
import wsme
from wsme import types as wtypes

from magnum_lite.common import exception

# The largest value an INTEGER column holds on every supported database.
MAX_INT = 2**31 - 1

# Integers given as text, as Magnum (through WSME) accepted them.
_INT_TEXT = re.compile(r"-?[0-9]{1,10}")

# A bad value is quoted in error messages, cut to this length.
_QUOTE_LENGTH = 60


def quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LENGTH else text[:_QUOTE_LENGTH] + "..."


def invalid(field: str, problem: str) -> exception.InvalidParameterValue:
    """The error for a bad field: the message starts with the field's name."""
    return exception.InvalidParameterValue(err=f"{field}: {problem}")


def uuid_like(value: Any) -> bool:
    return isinstance(value, str) and uuidutils.is_uuid_like(value)


class UuidType(wtypes.UserType):
    """A UUID."""

    basetype = str
    name = "uuid"

    @staticmethod
    def validate(value: str) -> str:
        if not uuidutils.is_uuid_like(value):
            raise ValueError("expected a UUID")
        return value


class BooleanType(wtypes.UserType):
    """true or false (the strings "true", "false", "yes", "no", "1", "0", ... too)."""

    basetype = bool
    name = "boolean"


class LabelsType(wtypes.UserType):
    """Key/value pairs of strings (numbers and booleans are taken as their text)."""

    basetype = dict
    name = "labels"
    max_key_length = 255


class DNSListType(wtypes.UserType):
    """A comma separated list of IP addresses."""

    basetype = str
    name = "dnslist"
    max_length = 255

    @staticmethod
    def validate(value: str) -> str:
        for address in value.split(","):
            try:
                ipaddress.ip_address(address.strip())
            except ValueError as err:
                raise ValueError(f"{address.strip()!r} is not an IP address") from err
        return value


uuid = UuidType()
boolean = BooleanType()
labels = LabelsType()
dns_list = DNSListType()


def check_text(field: str, value: Any, min_length: int | None = None,
               max_length: int | None = None) -> str:
    """A string that every database can store: UTF-8, no NUL, within the length bounds."""
    if not isinstance(value, str):
        raise invalid(field, f"must be a string, got {quote(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise invalid(field, "must be valid Unicode text (it has a lone surrogate).") from err
    if "\x00" in value:
        raise invalid(field, "must not contain NUL characters.")
    if min_length is not None and len(value) < min_length:
        if min_length == 1:
            raise invalid(field, "must not be empty.")
        raise invalid(field, f"must be at least {min_length} characters long.")
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters long, "
                             f"got {len(value)}.")
    return value


def check_int(field: str, value: Any, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """An integer (or a string of digits, as Magnum accepted) within the bounds."""
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, f"must be an integer, got {quote(value)}.")
    maximum = MAX_INT if maximum is None else maximum
    if minimum is not None and value < minimum:
        raise invalid(field, f"must be at least {minimum}, got {value}.")
    if value > maximum:
        raise invalid(field, f"must be at most {maximum}, got {value}.")
    return value


def check_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return strutils.bool_from_string(value, strict=True)
        except ValueError:
            pass
    raise invalid(field, f"must be true or false, got {quote(value)}.")


def check_labels(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid(field, f"must be an object of key/value strings, got {quote(value)}.")
    result = {}
    for key, item in value.items():
        check_text(f"{field}.{key}"[:80], key, min_length=1,
                   max_length=LabelsType.max_key_length)
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, (int, float)):
            item = str(item)
        result[key] = check_text(f"{field}.{key}", item)
    return result


def check_value(field: str, datatype: Any, value: Any) -> Any:
    """`value` checked and converted for an attribute of type `datatype`."""
    if datatype is labels or isinstance(datatype, LabelsType):
        return check_labels(field, value)
    if datatype is boolean or datatype is bool:
        return check_bool(field, value)
    if isinstance(datatype, wtypes.IntegerType):
        return check_int(field, value, datatype.minimum, datatype.maximum)
    if datatype is int:
        return check_int(field, value)
    if isinstance(datatype, wtypes.Enum):
        if not isinstance(value, str) or value not in datatype.values:
            choices = ", ".join(sorted(datatype.values))
            raise invalid(field, f"must be one of {choices}; got {quote(value)}.")
        return value
    if isinstance(datatype, wtypes.StringType):
        check_text(field, value, datatype.min_length, datatype.max_length)
        if datatype.pattern is not None and not datatype.pattern.search(value):
            raise invalid(field, f"{quote(value)} does not match {datatype.pattern.pattern}.")
        return value
    if datatype is wtypes.text or datatype is str:
        return check_text(field, value, max_length=255)
    if isinstance(datatype, wtypes.UserType) and datatype.basetype is str:
        check_text(field, value, max_length=getattr(datatype, "max_length", 255))
        try:
            return datatype.validate(value)
        except ValueError as err:
            raise invalid(field, f"{err}; got {quote(value)}.") from err
    raise invalid(field, "cannot be set.")


def parse_object(api_type: type, data: Any, what: str = "request body",
                 defaults: bool = True) -> dict[str, Any]:
    """The fields of a JSON object, checked against the WSME type `api_type`.

    Unknown fields, read-only fields, missing mandatory fields and bad values are refused with a
    400 naming the field. null counts as absent (python-magnumclient sends null for options
    not given). With `defaults`, absent attributes that declare a default get it.
    """
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The {what} must be a JSON object, got {type(data).__name__}.")
    wtypes.registry.register(api_type)
    attributes = {attr.name: attr for attr in wtypes.list_attributes(api_type)}
    for name in data:
        if name not in attributes:
            raise invalid(str(name)[:80], "unknown field.")
    result: dict[str, Any] = {}
    for name, attr in attributes.items():
        value = data.get(name)
        if value is None:
            if attr.mandatory:
                raise invalid(name, "this field is required.")
            if defaults and attr.default is not wtypes.Unset:
                result[name] = attr.default
            continue
        if attr.readonly:
            raise invalid(name, "this field is read-only.")
        result[name] = check_value(name, attr.datatype, value)
    return result


def attribute(api_type: type, name: str) -> wsme.types.wsattr | None:
    """The WSME attribute `name` of `api_type`, or None."""
    wtypes.registry.register(api_type)
    for attr in wtypes.list_attributes(api_type):
        if attr.name == name:
            return attr
    return None
