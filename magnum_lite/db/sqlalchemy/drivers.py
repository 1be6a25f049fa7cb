"""Driver version queries, a mixin of api.Connection.

A driver's rows are versions: numbered per name, never removed (soft-deleted), so that
a cluster stays pinned to the version it was built with.
"""

from oslo_db import exception as db_exc
from oslo_utils import timeutils, uuidutils
import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.session import _reader, _writer


class DriverQueries:
    """Driver versions."""

    def create_driver(self, values: dict) -> models.Driver:
        """A new version row of driver `name`: version = the highest so far + 1."""
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        for _attempt in range(5):
            try:
                with _writer() as session:
                    latest = session.query(sa.func.max(models.Driver.version)).filter(
                        models.Driver.name == values["name"]).scalar()
                    row = models.Driver()
                    row.update({**values, "version": (latest or 0) + 1})
                    session.add(row)
                    session.flush()
                    return row
            except db_exc.DBDuplicateEntry:
                continue  # another writer took that version number: take the next one
        raise exception.ConcurrentUpdate(resource="Driver", uuid=values["name"])

    def list_drivers(self, include_deleted: bool = False, name: str | None = None) -> list:
        with _reader() as session:
            query = session.query(models.Driver)
            if name is not None:
                query = query.filter(models.Driver.name == name)
            if not include_deleted:
                query = query.filter(models.Driver.deleted_at.is_(None))
            return query.order_by(models.Driver.name, models.Driver.version).all()

    def get_driver_by_uuid(self, uuid: str) -> models.Driver:
        with _reader() as session:
            row = session.query(models.Driver).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.DriverNotFound(driver=uuid)
            return row

    def get_latest_driver(self, name: str, enabled_only: bool = False) -> models.Driver:
        with _reader() as session:
            query = session.query(models.Driver).filter(models.Driver.name == name,
                                                        models.Driver.deleted_at.is_(None))
            if enabled_only:
                query = query.filter(models.Driver.enabled.is_(True))
            row = query.order_by(models.Driver.version.desc()).first()
            if row is None:
                raise exception.DriverNotFound(driver=name)
            return row

    def create_first_driver_version(self, values: dict) -> models.Driver | None:
        """Version 1 of driver `name`, or None when the name already has rows.

        Rows are never removed and every name starts at version 1, so the unique (name,
        version) key alone tells, atomically, whether the name was ever used. Unlike
        create_driver this never takes the next number.
        """
        values = {**values, "version": 1}
        values.setdefault("uuid", uuidutils.generate_uuid())
        try:
            with _writer() as session:
                row = models.Driver()
                row.update(values)
                session.add(row)
                session.flush()
                return row
        except db_exc.DBDuplicateEntry:
            return None  # another process seeded it first

    def count_clusters_by_driver(self, driver_uuids: list[str]) -> dict[str, int]:
        """Driver row uuid -> number of clusters (of every project) pinned to it."""
        if not driver_uuids:
            return {}
        with _reader() as session:
            rows = session.query(models.Cluster.driver_id, sa.func.count(models.Cluster.id)
                                 ).filter(models.Cluster.driver_id.in_(driver_uuids)
                                          ).group_by(models.Cluster.driver_id).all()
        return {uuid: count for uuid, count in rows}

    def soft_delete_drivers(self, uuids: list[str]) -> None:
        """Mark the rows deleted, in one transaction with the check that no cluster uses them."""
        with _writer() as session:
            used = session.query(models.Cluster.driver_id).filter(
                models.Cluster.driver_id.in_(uuids)).first()
            if used is not None:
                raise exception.DriverInUse(driver=used[0])
            session.query(models.Driver).filter(
                models.Driver.uuid.in_(uuids), models.Driver.deleted_at.is_(None)).update(
                {"deleted_at": timeutils.utcnow()}, synchronize_session=False)
