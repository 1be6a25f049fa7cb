"""Recording what a driver reported: the one writer of driver states.

The manager records what create, update and delete returned, the reconciler what a status
check found; both go through `record_state` (compare-and-swap writes through the transition
table of objects/cluster_operation.finish, fenced by the operation and its owner).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oslo_log import log as logging

from magnum_lite import objects
from magnum_lite.common import encryption, exception, states
from magnum_lite.conductor import credentials
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation as operations
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

Status = fields.ClusterStatus

# What a ClusterState may set on the cluster row and on a nodegroup row (None: unchanged).
CLUSTER_STATE_FIELDS = ("stack_id", "api_address", "coe_version", "join_token")
# Fields stored encrypted (common/encryption.py).
SECRET_STATE_FIELDS = ("join_token",)
NODEGROUP_STATE_FIELDS = ("status", "status_reason", "stack_id", "node_addresses", "node_count")


def state_differs(cluster: Any, nodegroups: list[Any], state: drivers_base.ClusterState
                  ) -> bool:
    """Whether recording `state` would change the cluster or one of its `nodegroups`."""
    if state.status is not None and state.status != cluster.status:
        return True
    if state.status_reason is not None and state.status_reason != cluster.status_reason:
        return True
    if any(getattr(state, name) is not None and getattr(state, name) != getattr(cluster, name)
           for name in CLUSTER_STATE_FIELDS if name not in SECRET_STATE_FIELDS):
        return True
    by_uuid = {ng.uuid: ng for ng in nodegroups}
    for uuid, ng_state in state.nodegroups.items():
        nodegroup = by_uuid.get(uuid)
        if nodegroup is not None and _nodegroup_changes(nodegroup, ng_state):
            return True
    return False


def _nodegroup_changes(nodegroup: Any, ng_state: drivers_base.NodeGroupState) -> dict:
    changes = {}
    for name in NODEGROUP_STATE_FIELDS:
        value = getattr(ng_state, name)
        if value is None:
            continue
        if name == "node_addresses":
            value = list(value)
        if value != getattr(nodegroup, name):
            changes[name] = value
    return changes


def _record_nodegroups(context: Any, cluster_uuid: str,
                       states: dict[str, drivers_base.NodeGroupState]) -> None:
    for uuid, ng_state in states.items():
        if ng_state.status == Status.DELETE_COMPLETE:
            _destroy_nodegroup(context, cluster_uuid, uuid)
            continue

        def mutate(nodegroup: Any, ng_state: drivers_base.NodeGroupState = ng_state) -> None:
            for name, value in _nodegroup_changes(nodegroup, ng_state).items():
                setattr(nodegroup, name, value)

        try:
            objects.NodeGroup.update_with_retry(context, cluster_uuid, uuid, mutate)
        except exception.NodeGroupNotFound:
            LOG.info("Cluster %s: nodegroup %s is gone: its state is not recorded",
                     cluster_uuid, uuid)


def _destroy_nodegroup(context: Any, cluster_uuid: str, uuid: str) -> None:
    """Remove the row of a nodegroup whose stacks are gone (a nodegroup delete is done)."""
    try:
        objects.NodeGroup.get(context, cluster_uuid, uuid).destroy()
    except exception.NodeGroupNotFound:
        return  # recorded once already (another conductor, an earlier poll)
    LOG.info("Cluster %s: nodegroup %s deleted", cluster_uuid, uuid)


def record_state(context: Any, kind: str, cluster_uuid: str,
                 state: drivers_base.ClusterState, expect: tuple[str, int] | None = None,
                 clear_reason: bool = False, operation_uuid: str | None = None,
                 step: str | None = None, owner: str | None = None) -> Any:
    """Record what a driver reported for the cluster's operation of `kind`: each
    NodeGroupState on its nodegroup row, then the cluster's status, reason and fields through
    the transition table (objects/cluster_operation.finish; an event when the status
    changes; DELETE_COMPLETE removes the cluster's rows, its events and operations stay).

    The one writer of driver states, for the manager (what create/update/delete returned,
    with the `step` it reached, fenced by its `owner`) and the reconciler (what get_status
    found). Returns the cluster, or None when it moved on to another operation or another
    owner (then nothing is written).
    """
    table = states.rules(kind)
    status = state.status or table.in_progress
    if status == Status.DELETE_COMPLETE:
        waiting = release_credentials(context, cluster_uuid)
        if waiting is not None:
            status, state = table.in_progress, dataclasses.replace(
                state, status=table.in_progress, status_reason=waiting)
    if state.nodegroups:
        if expect is not None or operation_uuid is not None:
            current = objects.Cluster.get_by_uuid(context, cluster_uuid)
            if ((expect is not None and (current.status, current.version) != expect)
                    or (operation_uuid is not None
                        and current.operation_uuid != operation_uuid)
                    or (owner is not None and operation_uuid is not None
                        and operations.ClusterOperation.get(context, operation_uuid).owner
                        != owner)):
                LOG.warning("Cluster %s is %s now: the state of its %s is not recorded",
                            cluster_uuid, current.status, kind)
                return None
        _record_nodegroups(context, cluster_uuid, state.nodegroups)
    changes = {name: getattr(state, name) for name in CLUSTER_STATE_FIELDS
               if getattr(state, name) is not None}
    for name in SECRET_STATE_FIELDS:
        if name in changes:
            changes[name] = encryption.encrypt(changes[name])
    cluster = operations.finish(context, cluster_uuid, kind, status, state.status_reason,
                                operation_uuid=operation_uuid, expect=expect,
                                clear_reason=clear_reason, step=step, owner=owner,
                                **changes)
    if cluster is not None and status == Status.DELETE_COMPLETE:
        LOG.info("Cluster %s deleted", cluster_uuid)
    return cluster


def release_credentials(context: Any, cluster_uuid: str) -> str | None:
    """Delete the trustee and trust of a cluster whose cloud resources are gone. None when
    done (or nothing to do); a status_reason when Keystone did not answer and the delete
    must wait for the next check."""
    try:
        cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
    except exception.ClusterNotFound:
        return None
    try:
        credentials.release(context, cluster)
    except exception.CloudUnreachable as err:
        return f"the cluster's stacks are deleted, its trustee user not yet: {err}; still trying"
    except Exception as err:  # noqa: BLE001 - trying again would not help: say it and go on
        LOG.warning("Cluster %s: its trustee user %s and trust %s are left in Keystone: %s",
                    cluster_uuid, cluster.trustee_user_id, cluster.trust_id, err)
    return None
