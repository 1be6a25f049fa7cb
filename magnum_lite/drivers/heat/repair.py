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

Ironic nodes are not spare, so a baremetal member is rebuilt in place (same server id)
through Nova's API with the image it runs (drivers/heat/rebuild.py); Heat's properties of the
server do not change, so nothing in Heat acts on it.

Each step is level triggered and reads the cloud before it writes: a replaced member has a
new server id in its stack's outputs, a rebuilt one the repair's mark in its server's
metadata; neither is ever sent again.
"""

from __future__ import annotations

from typing import Any
import uuid

from oslo_log import log as logging

from magnum_lite.common import baremetal, exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import parameters, rebuild, servers, stacks
from magnum_lite.drivers.heat.upgrade import (
    _GROUPS,
    _by_member,
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
    found: set[str] = set()
    repairs = []
    for holder in servers.holders(stacks.client(context), cluster, nodegroup_list):
        if found == set(wanted):
            break
        members, by_member = [], {}
        for member, name, server_id in holder.servers():
            by_member[member] = (name, server_id)
            hits = {name, server_id}
            if hits & (set(wanted) - found):
                members.append(member)
                found |= hits
        if not members:
            continue
        method = _method(holder.stack, holder.nodegroup, cluster_template)
        repairs.append({
            "stack": holder.summary.name, "stack_id": holder.summary.id, "role": holder.role,
            "chunk": holder.chunk, "nodegroup": holder.nodegroup.uuid,
            "nodegroup_name": holder.nodegroup.name, "members": members,
            "nodes": [by_member[m][0] for m in members],
            "servers": {m: by_member[m][1] for m in members},
            "method": method, "updated_time": holder.stack.updated_time,
            **({"mark": uuid.uuid4().hex[:16]} if method == REBUILD else {}),
        })
    missing = [n for n in wanted if n not in found]
    if missing:
        raise exception.NodeNotFound(cluster=cluster.name or cluster.uuid,
                                     node=", ".join(missing))
    return repairs


def _not_replaced(stack: Any, repair: dict[str, Any]) -> list[str]:
    """The repair's members whose server is still the one planned (a member no longer in
    the group has nothing left to replace)."""
    server_ids = stacks.outputs_of(stack).get(_GROUPS[repair["role"]][2]) or {}
    return [m for m in repair["members"]
            if _by_member(server_ids, m) == repair["servers"][m]]


def send(context: Any, repair: dict[str, Any]) -> None:
    """Mark the members' servers unhealthy and update the stack (VMs), or rebuild them
    through Nova (baremetal); nothing while the stack is updating, nothing for a member
    whose repair the cloud already has."""
    client = stacks.client(context)
    stack = _stack(client, repair["stack_id"])
    if _updating(stack):
        return
    if repair["method"] == REBUILD:
        for member in repair["members"]:
            rebuild.send(context, repair["servers"][member], repair["mark"])
        LOG.info("Rebuilding %s in place", ", ".join(repair["nodes"]))
        return
    todo = _not_replaced(stack, repair)
    if not todo:
        return
    resources = {r.physical_resource_id: r for r in stacks.nested_resources(
        client, stack.id, SERVER, SERVER_DEPTH)}
    for member in todo:
        server_id = repair["servers"][member]
        resource = resources.get(server_id)
        if resource is None:
            raise exception.CloudError(service="Heat", reason=(
                f"no resource of stack {repair['stack']} holds server {server_id}"))
        if resource.resource_status != CHECK_FAILED:
            node = repair["nodes"][repair["members"].index(member)]
            stacks.mark_unhealthy(client, stacks.owner_of(resource), SERVER,
                                  REASON.format(node=node))
    stacks.update_parameters(client, stack.id, {}, rollback=False,
                             timeout_minutes=CONF.conductor.update_timeout)
    LOG.info("Replacing %s in stack %s", ", ".join(repair["nodes"]), repair["stack"])


def state(context: Any, repair: dict[str, Any]) -> tuple[str, str | None]:
    """Where the repair is in the cloud: UNSENT (send it), ROLLING (also while another
    update of its stack runs), DONE, or FAILED with Heat's or Nova's reason. A replacement
    counts as sent once every member has a new server, or an update since the plan
    failed."""
    client = stacks.client(context)
    stack = _stack(client, repair["stack_id"])
    if _updating(stack):
        return ROLLING, None
    if repair["method"] == REBUILD:
        return rebuild.least_advanced(rebuild.state(context, repair["servers"][m],
                                                    repair["mark"])
                                      for m in repair["members"])
    if not _not_replaced(stack, repair):
        return _stack_state(client, stack)
    if stack.stack_status.endswith("_FAILED") and stack.updated_time != repair["updated_time"]:
        return _stack_state(client, stack)
    return UNSENT, None
