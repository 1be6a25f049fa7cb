"""Cluster queries, a mixin of api.Connection.

A cluster's writes are compare-and-swap on `revision`, and carry the rows of its
operation's transition (OperationQueries, through self) in the same transaction.
"""

from typing import Any

from oslo_db import exception as db_exc
from oslo_utils import timeutils, uuidutils
import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import (
    _CLUSTERS,
    _NODEGROUPS,
    _TEMPLATES,
    _add,
    _apply_filters,
    _core_filters,
    _core_page,
    _filter_by_project,
    _hot_read_by_uuid,
    _new_row,
    _one_by_name,
    _paginate,
    _sees_all_projects,
)
from magnum_lite.db.sqlalchemy.session import _reader, _single_read, _writer

# The hot read by uuid, built once (SQLAlchemy caches its compiled SQL): for a caller who
# sees every project, and for one who sees their own.
_CLUSTER_BY_UUID = {
    True: sa.select(_CLUSTERS).where(_CLUSTERS.c.uuid == sa.bindparam("uuid")).limit(1),
    False: sa.select(_CLUSTERS).where(
        _CLUSTERS.c.uuid == sa.bindparam("uuid"),
        _CLUSTERS.c.project_id == sa.bindparam("project_id")).limit(1),
}
# A cluster with its nodegroups' sizes: one row per nodegroup (the cluster's columns
# repeated), or one with NULL sizes for a cluster without nodegroups.
_SIZE_COLUMNS = (_NODEGROUPS.c.role.label("nodegroup_role"),
                 _NODEGROUPS.c.node_count.label("nodegroup_node_count"),
                 _NODEGROUPS.c.node_addresses.label("nodegroup_node_addresses"),
                 _NODEGROUPS.c.id.label("nodegroup_id"))
# ... and the labels of its template as get_cluster_template_by_uuid would read it for the
# same caller (NULL when that would find none).
_TEMPLATE_OF_CLUSTER = {
    True: _TEMPLATES.c.uuid == _CLUSTERS.c.cluster_template_id,
    False: sa.and_(_TEMPLATES.c.uuid == _CLUSTERS.c.cluster_template_id,
                   sa.or_(_TEMPLATES.c.project_id == sa.bindparam("project_id"),
                          _TEMPLATES.c.public.is_(True))),
}
_CLUSTER_WITH_SIZES_BY_UUID = {
    all_projects: sa.select(
        _CLUSTERS, *_SIZE_COLUMNS, _TEMPLATES.c.labels.label("template_labels")).select_from(
        _CLUSTERS.outerjoin(_NODEGROUPS, _NODEGROUPS.c.cluster_id == _CLUSTERS.c.uuid)
        .outerjoin(_TEMPLATES, _TEMPLATE_OF_CLUSTER[all_projects])).where(
        _CLUSTERS.c.uuid == sa.bindparam("uuid"),
        *(() if all_projects else (_CLUSTERS.c.project_id == sa.bindparam("project_id"),))
    ).order_by(_NODEGROUPS.c.id)
    for all_projects in (True, False)
}


