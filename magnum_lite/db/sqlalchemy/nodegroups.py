"""Nodegroup queries, a mixin of api.Connection.

Nodegroups are read per cluster, or for a page of clusters at once; their writes are
the clusters' compare-and-swap on `revision` (ClusterQueries, through self).
"""

from typing import Any

import sqlalchemy as sa

from magnum_lite.common import exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.db.sqlalchemy.queries import (
    _NODEGROUPS,
    _add,
    _apply_filters,
    _filter_by_project,
    _new_row,
    _one_by_name,
    _paginate,
)
from magnum_lite.db.sqlalchemy.session import _reader, _single_read, _writer

# The nodegroups of a page of clusters, built once (SQLAlchemy caches their compiled SQL).
_NODEGROUP_SIZES_OF_CLUSTERS = sa.select(
    _NODEGROUPS.c.cluster_id, _NODEGROUPS.c.role, _NODEGROUPS.c.node_count,
    _NODEGROUPS.c.node_addresses).where(
    _NODEGROUPS.c.cluster_id.in_(sa.bindparam("cluster_ids", expanding=True))).order_by(
    _NODEGROUPS.c.id)
_NODEGROUPS_OF_CLUSTERS = sa.select(_NODEGROUPS).where(
    _NODEGROUPS.c.cluster_id.in_(sa.bindparam("cluster_ids", expanding=True))).order_by(
    _NODEGROUPS.c.id)


class NodeGroupQueries:
    """Nodegroups of a cluster."""

    NODEGROUP_FILTERS = ("name", "role", "is_default", "status")

    def create_nodegroup(self, values: dict) -> models.NodeGroup:
        return _add(_new_row(models.NodeGroup, values),
                    lambda row: exception.NodeGroupAlreadyExists(name=row.name,
                                                                 cluster_id=row.cluster_id))

    def _nodegroup_query(self, context: Any, session: Any, cluster_id: str) -> Any:
        query = session.query(models.NodeGroup).filter_by(cluster_id=cluster_id)
        return _filter_by_project(context, query, models.NodeGroup)

    def list_cluster_nodegroups(self, context: Any, cluster_id: str,
                                filters: dict | None = None, limit: int | None = None,
                                marker: str | None = None, sort_key: str | None = None,
                                sort_dir: str | None = None) -> list:
        with _reader() as session:
            query = self._nodegroup_query(context, session, cluster_id)
            query = _apply_filters(query, models.NodeGroup, filters, self.NODEGROUP_FILTERS)
            return _paginate(session, query, models.NodeGroup, limit, marker, sort_key, sort_dir)

    def list_nodegroups_of_clusters(self, cluster_ids: list[str]) -> list:
        """Every nodegroup of the given clusters, in one query (for list/detail pages)."""
        if not cluster_ids:
            return []
        with _single_read() as conn:
            return conn.execute(_NODEGROUPS_OF_CLUSTERS,
                                {"cluster_ids": list(cluster_ids)}).all()

    def list_nodegroup_sizes_of_clusters(self, cluster_ids: list[str]) -> list:
        """(cluster_id, role, node_count, node_addresses) of every nodegroup of the given
        clusters, in nodegroup order, in one query: what a cluster's counts and addresses
        are made of, without the rest of each nodegroup."""
        if not cluster_ids:
            return []
        with _single_read() as conn:
            return conn.execute(_NODEGROUP_SIZES_OF_CLUSTERS,
                                {"cluster_ids": list(cluster_ids)}).all()

    def get_nodegroup_by_uuid(self, context: Any, cluster_id: str,
                              uuid: str) -> models.NodeGroup:
        with _reader() as session:
            row = self._nodegroup_query(context, session, cluster_id).filter_by(
                uuid=uuid).first()
            if row is None:
                raise exception.NodeGroupNotFound(nodegroup=uuid)
            return row

    def get_nodegroup_by_name(self, context: Any, cluster_id: str,
                              name: str) -> models.NodeGroup:
        with _reader() as session:
            return _one_by_name(self._nodegroup_query(context, session, cluster_id),
                                models.NodeGroup, name, "nodegroups",
                                exception.NodeGroupNotFound(nodegroup=name))

    def update_nodegroup(self, uuid: str, values: dict,
                         expected_revision: int | None = None) -> models.NodeGroup:
        return self._compare_and_swap(models.NodeGroup, uuid, values, expected_revision,
                                      exception.NodeGroupNotFound(nodegroup=uuid), "Nodegroup")

    def destroy_nodegroup(self, uuid: str) -> None:
        with _writer() as session:
            if not session.query(models.NodeGroup).filter_by(uuid=uuid).delete():
                raise exception.NodeGroupNotFound(nodegroup=uuid)
