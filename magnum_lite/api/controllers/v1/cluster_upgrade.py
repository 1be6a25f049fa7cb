"""Magnum's cluster upgrade action (`POST /v1/clusters/{id}/actions/upgrade`, 1.8+): its body,
its target (a cluster template and the driver version that template pins to) and the refusals
that come before anything is stored. clusters.py serves the action with these.

The body is python-magnumclient's: `cluster_template` (name or uuid), `max_batch_size`
(default 1) and `nodegroup` (absent: the masters and every worker nodegroup). What the
conductor reads is the operation's params (`params`), written when the operation starts.

The COE version a target runs is what its plugin says of the cluster under the target
template, the template's labels over the cluster's: an upgrade moves to the template's
versions (Magnum's upgrade takes kube_tag from the new template). The version the cluster
runs is the one the conductor recorded (`coe_version`), else what its own plugin says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from magnum_lite import objects
from magnum_lite.api.controllers.v1 import types
from magnum_lite.api.controllers.v1.cluster_shared import (
    MAX_NODE_COUNT,
    find_nodegroup,
    pinned_driver,
)
from magnum_lite.common import context as ml_context
from magnum_lite.common import driver_factory, exception

# The fields of an upgrade request (Magnum's ClusterUpgradeRequest).
FIELDS = ("cluster_template", "max_batch_size", "nodegroup")
DEFAULT_MAX_BATCH_SIZE = 1
# The template fields a cluster keeps through an upgrade (a change means a new cluster).
SAME_AS_CLUSTER = ("coe", "server_type", "network_driver", "cluster_distro")


@dataclasses.dataclass(frozen=True)
class UpgradeRequest:
    """An upgrade request's body, its types checked."""

    cluster_template: str
    max_batch_size: int
    nodegroup: str | None


def parse(data: Any) -> UpgradeRequest:
    """The upgrade request of a body; 400 naming the field for anything wrong. null counts
    as absent, as for resize."""
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    for name in data:
        if name not in FIELDS:
            raise types.invalid(str(name)[:80], "unknown field.")
    if data.get("cluster_template") is None:
        raise types.invalid("cluster_template", "this field is required.")
    template = types.check_text("cluster_template", data["cluster_template"], min_length=1,
                                max_length=255)
    batch = data.get("max_batch_size")
    batch = DEFAULT_MAX_BATCH_SIZE if batch is None else types.check_int(
        "max_batch_size", batch, 1, MAX_NODE_COUNT)
    nodegroup = data.get("nodegroup")
    if nodegroup is not None:
        nodegroup = types.check_text("nodegroup", nodegroup, min_length=1, max_length=255)
    return UpgradeRequest(template, batch, nodegroup)


def _target_template(context: Any, cluster: objects.Cluster,
                     ident: str) -> objects.ClusterTemplate:
    """The template to upgrade to: 404 naming `cluster_template` when the caller cannot see
    it, or when it is neither the cluster's project's nor public (an admin acting on another
    project's cluster sees every template, the cluster's project does not)."""
    try:
        template = objects.ClusterTemplate.get(context, ident)
    except exception.ClusterTemplateNotFound as err:
        raise exception.ClusterTemplateNotFound(f"cluster_template: {err}",
                                                clustertemplate=ident) from err
    if template.project_id != cluster.project_id and not template.public:
        raise exception.ClusterTemplateNotFound(
            f"cluster_template: ClusterTemplate {ident} could not be found.",
            clustertemplate=ident)
    return template


def _current_template(cluster: objects.Cluster) -> objects.ClusterTemplate:
    """The cluster's own template, read as admin (it may be another project's public one
    that was made private since)."""
    return objects.ClusterTemplate.get_by_uuid(ml_context.get_admin_context(),
                                               cluster.cluster_template_id)


def _check_same_kind(current: objects.ClusterTemplate,
                     target: objects.ClusterTemplate) -> None:
    """400 naming the first field in which the target differs from the cluster's template
    in what an upgrade cannot change."""
    for field in SAME_AS_CLUSTER:
        have, want = getattr(current, field), getattr(target, field)
        if (have or "").strip().lower() != (want or "").strip().lower():
            raise types.invalid(field, f"the template {target.name or target.uuid} has "
                                       f"{types.quote(want)}, the cluster "
                                       f"{types.quote(have)}: an upgrade cannot change it.")