class ClusterQueries:
    """Clusters, and the revision compare-and-swap that nodegroups share."""

    # Column filters; besides, `driver_name` keeps the clusters of any version of that driver.
    CLUSTER_FILTERS = ("name", "status", "cluster_template_id", "project_id", "keypair",
                       "driver_id", "driver_version", "health_status")

    def get_cluster_list(self, context: Any, filters: dict | None = None,
                         limit: int | None = None, marker: str | None = None,
                         sort_key: str | None = None, sort_dir: str | None = None) -> list:
        if marker is None:
            where = _core_filters(_CLUSTERS, filters, self.CLUSTER_FILTERS)
            if not _sees_all_projects(context):
                where.append(_CLUSTERS.c.project_id == context.project_id)
            if (filters or {}).get("driver_name") is not None:
                where.append(_CLUSTERS.c.driver_id.in_(sa.select(models.Driver.uuid).where(
                    models.Driver.name == filters["driver_name"])))
            rows = _core_page(_CLUSTERS, where, limit, sort_key, sort_dir)
            if rows is not None:
                return rows
        with _reader() as session:
            query = _filter_by_project(context, session.query(models.Cluster), models.Cluster)
            query = _apply_filters(query, models.Cluster, filters, self.CLUSTER_FILTERS)
            if (filters or {}).get("driver_name") is not None:
                # Every version of that driver, soft-deleted ones too (their clusters stay).
                versions = sa.select(models.Driver.uuid).where(
                    models.Driver.name == filters["driver_name"])
                query = query.filter(models.Cluster.driver_id.in_(versions))
            return _paginate(session, query, models.Cluster, limit, marker, sort_key, sort_dir)

    def create_cluster(self, values: dict) -> models.Cluster:
        return _add(_new_row(models.Cluster, values),
                    lambda row: exception.ClusterAlreadyExists(uuid=row.uuid))

    def create_cluster_with_nodegroups(self, values: dict, nodegroups: list[dict],
                                       **transition: dict | None) -> models.Cluster:
        """A cluster and its default nodegroups (and the rows of its create: `new_operation`,
        named by the cluster's operation_uuid, and `event`) in one transaction: all or
        nothing."""
        values = dict(values)
        values.setdefault("uuid", uuidutils.generate_uuid())
        row = models.Cluster()
        row.update(values)
        try:
            with _writer() as session:
                session.add(row)
                self._write_transition(session, **transition)
                for ng_values in nodegroups:
                    ng = models.NodeGroup()
                    ng.update({"uuid": uuidutils.generate_uuid(), **ng_values,
                               "cluster_id": values["uuid"]})
                    session.add(ng)
                session.flush()
        except db_exc.DBDuplicateEntry as err:
            raise exception.ClusterAlreadyExists(uuid=values["uuid"]) from err
        return row

    def _cluster_query(self, context: Any, session: Any) -> Any:
        return _filter_by_project(context, session.query(models.Cluster), models.Cluster)

    def get_cluster_by_uuid(self, context: Any, uuid: str) -> Any:
        """The cluster's row (a read-only Row, the model's column attributes)."""
        row = _hot_read_by_uuid(_CLUSTER_BY_UUID, context, uuid)
        if row is None:
            raise exception.ClusterNotFound(cluster=uuid)
        return row

    def get_cluster_with_nodegroup_sizes(self, context: Any, uuid: str) -> tuple[Any, list]:
        """The cluster's row (with `template_labels`: its template's labels if the caller
        may read the template, else None) and its nodegroups' (role, node_count,
        node_addresses), in nodegroup order, from one SELECT (one snapshot, one round
        trip)."""
        with _single_read() as conn:
            rows = conn.execute(_CLUSTER_WITH_SIZES_BY_UUID[_sees_all_projects(context)],
                                {"uuid": uuid, "project_id": context.project_id}).all()
        if not rows:
            raise exception.ClusterNotFound(cluster=uuid)
        sizes = [(row.nodegroup_role, row.nodegroup_node_count, row.nodegroup_node_addresses)
                 for row in rows if row.nodegroup_id is not None]
        return rows[0], sizes

    def get_cluster_by_id(self, context: Any, id_: int) -> models.Cluster:
        with _reader() as session:
            row = self._cluster_query(context, session).filter_by(id=id_).first()
            if row is None:
                raise exception.ClusterNotFound(cluster=id_)
            return row

    def get_cluster_by_name(self, context: Any, name: str) -> models.Cluster:
        with _reader() as session:
            return _one_by_name(self._cluster_query(context, session), models.Cluster, name,
                                "clusters", exception.ClusterNotFound(cluster=name))

    def update_cluster(self, uuid: str, values: dict,
                       expected_revision: int | None = None,
                       **transition: dict | None) -> models.Cluster:
        """Write `values` if the row is still at `expected_revision`; bump the revision.

        The rows of a `transition` (`new_operation` to insert, `operation_changes` =
        {"uuid": ..., field: value} of one, an `event`) are written in the same transaction:
        an operation starts or ends together with the cluster's status, or not at all."""
        return self._compare_and_swap(models.Cluster, uuid, values, expected_revision,
                                      exception.ClusterNotFound(cluster=uuid), "Cluster",
                                      transition)

    def update_cluster_health(self, uuid: str, status: str, reason: dict,
                              event: dict | None = None, since: dict | None = None) -> bool:
        """The health monitor's write of a cluster in a *_COMPLETE status (or UPDATE_FAILED:
        after a failed repair, healing goes on) with no operation in flight:
        `health_status`, `health_status_reason` and `health_since` (when each unhealthy
        node was first seen so; None: none is) (and `event`, in the same
        transaction), without a new revision, so that a finding never fails a user's
        compare-and-swap (a user's write carries only the fields it changed). False when
        the cluster is gone or in an operation."""
        with _writer() as session:
            count = session.query(models.Cluster).filter(
                models.Cluster.uuid == uuid, models.Cluster.operation_uuid.is_(None),
                sa.or_(models.Cluster.status.like("%\\_COMPLETE", escape="\\"),
                       models.Cluster.status == "UPDATE_FAILED"),
                models.Cluster.status != "DELETE_COMPLETE").update(
                {"health_status": status, "health_status_reason": reason,
                 "health_since": since or None},
                synchronize_session=False)
            if count and event is not None:
                session.add(self._event_row(event))
            return bool(count)

    def destroy_cluster(self, uuid: str, expected_revision: int | None = None,
                        **transition: dict | None) -> None:
        """Delete a cluster with its nodegroups and key pairs (if the row is still at
        `expected_revision`), and write the rows of its delete's end (`operation_changes`,
        `event`; the operation's row stays) in the same transaction."""
        with _writer() as session:
            query = session.query(models.Cluster).filter_by(uuid=uuid)
            if expected_revision is not None:
                query = query.filter(models.Cluster.revision == expected_revision)
            count = query.delete()
            if not count:
                if session.query(models.Cluster.id).filter_by(uuid=uuid).first() is None:
                    raise exception.ClusterNotFound(cluster=uuid)
                raise exception.ConcurrentUpdate(resource="Cluster", uuid=uuid)
            session.query(models.NodeGroup).filter_by(cluster_id=uuid).delete()
            session.query(models.X509KeyPair).filter_by(cluster_id=uuid).delete()
            self._write_transition(session, **transition)

    def list_clusters_in_flight(self, statuses: list[str]) -> list[tuple[Any, Any]]:
        """Clusters of every project in one of `statuses` or with an operation in flight,
        each with that operation's row (None without one), in one query (the reconciler's
        round)."""
        with _reader() as session:
            operation = models.ClusterOperation
            rows = session.query(models.Cluster, operation).outerjoin(
                operation, sa.and_(operation.uuid == models.Cluster.operation_uuid,
                                   operation.outcome.is_(None))).filter(
                sa.or_(models.Cluster.status.in_(list(statuses)),
                       operation.id.isnot(None))).order_by(models.Cluster.id).all()
            return [(row, op_row) for row, op_row in rows]

    def count_clusters(self, project_id: str) -> int:
        with _reader() as session:
            return session.query(sa.func.count(models.Cluster.id)).filter(
                models.Cluster.project_id == project_id).scalar()

    def get_cluster_stats(self, context: Any, project_id: str | None = None) -> tuple[int, int]:
        """(clusters, nodes) of a project, or of every project for None."""
        with _reader() as session:
            clusters = session.query(sa.func.count(models.Cluster.id))
            nodes = session.query(sa.func.coalesce(sa.func.sum(models.NodeGroup.node_count), 0))
            if project_id is not None:
                clusters = clusters.filter(models.Cluster.project_id == project_id)
                nodes = nodes.filter(models.NodeGroup.project_id == project_id)
            return clusters.scalar(), int(nodes.scalar())

    def _compare_and_swap(self, model: Any, uuid: str, values: dict,
                          expected_revision: int | None, not_found: Exception,
                          resource: str, transition: dict | None = None) -> Any:
        values = {k: v for k, v in values.items() if k not in ("id", "uuid", "revision")}
        values["updated_at"] = timeutils.utcnow()
        with _writer() as session:
            # The write comes first, so SQLite takes its write lock at once (no lock upgrade).
            query = session.query(model).filter(model.uuid == uuid)
            if expected_revision is not None:
                query = query.filter(model.revision == expected_revision)
            count = query.update({**values, "revision": model.revision + 1},
                                 synchronize_session=False)
            if count == 1:
                self._write_transition(session, **(transition or {}))
                return session.query(model).filter_by(uuid=uuid).one()
            if session.query(model.id).filter_by(uuid=uuid).first() is None:
                raise not_found
            raise exception.ConcurrentUpdate(resource=resource, uuid=uuid)
