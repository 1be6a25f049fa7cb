"""The cluster's state from Heat's, and the next step of an operation under way.

Level triggered: each check compares what Heat holds with what the cluster's status asks
for and starts what is missing (on create, the worker stacks once the cluster stack made
what they need, early_workers.py, or at the latest once it is complete; the missing chunks
of a nodegroup being added; the cluster stack once the worker stacks are gone on delete),
so a conductor that died mid-way loses nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from magnum_lite.common import states
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import (
    chunks,
    early_workers,
    inventory,
    names,
    nodegroups,
    stacks,
)
from magnum_lite.drivers.heat.inventory import (
    CREATE_COMPLETE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    DELETE_COMPLETE,
    DELETE_FAILED,
    DELETE_IN_PROGRESS,
    UPDATE_COMPLETE,
    UPDATE_FAILED,
    UPDATE_IN_PROGRESS,
    Listing,
)
from magnum_lite.drivers.heat.parameters import (
    LazyCredentials,
    StackBuilder,
    seconds_since_created,
    stack_timeout,
)


def minutes_left(cluster: Any) -> int:
    """What remains of the cluster's create timeout (at least a minute) for a worker stack
    made after the cluster stack's."""
    timeout = stack_timeout(cluster)
    elapsed = seconds_since_created(cluster)
    if elapsed is None:
        return timeout
    return max(1, int(timeout - elapsed / 60))


def get_status(builder: StackBuilder, context: Any, cluster: Any, nodegroup_list: list[Any],
               snapshot: Listing | None, cluster_template: Any,
               credentials: base.CredentialsLoader | None,
               operation: Any = None) -> base.ClusterState:
    """The step of the operation the cluster's status says is under way (of `operation`'s
    kind when given); nothing to change for a cluster at rest."""
    client = stacks.client(context)
    listing = snapshot if snapshot is not None else stacks.list_stacks(client)
    if cluster.status == DELETE_IN_PROGRESS:
        return delete_step(client, cluster, listing)
    if cluster.status == CREATE_IN_PROGRESS:
        return create_step(builder, client, cluster, cluster_template, nodegroup_list,
                           listing, credentials)
    if cluster.status == UPDATE_IN_PROGRESS:
        return update_step(builder, client, cluster, nodegroup_list, listing,
                           cluster_template, credentials,
                           kind=getattr(operation, "kind", None))
    return base.ClusterState()


def _every_chunk_made(builder: StackBuilder, workers: list[Any],
                     worker_stacks: dict[str, dict[int, stacks.StackSummary]]) -> bool:
    return all(
        len(worker_stacks[ng.uuid]) >= len(chunks.plan(ng.node_count, builder.nodes_per_stack()))
        for ng in workers)


def _all_building(builder: StackBuilder, workers: list[Any],
                  worker_stacks: dict[str, dict[int, stacks.StackSummary]]) -> bool:
    """Whether Heat has every chunk of every worker group and is still building each group
    (none failed): then there is nothing to read until one is done."""
    return _every_chunk_made(builder, workers, worker_stacks) and bool(workers) and all(
        inventory.building(worker_stacks[ng.uuid])
        and inventory.first_failed(worker_stacks[ng.uuid]) is None
        for ng in workers)


