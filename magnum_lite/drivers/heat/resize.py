"""A worker nodegroup's resize: which chunk stacks change, and which members they lose.

Only the chunks whose node count changes are updated (chunks.resize says how), new chunks
are created after the last one, and the nodes named in `nodes_to_remove` leave through the
`removal_policies` of their chunk's ResourceGroup (else Heat removes the highest-numbered
members). A chunk whose last update failed is updated again, so asking again retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oslo_log import log as logging

from magnum_lite.common import exception
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, inventory, names, stacks
from magnum_lite.drivers.heat.inventory import UPDATE_IN_PROGRESS
from magnum_lite.drivers.heat.parameters import (
    StackBuilder,
    load_credentials,
    nodegroup_stack,
    stack_timeout,
)

LOG = logging.getLogger(__name__)

#: (chunk, its stack or None for a new chunk, the parameters it changes to)
Step = tuple[int, stacks.StackSummary | None, dict[str, Any]]


def _member_of(outputs: dict[int, dict[str, Any]], node: str) -> tuple[int, str] | None:
    """The chunk and ResourceGroup member of a node named by server name or id."""
    for chunk, out in outputs.items():
        names_map = out.get("node_names") or {}
        ids_map = out.get("node_ids") or {}
        member = next((k for k, v in names_map.items() if v == node), None)
        member = member or next((k for k, v in ids_map.items() if v == node), None)
        if member is not None:
            return chunk, str(member)
    return None


def plan(client: Any, nodegroup: Any, chunk_stacks: dict[int, stacks.StackSummary],
         node_count: int, nodes_to_remove: list[str] | None, per_stack: int
         ) -> tuple[list[int], list[int], dict[int, list[str]]]:
    """(chunk sizes now, chunk sizes after, chunk -> member names to remove).

    :raises exception.InvalidParameterValue: a node to remove is not the group's, or more
        are named than the resize removes.
    """
    current, outputs = inventory.chunk_sizes(client, chunk_stacks)
    removals: dict[int, list[str]] = {}
    for node in nodes_to_remove or []:
        found = _member_of(outputs, node)
        if found is None:
            raise exception.InvalidParameterValue(
                err=f"nodes_to_remove: {node} is not a node of nodegroup "
                    f"{nodegroup.name}")
        chunk, member = found
        chosen = removals.setdefault(chunk, [])
        if member not in chosen:  # a node named by name and by id
            chosen.append(member)
    if sum(len(v) for v in removals.values()) > max(0, sum(current) - node_count):
        raise exception.InvalidParameterValue(
            err="nodes_to_remove: names more nodes than the resize removes")
    new = chunks.resize(current, node_count, per_stack,
                        {k: len(v) for k, v in removals.items()})
    return current, new, removals


def steps(client: Any, cluster: Any, nodegroup: Any, node_count: int,
          nodes_to_remove: list[str] | None, per_stack: int
          ) -> tuple[list[int], list[int], list[Step]]:
    """(chunk sizes now, after, and a Step per chunk to change)."""
    chunk_stacks = inventory.chunk_stacks(cluster, nodegroup, stacks.list_stacks(client))
    current, new, removals = plan(client, nodegroup, chunk_stacks, node_count,
                                  nodes_to_remove, per_stack)
    changes: list[Step] = []
    for chunk, size in enumerate(new):
        before = current[chunk] if chunk < len(current) else None
        summary = chunk_stacks.get(chunk)
        if (summary is not None and before == size and chunk not in removals
                and not summary.failed):  # a failed chunk is updated again (a retry)
            continue
        policies = [{"resource_list": removals[chunk]}] if chunk in removals else []
        changes.append((chunk, summary, {"node_count": size, "removal_policies": policies}))
    return current, new, changes


def _with_new_stacks(builder: StackBuilder, client: Any, cluster: Any, cluster_template: Any,
                     nodegroup: Any, changes: list[Step],
                     credentials: base.CredentialsLoader | None
                     ) -> Iterator[tuple[Step, tuple[Any, ...] | None]]:
    """Each step with, for a new chunk, the arguments of its stack (the cluster stack's
    outputs read once, and only when a chunk is new)."""
    cluster_outputs: dict[str, Any] | None = None
    for step in changes:
        chunk, summary, parameters = step
        if summary is not None:
            yield step, None
            continue
        if cluster_outputs is None:
            cluster_outputs = inventory.cluster_outputs(client, cluster)
        yield step, nodegroup_stack(builder, cluster, cluster_template, nodegroup, chunk,
                                    parameters["node_count"], cluster_outputs,
                                    load_credentials(credentials))


def update(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
           nodegroup: Any, node_count: int, nodes_to_remove: list[str] | None,
           rollback: bool, credentials: base.CredentialsLoader | None) -> base.ClusterState:
    """Update the chunk stacks that change and create the new ones."""
    inventory.refuse_masters(nodegroup, "nodegroup:", "cannot be resized")
    client = stacks.client(context)
    current, new, changes = steps(client, cluster, nodegroup, node_count, nodes_to_remove,
                                  builder.nodes_per_stack())
    timeout = stack_timeout(cluster)
    for (_chunk, summary, parameters), new_stack in _with_new_stacks(
            builder, client, cluster, cluster_template, nodegroup, changes, credentials):
        if new_stack is None:
            stacks.update_parameters(client, summary.id, parameters, rollback, timeout)
        else:
            stacks.create(client, *new_stack, timeout)
    LOG.info("Cluster %s: nodegroup %s resizing %s -> %s (chunks %s -> %s)", cluster.uuid,
             nodegroup.name, sum(current), node_count, current, new)
    return base.ClusterState(status=UPDATE_IN_PROGRESS, nodegroups={
        nodegroup.uuid: base.NodeGroupState(status=UPDATE_IN_PROGRESS)})


def dry_run(builder: StackBuilder, context: Any, cluster: Any, cluster_template: Any,
            nodegroup: Any, node_count: int, nodes_to_remove: list[str] | None,
            credentials: base.CredentialsLoader | None) -> dict[str, Any]:
    """The chunk sizes before and after, and Heat's preview of each chunk stack the resize
    changes (resources added, deleted, replaced) or creates."""
    client = stacks.client(context)
    current, new, changes = steps(client, cluster, nodegroup, node_count, nodes_to_remove,
                                  builder.nodes_per_stack())
    previews: dict[str, Any] = {}
    for (chunk, summary, parameters), new_stack in _with_new_stacks(
            builder, client, cluster, cluster_template, nodegroup, changes, credentials):
        if new_stack is None:
            previews[names.nodegroup_stack_name(cluster, nodegroup, chunk)] = (
                stacks.preview_update(client, summary.id, parameters))
        else:
            previews[new_stack[0]] = stacks.preview(client, *new_stack)
    return {"chunks_before": current, "chunks_after": new, "stacks": previews}
