"""MagnumService: a running magnum-lite process (host, binary) and its heartbeat."""

from __future__ import annotations

import datetime
from typing import Any

from oslo_utils import timeutils

from magnum_lite.db import api as dbapi
from magnum_lite.objects import base, fields


@base.MagnumLiteObjectRegistry.register
class MagnumService(base.MagnumLitePersistentObject, base.MagnumLiteObject):
    # Version 1.0: Initial version
    VERSION = "1.0"

    dbapi = dbapi.get_instance()

    fields = {
        "id": fields.IntegerField(),
        "host": fields.StringField(nullable=True),
        "binary": fields.StringField(nullable=True),
        "disabled": fields.BooleanField(default=False),
        "disabled_reason": fields.StringField(nullable=True),
        "last_seen_up": fields.DateTimeField(nullable=True),
        "forced_down": fields.BooleanField(default=False),
        "report_count": fields.IntegerField(default=0),
    }

    @classmethod
    def get_by_host_and_binary(cls, context: Any, host: str,
                               binary: str) -> MagnumService | None:
        row = cls.dbapi.get_magnum_service_by_host_and_binary(host, binary)
        return None if row is None else cls._from_db_object(context, cls(), row)

    @classmethod
    def list(cls, context: Any, limit: int | None = None, marker: int | None = None,
             sort_key: str | None = None, sort_dir: str | None = None) -> list[MagnumService]:
        rows = cls.dbapi.get_magnum_service_list(limit, marker, sort_key, sort_dir)
        return cls._from_db_rows(context, rows)

    @classmethod
    def heartbeat(cls, context: Any, host: str, binary: str) -> MagnumService:
        """Record that (host, binary) is alive now."""
        return cls._from_db_object(context, cls(), cls.dbapi.record_service_heartbeat(
            host, binary))

    @classmethod
    def mark_stopped(cls, host: str, binary: str) -> None:
        """(host, binary) stopped cleanly: down at once, so the other conductors' hash ring
        leaves it out at their next read (its work moves to them)."""
        cls.dbapi.mark_service_stopped(host, binary)

    @classmethod
    def remove(cls, host: str, binary: str) -> None:
        cls.dbapi.destroy_magnum_service(host, binary)

    def state(self, down_after_seconds: int) -> str:
        """`up` while heartbeats are fresh, `down` after `down_after_seconds` without one."""
        last = self.last_seen_up or self.updated_at or self.created_at
        if self.forced_down or last is None:
            return fields.MagnumServiceState.DOWN
        age = timeutils.utcnow(with_timezone=True) - _aware(last)
        if age > datetime.timedelta(seconds=down_after_seconds):
            return fields.MagnumServiceState.DOWN
        return fields.MagnumServiceState.UP


def _aware(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment
