"""Magnum's cluster upgrade action (`POST /v1/clusters/{id}/actions/upgrade`, 1.8+): its body,
its target (a cluster template and the driver version that template pins to) and the refusals
that come before anything is stored. clusters.py serves the action with these.

The body is python-magnumclient's: `cluster_template` (name or uuid), `max_batch_size`
(default 1) and `nodegroup` (absent: the masters and every worker nodegroup). What the
conductor reads is the operation's params (`params`), written when the operation starts.

From 1.17 (ours) the body may also name the target by `driver_version` (a version of the
cluster's driver name, or "latest": with a template too, the template's driver name must be
the cluster's; without one, the cluster keeps its template), ask for a `rollback` (back to
the template and driver version the cluster had before its last upgrade that succeeded) or a
`dry_run` (the plan, nothing done). Below 1.17 these fields are a 400 naming the field, as
nodegroups answer for node_labels below 1.14.

The COE version a target runs is what its plugin says of the cluster under the target
template, the template's labels over the cluster's: an upgrade moves to the template's
versions (Magnum's upgrade takes kube_tag from the new template). The version the cluster
runs is the one the conductor recorded (`coe_version`), else what its own plugin says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from magnum_lite import objects
from magnum_lite.api import versions
from magnum_lite.api.controllers.v1 import types
from magnum_lite.api.controllers.v1.cluster_shared import (
    DRY_RUN_VERSION,
    MAX_NODE_COUNT,
    check_newer_fields,
    find_nodegroup,
    pinned_driver,
)
from magnum_lite.common import context as ml_context
from magnum_lite.common import driver_factory, exception, states, upgrade_params

# The fields of an upgrade request (Magnum's ClusterUpgradeRequest), and ours from 1.17.
FIELDS = ("cluster_template", "max_batch_size", "nodegroup")
FIELDS_1_17 = ("driver_version", "rollback", "dry_run")
DEFAULT_MAX_BATCH_SIZE = 1
#: `driver_version`'s name of the latest enabled version.
LATEST = "latest"
# The template fields a cluster keeps through an upgrade (a change means a new cluster).
SAME_AS_CLUSTER = ("coe", "server_type", "network_driver", "cluster_distro")


@dataclasses.dataclass(frozen=True)
class UpgradeRequest:
    """An upgrade request's body, its types checked. `max_batch_size` None: not given (1,
    or for a rollback the batch size of the upgrade it undoes); `driver_version` an integer,
    LATEST or None."""

    cluster_template: str | None
    max_batch_size: int | None
    nodegroup: str | None
    driver_version: int | str | None = None
    rollback: bool = False
    dry_run: bool = False


def _driver_version(value: Any) -> int | str:
    if isinstance(value, str) and value.strip().lower() == LATEST:
        return LATEST
    try:
        return types.check_int("driver_version", value, 1)
    except exception.InvalidParameterValue as err:
        raise types.invalid("driver_version", f"must be a version number or "
                                              f"{types.quote(LATEST)}, got "
                                              f"{types.quote(value)}.") from err


def parse(data: Any) -> UpgradeRequest:
    """The upgrade request of a body; 400 naming the field for anything wrong. null counts
    as absent, as for resize."""
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    for name in data:
        if name not in FIELDS + FIELDS_1_17:
            raise types.invalid(str(name)[:80], "unknown field.")
    check_newer_fields(data, FIELDS_1_17)
    rollback = data.get("rollback") is not None and types.check_bool("rollback",
                                                                      data["rollback"])
    dry_run = data.get("dry_run") is not None and types.check_bool("dry_run", data["dry_run"])
    driver_version = data.get("driver_version")
    if driver_version is not None:
        driver_version = _driver_version(driver_version)
    template = data.get("cluster_template")
    if rollback:
        for name in ("cluster_template", "driver_version"):
            if data.get(name) is not None:
                raise types.invalid(name, "a rollback goes back to the template and driver "
                                          "version the cluster had before its last upgrade: "
                                          "it takes no target.")
    elif template is None and driver_version is None:
        raise types.invalid("cluster_template", "this field is required" + (
            " unless driver_version or rollback is given." if versions.at_least(
                DRY_RUN_VERSION) else "."))
    if template is not None:
        template = types.check_text("cluster_template", template, min_length=1,
                                    max_length=255)
    batch = data.get("max_batch_size")
    if batch is not None:
        batch = types.check_int("max_batch_size", batch, 1, MAX_NODE_COUNT)
    nodegroup = data.get("nodegroup")
    if nodegroup is not None:
        nodegroup = types.check_text("nodegroup", nodegroup, min_length=1, max_length=255)
    return UpgradeRequest(template, batch, nodegroup, driver_version, rollback, dry_run)


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


def _template_driver_name(template: objects.ClusterTemplate) -> str | None:
    """The driver name a template builds with: the one it names, else its default plugin's
    (the name of that plugin's default driver)."""
    if template.driver:
        return template.driver
    name, _plugin, _config = driver_factory.plugin_for(None, template)
    return name


def _requested_driver(context: Any, cluster: objects.Cluster,
                      current: objects.ClusterTemplate, target: objects.ClusterTemplate,
                      wanted: int | str) -> objects.Driver:
    """The Driver row `driver_version` names: that version (or the latest enabled one) of
    the cluster's driver name, which a target template must build with too. 400 naming
    `driver_version` for a version the name does not have (or the cluster's project may not
    use), a disabled one, or a template of another driver."""
    row = _cluster_driver(cluster)
    name = row.name if row is not None else _template_driver_name(current)
    if name is None:
        raise types.invalid("driver_version", f"cluster {cluster.uuid} has no versioned "
                                              f"driver.")
    target_name = _template_driver_name(target)
    if target.uuid != current.uuid and target_name != name:
        raise types.invalid("driver_version", f"the versions are those of the cluster's "
                                              f"driver {types.quote(name)}, but template "
                                              f"{target.name or target.uuid} builds with "
                                              f"{types.quote(target_name)}.")
    usable = [r for r in objects.Driver.list(context, name)
              if r.public or r.project_id == cluster.project_id or context.is_admin]
    if wanted == LATEST:
        enabled = [r for r in usable if r.enabled]
        if not enabled:
            raise types.invalid("driver_version", f"driver {types.quote(name)} has no "
                                                  f"enabled version.")
        found = enabled[-1]
    else:
        found = next((r for r in usable if r.version == wanted), None)
        if found is None:
            known = ", ".join(str(r.version) for r in usable) or "none"
            raise types.invalid("driver_version", f"driver {types.quote(name)} has no "
                                                  f"version {wanted} (its versions: "
                                                  f"{known}).")
        if not found.enabled:
            raise types.invalid("driver_version", f"version {wanted} of driver "
                                                  f"{types.quote(name)} is disabled.")
    _check_plugin("driver_version", found)
    return found


def _check_plugin(field: str, row: objects.Driver) -> None:
    """400 naming `field` when the plugin of a driver version is not installed here."""
    if driver_factory.get_plugin(row.plugin_name) is None:
        raise types.invalid(field, f"version {row.version} of driver {types.quote(row.name)} "
                                   f"needs plugin {types.quote(row.plugin_name)}, which is "
                                   f"not installed.")


def _params(cluster: objects.Cluster, target: objects.ClusterTemplate,
            driver: objects.Driver | None, max_batch_size: int,
            nodegroup: objects.NodeGroup | None) -> dict:
    return {"cluster_template_uuid": target.uuid,
            "driver_id": driver.uuid if driver is not None else None,
            "driver_version": driver.version if driver is not None else None,
            "max_batch_size": max_batch_size,
            "nodegroup_uuid": nodegroup.uuid if nodegroup is not None else None,
            "from_cluster_template_uuid": cluster.cluster_template_id,
            "from_driver_id": cluster.driver_id,
            "from_driver_version": cluster.driver_version}


def _same_target(cluster: objects.Cluster, target: objects.ClusterTemplate,
                 driver: objects.Driver | None) -> bool:
    driver_id = driver.uuid if driver is not None else None
    return target.uuid == cluster.cluster_template_id and driver_id == cluster.driver_id


def last_upgrade(context: Any, cluster: objects.Cluster) -> objects.ClusterOperation | None:
    """The cluster's last upgrade that succeeded or failed (a rollback is one too), or
    None."""
    for operation in reversed(objects.ClusterOperation.list(context, cluster.uuid)):
        if operation.kind == states.Kind.UPGRADE and operation.outcome in (
                states.Outcome.SUCCEEDED, states.Outcome.FAILED):
            return operation
    return None


def _undo_params(cluster: objects.Cluster, failed: objects.ClusterOperation,
                 request: UpgradeRequest) -> dict:
    """A rollback of an upgrade that failed: back to what the cluster ran before it (still
    the cluster's recorded template and driver version), taking back only the nodes it
    moved, with its batching unless the body gives a batch size. 400 naming `rollback`
    when it failed before it planned anything (nothing moved)."""
    plan = failed.plan or {}
    if not plan.get("target_key"):
        raise types.invalid("rollback", f"the last upgrade of cluster {cluster.uuid} failed "
                                        f"before it moved any node: nothing to roll back.")
    if request.nodegroup is not None:
        raise types.invalid("nodegroup", "a rollback of an upgrade that did not finish "
                                         "takes back what it moved: it takes no nodegroup.")
    return upgrade_params.rollback_of(failed.params or {}, plan, request.max_batch_size)


def _rollback_params(context: Any, cluster: objects.Cluster, request: UpgradeRequest) -> dict:
    """A rollback's params: back to the `from_*` of the cluster's last upgrade that
    succeeded (rolling back a rollback goes forward again), with that upgrade's batching
    (max_batch_size and nodegroup) unless the body gives its own.

    A rollback is the operator's escape hatch: it may go back to a driver version that was
    disabled since, and skips the COE's version rule (it returns to what the cluster ran).
    400 naming `rollback` when there is no such upgrade, its template or driver version is
    gone (deleted), or the cluster already runs it.
    """
    last = last_upgrade(context, cluster)
    if last is None:
        raise types.invalid("rollback", f"cluster {cluster.uuid} has no upgrade: there is "
                                        f"nothing to roll back.")
    if last.outcome == states.Outcome.FAILED:
        return _undo_params(cluster, last, request)
    before = last.params or {}
    admin = ml_context.get_admin_context()
    try:
        target = objects.ClusterTemplate.get_by_uuid(admin,
                                                     before["from_cluster_template_uuid"])
    except (KeyError, exception.NotFound) as err:
        raise types.invalid("rollback", f"the template cluster {cluster.uuid} had before its "
                                        f"last upgrade is gone.") from err
    driver = None
    if before.get("from_driver_id"):
        try:
            driver = objects.Driver.get_by_uuid(admin, before["from_driver_id"])
        except exception.NotFound:
            driver = None
        if driver is None or driver.deleted_at is not None:
            raise types.invalid("rollback", f"version {before.get('from_driver_version')} "
                                            f"of the driver cluster {cluster.uuid} had before "
                                            f"its last upgrade was deleted.")
        _check_plugin("rollback", driver)
    nodegroup = None
    if request.nodegroup is not None:
        nodegroup = find_nodegroup(context, cluster, request.nodegroup)
    elif before.get("nodegroup_uuid"):
        nodegroup = next((ng for ng in objects.NodeGroup.list_for_clusters(
            context, [cluster.uuid]) if ng.uuid == before["nodegroup_uuid"]), None)
    current = _current_template(cluster)
    _check_same_kind(current, target)
    _check_nodegroup(cluster, nodegroup, target, current)
    if _same_target(cluster, target, driver):
        raise types.invalid("rollback", f"the cluster already runs template "
                                        f"{target.name or target.uuid} with the driver version "
                                        f"it had before its last upgrade: nothing to roll "
                                        f"back.")
    batch = request.max_batch_size or before.get("max_batch_size") or DEFAULT_MAX_BATCH_SIZE
    return {**_params(cluster, target, driver, batch, nodegroup), "rollback": True}


def cancel(context: Any, cluster: objects.Cluster, request: UpgradeRequest) -> bool:
    """A rollback asked while an upgrade of the cluster runs: recorded on the running
    operation, whose conductor stops after the batch in progress and takes back what it
    moved (conductor/upgrade.py); True when recorded (or already asked). False when no
    upgrade runs (the rollback is an operation of its own). 409 when a rollback already
    runs or the upgrade is settling (it moved every node: roll back once it completes); 400
    naming `nodegroup` (a rollback takes back the running upgrade's scope)."""
    for _attempt in range(3):
        running = objects.ClusterOperation.current(context, cluster)
        if running is None or running.kind != states.Kind.UPGRADE:
            return False
        values = running.params or {}
        if values.get("rollback"):
            raise exception.Conflict(f"Cluster {cluster.uuid} is already rolling back.")
        if request.nodegroup is not None:
            raise types.invalid("nodegroup", "a rollback of a running upgrade takes back what "
                                             "that upgrade moves: it takes no nodegroup.")
        if values.get("cancel"):
            return True
        if (running.plan or {}).get("phase") == upgrade_params.SETTLE:
            raise exception.Conflict(f"The upgrade of cluster {cluster.uuid} moved every "
                                     f"node and is finishing: roll back once it completes.")
        asked = {"user_id": getattr(context, "user_id", None),
                 "request_id": getattr(context, "request_id", None),
                 "max_batch_size": request.max_batch_size}
        event = {**cluster.event_values(context, "cluster.upgrade.rollback"),
                 "status_reason": "rollback asked while the upgrade runs: it stops after "
                                  "the batch in progress and takes back what it moved"}
        try:
            running.update(expected={"revision": running.revision}, event=event,
                           params={**values, "cancel": asked})
        except exception.ConcurrentUpdate:
            continue  # the conductor moved the upgrade on meanwhile: read it again
        return True
    raise exception.Conflict(f"The upgrade of cluster {cluster.uuid} is changing too fast "
                             f"to record the rollback: ask again.")


def params(context: Any, cluster: objects.Cluster, request: UpgradeRequest) -> dict:
    """The upgrade operation's params (what the conductor reads), after every refusal that
    changes nothing: an unknown template or nodegroup (404), one of another kind, a driver
    without an enabled version, a driver_version the cluster's driver does not have or has
    disabled, a rollback without an upgrade to undo, nothing to do, a version step the COE
    cannot take (400)."""
    if request.rollback:
        return _rollback_params(context, cluster, request)
    current = _current_template(cluster)
    if request.cluster_template is not None:
        target = _target_template(context, cluster, request.cluster_template)
    else:
        target = current  # a new driver version of the cluster's own template
    nodegroup = None
    if request.nodegroup is not None:
        nodegroup = find_nodegroup(context, cluster, request.nodegroup)
    _check_same_kind(current, target)
    _check_nodegroup(cluster, nodegroup, target, current)
    if request.driver_version is not None:
        driver = _requested_driver(context, cluster, current, target, request.driver_version)
    else:
        driver = _target_driver(context, target)
    if _same_target(cluster, target, driver):
        field = "cluster_template" if request.cluster_template is not None else \
            "driver_version"
        raise types.invalid(field, f"the cluster already runs template "
                                   f"{target.name or target.uuid} with this driver version: "
                                   f"nothing to upgrade.")
    _check_versions(cluster, current, target, driver)
    return _params(cluster, target, driver, request.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
                   nodegroup)


def plan_document(cluster: objects.Cluster, params: dict, plan: dict) -> dict:
    """A dry run's answer: the conductor's plan (COE versions, batches in order with each
    node's from and to, what the cloud replaces per batch) with the template and driver
    version the cluster goes from and to."""
    return {
        "uuid": cluster.uuid, "dry_run": True, "rollback": bool(params.get("rollback")),
        "from": {"cluster_template_id": params["from_cluster_template_uuid"],
                 "driver_id": params["from_driver_id"],
                 "driver_version": params["from_driver_version"]},
        "to": {"cluster_template_id": params["cluster_template_uuid"],
               "driver_id": params["driver_id"], "driver_version": params["driver_version"]},
        "max_batch_size": params["max_batch_size"], "nodegroup_uuid": params["nodegroup_uuid"],
        **plan,
    }