def create_step(builder: StackBuilder, client: Any, cluster: Any, cluster_template: Any,
                nodegroup_list: list[Any], listing: Listing,
                credentials: base.CredentialsLoader | None) -> base.ClusterState:
    """Follow the cluster stack, then make and follow the worker stacks."""
    masters, workers = inventory.split(nodegroup_list)
    cluster_stack = listing.get(names.cluster_stack_name(cluster))
    if cluster_stack is None:
        if cluster.stack_id:
            return base.ClusterState(status=CREATE_FAILED, status_reason=(
                f"the cluster stack {cluster.stack_id} is gone from Heat"))
        return base.ClusterState()  # not created yet: the conductor's timeout applies
    if cluster_stack.failed:
        return inventory.failed(client, CREATE_FAILED, cluster_stack, masters)
    worker_stacks = {ng.uuid: inventory.chunk_stacks(cluster, ng, listing) for ng in workers}
    if not cluster_stack.complete:
        return _workers_beside_masters(builder, client, cluster, cluster_template, masters,
                                       workers, worker_stacks, cluster_stack, credentials)
    if _all_building(builder, workers, worker_stacks):
        return base.ClusterState(stack_id=cluster_stack.id)
    # The cluster stack's outputs and those of every finished worker group, side by side.
    read = stacks.get_stacks(client, [cluster_stack.id] + [
        summary.id for ng in workers if inventory.complete(worker_stacks[ng.uuid])
        for summary in worker_stacks[ng.uuid].values()])
    if read[cluster_stack.id] is None:
        raise inventory.cluster_stack_gone(cluster)
    outputs = stacks.outputs_of(read[cluster_stack.id])
    groups = {masters.uuid: inventory.masters_state(cluster_stack.id, outputs)}
    waiting = False
    given = LazyCredentials(credentials)
    for ng in workers:
        chunk_stacks = worker_stacks[ng.uuid]
        try:
            created = nodegroups.create_chunks(builder, client, cluster, cluster_template, ng,
                                               chunk_stacks, outputs, given,
                                               minutes_left(cluster))
        except nodegroups.NodegroupRefused as refusal:
            return nodegroups.refused(CREATE_FAILED, ng, refusal.reason)
        if created or inventory.building(chunk_stacks):
            groups[ng.uuid] = base.NodeGroupState(status=CREATE_IN_PROGRESS)
            waiting = True
            continue
        failed = inventory.first_failed(chunk_stacks)
        if failed:
            return inventory.failed(client, CREATE_FAILED, failed, ng, groups)
        groups[ng.uuid] = inventory.nodegroup_state(client, CREATE_COMPLETE, chunk_stacks, read)
    common = {"stack_id": cluster_stack.id, "api_address": builder.api_address(outputs),
              "nodegroups": groups}
    if waiting:
        return base.ClusterState(**common)
    return base.ClusterState(status=CREATE_COMPLETE, status_reason="Stack CREATE completed "
                             "successfully", **common)


def _workers_beside_masters(builder: StackBuilder, client: Any, cluster: Any,
                            cluster_template: Any, masters: Any, workers: list[Any],
                            worker_stacks: dict[str, dict[int, stacks.StackSummary]],
                            cluster_stack: stacks.StackSummary,
                            credentials: base.CredentialsLoader | None) -> base.ClusterState:
    """While the cluster stack builds: make the worker stacks as soon as what they need
    exists (early_workers.py), and have the cluster looked at again soon until then."""
    waiting = base.ClusterState(stack_id=cluster_stack.id)
    if _every_chunk_made(builder, workers, worker_stacks) or cluster_template is None:
        return waiting
    outputs = early_workers.ready_outputs(builder, client, cluster, cluster_template, masters,
                                          cluster_stack.id)
    if outputs is None:
        return dataclasses.replace(waiting, look_again=early_workers.look_again_in())
    given = LazyCredentials(credentials)
    groups = {}
    for ng in workers:
        try:
            nodegroups.create_chunks(builder, client, cluster, cluster_template, ng,
                                     worker_stacks[ng.uuid], outputs, given,
                                     minutes_left(cluster))
        except nodegroups.NodegroupRefused as refusal:
            return nodegroups.refused(CREATE_FAILED, ng, refusal.reason)
        groups[ng.uuid] = base.NodeGroupState(status=CREATE_IN_PROGRESS)
    return dataclasses.replace(waiting, nodegroups=groups)


