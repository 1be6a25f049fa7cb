"""A rolling upgrade in Heat: batches of nodes, each moved by a stack update that changes
only its members.

Every node template (fragments/node.yaml) picks its image and user data by membership: a
member listed in its stack's `upgraded_members` boots `upgraded_image` and
`upgraded_user_data`, the others `image` and `user_data`. While `rolling` is true a member
that joins the list is replaced (Nova builds it anew from the new image and user data);
members already listed and members not listed resolve to what they had, so Heat leaves
them alone. A batch is one update of one stack (the cluster stack for masters, a chunk
stack for workers) adding the batch's members to the list; once every batch of a stack is
done, the stack is *settled*: the new image and user data become its own and the list is
emptied, which changes no server (each resolves to the same values), so later resizes
and rotations see a plain stack of the new version.

`upgrade_target` on a stack names what its listed members run (the conductor's key of the
target): members listed for another target are planned again, so an upgrade to a new
target after a failed one never leaves a node at the abandoned version.

Baremetal members (Ironic nodes are not spare) are rebuilt in place through Nova by the
driver (drivers/heat/rebuild.py): Heat's rebuild on new user data passes the user data as
the image. Their batch is first listed in the stack as for VMs, with `upgrade_policy`
REBUILD, under which the node template changes no server: the user data is ignored and
every member's image is kept as it is (`server_images`, filled in by that update). Once Heat
completed it, each member is rebuilt with the target's image and user data (Heat's parts of
its user data kept, boot_data.py), marked with the target's key in its metadata.

A rollback of an upgrade that did not finish (cancelled, or failed) *undoes* its target:
only the members listed for it go back, batch by batch, and stacks that list none are left
alone (they run what the cluster ran). Before its first batch such a stack is *rebased*
(no server changes, `rolling` false): the undone target's image becomes the stack's own,
and its other members are listed as already running the rollback's target.

Each step is level triggered and reads Heat before it writes: asking again after a lost
answer or a conductor's death sends nothing twice.
"""

from __future__ import annotations

import json
from typing import Any

from oslo_log import log as logging

from magnum_lite.common import baremetal, exception
from magnum_lite.conf import CONF
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import (
    boot_data,
    inventory,
    names,
    nova,
    parameters,
    rebuild,
    stacks,
)
from magnum_lite.drivers.heat.parameters import load_credentials

LOG = logging.getLogger(__name__)

#: What `batch_state` and `settle` answer.
UNSENT, ROLLING, DONE, FAILED = (base.BATCH_UNSENT, base.BATCH_ROLLING, base.BATCH_DONE,
                                 base.BATCH_FAILED)


def _in_order(members: Any) -> list[str]:
    """ResourceGroup member names ("0", "1", ... "10") in index order."""
    return sorted((str(m) for m in members), key=lambda m: (len(m), m))


def _members(mapping: Any) -> list[str]:
    """A ResourceGroup attribute's member names (a map, or a list by index) in order."""
    if isinstance(mapping, dict):
        return _in_order(mapping)
    return [str(i) for i in range(len(mapping or []))]


#: The ResourceGroup holding a batch's members, and the stack outputs naming their servers.
_GROUPS = {"master": ("masters", "master_names", "master_ids"),
           "worker": ("nodes", "node_names", "node_ids")}
#: The node template's map of the images Heat keeps for members rebuilt through Nova.
SERVER_IMAGES = "server_images"
REBUILD = "REBUILD"


def _json_parameter(value: Any) -> Any:
    """A json parameter as Heat shows it (a string) or as sent."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value else []
        except ValueError:
            return []
    return value or []


def _upgraded(stack: Any, key: str) -> list[str]:
    """The stack's members that already run the target named `key`."""
    values = stack.parameters or {}
    if values.get("upgrade_target") != key:
        return []
    return [str(m) for m in _json_parameter(values.get("upgraded_members"))]


def _to_move(stack: Any, members: list[str], key: str, undo: str | None) -> list[str]:
    """The members of `stack` still to move to the target `key`: those not listed for it;
    when undoing the target `undo`, only those still listed for that one (a stack that
    lists none runs what the cluster ran)."""
    target = (stack.parameters or {}).get("upgrade_target") or ""
    if undo is not None and target != key:
        listed = set(_upgraded(stack, undo))
        return [m for m in members if m in listed]
    done = set(_upgraded(stack, key))
    return [m for m in members if m not in done]


