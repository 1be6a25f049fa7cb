"""The stacks of one worker nodegroup: made (all of its chunks, or the missing ones) and
deleted on their own, without touching the cluster stack or the other groups (DESIGN §6).

Making the chunks is level triggered: a conductor that died half-way made some, and the
next status check makes the rest. A refusal by Heat or by the plugin fails the nodegroup
at once (no use retrying); an unreachable Heat is tried again on the next check.
"""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, inventory, stacks
from magnum_lite.drivers.heat.inventory import (
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    DELETE_IN_PROGRESS,
    UPDATE_IN_PROGRESS,
)
from magnum_lite.drivers.heat.parameters import (
    LazyCredentials,
    StackBuilder,
    nodegroup_stack,
    stack_timeout,
)

LOG = logging.getLogger(__name__)


class NodegroupRefused(Exception):
    """Heat (or the plugin) refused a nodegroup's stack: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refused(status: str, nodegroup: Any, reason: str) -> base.ClusterState:
    """The cluster in `status` after Heat refused the new nodegroup's stacks."""
    return base.ClusterState(status=status, status_reason=reason, nodegroups={
        nodegroup.uuid: base.NodeGroupState(status=CREATE_FAILED, status_reason=reason)})


def create_chunks(builder: StackBuilder, client: Any, cluster: Any, cluster_template: Any,
                  nodegroup: Any, chunk_stacks: dict[int, stacks.StackSummary],
                  cluster_outputs: dict[str, Any], credentials: LazyCredentials,
                  timeout: int) -> bool:
    """Create the chunk stacks of `nodegroup` that do not exist yet; whether any was created.

    :raises NodegroupRefused: Heat or the plugin refused a stack (no use retrying).
    """
    created = False
    for chunk, count in enumerate(chunks.plan(nodegroup.node_count,
                                              builder.nodes_per_stack())):
        if chunk in chunk_stacks:
            continue
        if cluster_template is None:
            raise exception.InvalidParameterValue(
                err=f"cluster {cluster.uuid}: its worker stacks need its template")
        try:
            stacks.create(client, *nodegroup_stack(builder, cluster, cluster_template,
                                                   nodegroup, chunk, count, cluster_outputs,
                                                   credentials()),
                          timeout)
        except exception.CloudUnreachable:
            raise  # tried again on the next check
        except (exception.CloudError, exception.InvalidParameterValue) as err:
            raise NodegroupRefused(f"the stacks of nodegroup {nodegroup.name} cannot be "
                                   f"created: {err}") from err
        created = True
    return created


def create(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
           nodegroup: Any, credentials: base.CredentialsLoader | None) -> base.ClusterState:
    """The new nodegroup's chunk stacks, on the cluster stack's network."""
    inventory.refuse_masters(nodegroup, "role: nodegroup", "only the cluster stack makes")
    client = stacks.client(context)
    chunk_stacks = inventory.chunk_stacks(cluster, nodegroup, stacks.list_stacks(client))
    try:
        create_chunks(builder, client, cluster, cluster_template, nodegroup, chunk_stacks,
                      inventory.cluster_outputs(client, cluster), LazyCredentials(credentials),
                      stack_timeout(cluster))
    except NodegroupRefused as refusal:
        return refused(inventory.UPDATE_FAILED, nodegroup, refusal.reason)
    LOG.info("Cluster %s: nodegroup %s creating (%s nodes)", cluster.uuid, nodegroup.name,
             nodegroup.node_count)
    return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
        nodegroup.uuid: base.NodeGroupState(status=CREATE_IN_PROGRESS)})


def delete(context: Any, cluster: Any, nodegroup: Any) -> base.ClusterState:
    """Delete the nodegroup's chunk stacks (those not being deleted already)."""
    inventory.refuse_masters(nodegroup, "nodegroup:", "cannot be deleted")
    client = stacks.client(context)
    for summary in inventory.chunk_stacks(cluster, nodegroup,
                                          stacks.list_stacks(client)).values():
        if summary.status != DELETE_IN_PROGRESS:
            stacks.delete(client, summary.id)
    LOG.info("Cluster %s: nodegroup %s deleting", cluster.uuid, nodegroup.name)
    return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
        nodegroup.uuid: base.NodeGroupState(status=DELETE_IN_PROGRESS)})
