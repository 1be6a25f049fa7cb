"""Magnum service queries, a mixin of api.Connection: the heartbeats GET /v1/mservices shows."""

from oslo_utils import timeutils

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import _add, _row
from magnum_lite.db.sqlalchemy.session import _reader, _writer


class ServiceQueries:
    """Service heartbeats."""

    def create_magnum_service(self, values: dict) -> models.MagnumService:
        return _add(_row(models.MagnumService, values),
                    lambda row: exception.MagnumServiceAlreadyExists(host=row.host,
                                                                     binary=row.binary))

    def get_magnum_service_by_host_and_binary(self, host: str,
                                              binary: str) -> models.MagnumService | None:
        with _reader() as session:
            return session.query(models.MagnumService).filter_by(host=host,
                                                                 binary=binary).first()

    def get_magnum_service_list(self, limit: int | None = None, marker: int | None = None,
                                sort_key: str | None = None,
                                sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = session.query(models.MagnumService)
            if marker is not None:
                query = query.filter(models.MagnumService.id > marker)
            query = query.order_by(models.MagnumService.id)
            if limit:
                query = query.limit(limit)
            return query.all()

    def record_service_heartbeat(self, host: str, binary: str) -> models.MagnumService:
        """Bump report_count and last_seen_up of (host, binary), creating the row if needed."""
        now = timeutils.utcnow()
        with _writer() as session:
            count = session.query(models.MagnumService).filter_by(host=host, binary=binary).update(
                {"report_count": models.MagnumService.report_count + 1, "last_seen_up": now,
                 "forced_down": False, "updated_at": now}, synchronize_session=False)
            if count:
                return session.query(models.MagnumService).filter_by(host=host,
                                                                     binary=binary).one()
        try:
            return self.create_magnum_service({"host": host, "binary": binary, "report_count": 1,
                                               "last_seen_up": now, "disabled": False,
                                               "forced_down": False})
        except exception.MagnumServiceAlreadyExists:
            return self.record_service_heartbeat(host, binary)

    def mark_service_stopped(self, host: str, binary: str) -> None:
        """Show (host, binary) down at once (it stopped cleanly); its next heartbeat, after a
        restart, shows it up again."""
        with _writer() as session:
            session.query(models.MagnumService).filter_by(host=host, binary=binary).update(
                {"forced_down": True, "updated_at": timeutils.utcnow()},
                synchronize_session=False)

    def destroy_magnum_service(self, host: str, binary: str) -> None:
        with _writer() as session:
            session.query(models.MagnumService).filter_by(host=host, binary=binary).delete()
