"""Base classes of the versioned objects: registry, persistence helpers, RPC serializer."""

from typing import Any

from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields


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
    def _from_db_object(cls, context: Any, obj: "MagnumLiteObject", row: Any) -> Any:
        for name in obj.fields:
            if name in obj.DERIVED_FIELDS:
                continue
            setattr(obj, name, row[name])
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