def plan(context: Any, cluster: Any, nodegroup_list: list[Any], max_batch_size: int,
         nodegroup_uuids: list[str] | None, key: str, undo: str | None = None
         ) -> list[dict[str, Any]]:
    """The batches, in order: masters one at a time, then each worker nodegroup's nodes in
    batches of at most `max_batch_size` (a batch never spans two chunk stacks). Members
    that already run the target `key` are left out (an upgrade asked again resumes); when
    `undo` names the target of an upgrade that did not finish, only its members are in.

    :raises exception.CloudError: the cluster stack is gone.
    """
    client = stacks.client(context)
    listing = stacks.list_stacks(client)
    masters, workers = inventory.split(nodegroup_list)
    wanted = set(nodegroup_uuids) if nodegroup_uuids else None
    batches: list[dict[str, Any]] = []

    def add(nodegroup: Any, role: str, summary: stacks.StackSummary, chunk: int | None,
            size: int) -> None:
        stack = stacks.get_stack(client, summary.id)
        if stack is None:
            return
        node_names = stacks.outputs_of(stack).get(_GROUPS[role][1]) or {}
        todo = _to_move(stack, _members(node_names), key, undo)
        for start in range(0, len(todo), size):
            members = todo[start:start + size]
            batches.append({
                "nodegroup": nodegroup.uuid, "nodegroup_name": nodegroup.name, "role": role,
                "stack": summary.name, "chunk": chunk, "members": members,
                "nodes": [_by_member(node_names, m) for m in members],
                **({"undo": undo} if undo is not None else {}),
            })

    if wanted is None or masters.uuid in wanted:
        cluster_stack = listing.get(names.cluster_stack_name(cluster))
        if cluster_stack is None:
            raise inventory.cluster_stack_gone(cluster)
        add(masters, "master", cluster_stack, None, 1)
    for ng in sorted(workers, key=lambda n: (not n.is_default, n.name)):
        if wanted is not None and ng.uuid not in wanted:
            continue
        for chunk, summary in sorted(inventory.chunk_stacks(cluster, ng, listing).items()):
            add(ng, "worker", summary, chunk, max_batch_size)
    return batches


