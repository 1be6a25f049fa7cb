"""Quota queries, a mixin of api.Connection: one hard limit per (project, resource)."""

from typing import Any

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import utils as db_utils
from oslo_utils import timeutils

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import (
    _add,
    _apply_filters,
    _filter_by_project,
    _row,
    _sort_dir,
)
from magnum_lite.db.sqlalchemy.session import _reader, _writer


class QuotaQueries:
    """Quotas."""

    def create_quota(self, values: dict) -> models.Quota:
        return _add(_row(models.Quota, values),
                    lambda row: exception.QuotaAlreadyExists(project_id=row.project_id,
                                                             resource=row.resource))

    def get_quota(self, project_id: str, resource: str) -> models.Quota:
        with _reader() as session:
            row = session.query(models.Quota).filter_by(project_id=project_id,
                                                        resource=resource).first()
            if row is None:
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")
            return row

    def list_quotas(self, context: Any, filters: dict | None = None, limit: int | None = None,
                    marker: int | None = None, sort_key: str | None = None,
                    sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = _filter_by_project(context, session.query(models.Quota), models.Quota)
            query = _apply_filters(query, models.Quota, filters, ("project_id", "resource"))
            marker_row = None
            if marker is not None:
                marker_row = session.query(models.Quota).filter_by(id=marker).first()
                if marker_row is None:
                    raise exception.InvalidParameterValue(
                        err=f"marker: no quota with id {marker} exists.")
            sort_keys = [sort_key or "id"] + ([] if sort_key in (None, "id") else ["id"])
            try:
                query = db_utils.paginate_query(query, models.Quota, limit, sort_keys,
                                                marker=marker_row, sort_dir=_sort_dir(sort_dir))
            except db_exc.InvalidSortKey as err:
                raise exception.InvalidParameterValue(err=f"sort_key: {err}") from err
            return query.all()

    def update_quota(self, project_id: str, resource: str, hard_limit: int) -> models.Quota:
        with _writer() as session:
            count = session.query(models.Quota).filter_by(
                project_id=project_id, resource=resource).update(
                {"hard_limit": hard_limit, "updated_at": timeutils.utcnow()})
            if not count:
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")
            return session.query(models.Quota).filter_by(project_id=project_id,
                                                         resource=resource).one()

    def delete_quota(self, project_id: str, resource: str) -> None:
        with _writer() as session:
            if not session.query(models.Quota).filter_by(project_id=project_id,
                                                         resource=resource).delete():
                raise exception.QuotaNotFound(
                    msg=f"for project {project_id} and resource {resource}")
