"""Cluster template queries, a mixin of api.Connection.

Kept with no other resource's: a template is seen by its own project and, when public,
by every project, and one that clusters use keeps its fields.
"""

from typing import Any

import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import (
    _TEMPLATES,
    _add,
    _apply_filters,
    _core_filters,
    _core_page,
    _hot_read_by_uuid,
    _new_row,
    _one_by_name,
    _paginate,
    _sees_all_projects,
)
from magnum_lite.db.sqlalchemy.session import _reader, _writer

# The hot read by uuid, built once (SQLAlchemy caches its compiled SQL): for a caller who
# sees every project, and for one who sees their own and the public ones.
_TEMPLATE_BY_UUID = {
    True: sa.select(_TEMPLATES).where(_TEMPLATES.c.uuid == sa.bindparam("uuid")).limit(1),
    False: sa.select(_TEMPLATES).where(
        _TEMPLATES.c.uuid == sa.bindparam("uuid"),
        sa.or_(_TEMPLATES.c.project_id == sa.bindparam("project_id"),
               _TEMPLATES.c.public.is_(True))).limit(1),
}


class ClusterTemplateQueries:
    """Cluster templates, a project's own and the public ones."""

    TEMPLATE_FILTERS = ("name", "coe", "server_type", "cluster_distro", "public", "hidden",
                        "project_id", "driver", "image_id")

    def _template_query(self, context: Any, session: Any) -> Any:
        query = session.query(models.ClusterTemplate)
        if context.is_admin and getattr(context, "all_projects", False):
            return query
        return query.filter(sa.or_(models.ClusterTemplate.project_id == context.project_id,
                                   models.ClusterTemplate.public.is_(True)))

    def get_cluster_template_list(self, context: Any, filters: dict | None = None,
                                  limit: int | None = None, marker: str | None = None,
                                  sort_key: str | None = None,
                                  sort_dir: str | None = None) -> list:
        if marker is None:
            where = _core_filters(_TEMPLATES, filters, self.TEMPLATE_FILTERS)
            if not _sees_all_projects(context):
                where.append(sa.or_(_TEMPLATES.c.project_id == context.project_id,
                                    _TEMPLATES.c.public.is_(True)))
            if not context.is_admin:
                where.append(sa.or_(_TEMPLATES.c.hidden.is_(False),
                                    _TEMPLATES.c.hidden.is_(None)))
            rows = _core_page(_TEMPLATES, where, limit, sort_key, sort_dir)
            if rows is not None:
                return rows
        with _reader() as session:
            query = self._template_query(context, session)
            if not context.is_admin:
                query = query.filter(sa.or_(models.ClusterTemplate.hidden.is_(False),
                                            models.ClusterTemplate.hidden.is_(None)))
            query = _apply_filters(query, models.ClusterTemplate, filters, self.TEMPLATE_FILTERS)
            return _paginate(session, query, models.ClusterTemplate, limit, marker, sort_key,
                             sort_dir)

    def create_cluster_template(self, values: dict) -> models.ClusterTemplate:
        return _add(_new_row(models.ClusterTemplate, values),
                    lambda row: exception.ClusterTemplateAlreadyExists(uuid=row.uuid))

    def get_cluster_template_by_uuid(self, context: Any, uuid: str) -> Any:
        """The template's row (a read-only Row, the model's column attributes)."""
        row = _hot_read_by_uuid(_TEMPLATE_BY_UUID, context, uuid)
        if row is None:
            raise exception.ClusterTemplateNotFound(clustertemplate=uuid)
        return row

    def get_cluster_template_by_id(self, context: Any, id_: int) -> models.ClusterTemplate:
        with _reader() as session:
            row = self._template_query(context, session).filter_by(id=id_).first()
            if row is None:
                raise exception.ClusterTemplateNotFound(clustertemplate=id_)
            return row

    def get_cluster_template_by_name(self, context: Any, name: str) -> models.ClusterTemplate:
        with _reader() as session:
            return _one_by_name(self._template_query(context, session), models.ClusterTemplate,
                                name, "ClusterTemplates",
                                exception.ClusterTemplateNotFound(clustertemplate=name))

    def update_cluster_template(self, uuid: str, values: dict) -> models.ClusterTemplate:
        values = {k: v for k, v in values.items() if k not in ("id", "uuid")}
        with _writer() as session:
            row = session.query(models.ClusterTemplate).filter_by(uuid=uuid).first()
            if row is None:
                raise exception.ClusterTemplateNotFound(clustertemplate=uuid)
            if self._clusters_using_template(session, uuid):
                changed = {k for k, v in values.items() if getattr(row, k) != v}
                # Like Magnum: a template in use may only change these fields.
                if changed - {"public", "hidden", "name"}:
                    raise exception.ClusterTemplateReferenced(clustertemplate=uuid)
            row.update(values)
            session.flush()
            return row

    def _clusters_using_template(self, session: Any, uuid: str) -> int:
        """Clusters on the template, and upgrades in flight to it (their clusters move to
        it when they end)."""
        clusters = session.query(sa.func.count(models.Cluster.id)).filter(
            models.Cluster.cluster_template_id == uuid).scalar()
        upgrades = session.query(models.ClusterOperation.params).filter(
            models.ClusterOperation.kind == "upgrade",
            models.ClusterOperation.outcome.is_(None)).all()
        return clusters + sum(1 for (params,) in upgrades
                              if (params or {}).get("cluster_template_uuid") == uuid)

    def destroy_cluster_template(self, uuid: str) -> None:
        with _writer() as session:
            if self._clusters_using_template(session, uuid):
                raise exception.ClusterTemplateReferenced(clustertemplate=uuid)
            count = session.query(models.ClusterTemplate).filter_by(uuid=uuid).delete()
            if not count:
                raise exception.ClusterTemplateNotFound(clustertemplate=uuid)
