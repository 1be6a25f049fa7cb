"""Base classes of the versioned objects: registry, persistence helpers, RPC serializer."""

import datetime
import functools
from typing import Any

from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

# Field types whose coercion of a non-NULL value read from our own columns is the identity
# (psycopg2, PyMySQL and sqlite3 hand back int, bool and str for them): loading skips it.
_IDENTITY_FOR_DB_VALUES = (ovo_fields.Integer, ovo_fields.Boolean, ovo_fields.String,
                           ovo_fields.UUID, ovo_fields.Enum)


def _datetime_from_db(obj: Any, name: str, value: Any) -> Any:
    """ovo's DateTime coercion of a datetime read from the database (naive means UTC)."""
    if type(value) is datetime.datetime:
        return value.replace(tzinfo=datetime.UTC) if value.utcoffset() is None else value
    return ovo_fields.DateTime().coerce(obj, name, value)


def _strings_collection(field: ovo_fields.Field, kind: type) -> Any:
    """ovo's coercion of a dict or list of strings, without its per-item coercion when every
    item is already a str (String's coercion of a str is the identity): the same
    CoercedDict or CoercedList, which coerces what is added to it later."""
    element_type = field._type._element_type

    def coerce(obj: Any, name: str, value: Any) -> Any:
        if kind is dict:
            plain = type(value) is dict and all(
                type(k) is str and type(v) is str for k, v in value.items())
        else:
            plain = type(value) is list and all(type(v) is str for v in value)
        if not plain:
            return field.coerce(obj, name, value)
        collection: Any = ovo_fields.CoercedDict() if kind is dict else ovo_fields.CoercedList()
        collection.enable_coercing(element_type, obj, name)
        (dict.update if kind is dict else list.extend)(collection, value)
        return collection

    return coerce


def _db_coercion(field: ovo_fields.Field) -> Any:
    """How a non-NULL value of `field` read from our own columns is coerced: None for the
    identity (psycopg2, PyMySQL and sqlite3 hand back int, bool and str for those types),
    an equivalent shortcut for datetimes and collections of strings, else ovo's coercion."""
    field_type = getattr(field, "_type", None)
    if isinstance(field, ovo_fields.AutoTypedField) and isinstance(
            field_type, _IDENTITY_FOR_DB_VALUES):
        return None
    if isinstance(field_type, ovo_fields.DateTime) and field_type.tzinfo_aware:
        return _datetime_from_db
    for collection, kind in ((ovo_fields.Dict, dict), (ovo_fields.List, list)):
        if isinstance(field_type, collection) and isinstance(
                getattr(field_type._element_type, "_type", None), ovo_fields.String):
            return _strings_collection(field, kind)
    return field.coerce


class MagnumLiteObjectRegistry(ovo_base.VersionedObjectRegistry):
    pass


class MagnumLiteObject(ovo_base.VersionedObject):
    """Base of every object: namespace, dict form, and loading from a DB row."""

    OBJ_SERIAL_NAMESPACE = "magnum_lite_object"
    OBJ_PROJECT_NAMESPACE = "magnum_lite"

    fields: dict = {}

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.fields if self.obj_attr_is_set(name)}

    @classmethod
    @functools.cache
    def _db_loaders(cls) -> tuple:
        """(field name, attribute name, the value's coercion or None for the identity,
        whether NULL is kept), for the fields stored in this object's own table."""
        loaders = []
        for name, field in cls.fields.items():
            if name in cls.DERIVED_FIELDS:
                continue
            # ovo keeps the mangled attribute name private; it has been "_obj_" + name forever.
            loaders.append((name, ovo_base._get_attrname(name), _db_coercion(field),
                            field.nullable))
        return tuple(loaders)

    @classmethod
    def _from_db_object(cls, context: Any, obj: "MagnumLiteObject", row: Any) -> Any:
        """Fill `obj` from a DB row (an ORM instance or a Row), with no field marked changed.

        Loading a page of rows through ovo's per-field setters costs ~65 µs a row; values from
        our own columns already have the field's type, so only the fields that transform
        values (datetimes, dicts, lists, JSON) and NULLs of non-nullable fields (their
        defaults) go through coercion, and that coercion skips ovo's per-item checks where
        they are the identity (see _db_coercion). The attributes are written straight into
        the instance: ovo's setters would only coerce again.
        """
        # A Row's mapping is a cheaper lookup than its attributes; an ORM instance has none.
        values = getattr(row, "_mapping", None)
        attributes = obj.__dict__
        fields = cls.fields
        for name, attr, coerce, nullable in cls._db_loaders():
            value = values[name] if values is not None else getattr(row, name)
            if value is None:
                if not nullable:
                    value = fields[name].coerce(obj, name, value)
            elif coerce is not None:
                value = coerce(obj, name, value)
            attributes[attr] = value
        obj._context = context
        obj._changed_fields = set()
        return obj

    def _load_fields(self, values: dict) -> None:
        """Set fields computed from other rows (DERIVED_FIELDS) as _from_db_object sets a
        column's value: coerced the same way, not marked changed."""
        attributes = self.__dict__
        coercions = self._field_coercions()
        for name, value in values.items():
            if value is not None:
                coerce = coercions[name]
                if coerce is not None:
                    value = coerce(self, name, value)
            elif not self.fields[name].nullable:
                value = self.fields[name].coerce(self, name, value)
            attributes[ovo_base._get_attrname(name)] = value
        self._changed_fields.difference_update(values)

    @classmethod
    @functools.cache
    def _field_coercions(cls) -> dict:
        """Each field's _db_coercion, by name."""
        return {name: _db_coercion(field) for name, field in cls.fields.items()}

    @classmethod
    def _from_db_rows(cls, context: Any, rows: list) -> list:
        return [cls._from_db_object(context, cls(), row) for row in rows]

    # Fields computed from other rows, never written to this object's own table.
    DERIVED_FIELDS: tuple = ()

    def _db_changes(self) -> dict:
        return {k: v for k, v in self.obj_get_changes().items() if k not in self.DERIVED_FIELDS}


class MagnumLitePersistentObject:
    """Mixin: the timestamps every table has."""

    fields = {
        "created_at": ovo_fields.DateTimeField(nullable=True),
        "updated_at": ovo_fields.DateTimeField(nullable=True),
    }


class MagnumLiteObjectSerializer(ovo_base.VersionedObjectSerializer):
    OBJ_BASE_CLASS = MagnumLiteObject
