"""ClusterEvent: one entry of a cluster's history (an operation or a status change)."""

from __future__ import annotations

from typing import Any

from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class ClusterEvent(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "uuid": fields.UUIDField(nullable=True),
        "cluster_id": fields.StringField(),
        "cluster_version": fields.IntegerField(nullable=True),
        "event_type": fields.StringField(),
        "status": fields.StringField(nullable=True),
        "status_reason": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "request_id": fields.StringField(nullable=True),
    }

    @classmethod
    def list(cls, context: Any, cluster_id: str, limit: int | None = None,
             marker: str | None = None, sort_dir: str = "asc",
             sort_key: str = "id") -> list[ClusterEvent]:
        """The cluster's events, oldest first (newest first with sort_dir desc); they outlive
        the cluster's row, so `cluster_id` may name a deleted cluster."""
        return cls._from_db_rows(context, cls.dbapi.list_cluster_events(
            cluster_id, limit, marker, sort_dir, sort_key))

    def create(self, context: Any | None = None) -> None:
        row = self.dbapi.create_cluster_event(self.obj_get_changes())
        self._from_db_object(context or self._context, self, row)