def replaced_servers(context: Any, batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per batch, in order: its stack, the ResourceGroup and the member servers (name and
    Nova id) whose update replaces them, read from each stack's outputs once; nothing else
    in the stack changes (every node template resolves a non-member to what it had).

    Listing the members is the whole answer: a Heat preview_update would need the target's
    rendered user data, which a dry run does not make.

    :raises exception.CloudError: a batch's stack is gone.
    """
    client = stacks.client(context)
    outputs: dict[str, dict[str, Any]] = {}
    answer = []
    for batch in batches:
        group, names_key, ids_key = _GROUPS[batch["role"]]
        if batch["stack"] not in outputs:
            outputs[batch["stack"]] = stacks.outputs_of(_stack(client, batch["stack"]))
        found = outputs[batch["stack"]]
        server_names, server_ids = found.get(names_key) or {}, found.get(ids_key) or {}
        answer.append({"stack": batch["stack"], "resource_group": group, "servers": [
            {"member": member, "name": _by_member(server_names, member),
             "id": _by_member(server_ids, member)} for member in batch["members"]]})
    return answer


def _by_member(mapping: Any, member: str) -> Any:
    """A ResourceGroup attribute's value for one member (a map, or a list by index)."""
    if isinstance(mapping, dict):
        return mapping.get(member)
    index = int(member)
    return mapping[index] if 0 <= index < len(mapping or []) else None


def _target_values(target: base.UpgradeTarget, client: Any, nodegroup: Any, role: str,
                   chunk: int | None, credentials: base.CredentialsLoader | None
                   ) -> tuple[str, str]:
    """(image, user data) the target gives the nodes of `nodegroup`."""
    given = load_credentials(credentials)
    if role == "master":
        values = target.builder.cluster_parameters(target.cluster, target.cluster_template,
                                                   nodegroup, given)
        return values["master_image"], values["master_user_data"]
    outputs = inventory.cluster_outputs(client, target.cluster)
    values = target.builder.nodegroup_parameters(target.cluster, target.cluster_template,
                                                 nodegroup, chunk or 0, 0, outputs, given)
    return values["image"], values["user_data"]


def _stack(client: Any, name: str) -> Any:
    """The stack named `name` with its parameters.

    :raises exception.CloudError: Heat has no such stack.
    """
    stack = stacks.get_stack(client, name)
    if stack is None:
        raise exception.CloudError(service="Heat", reason=f"the stack {name} is gone")
    return stack


def _rebase(client: Any, stack: Any, nodegroup: Any, batch: dict[str, Any],
            target: base.UpgradeTarget, credentials: base.CredentialsLoader | None) -> None:
    """Make the undone target the stack's own and list its other members as running the
    rollback's `target`, changing no server (with `rolling` false a member whose user data
    changes keeps its server, and each member's image resolves to what it had). Each
    member the undone upgrade moved then changes when its batch lists it again."""
    if target.undone is None:
        raise exception.CloudError(service="Heat", reason=f"stack {batch['stack']} runs an "
                                                          f"upgrade the rollback cannot name")
    values = stack.parameters or {}
    prefix = "master_" if batch["role"] == "master" else ""
    moved = set(_upgraded(stack, batch["undo"]))
    names_key = _GROUPS[batch["role"]][1]
    others = [m for m in _members(stacks.outputs_of(stack).get(names_key) or {})
              if m not in moved]
    undone_image, undone_user_data = _target_values(target.undone, client, nodegroup,
                                                    batch["role"], batch["chunk"],
                                                    credentials)
    image, user_data = _target_values(target, client, nodegroup, batch["role"],
                                      batch["chunk"], credentials)
    stacks.update_parameters(client, stack.id, {
        f"{prefix}image": values.get("upgraded_image") or undone_image,
        f"{prefix}user_data": undone_user_data,
        "upgraded_image": values.get(f"{prefix}image") or image,
        "upgraded_user_data": user_data, "upgraded_members": others, "rolling": False,
        "upgrade_target": target.key,
    }, rollback=False, timeout_minutes=CONF.conductor.update_timeout)
    LOG.info("Cluster %s: stack %s rebased to take back members %s", target.cluster.uuid,
             batch["stack"], ", ".join(sorted(moved)))


def _in_place(stack: Any) -> bool:
    """Whether the stack's members are rebuilt in place through Nova (baremetal)."""
    return (stack.parameters or {}).get("upgrade_policy") == REBUILD


def _kept_images(stack: Any, role: str) -> dict[str, str]:
    """Every member's image as Heat resolves it now, to keep: what the stack keeps already,
    else the upgraded image for a listed member, else the stack's image.

    :raises exception.CloudError: the stack was made before its template could keep them.
    """
    values = stack.parameters or {}
    if SERVER_IMAGES not in values:
        raise exception.CloudError(service="Heat", reason=(
            f"stack {stack.stack_name} was made before baremetal nodes could be rebuilt "
            f"through Nova: its nodes cannot be upgraded in place"))
    kept = _json_parameter(values.get(SERVER_IMAGES))
    kept = dict(kept) if isinstance(kept, dict) else {}
    listed = {str(m) for m in _json_parameter(values.get("upgraded_members"))}
    image = values.get("master_image" if role == "master" else "image") or ""
    for member in _members(stacks.outputs_of(stack).get(_GROUPS[role][1]) or {}):
        kept.setdefault(member, (values.get("upgraded_image") or image)
                        if member in listed else image)
    return kept


def _hosts(stack: Any, role: str, member: str) -> tuple[str, str]:
    """(control plane host, public host) Heat gives the member's user data (node.yaml)."""
    outputs = stacks.outputs_of(stack)
    prefix = "master" if role == "master" else "node"
    private = _by_member(outputs.get(f"{prefix}_private_addresses") or {}, member) or ""
    floating = _by_member(outputs.get(f"{prefix}_floating_addresses") or {}, member) or ""
    if role == "master":
        return (outputs.get("lb_vip") or private,
                outputs.get("lb_floating_ip") or floating or private)
    return (stack.parameters or {}).get("control_plane_host") or private, floating or private


def _rebuild(context: Any, stack: Any, batch: dict[str, Any], key: str, image: str,
             user_data: str) -> None:
    """Rebuild the batch's servers through Nova with the target's image and user data."""
    server_ids = stacks.outputs_of(stack).get(_GROUPS[batch["role"]][2]) or {}
    image_id = nova.image_id(context, image)
    for member in batch["members"]:
        server_id = _by_member(server_ids, member)
        control, public = _hosts(stack, batch["role"], member)
        ours = (user_data.replace("__NODE_INDEX__", member)
                .replace("__CONTROL_PLANE_HOST__", control).replace("__PUBLIC_HOST__", public))
        rebuild.send(context, server_id, key, image=image_id, new_user_data=lambda s=server_id,
                     o=ours: boot_data.rebuilt_user_data(nova.user_data(context, s), o))


def roll(context: Any, nodegroup: Any, batch: dict[str, Any], target: base.UpgradeTarget,
         credentials: base.CredentialsLoader | None) -> None:
    """Send the update that replaces the batch's members with the target's nodes (first
    the rebase of a stack whose upgrade a rollback undoes); for baremetal members, once
    that update listed them, their rebuilds through Nova. Nothing while the stack is
    still updating."""
    client = stacks.client(context)
    stack = _stack(client, batch["stack"])
    if _updating(stack):
        return
    undo = batch.get("undo")
    if undo is not None and (stack.parameters or {}).get("upgrade_target") == undo:
        _rebase(client, stack, nodegroup, batch, target, credentials)
        return
    listed = set(_upgraded(stack, target.key))
    image, user_data = _target_values(target, client, nodegroup, batch["role"],
                                      batch["chunk"], credentials)
    # Ironic nodes are not spare: a baremetal node is rebuilt in place.
    in_place = parameters.server_type(target.cluster_template,
                                      nodegroup) == baremetal.BAREMETAL
    if in_place and set(batch["members"]) <= listed:
        _rebuild(context, stack, batch, target.key, image, user_data)
        LOG.info("Cluster %s: rebuilding %s in place", target.cluster.uuid,
                 ", ".join(batch["nodes"]))
        return
    fields = {
        "upgraded_members": _in_order(listed | set(batch["members"])),
        "upgraded_image": image, "upgraded_user_data": user_data, "rolling": True,
        "upgrade_target": target.key, "upgrade_policy": REBUILD if in_place else "REPLACE",
    }
    if in_place:
        fields[SERVER_IMAGES] = _kept_images(stack, batch["role"])
    stacks.update_parameters(client, stack.id, fields, rollback=False,
                             timeout_minutes=CONF.conductor.update_timeout)
    LOG.info("Cluster %s: %s %s in stack %s", target.cluster.uuid,
             "listing" if in_place else "replacing", ", ".join(batch["nodes"]), batch["stack"])


def _summary(stack: Any) -> stacks.StackSummary:
    return stacks.StackSummary(stack.id, stack.stack_name, stack.stack_status,
                               stack.stack_status_reason or "")


def _updating(stack: Any) -> bool:
    return _summary(stack).in_progress


def _stack_state(client: Any, stack: Any) -> tuple[str, str | None]:
    summary = _summary(stack)
    if summary.in_progress:
        return ROLLING, None
    if summary.failed:
        return FAILED, stacks.failure_reason(client, summary,
                                             CONF.heat_driver.status_reason_resources)
    return DONE, None


def batch_state(context: Any, batch: dict[str, Any], key: str) -> tuple[str, str | None]:
    """Where the batch's update is in the cloud: UNSENT (its members are not listed for the
    target, or listed baremetal members are still to be rebuilt: send it), ROLLING (also
    while an update before it, a rebase, still runs), DONE or FAILED (with Heat's or Nova's
    reason)."""
    client = stacks.client(context)
    stack = _stack(client, batch["stack"])
    if not set(batch["members"]) <= set(_upgraded(stack, key)):
        return (ROLLING, None) if _updating(stack) else (UNSENT, None)
    state = _stack_state(client, stack)
    if state[0] != DONE or not _in_place(stack):
        return state
    server_ids = stacks.outputs_of(stack).get(_GROUPS[batch["role"]][2]) or {}
    return rebuild.least_advanced(rebuild.state(context, _by_member(server_ids, m), key)
                                  for m in batch["members"])


def settle(context: Any, nodegroup: Any, batch: dict[str, Any], target: base.UpgradeTarget,
           credentials: base.CredentialsLoader | None) -> tuple[str, str | None]:
    """Fold the target into the stack of `batch` once all its members run it (no server
    changes), level triggered: UNSENT is never answered; DONE once Heat completed it."""
    client = stacks.client(context)
    stack = _stack(client, batch["stack"])
    if (stack.parameters or {}).get("upgrade_target") == target.key:
        image, user_data = _target_values(target, client, nodegroup, batch["role"],
                                          batch["chunk"], credentials)
        prefix = "master_" if batch["role"] == "master" else ""
        stacks.update_parameters(client, stack.id, {
            f"{prefix}image": image, f"{prefix}user_data": user_data,
            "upgraded_members": [], "upgraded_image": "", "upgraded_user_data": "",
            "rolling": False, "upgrade_target": "",
        }, rollback=False, timeout_minutes=CONF.conductor.update_timeout)
        return ROLLING, None
    return _stack_state(client, stack)