def _check_nodegroup(cluster: objects.Cluster, nodegroup: objects.NodeGroup | None,
                     target: objects.ClusterTemplate,
                     current: objects.ClusterTemplate) -> None:
    """Magnum's rule: a nodegroup other than a default one is upgraded only to the
    cluster's own template (a new driver version)."""
    if nodegroup is None or nodegroup.is_default or target.uuid == cluster.cluster_template_id:
        return
    raise types.invalid("nodegroup", f"nodegroup {nodegroup.name} can be upgraded only to "
                                     f"match the cluster's template "
                                     f"({current.name or current.uuid}).")


def _target_driver(context: Any, target: objects.ClusterTemplate) -> objects.Driver | None:
    """The latest enabled version of the target template's driver (None: no driver row, as
    at create); 400 naming `cluster_template` when that driver has versions but none
    enabled."""
    driver = pinned_driver(context, target, "cluster_template")
    if driver is not None or target.driver:
        return driver
    name, _plugin, _config = driver_factory.plugin_for(None, target)
    if name is None:
        return None
    try:
        latest = objects.Driver.get_latest(context, name)
    except exception.NotFound:
        return None  # the plugin has no driver row: the conductor decides by plugin
    raise types.invalid("cluster_template", f"the template's default driver "
                                            f"{types.quote(name)} has no enabled version "
                                            f"(version {latest.version} is disabled).")


def _cluster_driver(cluster: objects.Cluster) -> objects.Driver | None:
    """The Driver row the cluster is pinned to (deleted rows stay readable by uuid)."""
    if not cluster.driver_id:
        return None
    try:
        return objects.Driver.get_by_uuid(ml_context.get_admin_context(), cluster.driver_id)
    except exception.NotFound:
        return None


def _coe_version(driver: objects.Driver | None, cluster: Any,
                 template: objects.ClusterTemplate) -> str | None:
    _name, plugin, config = driver_factory.plugin_for(driver, template)
    if plugin is None:
        return None
    try:
        return plugin(config).coe_version(cluster, template)
    except exception.InvalidParameterValue as err:
        raise types.invalid("cluster_template", str(err)) from err


def _check_versions(cluster: objects.Cluster, current: objects.ClusterTemplate,
                    target: objects.ClusterTemplate,
                    driver: objects.Driver | None) -> None:
    """The target plugin's rule for the step from the version the cluster runs to the one
    the target gives it (400 naming `cluster_template`)."""
    _name, plugin, _config = driver_factory.plugin_for(driver, target)
    if plugin is None:
        return
    from_version = cluster.coe_version or _coe_version(_cluster_driver(cluster), cluster,
                                                       current)
    upgraded = cluster.obj_clone()
    upgraded.labels = cluster.upgraded_labels(target)
    plugin.check_upgrade(from_version, _coe_version(driver, upgraded, target))


def params(context: Any, cluster: objects.Cluster, request: UpgradeRequest) -> dict:
    """The upgrade operation's params (what the conductor reads), after every refusal that
    changes nothing: an unknown template or nodegroup (404), one of another kind, a driver
    without an enabled version, nothing to do, a version step the COE cannot take (400)."""
    target = _target_template(context, cluster, request.cluster_template)
    nodegroup = None
    if request.nodegroup is not None:
        nodegroup = find_nodegroup(context, cluster, request.nodegroup)
    current = _current_template(cluster)
    _check_same_kind(current, target)
    _check_nodegroup(cluster, nodegroup, target, current)
    driver = _target_driver(context, target)
    driver_id = driver.uuid if driver is not None else None
    if target.uuid == cluster.cluster_template_id and driver_id == cluster.driver_id:
        raise types.invalid("cluster_template", f"the cluster already runs template "
                                                f"{target.name or target.uuid} with this "
                                                f"driver version: nothing to upgrade.")
    _check_versions(cluster, current, target, driver)
    return {"cluster_template_uuid": target.uuid, "driver_id": driver_id,
            "driver_version": driver.version if driver is not None else None,
            "max_batch_size": request.max_batch_size,
            "nodegroup_uuid": nodegroup.uuid if nodegroup is not None else None,
            "from_cluster_template_uuid": cluster.cluster_template_id,
            "from_driver_id": cluster.driver_id,
            "from_driver_version": cluster.driver_version}
