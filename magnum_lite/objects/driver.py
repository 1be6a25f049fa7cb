"""Driver: one version of an operator-published driver (a plugin plus its config)."""

from __future__ import annotations

from typing import Any

from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class Driver(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "name": fields.StringField(),
        "version": fields.IntegerField(nullable=True),
        "public": fields.BooleanField(default=True),
        "plugin_name": fields.StringField(),
        "config": fields.JsonField(nullable=True),
        "enabled": fields.BooleanField(default=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "deleted_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def get_by_uuid(cls, context: Any, uuid: str) -> Driver:
        return cls._from_db_object(context, cls(), cls.dbapi.get_driver_by_uuid(uuid))

    @classmethod
    def get_latest(cls, context: Any, name: str, enabled_only: bool = False) -> Driver:
        return cls._from_db_object(context, cls(),
                                   cls.dbapi.get_latest_driver(name, enabled_only))

    @classmethod
    def list(cls, context: Any, name: str | None = None,
             include_deleted: bool = False) -> list[Driver]:
        return cls._from_db_rows(context, cls.dbapi.list_drivers(include_deleted, name))

    def create(self, context: Any | None = None) -> None:
        """Insert as the next version of `name`."""
        row = self.dbapi.create_driver(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)
