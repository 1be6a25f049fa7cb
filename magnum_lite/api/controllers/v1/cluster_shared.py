"""What the cluster resource shares with the resources below it (nodegroups, certificates,
credentials): its policy target, the start of an operation, the cast that hands it to the
conductor, the node limit and the labels shown against the template's. One module, so that
those controllers import it rather than each other.
"""

from __future__ import annotations

import logging
from typing import Any

import pecan

from magnum_lite import objects
from magnum_lite.common import exception, states
from magnum_lite.objects import cluster_operation

LOG = logging.getLogger(__name__)

# At most this many workers in a cluster or nodegroup (Magnum has no limit; more is a typo).
MAX_NODE_COUNT = 1000


def labels_diff(parent: dict | None, labels: dict | None) -> tuple[dict, dict, dict]:
    """(overridden, added, skipped) labels of a cluster against its template's."""
    parent = parent or {}
    labels = labels or {}
    overridden = {k: parent[k] for k, v in labels.items() if k in parent and parent[k] != v}
    added = {k: v for k, v in labels.items() if k not in parent}
    skipped = {k: v for k, v in parent.items() if k not in labels}
    return overridden, added, skipped


def target(cluster: objects.Cluster) -> dict:
    """What a cluster's policy rules match on: its project and user."""
    return {"project_id": cluster.project_id, "user_id": cluster.user_id}


def start_update(context: Any, cluster: objects.Cluster, event_type: str,
                 kind: str = states.Kind.RESIZE, params: dict | None = None) -> None:
    """Start an operation of `kind` (UPDATE_IN_PROGRESS) through the transition table: 409
    unless it may start now (another operation runs, or the status refuses it); one more
    version, with its event and its operation record."""
    cluster_operation.start(context, cluster, kind, event_type, params)


def cast_or_fail(context: Any, cluster: objects.Cluster, method: str, failed_status: str,
                 **kwargs: Any) -> None:
    """Cast to the conductor; when that fails, the cluster fails with the reason (503)."""
    try:
        getattr(pecan.request.rpcapi, method)(context, cluster_uuid=cluster.uuid, **kwargs)
    except Exception as err:
        LOG.exception("Cluster %s: cannot reach the conductor for %s", cluster.uuid, method)
        reason = f"The conductor could not be reached: {type(err).__name__}"
        operation = objects.ClusterOperation.current(context, cluster)
        cluster_operation.finish(
            context, cluster.uuid, operation.kind if operation else states.Kind.RESIZE,
            failed_status, reason, fault=states.Fault.CONDUCTOR_UNREACHABLE,
            operation_uuid=cluster.operation_uuid,
            event_type=method.replace("_", ".", 1) + ".failed")
        raise exception.ServiceUnavailable(what="The conductor", reason=reason) from err
