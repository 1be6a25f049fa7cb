"""The servers a cluster should have, as its stacks' outputs name them, and their state
in Nova.

The cluster stack's `master_names`/`master_ids` and each worker chunk stack's
`node_names`/`node_ids` (ResourceGroup attributes: a map by member, or a list by index) are
what Heat built: the health monitor compares them with what the COE lists (a node the COE
forgot is still expected), and a repair finds the members holding the nodes it names.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from typing import Any

from magnum_lite.drivers import base
from magnum_lite.drivers.heat import inventory, names, stacks
from magnum_lite.drivers.heat.upgrade import _GROUPS, _by_member, _members


@dataclasses.dataclass(frozen=True)
class Holder:
    """One stack holding members of a nodegroup (the cluster stack for the masters, a
    chunk stack for workers), read with its outputs."""

    nodegroup: Any
    role: str
    chunk: int | None
    summary: stacks.StackSummary
    stack: Any

    def servers(self) -> list[tuple[str, Any, Any]]:
        """(member, server name, Nova server id) of each member, in member order."""
        outputs = stacks.outputs_of(self.stack)
        _group, names_key, ids_key = _GROUPS[self.role]
        server_names, server_ids = outputs.get(names_key) or {}, outputs.get(ids_key) or {}
        return [(m, _by_member(server_names, m), _by_member(server_ids, m))
                for m in _members(server_names)]


def holders(client: Any, cluster: Any, nodegroup_list: list[Any],
            listing: inventory.Listing | None = None) -> Iterator[Holder]:
    """The stacks holding the cluster's servers, masters first, then the default worker
    nodegroup and the others by name, each chunk in order; a stack gone since the listing
    is skipped.

    :raises exception.CloudError: the cluster stack is gone.
    """
    listing = stacks.list_stacks(client) if listing is None else listing
    masters, workers = inventory.split(nodegroup_list)
    cluster_stack = listing.get(names.cluster_stack_name(cluster))
    if cluster_stack is None:
        raise inventory.cluster_stack_gone(cluster)
    found = [(masters, "master", None, cluster_stack)] + [
        (ng, "worker", chunk, summary)
        for ng in sorted(workers, key=lambda n: (not n.is_default, n.name))
        for chunk, summary in sorted(inventory.chunk_stacks(cluster, ng, listing).items())]
    for nodegroup, role, chunk, summary in found:
        stack = stacks.get_stack(client, summary.id)
        if stack is not None:
            yield Holder(nodegroup, role, chunk, summary, stack)


def expected(context: Any, cluster: Any, nodegroup_list: list[Any]) -> list[base.ExpectedNode]:
    """Every server the cluster's stacks hold: one listing and one read per stack.

    :raises exception.CloudError: Heat cannot be read, or the cluster stack is gone.
    """
    client = stacks.client(context)
    return [base.ExpectedNode(str(name), str(server_id) if server_id else None, h.role,
                              h.nodegroup.uuid)
            for h in holders(client, cluster, nodegroup_list)
            for _member, name, server_id in h.servers() if name]