def update_step(builder: StackBuilder, client: Any, cluster: Any, nodegroup_list: list[Any],
                listing: Listing, cluster_template: Any = None,
                credentials: base.CredentialsLoader | None = None,
                kind: str | None = None) -> base.ClusterState:
    """Follow a resize or rotation, and nodegroups being added (CREATE_IN_PROGRESS:
    their missing chunk stacks are made) or removed (DELETE_IN_PROGRESS: DELETE_COMPLETE
    once their stacks are gone).

    A rotation updates the cluster stack too; a resize or a nodegroup operation (`kind`)
    leaves it as it was, so its state then is an earlier operation's (a failed CA rotation
    leaves it UPDATE_FAILED) and no outcome of this one. Without a kind it is read."""
    masters, workers = inventory.split(nodegroup_list)
    groups: dict[str, base.NodeGroupState] = {}
    waiting = False
    given = LazyCredentials(credentials)
    outputs: dict[str, Any] | None = None
    cluster_stack = None
    if kind is None or kind in states.TOUCHES_CLUSTER_STACK:
        cluster_stack = listing.get(names.cluster_stack_name(cluster))
    if cluster_stack is not None and cluster_stack.in_progress:
        waiting = True
    elif cluster_stack is not None and cluster_stack.status == UPDATE_FAILED:
        return inventory.failed(client, UPDATE_FAILED, cluster_stack, masters)
    for ng in workers:
        chunk_stacks = inventory.chunk_stacks(cluster, ng, listing)
        if ng.status == DELETE_IN_PROGRESS:
            if not chunk_stacks:
                groups[ng.uuid] = base.NodeGroupState(
                    status=DELETE_COMPLETE, status_reason="the nodegroup's stacks are deleted")
                continue
            failed = inventory.first_failed(chunk_stacks, DELETE_FAILED)
            if failed and not inventory.building(chunk_stacks):
                return inventory.failed(client, UPDATE_FAILED, failed, ng,
                                        nodegroup_status=DELETE_FAILED)
            waiting = True
            continue
        if ng.status == CREATE_IN_PROGRESS and cluster_template is not None:
            if outputs is None:
                outputs = inventory.cluster_outputs(client, cluster)
            try:
                if nodegroups.create_chunks(builder, client, cluster, cluster_template, ng,
                                            chunk_stacks, outputs, given,
                                            stack_timeout(cluster)):
                    waiting = True
                    continue
            except nodegroups.NodegroupRefused as refusal:
                return nodegroups.refused(UPDATE_FAILED, ng, refusal.reason)
        if inventory.building(chunk_stacks):
            waiting = True
            continue
        failed = inventory.first_failed(chunk_stacks)
        if failed:
            return inventory.failed(client, UPDATE_FAILED, failed, ng,
                                    nodegroup_status=(CREATE_FAILED
                                                      if ng.status == CREATE_IN_PROGRESS
                                                      else None))
        if ng.status in (UPDATE_IN_PROGRESS, CREATE_IN_PROGRESS):
            groups[ng.uuid] = inventory.nodegroup_state(
                client, UPDATE_COMPLETE if ng.status == UPDATE_IN_PROGRESS
                else CREATE_COMPLETE, chunk_stacks)
    if waiting:
        return base.ClusterState()
    return base.ClusterState(status=UPDATE_COMPLETE, status_reason="Stack UPDATE completed "
                             "successfully", nodegroups=groups)


#: Heat's reason for a stack's delete that a newer delete of it cancelled: the newer one
#: runs on while Heat shows the stack DELETE_FAILED with this reason.
DELETE_SUPERSEDED = "Stack DELETE cancelled"


def _superseded(summary: stacks.StackSummary) -> bool:
    return summary.status == DELETE_FAILED and summary.reason == DELETE_SUPERSEDED


def delete_step(client: Any, cluster: Any, listing: Listing, asked: bool = False
                ) -> base.ClusterState:
    """Delete the worker stacks, then the cluster stack. `asked` (the delete was asked for:
    first, again, or taken over) deletes every remaining stack once more, also one whose
    delete failed (instead of reporting that failure) and one Heat says it is deleting (Heat
    then cancels that delete and starts it anew: a delete stuck in Heat is driven again).
    """
    # Every worker stack of the cluster, also of a nodegroup no longer in its list: one
    # left behind would keep the network busy and fail the cluster stack's delete.
    worker_stacks = inventory.worker_stacks(cluster, listing)
    cluster_stack = listing.get(names.cluster_stack_name(cluster))
    remaining = worker_stacks or ([cluster_stack] if cluster_stack else [])
    failed = [s for s in remaining if s.status == DELETE_FAILED and not _superseded(s)]
    if failed and not asked:
        return base.ClusterState(status=DELETE_FAILED, status_reason=stacks.failure_reason(
            client, failed[0], CONF.heat_driver.status_reason_resources))
    for summary in remaining:
        if summary.status == DELETE_COMPLETE:
            # Deleted; Heat lists it until it purges it, and a delete sent to it meanwhile
            # can meet that purge (a 500 of a NoneType). Done once Heat no longer lists it.
            continue
        if asked or (summary.status != DELETE_IN_PROGRESS and not _superseded(summary)):
            stacks.delete(client, summary.id)
    if remaining:
        return base.ClusterState(status=DELETE_IN_PROGRESS)
    return base.ClusterState(status=DELETE_COMPLETE,
                             status_reason="the cluster's stacks are deleted")
