"""Base classes of the versioned objects: registry, persistence helpers, RPC serializer."""

import functools
from typing import Any

from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

# Field types whose coercion of a non-NULL value read from our own columns is the identity
# (psycopg2, PyMySQL and sqlite3 hand back int, bool and str for them): loading skips it.
_IDENTITY_FOR_DB_VALUES = (ovo_fields.Integer, ovo_fields.Boolean, ovo_fields.String,
                           ovo_fields.UUID, ovo_fields.Enum)


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
        """(field name, attribute name, whether a value needs coercion, whether NULL is kept)."""
        loaders = []
        for name, field in cls.fields.items():
            if name in cls.DERIVED_FIELDS:
                continue
            identity = isinstance(field, ovo_fields.AutoTypedField) and isinstance(
                field._type, _IDENTITY_FOR_DB_VALUES)
            # ovo keeps the mangled attribute name private; it has been "_obj_" + name forever.
            loaders.append((name, ovo_base._get_attrname(name), not identity, field.nullable))
        return tuple(loaders)

    @classmethod
    def _from_db_object(cls, context: Any, obj: "MagnumLiteObject", row: Any) -> Any:
        """Fill `obj` from a DB row, with no field marked changed.

        Loading a page of rows through ovo's per-field setters costs ~65 µs a row; values from
        our own columns already have the field's type, so only the fields that transform
        values (datetimes, dicts, lists, JSON) and NULLs of non-nullable fields (their
        defaults) go through coercion.
        """
        fields = cls.fields
        for name, attr, coerced, nullable in cls._db_loaders():
            value = getattr(row, name)
            if (coerced and value is not None) or (value is None and not nullable):
                value = fields[name].coerce(obj, name, value)
            setattr(obj, attr, value)
        obj._context = context
        obj.obj_reset_changes()
        return obj

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
