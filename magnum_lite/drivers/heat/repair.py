"""A node repair in Heat: one stack update that replaces (VMs) or rebuilds in place
(baremetal) just the named members' servers.

A VM member is repaired as Heat's own health checks would have it: its `server` (in the
member's nested stack, fragments/node.yaml) is marked unhealthy (CHECK_FAILED), then the
stack holding the member (the cluster stack for masters, a chunk stack for workers) is
updated with its template and parameters as they are. Heat issues an update to every
nested stack of an updated stack, and replaces every CHECK_FAILED resource it meets: only
that server is new (its port, address, volume and load balancer membership stay; what
refers to the server follows it). Marking the member itself would replace its whole nested
stack, port and address included.

Ironic nodes are not spare, so a baremetal member is rebuilt in place (Nova rebuild, same
server id): the update sets the member's mark in `rebuild_members`, which gives that member
alone `user_data_update_policy: REBUILD` and a user data changed only after the end of its
MIME message (node.yaml). The next update of the stack by anything else clears the marks
(stacks.update_parameters), which rebuilds nothing.

Each step is level triggered and reads Heat before it writes: a replaced member has a new
server id in its stack's outputs, a rebuilt one its mark in the stack's parameters; neither
is ever sent again.
"""

from __future__ import annotations

from typing import Any
import uuid

from oslo_log import log as logging

from magnum_lite.common import baremetal, exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import inventory, names, parameters, stacks
from magnum_lite.drivers.heat.upgrade import (
    _GROUPS,
    _by_member,
    _json_parameter,
    _members,
    _stack,
    _stack_state,
    _updating,
)

LOG = logging.getLogger(__name__)

UNSENT, ROLLING, DONE, FAILED = (base.BATCH_UNSENT, base.BATCH_ROLLING, base.BATCH_DONE,
                                 base.BATCH_FAILED)
#: How a repair renews a member's server.
REPLACE, REBUILD = "REPLACE", "REBUILD"
#: The node template's server resource, in each member's nested stack.
SERVER = "server"
#: Members' nested stacks are two levels below the stack holding the group.
SERVER_DEPTH = 2
CHECK_FAILED = "CHECK_FAILED"
REASON = "magnum-lite repair of node {node}"


def _method(stack: Any, nodegroup: Any, cluster_template: Any) -> str:
    """REBUILD for baremetal nodes: what the stack says (its `upgrade_policy`, set from the
    server type since stacks say it), else the nodegroup's or the template's server type."""
    if (stack.parameters or {}).get("upgrade_policy") == REBUILD:
        return REBUILD
    server_type = nodegroup.server_type or (
        parameters.server_type(cluster_template) if cluster_template is not None else None)
    return REBUILD if server_type == baremetal.BAREMETAL else REPLACE


def plan(context: Any, cluster: Any, nodegroup_list: list[Any], nodes: list[str],
         cluster_template: Any = None) -> list[dict[str, Any]]:
    """One repair per stack holding some of `nodes` (server names or Nova ids), with each
    member's server id now (a replaced member's changes) and, for a rebuild, its mark.

    :raises exception.NodeNotFound: a name no stack of the cluster has a server of.
    :raises exception.CloudError: the cluster stack is gone.
    """
    wanted = list(dict.fromkeys(str(n) for n in nodes))
    client = stacks.client(context)
    listing = stacks.list_stacks(client)
    masters, workers = inventory.split(nodegroup_list)
    cluster_stack = listing.get(names.cluster_stack_name(cluster))
    if cluster_stack is None:
        raise inventory.cluster_stack_gone(cluster)
    holders = [(masters, "master", None, cluster_stack)] + [
        (ng, "worker", chunk, summary)
        for ng in sorted(workers, key=lambda n: (not n.is_default, n.name))
        for chunk, summary in sorted(inventory.chunk_stacks(cluster, ng, listing).items())]
    found: set[str] = set()
    repairs = []
    for nodegroup, role, chunk, summary in holders:
        if found == set(wanted):
            break
        stack = stacks.get_stack(client, summary.id)
        if stack is None:
            continue
        outputs = stacks.outputs_of(stack)
        _group, names_key, ids_key = _GROUPS[role]
        server_names, server_ids = outputs.get(names_key) or {}, outputs.get(ids_key) or {}
        members = []
        for member in _members(server_names):
            hits = {_by_member(server_names, member), _by_member(server_ids, member)}
            if hits & (set(wanted) - found):
                members.append(member)
                found |= hits
        if not members:
            continue
        method = _method(stack, nodegroup, cluster_template)
        repairs.append({
            "stack": summary.name, "stack_id": summary.id, "role": role, "chunk": chunk,
            "nodegroup": nodegroup.uuid, "nodegroup_name": nodegroup.name,
            "members": members, "nodes": [_by_member(server_names, m) for m in members],
            "servers": {m: _by_member(server_ids, m) for m in members},
            "method": method, "updated_time": stack.updated_time,
            **({"mark": uuid.uuid4().hex[:16]} if method == REBUILD else {}),
        })
    missing = [n for n in wanted if n not in found]
    if missing:
        raise exception.NodeNotFound(cluster=cluster.name or cluster.uuid,
                                     node=", ".join(missing))
    return repairs


