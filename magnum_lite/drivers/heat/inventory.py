"""What Heat holds of one cluster, read from one stack listing, and the states it gives.

A cluster's stacks are found by name (names.py) in the project's listing, which the
reconciler takes once per round for thousands of clusters: the worker stacks are looked up
through the listing's index, never by a scan. The outputs of complete stacks become the
nodegroup states the conductor records (addresses, node counts), and a failed stack the
status reason of its cluster.
"""

from __future__ import annotations

from typing import Any

from magnum_lite.common import exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import names, stacks
from magnum_lite.drivers.heat.parameters import addresses, ordered

CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
CREATE_COMPLETE = "CREATE_COMPLETE"
CREATE_FAILED = "CREATE_FAILED"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
UPDATE_FAILED = "UPDATE_FAILED"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
DELETE_COMPLETE = "DELETE_COMPLETE"
DELETE_FAILED = "DELETE_FAILED"

Listing = dict[str, stacks.StackSummary]


def is_master(nodegroup: Any) -> bool:
    """Whether the nodegroup is the cluster's masters (made by the cluster stack)."""
    return nodegroup.role == "master"


def split(nodegroups: list[Any]) -> tuple[Any, list[Any]]:
    """The masters' nodegroup and the worker nodegroups.

    :raises exception.InvalidParameterValue: the cluster has no masters.
    """
    masters = [ng for ng in nodegroups if is_master(ng)]
    if not masters:
        raise exception.InvalidParameterValue(err="the cluster has no master nodegroup")
    return masters[0], [ng for ng in nodegroups if not is_master(ng)]


def refuse_masters(nodegroup: Any, field: str, why: str) -> None:
    """Refuse an operation on worker stacks for the masters, which the cluster stack holds.

    :raises exception.InvalidParameterValue: "`field` <name> holds masters, which `why`".
    """
    if is_master(nodegroup):
        raise exception.InvalidParameterValue(
            err=f"{field} {nodegroup.name} holds masters, which {why}")


def worker_stack_names(cluster: Any, listing: Listing) -> list[str] | Listing:
    """The names in `listing` that may be the cluster's worker stacks: from the listing's
    index where it has one (a StackListing), else every name."""
    if isinstance(listing, stacks.StackListing):
        return listing.worker_stack_names(names.cluster_stack_name(cluster))
    return listing


def worker_stacks(cluster: Any, listing: Listing) -> list[stacks.StackSummary]:
    """Every worker stack of the cluster, also of a nodegroup it no longer lists."""
    prefix = names.cluster_stack_name(cluster) + "-ng-"
    return [listing[name] for name in worker_stack_names(cluster, listing)
            if name.startswith(prefix)]


def chunk_stacks(cluster: Any, nodegroup: Any, listing: Listing
                 ) -> dict[int, stacks.StackSummary]:
    """The nodegroup's chunk stacks by chunk number."""
    # The prefix once (as names.chunk_of makes it), not per name of the listing.
    prefix = names.nodegroup_stack_prefix(cluster, nodegroup)
    found = {}
    for name in worker_stack_names(cluster, listing):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            found[int(name[len(prefix):])] = listing[name]
    return found


def building(chunks_found: dict[int, stacks.StackSummary]) -> bool:
    """Whether Heat is still working on one of the chunk stacks."""
    return any(s.in_progress for s in chunks_found.values())


def complete(chunks_found: dict[int, stacks.StackSummary]) -> bool:
    """Whether there are chunk stacks and Heat finished every one of them well."""
    return bool(chunks_found) and all(s.complete for s in chunks_found.values())


def first_failed(chunks_found: dict[int, stacks.StackSummary], status: str | None = None
                 ) -> stacks.StackSummary | None:
    """The first chunk stack that failed (in `status` only, where given), for its reason."""
    return next((s for s in chunks_found.values()
                 if (s.status == status if status else s.failed)), None)


def cluster_stack_gone(cluster: Any) -> exception.CloudError:
    """The error of an operation that needs the cluster stack when Heat has none."""
    return exception.CloudError(service="Heat",
                                reason=f"the cluster stack of {cluster.uuid} is gone")


def cluster_outputs(client: Any, cluster: Any) -> dict[str, Any]:
    """The cluster stack's outputs (network, control plane addresses) the workers need.

    :raises exception.CloudError: the cluster stack is gone.
    """
    stack = stacks.get_stack(client, cluster.stack_id or names.cluster_stack_name(cluster))
    if stack is None:
        raise cluster_stack_gone(cluster)
    return stacks.outputs_of(stack)


def chunk_sizes(client: Any, chunks_found: dict[int, stacks.StackSummary]
                ) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Each chunk's node count (from its parameters) and outputs, in chunk order."""
    sizes, outputs = [], {}
    for chunk in range(max(chunks_found, default=-1) + 1):
        summary = chunks_found.get(chunk)
        stack = stacks.get_stack(client, summary.id) if summary else None
        if stack is None:
            sizes.append(0)
            outputs[chunk] = {}
            continue
        sizes.append(int((stack.parameters or {}).get("node_count", 0)))
        outputs[chunk] = stacks.outputs_of(stack)
    return sizes, outputs


def masters_state(stack_id: str, outputs: dict[str, Any]) -> base.NodeGroupState:
    """The masters once the cluster stack is complete, from its outputs."""
    return base.NodeGroupState(
        status=CREATE_COMPLETE, stack_id=stack_id,
        node_addresses=addresses(outputs.get("master_floating_addresses"),
                                 outputs.get("master_private_addresses")),
        node_count=len(ordered(outputs.get("master_ids"))))


def nodegroup_state(client: Any, status: str, chunks_found: dict[int, stacks.StackSummary],
                    read: dict[str, Any] | None = None) -> base.NodeGroupState:
    """A worker nodegroup whose chunk stacks are all done: its nodes and addresses (from
    the stacks in `read` where they were read already, by id)."""
    node_addresses: list[str] = []
    count = 0
    first_id = None
    for chunk in sorted(chunks_found):
        stack_id = chunks_found[chunk].id
        stack = read[stack_id] if read and stack_id in read else stacks.get_stack(client,
                                                                                  stack_id)
        if stack is None:
            continue
        first_id = first_id or stack.id
        out = stacks.outputs_of(stack)
        count += len(ordered(out.get("node_ids")))
        node_addresses += addresses(out.get("node_floating_addresses"),
                                    out.get("node_private_addresses"))
    return base.NodeGroupState(status=status, status_reason=None, stack_id=first_id,
                               node_addresses=node_addresses, node_count=count)


def failed(client: Any, status: str, summary: stacks.StackSummary, nodegroup: Any,
           others: dict[str, base.NodeGroupState] | None = None,
           nodegroup_status: str | None = None) -> base.ClusterState:
    """The cluster failed in `nodegroup`'s stack `summary` (with the others' states);
    the nodegroup's own status is `nodegroup_status` (the cluster's by default)."""
    reason = stacks.failure_reason(client, summary, CONF.heat_driver.status_reason_resources)
    return base.ClusterState(status=status, status_reason=reason, nodegroups={
        **(others or {}),
        nodegroup.uuid: base.NodeGroupState(status=nodegroup_status or status,
                                            status_reason=reason)})
