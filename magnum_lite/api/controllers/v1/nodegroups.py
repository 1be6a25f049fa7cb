"""/v1/clusters/{cluster_ident}/nodegroups (1.9+): the groups of nodes of a cluster.

Each worker nodegroup has its own flavor, image, size bounds, labels, server type and
availability zone, and its own Heat stacks (DESIGN §6), so one cluster can mix VM and
baremetal workers across zones. Adding or removing a group, or resizing one, is an update of
the cluster (UPDATE_IN_PROGRESS, one more operation); the conductor builds or removes the
group's stacks and the reconciler follows them. Masters and the default groups stay: the
default groups cannot be deleted and no master group can be added.

A nodegroup's `availability_zone` (ours, not Magnum's) may also come from its
`labels.availability_zone`, as Magnum reads it; `server_type` (ours) is `vm` or `bm`, the
template's when absent. 1.10 allows groups of zero nodes; 1.14 adds `node_labels` and
`node_taints` (taints as `key[=value]:Effect` text or `{key, value, effect}` objects).

A baremetal group keeps container storage on its nodes' disks (a `docker_volume_size` is
refused) and joins the cluster's network. In a VM cluster without a `fixed_network` that is the
network Heat makes, which Ironic nodes join only where Ironic uses Neutron's network interface
(multi-tenant baremetal); elsewhere the template names the flat network with `fixed_network`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from oslo_utils import uuidutils
import pecan
import wsme
from wsme import types as wtypes

from magnum_lite import objects
from magnum_lite.api import versions
from magnum_lite.api.controllers import base, link
from magnum_lite.api.controllers.v1 import cluster_shared, collection, patch, types
from magnum_lite.common import baremetal, cloud_validation, exception, policy, states
from magnum_lite.objects import fields

LOG = logging.getLogger(__name__)

MIN_VERSION = "1.9"
ZERO_NODES_VERSION = "1.10"
NODE_LABELS_VERSION = "1.14"

SERVER_TYPES = ("vm", "bm")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# The label Magnum reads a group's availability zone from.
AZ_LABEL = "availability_zone"
# Heat and Nova limit server names; the nodegroup name is part of its stack names.
NAME_PATTERN = "^[a-zA-Z][a-zA-Z0-9_.-]*$"
_TAINT = re.compile(r"([^=:\s]+)(?:=([^=:\s]*))?:([A-Za-z]+)")

_STATUS = wtypes.Enum(str, *fields.ClusterStatus.ALL)


def _name_type() -> wtypes.StringType:
    return wtypes.StringType(min_length=1, max_length=255)


class NodeGroup(base.APIBase):
    """A group of nodes of one role, flavor, image and zone inside a cluster."""

    id = wsme.wsattr(int, readonly=True)
    """The database id of the nodegroup."""

    uuid = wsme.wsattr(types.uuid, readonly=True)
    """The unique id of the nodegroup."""

    name = wsme.wsattr(wtypes.StringType(min_length=1, max_length=255, pattern=NAME_PATTERN),
                       mandatory=True)
    """The name of the nodegroup, unique in its cluster."""

    cluster_id = wsme.wsattr(wtypes.text, readonly=True)
    """The uuid of the cluster the nodegroup belongs to."""

    project_id = wsme.wsattr(wtypes.text, readonly=True)
    """The project that owns the nodegroup."""

    docker_volume_size = wtypes.IntegerType(minimum=1, maximum=types.MAX_INT)
    """The size in GB of each node's container storage volume (the cluster's by default)."""

    labels = types.labels
    """Key/value settings for the driver (the cluster's by default)."""

    flavor_id = _name_type()
    """The Nova flavor of the nodes (the cluster's by default)."""

    image_id = _name_type()
    """The Glance image of the nodes (the template's by default)."""

    node_addresses = wsme.wsattr([wtypes.text], readonly=True)
    """The IP addresses of the nodes."""

    node_count = wsme.wsattr(wtypes.IntegerType(minimum=0, maximum=cluster_shared.MAX_NODE_COUNT),
                             default=1)
    """The number of nodes."""

    role = wsme.wsattr(_name_type(), default=fields.NodeGroupRole.WORKER)
    """What the nodes do in the cluster (worker unless told; master groups are the
    cluster's own)."""

    min_node_count = wsme.wsattr(
        wtypes.IntegerType(minimum=0, maximum=cluster_shared.MAX_NODE_COUNT), default=0)
    """The fewest nodes a resize may leave."""

    max_node_count = wtypes.IntegerType(minimum=0, maximum=cluster_shared.MAX_NODE_COUNT)
    """The most nodes a resize may make (no bound when absent)."""

    is_default = wsme.wsattr(types.boolean, readonly=True)
    """Whether the group was made with the cluster (default groups cannot be deleted)."""

    stack_id = wsme.wsattr(wtypes.text, readonly=True)
    """The first Heat stack of the group."""

    status = wsme.wsattr(_STATUS, readonly=True)
    """The state of the group (CREATE_IN_PROGRESS, CREATE_COMPLETE, ...)."""

    status_reason = wsme.wsattr(wtypes.text, readonly=True)
    """Why the group is in its status (the cause of a failure)."""

    version = wsme.wsattr(wtypes.text, readonly=True)
    """The COE version of the group's nodes."""

    merge_labels = wsme.wsattr(types.boolean, default=False)
    """On create: add the given labels to the cluster's instead of replacing them."""

    availability_zone = wtypes.StringType(min_length=1, max_length=255)
    """The Nova availability zone of the nodes (labels.availability_zone, else Nova's)."""

    server_type = wtypes.Enum(str, *SERVER_TYPES)
    """vm or bm: virtual or baremetal nodes (the template's by default)."""

    links = wsme.wsattr([link.Link], readonly=True)
    """The self and bookmark links of the nodegroup."""


# Fields read straight from the NodeGroup object.
_OBJECT_FIELDS = ("id", "uuid", "name", "cluster_id", "project_id", "docker_volume_size",
                  "labels", "flavor_id", "image_id", "node_addresses", "node_count", "role",
                  "min_node_count", "max_node_count", "is_default", "stack_id", "status",
                  "status_reason", "version", "availability_zone", "server_type",
                  "created_at", "updated_at")
_SHORT_FIELDS = ("uuid", "name", "flavor_id", "image_id", "node_count", "role", "is_default",
                 "status", "stack_id", "availability_zone", "server_type")
SORT_KEYS = ("id", "uuid", "name", "flavor_id", "image_id", "node_count", "role",
             "min_node_count", "max_node_count", "is_default", "status", "created_at",
             "updated_at")
# The fields a PATCH may change (Magnum's; node_labels and node_taints from 1.14).
PATCHABLE = ("node_count", "min_node_count", "max_node_count")
PATCHABLE_1_14 = ("node_labels", "node_taints")
# The fields taken from the request besides the WSME type's (1.14, checked here).
_NODE_FIELDS = ("node_labels", "node_taints")


def resource(cluster_uuid: str) -> str:
    return f"clusters/{cluster_uuid}/nodegroups"


def _taint_text(taint: dict[str, str]) -> str:
    value = taint.get("value") or ""
    return f"{taint['key']}={value}:{taint['effect']}" if value else \
        f"{taint['key']}:{taint['effect']}"


def _taint_object(text: str) -> dict[str, str]:
    match = _TAINT.fullmatch(text)
    if match is None:  # stored before this check existed: shown as it is
        return {"key": text, "value": "", "effect": ""}
    return {"key": match.group(1), "value": match.group(2) or "", "effect": match.group(3)}


def check_taints(value: Any) -> list[str]:
    """Taints as `key[=value]:Effect` text (from text or {key, value, effect} objects); 400
    naming node_taints for anything else. python-magnumclient sends a PATCH's list as the
    text of a Python list."""
    if isinstance(value, str):
        value = patch.literal("node_taints", value)
    if not isinstance(value, list):
        raise types.invalid("node_taints", f"must be a list of key[=value]:Effect taints, "
                                           f"got {types.quote(value)}.")
    result = []
    for index, taint in enumerate(value):
        field = f"node_taints[{index}]"
        if isinstance(taint, dict):
            unknown = set(taint) - {"key", "value", "effect"}
            if unknown or "key" not in taint or "effect" not in taint:
                raise types.invalid(field, f"must have key, effect and an optional value, got "
                                           f"{types.quote(taint)}.")
            for part in ("key", "value", "effect"):
                if taint.get(part) is not None:
                    types.check_text(f"{field}.{part}", taint[part], max_length=253)
            taint = _taint_text(taint)
        types.check_text(field, taint, min_length=1, max_length=255)
        match = _TAINT.fullmatch(taint)
        if match is None:
            raise types.invalid(field, f"{types.quote(taint)} is not key=value:Effect or "
                                       f"key:Effect.")
        if match.group(3) not in TAINT_EFFECTS:
            raise types.invalid(field, f"the effect must be one of {', '.join(TAINT_EFFECTS)}; "
                                       f"got {types.quote(match.group(3))}.")
        result.append(taint)
    return result


def check_node_labels(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = patch.literal("node_labels", value)
    return types.check_labels("node_labels", value)


def convert(nodegroup: objects.NodeGroup, expand: bool, cluster: objects.Cluster,
            base_url: str | None = None) -> dict:
    document = base.to_dict(nodegroup, _OBJECT_FIELDS if expand else _SHORT_FIELDS)
    if expand:
        (document["labels_overridden"], document["labels_added"],
         document["labels_skipped"]) = cluster_shared.labels_diff(cluster.labels, nodegroup.labels)
        document["merge_labels"] = None
        if versions.at_least(NODE_LABELS_VERSION):
            document["node_labels"] = dict(nodegroup.node_labels or {})
            document["node_taints"] = [_taint_object(t) for t in nodegroup.node_taints or []]
    document["links"] = link.self_and_bookmark(resource(cluster.uuid), nodegroup.uuid,
                                               base_url)
    return document


def _check_bounds(name: str, node_count: int, low: int, high: int | None) -> None:
    """min_node_count ≤ max_node_count, and node_count between them: Magnum's
    NodeGroupInvalidInput (409), which names the field first."""
    if high is not None and low > high:
        raise exception.NodeGroupInvalidInput(
            attr="max_node_count", nodegroup=name,
            expl=f"min_node_count ({low}) should be less or equal to max_node_count ({high})")
    if node_count < low:
        raise exception.NodeGroupInvalidInput(
            attr="min_node_count", nodegroup=name,
            expl=f"min_node_count ({low}) should be less or equal to node_count "
                 f"({node_count})")
    if high is not None and node_count > high:
        raise exception.NodeGroupInvalidInput(
            attr="max_node_count", nodegroup=name,
            expl=f"node_count ({node_count}) should be less or equal to max_node_count "
                 f"({high})")


def _check_zero(node_count: int | None) -> None:
    if node_count == 0 and not versions.at_least(ZERO_NODES_VERSION):
        raise types.invalid("node_count", f"0 needs API version {ZERO_NODES_VERSION} or "
                                          f"newer.")


def _check_updatable(cluster: objects.Cluster) -> None:
    """409 unless an update of the cluster may start now (before anything is written)."""
    if cluster.status not in fields.ClusterStatus.UPDATABLE:
        raise exception.Conflict(
            f"Cluster {cluster.uuid} is {cluster.status}: its nodegroups can change only "
            f"when it is {', '.join(fields.ClusterStatus.UPDATABLE)}.")


def _split_body(data: Any) -> tuple[dict, dict]:
    """(the fields of the WSME type, node_labels/node_taints) of a create request."""
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    extra = {name: data[name] for name in _NODE_FIELDS if data.get(name) is not None}
    if extra and not versions.at_least(NODE_LABELS_VERSION):
        name = sorted(extra)[0]
        raise types.invalid(name, f"needs API version {NODE_LABELS_VERSION} or newer.")
    body = {k: v for k, v in data.items() if k not in _NODE_FIELDS}
    return body, extra


def _cast(context: Any, cluster: objects.Cluster, nodegroup: objects.NodeGroup, method: str,
          failed_status: str) -> None:
    """Cast to the conductor; when that fails, the cluster's update and the nodegroup fail
    with the reason (503)."""
    try:
        cluster_shared.cast_or_fail(context, cluster, method, fields.ClusterStatus.UPDATE_FAILED,
                              nodegroup_uuid=nodegroup.uuid)
    except exception.ServiceUnavailable as err:
        reason = str(err)

        def fail(ng: objects.NodeGroup) -> None:
            ng.status = failed_status
            ng.status_reason = reason

        objects.NodeGroup.update_with_retry(context, cluster.uuid, nodegroup.uuid, fail)
        raise


class NodeGroupsController(base.RestController):
    """GET, POST, PATCH and DELETE of a cluster's nodegroups (the cluster is the first
    argument of every method)."""

    def _cluster(self, context: Any, cluster_ident: str, rule: str,
                 all_projects_rule: str) -> objects.Cluster:
        """The cluster (404 when it is another project's), the caller allowed `rule`."""
        base.see_all_projects(context, all_projects_rule)
        cluster = objects.Cluster.get(context, cluster_ident)
        policy.authorize(context, rule, cluster_shared.target(cluster))
        return cluster

    def _nodegroup(self, context: Any, cluster: objects.Cluster,
                   ident: str) -> objects.NodeGroup:
        # The cluster is the caller's (or an admin's) already: read its groups whatever the
        # group rows' project (an admin's group in a member's cluster).
        return objects.NodeGroup.get(context, cluster.uuid, ident)

    @base.expose()
    @versions.requires(MIN_VERSION, what="the nodegroups API")
    def get_all(self, cluster_ident: str) -> dict:
        """The cluster's nodegroups, in short form (`role` filters by role)."""
        context = base.context()
        cluster = self._cluster(context, cluster_ident, "nodegroup:get_all",
                                "nodegroup:get_all_all_projects")
        page = collection.page(SORT_KEYS)
        role = collection.query_param("role")
        filters = {"role": types.check_text("role", role, 1, 255)} if role else None
        nodegroups = objects.NodeGroup.list(context, cluster.uuid, page.limit,
                                            page.marker, page.sort_key, page.sort_dir, filters)
        url = link.base_url()
        document: dict[str, Any] = {"nodegroups": [convert(ng, False, cluster, url)
                                                   for ng in nodegroups]}
        next_url = collection.next_link(resource(cluster.uuid), nodegroups, page,
                                        extra={"role": role} if role else None)
        if next_url:
            document["next"] = next_url
        return document

    @base.expose()
    @versions.requires(MIN_VERSION, what="the nodegroups API")
    def get_one(self, cluster_ident: str, ident: str) -> dict:
        """One nodegroup, by uuid or name, with all its fields."""
        context = base.context()
        cluster = self._cluster(context, cluster_ident, "nodegroup:get",
                                "nodegroup:get_all_all_projects")
        return convert(self._nodegroup(context, cluster, ident), True, cluster)

    @base.expose(status=202)
    @versions.requires(MIN_VERSION, what="the nodegroups API")
    def post(self, cluster_ident: str) -> dict:
        """Add a worker nodegroup to the cluster; 202 with the nodegroup. The conductor
        builds its stacks as an update of the cluster. The cluster is looked up (404) and the
        policy checked (403) before the body is read."""
        context = base.context()
        cluster = self._cluster(context, cluster_ident, "nodegroup:create",
                                "cluster:update_all_projects")
        body, extra = _split_body(base.request_json())
        values = types.parse_object(NodeGroup, body)
        node_labels = check_node_labels(extra["node_labels"]) if "node_labels" in extra \
            else {}
        node_taints = check_taints(extra["node_taints"]) if "node_taints" in extra else []
        _check_zero(values["node_count"])
        if values["role"] == fields.NodeGroupRole.MASTER:
            raise types.invalid("role", "master nodegroups are made with the cluster; add "
                                        "worker nodegroups only.")
        _check_bounds(values["name"], values["node_count"], values["min_node_count"],
                      values.get("max_node_count"))

        template = objects.ClusterTemplate.get_by_uuid(context,
                                                       cluster.cluster_template_id)
        labels = values.get("labels")
        if not labels:
            labels = dict(cluster.labels or {})
        elif values.get("merge_labels"):
            labels = {**(cluster.labels or {}), **labels}
        zone = values.get("availability_zone")
        if zone is None and labels.get(AZ_LABEL):
            zone = types.check_text(f"labels.{AZ_LABEL}", labels[AZ_LABEL], 1, 255)
        elif zone is not None and labels.get(AZ_LABEL) not in (None, zone):
            raise types.invalid("availability_zone", f"{types.quote(zone)} differs from "
                                                     f"labels.{AZ_LABEL} "
                                                     f"{types.quote(labels[AZ_LABEL])}.")
        existing = objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
        if any(ng.name == values["name"] for ng in existing):
            raise exception.NodeGroupAlreadyExists(name=values["name"],
                                                   cluster_id=cluster.uuid)

        server_type = values.get("server_type") or template.server_type
        baremetal.check_volume(server_type, values.get("docker_volume_size"))
        validator = cloud_validation.get_validator()
        flavor = values.get("flavor_id") or cluster.flavor_id or template.flavor_id
        if values.get("flavor_id"):
            validator.flavor(context, flavor, "flavor_id")
        image_id = values.get("image_id") or template.image_id
        if values.get("image_id"):
            image = validator.image(context, image_id)
            if image.os_distro and template.cluster_distro and \
                    image.os_distro != template.cluster_distro:
                raise types.invalid("image_id", f"the image runs {image.os_distro}, the "
                                                f"cluster {template.cluster_distro}.")
        _check_updatable(cluster)
        pecan.request.rpcapi.check_nodegroup_api()

        nodegroup = objects.NodeGroup(
            context, uuid=uuidutils.generate_uuid(), name=values["name"],
            cluster_id=cluster.uuid, project_id=cluster.project_id,
            docker_volume_size=values.get("docker_volume_size") or cluster.docker_volume_size,
            labels=labels, flavor_id=flavor, image_id=image_id,
            node_count=values["node_count"], role=values["role"],
            min_node_count=values["min_node_count"],
            max_node_count=values.get("max_node_count"), is_default=False,
            status=fields.ClusterStatus.CREATE_IN_PROGRESS, node_labels=node_labels,
            node_taints=node_taints, availability_zone=zone,
            server_type=server_type)
        nodegroup.create()
        try:
            cluster_shared.start_update(context, cluster, "nodegroup.create",
                                  states.Kind.NODEGROUP_CREATE,
                                  {"nodegroup_uuid": nodegroup.uuid})
        except Exception:
            nodegroup.destroy()  # the cluster moved on meanwhile: nothing changes
            raise
        _cast(context, cluster, nodegroup, "nodegroup_create",
              fields.ClusterStatus.CREATE_FAILED)
        return convert(nodegroup, True, cluster)

    @base.expose(status=202)
    @versions.requires(MIN_VERSION, what="the nodegroups API")
    def patch(self, cluster_ident: str, ident: str) -> dict:
        """Change node_count (a resize of the group), min_node_count or max_node_count (and,
        from 1.14, node_labels and node_taints, for nodes made from then on); 202 with the
        nodegroup. The cluster and the nodegroup are looked up (404) and the policy checked
        (403) before the patch is read."""
        context = base.context()
        cluster = self._cluster(context, cluster_ident, "nodegroup:update",
                                "cluster:update_all_projects")
        nodegroup = self._nodegroup(context, cluster, ident)
        operations = patch.parse(base.request_json())
        allowed = PATCHABLE + (PATCHABLE_1_14 if versions.at_least(NODE_LABELS_VERSION)
                               else ())
        for operation in operations:
            if operation.field not in allowed:
                raise types.invalid(operation.field[:80], f"cannot be updated; only "
                                                          f"{', '.join(allowed)} can.")
            if len(operation.path) != 1:
                raise types.invalid(operation.field, "patch it as a whole.")
        current = {name: getattr(nodegroup, name) for name in PATCHABLE + PATCHABLE_1_14}
        patched = patch.apply(current, operations, nested=frozenset())
        values = dict(current)
        for name in PATCHABLE:
            if patched[name] == current[name]:
                continue
            if patched[name] is None:
                if name != "max_node_count":
                    raise types.invalid(name, "cannot be removed.")
                values[name] = None
                continue
            values[name] = types.check_value(name, types.attribute(NodeGroup, name).datatype,
                                             patched[name])
        if patched["node_labels"] != current["node_labels"]:
            values["node_labels"] = check_node_labels(patched["node_labels"] or {})
        if patched["node_taints"] != current["node_taints"]:
            values["node_taints"] = check_taints(patched["node_taints"] or [])
        resize = values["node_count"] != nodegroup.node_count
        if resize:
            _check_zero(values["node_count"])
            if nodegroup.role == fields.NodeGroupRole.MASTER:
                raise types.invalid("node_count", f"{nodegroup.name} is a master nodegroup: "
                                                  f"master nodegroups cannot be resized.")
        _check_bounds(nodegroup.name, values["node_count"], values["min_node_count"] or 0,
                      values["max_node_count"])
        _check_updatable(cluster)
        extra: dict[str, Any] = {}
        if resize and not (nodegroup.is_default and
                           nodegroup.role != fields.NodeGroupRole.MASTER):
            extra["nodegroup_uuid"] = nodegroup.uuid
            pecan.request.rpcapi.check_cluster_update(**extra)

        if resize:
            # The count (and the group's status) change as the driver reports the resize.
            cluster_shared.start_update(context, cluster, "nodegroup.update", params={
                "node_count": values["node_count"], "rollback": False, **extra})
        for name in ("min_node_count", "max_node_count", "node_labels", "node_taints"):
            if values[name] != current[name]:
                setattr(nodegroup, name, values[name])
        if nodegroup.obj_what_changed():
            nodegroup.save()
        if resize:
            cluster_shared.cast_or_fail(context, cluster, "cluster_update",
                                  fields.ClusterStatus.UPDATE_FAILED,
                                  node_count=values["node_count"], rollback=False, **extra)
        return convert(nodegroup, True, cluster)

    @base.expose(status=204)
    @versions.requires(MIN_VERSION, what="the nodegroups API")
    def delete(self, cluster_ident: str, ident: str) -> None:
        """Remove a nodegroup that is not a default one; 204. The conductor deletes its
        stacks as an update of the cluster; the row goes once they are gone."""
        context = base.context()
        cluster = self._cluster(context, cluster_ident, "nodegroup:delete",
                                "cluster:update_all_projects")
        nodegroup = self._nodegroup(context, cluster, ident)
        if nodegroup.is_default:
            raise types.invalid("nodegroup", f"{nodegroup.name} is a default nodegroup of "
                                             f"the cluster: deleting the default groups is "
                                             f"refused.")
        if nodegroup.status == fields.ClusterStatus.DELETE_IN_PROGRESS:
            return None
        _check_updatable(cluster)
        pecan.request.rpcapi.check_nodegroup_api()
        cluster_shared.start_update(context, cluster, "nodegroup.delete",
                              states.Kind.NODEGROUP_DELETE, {"nodegroup_uuid": nodegroup.uuid})

        def deleting(ng: objects.NodeGroup) -> None:
            ng.status = fields.ClusterStatus.DELETE_IN_PROGRESS
            ng.status_reason = None

        nodegroup = objects.NodeGroup.update_with_retry(context, cluster.uuid, nodegroup.uuid,
                                                        deleting)
        _cast(context, cluster, nodegroup, "nodegroup_delete",
              fields.ClusterStatus.DELETE_FAILED)
        return None