def _marks(stack: Any) -> dict[str, Any]:
    marks = _json_parameter((stack.parameters or {}).get(stacks.REBUILD_MEMBERS))
    return marks if isinstance(marks, dict) else {}


def _rebuild_sent(stack: Any, repair: dict[str, Any]) -> bool:
    marks = _marks(stack)
    return all(marks.get(m) == repair["mark"] for m in repair["members"])


def _not_replaced(stack: Any, repair: dict[str, Any]) -> list[str]:
    """The repair's members whose server is still the one planned (a member no longer in
    the group has nothing left to replace)."""
    server_ids = stacks.outputs_of(stack).get(_GROUPS[repair["role"]][2]) or {}
    return [m for m in repair["members"]
            if _by_member(server_ids, m) == repair["servers"][m]]


def send(context: Any, repair: dict[str, Any]) -> None:
    """Mark the members' servers unhealthy and update the stack (VMs), or set their rebuild
    marks (baremetal); nothing while the stack is updating, nothing for a member whose
    repair Heat already has."""
    client = stacks.client(context)
    stack = _stack(client, repair["stack_id"])
    if _updating(stack):
        return
    timeout = CONF.conductor.update_timeout
    if repair["method"] == REBUILD:
        if _rebuild_sent(stack, repair):
            return
        if stacks.REBUILD_MEMBERS not in (stack.parameters or {}):
            raise exception.CloudError(service="Heat", reason=(
                f"stack {repair['stack']} was made before nodes could be rebuilt in place: "
                f"its baremetal nodes cannot be repaired"))
        stacks.update_parameters(client, stack.id, {
            stacks.REBUILD_MEMBERS: {m: repair["mark"] for m in repair["members"]},
        }, rollback=False, timeout_minutes=timeout)
        LOG.info("Rebuilding %s in place in stack %s", ", ".join(repair["nodes"]),
                 repair["stack"])
        return
    todo = _not_replaced(stack, repair)
    if not todo:
        return
    servers = {r.physical_resource_id: r for r in stacks.nested_resources(
        client, stack.id, SERVER, SERVER_DEPTH)}
    for member in todo:
        server_id = repair["servers"][member]
        resource = servers.get(server_id)
        if resource is None:
            raise exception.CloudError(service="Heat", reason=(
                f"no resource of stack {repair['stack']} holds server {server_id}"))
        if resource.resource_status != CHECK_FAILED:
            node = repair["nodes"][repair["members"].index(member)]
            stacks.mark_unhealthy(client, stacks.owner_of(resource), SERVER,
                                  REASON.format(node=node))
    stacks.update_parameters(client, stack.id, {}, rollback=False, timeout_minutes=timeout)
    LOG.info("Replacing %s in stack %s", ", ".join(repair["nodes"]), repair["stack"])


def state(context: Any, repair: dict[str, Any]) -> tuple[str, str | None]:
    """Where the repair is in Heat: UNSENT (send it), ROLLING (also while another update of
    its stack runs), DONE, or FAILED with Heat's reason. A replacement counts as sent once
    every member has a new server, or an update since the plan failed."""
    client = stacks.client(context)
    stack = _stack(client, repair["stack_id"])
    if repair["method"] == REBUILD:
        if not _rebuild_sent(stack, repair):
            return (ROLLING, None) if _updating(stack) else (UNSENT, None)
        return _stack_state(client, stack)
    if _updating(stack):
        return ROLLING, None
    if not _not_replaced(stack, repair):
        return _stack_state(client, stack)
    if stack.stack_status.endswith("_FAILED") and stack.updated_time != repair["updated_time"]:
        return _stack_state(client, stack)
    return UNSENT, None
