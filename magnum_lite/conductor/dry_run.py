"""Dry runs (RPC 1.5): what a create, a resize or an upgrade would do, nothing done.

Each is a call the API waits for, answered in the RPC thread: the driver reads the cloud and
asks it for previews; nothing is written to the database or the cloud. What goes back is
shown to the API's caller, so a driver's preview is cut to what names things (stacks,
resources, their types and changes, counts): never properties, parameters, templates or
outputs, in which a cloud's preview shows the nodes' user data and so their credentials.
"""

from __future__ import annotations

from typing import Any

from oslo_utils import uuidutils

from magnum_lite import objects
from magnum_lite.common import exception
from magnum_lite.conductor import credentials, upgrade
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import fields

#: The keys under which a preview's text is shown: names of stacks and resources, their
#: types and states. Numbers, booleans and nulls are shown under any key not hidden.
SHOWN_TEXT = frozenset({"stack_name", "resource_name", "resource_type", "parent_resource",
                        "resource_action", "resource_status", "physical_resource_id"})
#: Keys never shown, whatever they hold.
HIDDEN = frozenset({"properties", "parameters", "template", "files", "environment",
                    "outputs", "metadata", "attributes", "links"})
_DROPPED = object()


def public_view(value: Any, key: str | None = None) -> Any:
    """`value` (a driver's preview) with only what SHOWN_TEXT and HIDDEN let through; the
    keys of a mapping (stack names, change kinds) stay."""
    if isinstance(value, dict):
        shown = {}
        for name, item in value.items():
            if name in HIDDEN:
                continue
            item = public_view(item, name)
            if item is not _DROPPED:
                shown[name] = item
        return shown
    if isinstance(value, (list, tuple)):
        return [item for item in (public_view(v, key) for v in value) if item is not _DROPPED]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and key in SHOWN_TEXT:
        return value
    return _DROPPED


def _unsaved(cls: type, context: Any, values: dict) -> Any:
    """An object of `values` that is never stored: its other fields at their defaults (None
    where they have none), as a freshly read row would have them."""
    obj = cls(context, **values)
    for name, field in cls.fields.items():
        if obj.obj_attr_is_set(name):
            continue
        if field.default is not None and not isinstance(field.default, type):
            try:
                setattr(obj, name, field.default)
                continue
            except (TypeError, ValueError):
                pass
        if field.nullable:
            setattr(obj, name, None)
    return obj


def unsaved_cluster(context: Any, cluster_fields: dict, nodegroups: list[dict]
                    ) -> tuple[Any, list[Any]]:
    """The cluster and nodegroups a create would store, as objects that are not: each
    nodegroup gets a uuid of its own, the cluster its counts from them."""
    cluster = _unsaved(objects.Cluster, context, dict(cluster_fields))
    groups = [_unsaved(objects.NodeGroup, context, {
        "uuid": uuidutils.generate_uuid(), **values, "cluster_id": cluster.uuid})
        for values in nodegroups]
    masters = [ng for ng in groups if ng.role == fields.NodeGroupRole.MASTER]
    cluster.master_count = sum(ng.node_count or 0 for ng in masters)
    cluster.node_count = sum(ng.node_count or 0 for ng in groups if ng not in masters)
    return cluster, groups


def create(context: Any, driver: drivers_base.Driver, cluster: Any, template: Any,
           nodegroups: list[Any]) -> dict[str, Any]:
    """What the driver would build for the cluster (unsaved_cluster's): {"preview": ...}.
    The nodes' boot configuration is rendered with CAs made for it and dropped."""
    loader = None if template.tls_disabled else credentials.throwaway(cluster, template.coe)
    return {"preview": public_view(driver.create_dry_run(context, cluster, template,
                                                         nodegroups, credentials=loader))}


def resize(context: Any, driver: drivers_base.Driver, cluster: Any, template: Any,
           nodegroup: Any, node_count: int, nodes_to_remove: list[str] | None
           ) -> dict[str, Any]:
    """What the driver would add, replace and remove to resize `nodegroup`:
    {"preview": ...}."""
    preview = driver.update_dry_run(context, cluster, template, nodegroup, node_count,
                                    nodes_to_remove or None,
                                    credentials=credentials.loader(context, cluster,
                                                                   template.coe))
    return {"preview": public_view(preview)}


def upgrade_plan(context: Any, driver: drivers_base.Driver, cluster: Any, template: Any,
                 params: dict) -> dict[str, Any]:
    """The plan an upgrade with `params` would follow, as the conductor makes it when the
    upgrade starts (upgrade.new_plan): the COE versions from and to, the batches in order
    with each node's from and to, and what the cloud replaces per batch (None when the
    driver cannot say)."""
    nodegroups = objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
    plan = upgrade.new_plan(context, driver, cluster, nodegroups, template, params)
    try:
        replaces = driver.upgrade_dry_run(context, cluster, nodegroups, plan["batches"])
    except exception.NotSupported:
        replaces = None
    ran = {ng.uuid: ng.version for ng in nodegroups}
    batches = [{"nodegroup": batch["nodegroup"], "nodegroup_name": batch.get("nodegroup_name"),
                "role": batch.get("role"),
                "nodes": [{"name": name, "from": ran.get(batch["nodegroup"])
                           or plan["from_version"], "to": plan["to_version"]}
                          for name in batch["nodes"]]}
               for batch in plan["batches"]]
    return {"from_version": plan["from_version"], "to_version": plan["to_version"],
            "batches": batches, "replaces": replaces}
