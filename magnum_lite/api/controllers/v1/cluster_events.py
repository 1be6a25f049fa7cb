"""/v1/clusters/{cluster_ident}/events (1.16+): a cluster's history, newest first.

Every operation and status change of the cluster, as the event table holds it: the time, the
cluster's version, the event type, status and reason, who asked and in which request. A list
like every other (limit, marker = an event uuid, sort_dir, `next`), newest first unless
sort_dir=asc. Events outlive the cluster's row, for accounting: after a delete an admin asks by
the cluster's uuid (anyone else gets the 404 of a cluster that is not there).
"""

from __future__ import annotations

from typing import Any

from magnum_lite import objects
from magnum_lite.api import versions
from magnum_lite.api.controllers import base
from magnum_lite.api.controllers.v1 import cluster_shared, collection, types
from magnum_lite.common import exception, policy

MIN_VERSION = "1.16"
WHAT = "the cluster events API"

FIELDS = ("uuid", "created_at", "cluster_version", "event_type", "status", "status_reason",
          "user_id", "request_id")
SORT_KEYS = ("id", "created_at")


def resource(cluster_uuid: str) -> str:
    return f"clusters/{cluster_uuid}/events"


def convert(event: objects.ClusterEvent) -> dict:
    return base.to_dict(event, FIELDS)


class ClusterEventsController(base.RestController):
    """GET of a cluster's events (the cluster is the first argument)."""

    def _cluster_uuid(self, context: Any, cluster_ident: str) -> str:
        """The uuid whose events the caller may read: a cluster it may see (404 otherwise,
        403 without the rule) or, for an admin, a deleted cluster that left events."""
        base.see_all_projects(context, "cluster:events_all_projects")
        try:
            cluster = objects.Cluster.get(context, cluster_ident)
        except exception.ClusterNotFound:
            if not (types.uuid_like(cluster_ident) and context.is_admin
                    and policy.authorize(context, "cluster:events_all_projects",
                                         do_raise=False)
                    and objects.ClusterEvent.list(context, cluster_ident, limit=1)):
                raise
            return cluster_ident
        policy.authorize(context, "cluster:events", cluster_shared.target(cluster))
        return cluster.uuid

    @base.expose()
    @versions.requires(MIN_VERSION, what=WHAT)
    def get_all(self, cluster_ident: str) -> dict:
        """The cluster's events, newest first (sort_dir=asc: oldest first), paginated."""
        context = base.context()
        cluster_uuid = self._cluster_uuid(context, cluster_ident)
        page = collection.page(SORT_KEYS, default_sort_dir="desc")
        events = objects.ClusterEvent.list(context, cluster_uuid, page.limit, page.marker,
                                           page.sort_dir, page.sort_key)
        document: dict[str, Any] = {"events": [convert(event) for event in events]}
        next_url = collection.next_link(resource(cluster_uuid), events, page)
        if next_url:
            document["next"] = next_url
        return document
