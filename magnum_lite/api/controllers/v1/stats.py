"""/v1/stats (1.4+): how many clusters and nodes a project (or the whole cloud) has."""

from __future__ import annotations

import wsme

from magnum_lite import objects
from magnum_lite.api.controllers import base
from magnum_lite.api.controllers.v1 import collection, types
from magnum_lite.common import exception, policy

STATS_TYPES = ("cluster",)


class Stats(base.APIBase):
    """Usage counts."""

    clusters = wsme.wsattr(int, readonly=True)
    """The number of clusters."""

    nodes = wsme.wsattr(int, readonly=True)
    """The number of nodes (masters and workers) of those clusters."""


class StatsController(base.RestController):
    """GET /v1/stats?project_id=&type=cluster."""

    @base.expose()
    def get_all(self) -> dict:
        """A project's counts; admins may ask for any project, or all (no project_id)."""
        context = base.context()
        policy.authorize(context, "stats:get_all")
        stats_type = collection.query_param("type") or "cluster"
        if stats_type.lower() not in STATS_TYPES:
            raise types.invalid("type", f"must be one of {', '.join(STATS_TYPES)}; got "
                                        f"{types.quote(stats_type)}.")
        project_id = collection.query_param("project_id")
        if project_id is not None:
            types.check_text("project_id", project_id, min_length=1, max_length=255)
        if not context.is_admin:
            project_id = project_id or context.project_id
            if project_id != context.project_id:
                raise exception.NotAuthorized(
                    "project_id: only administrators may see the stats of another project.")
        clusters, nodes = objects.Cluster.stats(context, project_id)
        return {"clusters": clusters, "nodes": nodes}
