"""What the cluster resource shares with the resources below it (nodegroups, certificates,
credentials) and with its actions' helpers (cluster_upgrade): its policy target, the start of
an operation, the cast that hands it to the conductor, the node limit, the labels shown against
the template's, the lookup of one of its nodegroups and the driver version a template pins a
cluster to. One module, so that those controllers import it rather than each other.
"""

from __future__ import annotations

import logging
from typing import Any

from oslo_utils import uuidutils
import pecan

from magnum_lite import objects
from magnum_lite.api.controllers.v1 import types
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


def find_nodegroup(context: Any, cluster: objects.Cluster, ident: str) -> objects.NodeGroup:
    """The cluster's nodegroup of that name or uuid: 404 naming the field `nodegroup` when it
    has none (Magnum's NodeGroupNotFound), 409 when several share the name."""
    nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
    if uuidutils.is_uuid_like(ident):
        found = [ng for ng in nodegroups if ng.uuid == ident]
    else:
        found = [ng for ng in nodegroups if ng.name == ident]
    if not found:
        raise exception.NodeGroupNotFound(
            f"nodegroup: Nodegroup {ident} could not be found in cluster {cluster.uuid}.",
            nodegroup=ident)
    if len(found) > 1:
        raise exception.Duplicate(resource="nodegroups", name=ident)
    return found[0]


def pinned_driver(context: Any, template: objects.ClusterTemplate,
                  field: str = "driver") -> objects.Driver | None:
    """The driver version a cluster of `template` is pinned to: the latest enabled version
    of the template's driver (None: no driver row, the conductor decides by plugin). 400
    naming `field` when the template names a driver without an enabled version the caller's
    project may use."""
    try:
        return objects.Driver.for_template(context, template)
    except exception.NotFound as err:
        raise types.invalid(field, f"the template's driver {types.quote(template.driver)} "
                                   f"has no enabled version this project may use.") from err


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
