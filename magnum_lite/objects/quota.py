"""Quota: a project's hard limit on one resource (clusters)."""

from __future__ import annotations

from typing import Any

from magnum_lite.common import exception
from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class Quota(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "project_id": fields.StringField(),
        "resource": fields.QuotaResourceNameField(),
        "hard_limit": fields.IntegerField(),
    }

    @classmethod
    def get(cls, context: Any, project_id: str, resource: str) -> Quota:
        return cls._from_db_object(context, cls(), cls.dbapi.get_quota(project_id, resource))

    @classmethod
    def hard_limit_for(cls, project_id: str, resource: str, default: int) -> int:
        """The project's limit: its quota row, or `default` when it has none."""
        try:
            return cls.dbapi.get_quota(project_id, resource).hard_limit
        except exception.QuotaNotFound:
            return default

    @classmethod
    def list(cls, context: Any, limit: int | None = None, marker: int | None = None,
             sort_key: str | None = None, sort_dir: str | None = None,
             filters: dict | None = None) -> list[Quota]:
        rows = cls.dbapi.list_quotas(context, filters, limit, marker, sort_key, sort_dir)
        return cls._from_db_rows(context, rows)

    def create(self, context: Any | None = None) -> None:
        row = self.dbapi.create_quota(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)

    def save(self, context: Any | None = None) -> None:
        row = self.dbapi.update_quota(self.project_id, self.resource, self.hard_limit)
        self._from_db_object(context or self._context, self, row)

    def destroy(self, context: Any | None = None) -> None:
        self.dbapi.delete_quota(self.project_id, self.resource)
        self.obj_reset_changes()
