"""What the cluster resource shares with the resources below it (nodegroups, certificates,
credentials) and with its actions' helpers (cluster_upgrade): its policy target, the start of
an operation (and the check a dry run makes instead), the cast that hands it to the
conductor, the call that asks it and waits, the node limit, the labels shown against the
template's, the lookup of one of its nodegroups and the driver version a template pins a
cluster to. One module, so that those controllers import it rather than each other.
"""

from __future__ import annotations

import logging
from typing import Any

import oslo_messaging as messaging
from oslo_utils import uuidutils
import pecan

from magnum_lite import objects
from magnum_lite.api import versions
from magnum_lite.api.controllers.v1 import types
from magnum_lite.common import exception, states
from magnum_lite.objects import cluster_operation

LOG = logging.getLogger(__name__)

# At most this many workers in a cluster or nodegroup (Magnum has no limit; more is a typo).
MAX_NODE_COUNT = 1000
# The microversion of the upgrade's driver_version, rollback and dry_run, and of dry_run on
# cluster create and resize.
DRY_RUN_VERSION = "1.17"


def check_newer_fields(data: dict, names: tuple[str, ...]) -> None:
    """400 naming the first of `names` the body gives (not null) below DRY_RUN_VERSION, as
    nodegroups answer for node_labels below 1.14: a field of a newer version than the
    request's."""
    given = sorted(name for name in names if data.get(name) is not None)
    if given and not versions.at_least(DRY_RUN_VERSION):
        raise types.invalid(given[0], f"needs API version {DRY_RUN_VERSION} or newer.")


def pop_dry_run(data: Any) -> bool:
    """The `dry_run` of a request body (1.17+), taken out of it: a create or resize then
    answers what it would do, doing nothing. A body that is no object is left to its parser
    to refuse."""
    if not isinstance(data, dict) or "dry_run" not in data:
        return False
    check_newer_fields(data, ("dry_run",))
    value = data.pop("dry_run")
    return value is not None and types.check_bool("dry_run", value)


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


def check_start(context: Any, cluster: objects.Cluster, kind: str) -> None:
    """409 when an operation of `kind` could not start now, writing nothing: a dry run
    answers as the request itself would."""
    cluster_operation.check_start(context, cluster, kind)


def call_conductor(what: str, method: str, context: Any, **kwargs: Any) -> Any:
    """An RPC call (the API waits for the answer): the conductor's own refusals with their
    status (400, 404, 409, 502 ...); 503 when it cannot be reached or does not answer in
    time. `what` names the request in the log."""
    try:
        return getattr(pecan.request.rpcapi, method)(context, **kwargs)
    except exception.MagnumLiteException:
        raise
    except messaging.MessagingTimeout as err:
        raise exception.ServiceUnavailable(
            what="The conductor", reason="it did not answer in time") from err
    except Exception as err:
        LOG.exception("%s: the conductor could not be asked", what)
        raise exception.ServiceUnavailable(
            what="The conductor", reason=f"it could not be reached: "
                                         f"{type(err).__name__}") from err


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
