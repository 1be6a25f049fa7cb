"""/v1/clusters: COE clusters, created, resized and deleted by the conductor.

`POST /v1/clusters/{id}/actions/resize` (1.7+) resizes one worker nodegroup, optionally naming
the nodes to remove, as Magnum's resize action does. `POST /v1/clusters/{id}/actions/upgrade`
(1.8+) moves the cluster to another template or driver version by a rolling upgrade
(cluster_upgrade.py reads and checks its body).

The API validates, writes the intent (status, version, event) and casts to the conductor; it
returns at once (202 or 204) and never waits for Heat.

Limits (Magnum has none; a cluster beyond them is a typo, not a plan): at most MAX_NODE_COUNT
workers and MAX_MASTER_COUNT masters, a create_timeout of at most MAX_CREATE_TIMEOUT minutes.
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
from magnum_lite.api.controllers.v1 import (
    cluster_repair,
    cluster_upgrade,
    collection,
    patch,
    types,
)
from magnum_lite.api.controllers.v1.cluster_shared import (
    MAX_NODE_COUNT,
    call_conductor,
    cast_or_fail,
    check_start,
    find_nodegroup,
    labels_diff,
    pinned_driver,
    pop_dry_run,
    start_update,
    target,
)
from magnum_lite.common import cloud_validation, driver_factory, exception, policy, states
from magnum_lite.conf import CONF
from magnum_lite.objects import cluster_operation, fields

LOG = logging.getLogger(__name__)

RESOURCE = "clusters"

MAX_MASTER_COUNT = 100
MAX_CREATE_TIMEOUT = 7 * 24 * 60
DEFAULT_CREATE_TIMEOUT = 60

# Heat stack names are the cluster name plus a suffix, within Heat's 255 characters.
NAME_MAX_LENGTH = 242
NAME_PATTERN = "^[a-zA-Z][a-zA-Z0-9_.-]*$"

# The list's filters (ours), from this microversion on: "which clusters still run driver
# version N" (across projects for admins).
LIST_FILTERS = ("driver", "driver_version", "project_id")
LIST_FILTERS_VERSION = "1.18"

DEFAULT_MASTER_NODEGROUP = "default-master"
DEFAULT_WORKER_NODEGROUP = "default-worker"

_STATUS = wtypes.Enum(str, *fields.ClusterStatus.ALL)
_HEALTH = wtypes.Enum(str, *fields.ClusterHealthStatus.ALL)


def _name_type() -> wtypes.StringType:
    return wtypes.StringType(min_length=1, max_length=255)


class Cluster(base.APIBase):
    """A COE cluster: its nodes, status and health."""

    uuid = wsme.wsattr(types.uuid, readonly=True)
    """The unique id of the cluster."""

    name = wtypes.StringType(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)
    """The name of the cluster: a letter, then letters, digits, '_', '.' or '-'."""

    cluster_template_id = wsme.wsattr(_name_type(), mandatory=True)
    """The template (uuid or name) the cluster is built from; answered as a uuid."""

    keypair = _name_type()
    """The Nova keypair installed on the nodes (the template's by default)."""

    node_count = wsme.wsattr(wtypes.IntegerType(minimum=0, maximum=MAX_NODE_COUNT), default=1)
    """The number of worker nodes."""

    master_count = wsme.wsattr(wtypes.IntegerType(minimum=1, maximum=MAX_MASTER_COUNT),
                               default=1)
    """The number of master nodes."""

    docker_volume_size = wtypes.IntegerType(minimum=1, maximum=types.MAX_INT)
    """The size in GB of each node's container storage volume (the template's by default)."""

    labels = types.labels
    """Key/value settings passed to the driver (the template's by default)."""

    master_flavor_id = _name_type()
    """The Nova flavor of the masters (the template's by default)."""

    flavor_id = _name_type()
    """The Nova flavor of the workers (the template's by default)."""

    create_timeout = wsme.wsattr(wtypes.IntegerType(minimum=0, maximum=MAX_CREATE_TIMEOUT),
                                 default=DEFAULT_CREATE_TIMEOUT)
    """Minutes the creation may take before it fails."""

    discovery_url = _name_type()
    """The etcd discovery URL the masters use."""

    links = wsme.wsattr([link.Link], readonly=True)
    """The self and bookmark links of the cluster."""

    stack_id = wsme.wsattr(wtypes.text, readonly=True)
    """The Heat stack of the cluster (versions before 1.13)."""

    cluster_id = wsme.wsattr(wtypes.text, readonly=True)
    """The Heat stack of the cluster (version 1.13 and newer)."""

    status = wsme.wsattr(_STATUS, readonly=True)
    """The state of the cluster (CREATE_IN_PROGRESS, CREATE_COMPLETE, ...)."""

    status_reason = wsme.wsattr(wtypes.text, readonly=True)
    """Why the cluster is in its status (the cause of a failure)."""

    health_status = wsme.wsattr(_HEALTH, readonly=True)
    """The health of the cluster as its COE reports it."""

    health_status_reason = wsme.wsattr({wtypes.text: wtypes.text}, readonly=True)
    """The health of each part of the cluster."""

    api_address = wsme.wsattr(wtypes.text, readonly=True)
    """The URL of the COE's API."""

    coe_version = wsme.wsattr(wtypes.text, readonly=True)
    """The version of the COE running in the cluster."""

    container_version = wsme.wsattr(wtypes.text, readonly=True)
    """The version of the container runtime."""

    project_id = wsme.wsattr(wtypes.text, readonly=True)
    """The project that owns the cluster."""

    user_id = wsme.wsattr(wtypes.text, readonly=True)
    """The user who created the cluster."""

    node_addresses = wsme.wsattr([wtypes.text], readonly=True)
    """The IP addresses of the workers."""

    master_addresses = wsme.wsattr([wtypes.text], readonly=True)
    """The IP addresses of the masters."""

    faults = wsme.wsattr({wtypes.text: wtypes.text}, readonly=True)
    """Why each failed nodegroup failed (only when the cluster failed)."""

    fixed_network = _name_type()
    """The Neutron network of the nodes (the template's by default)."""

    fixed_subnet = _name_type()
    """The Neutron subnet of the nodes (the template's by default)."""

    floating_ip_enabled = types.boolean
    """Whether the nodes get floating IPs (the template's choice by default)."""

    merge_labels = wsme.wsattr(types.boolean, default=False)
    """On create: add the given labels to the template's instead of replacing them."""

    labels_overridden = wsme.wsattr({wtypes.text: wtypes.text}, readonly=True)
    """Labels whose value differs from the template's (with the template's value)."""

    labels_added = wsme.wsattr({wtypes.text: wtypes.text}, readonly=True)
    """Labels the template does not have."""

    labels_skipped = wsme.wsattr({wtypes.text: wtypes.text}, readonly=True)
    """Labels of the template the cluster does not have."""

    master_lb_enabled = types.boolean
    """Whether a load balancer fronts the masters (the template's choice by default)."""

    driver_id = wsme.wsattr(wtypes.text, readonly=True)
    """The uuid of the driver version that manages the cluster."""

    driver_version = wsme.wsattr(int, readonly=True)
    """The version of that driver."""

    version = wsme.wsattr(int, readonly=True)
    """The number of operations (create, update, delete, ...) done on the cluster."""


class ClusterID(wtypes.Base):
    """The answer to a create, update or delete: the cluster's uuid."""

    uuid = types.uuid
    """The unique id of the cluster."""


# Fields read straight from the Cluster object.
_OBJECT_FIELDS = ("uuid", "name", "cluster_template_id", "keypair", "node_count",
                  "master_count", "docker_volume_size", "labels", "master_flavor_id",
                  "flavor_id", "create_timeout", "discovery_url", "status", "status_reason",
                  "health_status", "health_status_reason", "api_address", "coe_version",
                  "container_version", "project_id", "user_id", "node_addresses",
                  "master_addresses", "fixed_network", "fixed_subnet", "floating_ip_enabled",
                  "master_lb_enabled", "driver_id", "driver_version", "version", "created_at",
                  "updated_at")
_SHORT_FIELDS = ("uuid", "name", "cluster_template_id", "keypair", "docker_volume_size",
                 "labels", "node_count", "status", "master_flavor_id", "flavor_id",
                 "create_timeout", "master_count", "health_status")
SORT_KEYS = ("id", "uuid", "name", "cluster_template_id", "keypair", "docker_volume_size",
             "master_flavor_id", "flavor_id", "create_timeout", "status", "health_status",
             "api_address", "coe_version", "container_version", "project_id", "user_id",
             "fixed_network", "fixed_subnet", "floating_ip_enabled", "master_lb_enabled",
             "driver_id", "driver_version", "version", "created_at", "updated_at")
# Fields shown from version 1.15 on, with the /v1/drivers resource.
_DRIVER_FIELDS = frozenset({"driver_id", "driver_version", "version"})
_DRIVER_FIELDS_VERSION = "1.15"
# Fields of the template a cluster inherits when the request leaves them out.
_INHERITED = (("keypair", "keypair_id"), ("docker_volume_size", "docker_volume_size"),
              ("master_flavor_id", "master_flavor_id"), ("flavor_id", "flavor_id"),
              ("fixed_network", "fixed_network"), ("fixed_subnet", "fixed_subnet"),
              ("floating_ip_enabled", "floating_ip_enabled"),
              ("master_lb_enabled", "master_lb_enabled"))


def _stack_field() -> str:
    return "cluster_id" if versions.at_least("1.13") else "stack_id"


def _shown_fields(expand: bool) -> tuple[str, ...]:
    """The object fields a response shows: the driver pinning appears in 1.15."""
    if not expand:
        return _SHORT_FIELDS
    if versions.at_least(_DRIVER_FIELDS_VERSION):
        return _OBJECT_FIELDS
    return tuple(name for name in _OBJECT_FIELDS if name not in _DRIVER_FIELDS)


def convert(cluster: objects.Cluster, expand: bool, stack_field: str,
            template_labels: dict | None = None, base_url: str | None = None) -> dict:
    document = base.to_dict(cluster, _shown_fields(expand))
    document[stack_field] = cluster.stack_id
    if expand:
        (document["labels_overridden"], document["labels_added"],
         document["labels_skipped"]) = labels_diff(template_labels, cluster.labels)
    document["links"] = link.self_and_bookmark(RESOURCE, cluster.uuid, base_url)
    return document


class _TemplateLabels:
    """The labels of clusters' templates, each template read once per request."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.cache: dict[str, dict | None] = {}

    def __call__(self, template_id: str | None) -> dict | None:
        if not template_id:
            return None
        if template_id not in self.cache:
            try:
                template = objects.ClusterTemplate.get_by_uuid(self.context, template_id)
                self.cache[template_id] = template.labels
            except exception.NotFound:
                self.cache[template_id] = None
        return self.cache[template_id]


def _generated_name(template_name: str | None) -> str:
    """A valid cluster name from the template's: "k8s.v1-3f9c2a1b"."""
    stem = re.sub(r"[^a-zA-Z0-9_.-]", "-", template_name or "")
    if not stem or not stem[0].isalpha():
        stem = "cluster-" + stem
    return f"{stem[:NAME_MAX_LENGTH - 9]}-{uuidutils.generate_uuid()[:8]}"


# The fields of a resize request (Magnum's ClusterResizeRequest).
RESIZE_FIELDS = ("node_count", "nodes_to_remove", "nodegroup")
# A node to remove is a server name or id.
NODE_NAME_MAX_LENGTH = 255


def parse_resize(data: Any) -> tuple[int, list[str], str | None]:
    """(node_count, nodes_to_remove, nodegroup) of a resize request body; 400 naming the field
    for anything wrong. null counts as absent, as python-magnumclient may send it."""
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    for name in data:
        if name not in RESIZE_FIELDS:
            raise types.invalid(str(name)[:80], "unknown field.")
    if data.get("node_count") is None:
        raise types.invalid("node_count", "this field is required.")
    node_count = types.check_int("node_count", data["node_count"], 0, MAX_NODE_COUNT)
    if node_count == 0 and not versions.at_least("1.10"):
        raise types.invalid("node_count", "0 needs API version 1.10 or newer.")
    nodes = data.get("nodes_to_remove")
    if nodes is None:
        nodes = []
    if not isinstance(nodes, list):
        raise types.invalid("nodes_to_remove", f"must be a list of server names or ids, got "
                                               f"{types.quote(nodes)}.")
    for index, node in enumerate(nodes):
        types.check_text(f"nodes_to_remove[{index}]", node, min_length=1,
                         max_length=NODE_NAME_MAX_LENGTH)
    if len(set(nodes)) != len(nodes):
        twice = next(node for node in nodes if nodes.count(node) > 1)
        raise types.invalid("nodes_to_remove", f"{types.quote(twice)} is listed twice.")
    nodegroup = data.get("nodegroup")
    if nodegroup is not None:
        types.check_text("nodegroup", nodegroup, min_length=1, max_length=255)
    return node_count, nodes, nodegroup


def _resize_nodegroup(context: Any, cluster: objects.Cluster,
                      ident: str | None) -> objects.NodeGroup:
    """The worker nodegroup a resize is for: 404 when the cluster has none of that name or
    uuid (Magnum's NodeGroupNotFound), 400 naming `nodegroup` for a master group."""
    if ident is None:
        found = [ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
                 if ng.role != fields.NodeGroupRole.MASTER and ng.is_default]
        if not found:
            raise types.invalid("nodegroup", f"cluster {cluster.uuid} has no default worker "
                                             f"nodegroup: name the nodegroup to resize.")
        return found[0]
    nodegroup = find_nodegroup(context, cluster, ident)
    if nodegroup.role == fields.NodeGroupRole.MASTER:
        raise types.invalid("nodegroup", f"{nodegroup.name} is a master nodegroup: master "
                                         f"nodegroups cannot be resized.")
    return nodegroup


def _check_resize(nodegroup: objects.NodeGroup, node_count: int,
                  nodes_to_remove: list[str]) -> None:
    """The new size within the nodegroup's bounds; nodes to remove only when shrinking, no
    more than it shrinks by."""
    low, high = nodegroup.min_node_count or 0, nodegroup.max_node_count
    if node_count < low or (high is not None and node_count > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise types.invalid("node_count", f"nodegroup {nodegroup.name} must keep {bounds} "
                                          f"nodes, got {node_count}.")
    if not nodes_to_remove:
        return
    current = nodegroup.node_count or 0
    if node_count >= current:
        raise types.invalid("nodes_to_remove", f"nodes are removed only when the nodegroup "
                                               f"shrinks; {nodegroup.name} goes from "
                                               f"{current} to {node_count} nodes.")
    if len(nodes_to_remove) > current - node_count:
        raise types.invalid("nodes_to_remove", f"lists {len(nodes_to_remove)} nodes, but "
                                               f"shrinking {nodegroup.name} from {current} to "
                                               f"{node_count} nodes removes "
                                               f"{current - node_count}.")


def _check_with_driver(driver: objects.Driver | None, cluster: objects.Cluster,
                       template: objects.ClusterTemplate, master_count: int, node_count: int,
                       nodegroups: list[dict]) -> None:
    """The plugin's own refusals before anything is stored (400 naming the field): what
    its COE cannot build, such as an even number of masters for a quorum."""
    # The Driver row's plugin, else the plugin that builds the template (as the conductor
    # picks it).
    _name, plugin, config = driver_factory.plugin_for(driver, template)
    if plugin is None:
        return
    # The counts are derived fields: set on the object, they are never written.
    cluster.master_count, cluster.node_count = master_count, node_count
    plugin(config).validate_cluster(
        cluster, template, [objects.NodeGroup(**values) for values in nodegroups])


def _list_filters(context: Any) -> tuple[dict, dict]:
    """The filters of a cluster list (1.18+): `driver` (a driver's name: clusters of any of
    its versions), `driver_version` (an integer version) and `project_id` (another project's
    only for an admin who sees every project, 403 otherwise); each refused (400 naming it)
    below 1.18, as `rollback` is below 1.3. Returns the database filters and the query the
    `next` link keeps."""
    given = {name: value for name in LIST_FILTERS
             if (value := collection.query_param(name)) is not None}
    if given and not versions.at_least(LIST_FILTERS_VERSION):
        raise types.invalid(next(iter(given)),
                            f"needs API version {LIST_FILTERS_VERSION} or newer.")
    filters: dict[str, Any] = {}
    if "driver" in given:
        filters["driver_name"] = types.check_text("driver", given["driver"], min_length=1,
                                                  max_length=255)
    if "driver_version" in given:
        filters["driver_version"] = types.check_int("driver_version", given["driver_version"],
                                                    minimum=1)
    if "project_id" in given:
        project = types.check_text("project_id", given["project_id"], min_length=1,
                                   max_length=255)
        if project != context.project_id and not context.all_projects:
            raise exception.NotAuthorized(
                "project_id: only administrators may list the clusters of another project.")
        filters["project_id"] = project
    return filters, given


class ClusterActionsController(base.RestController):
    """/v1/clusters/{id}/actions/...: Magnum's cluster actions (resize, upgrade), and
    ours (repair)."""

    _custom_actions = {"resize": ["POST"], "upgrade": ["POST"], "repair": ["POST"]}

    @base.expose(status=202)
    @versions.requires("1.7", what="the cluster resize action")
    def resize(self, ident: str) -> dict:
        """Resize a worker nodegroup (the default one unless `nodegroup` names another) to
        `node_count` nodes, removing `nodes_to_remove` first; 202 with the uuid. With
        `dry_run` (1.17+): 200 with what the driver would change, nothing done. The cluster
        is looked up (404) and the policy checked (403) before the body is read."""
        context = base.context()
        base.see_all_projects(context, "cluster:update_all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "cluster:resize", target(cluster))
        data = base.request_json()
        dry_run = pop_dry_run(data)
        node_count, nodes_to_remove, ng_ident = parse_resize(data)
        nodegroup = _resize_nodegroup(context, cluster, ng_ident)
        _check_resize(nodegroup, node_count, nodes_to_remove)
        if dry_run:
            check_start(context, cluster, states.Kind.RESIZE)
            pecan.request.rpcapi.check_dry_run_api()
            answer = call_conductor(f"Cluster {cluster.uuid}: a resize's dry run",
                                    "cluster_resize_dry_run", context,
                                    cluster_uuid=cluster.uuid, nodegroup_uuid=nodegroup.uuid,
                                    node_count=node_count, nodes_to_remove=nodes_to_remove)
            return base.Answer({"uuid": cluster.uuid, "dry_run": True,
                                "nodegroup_uuid": nodegroup.uuid, "node_count": node_count,
                                "nodes_to_remove": nodes_to_remove, **answer}, 200)
        # The default worker nodegroup travels as None, which every conductor understands.
        extra: dict[str, Any] = {}
        if not (nodegroup.is_default and nodegroup.role != fields.NodeGroupRole.MASTER):
            extra["nodegroup_uuid"] = nodegroup.uuid
        if nodes_to_remove:
            extra["nodes_to_remove"] = nodes_to_remove
        if extra:
            # Conductors pinned to an RPC version without these refuse them: say so now,
            # before anything changes.
            pecan.request.rpcapi.check_cluster_update(**extra)
        start_update(context, cluster, "cluster.resize", params={
            "node_count": node_count, "rollback": False, **extra})
        cast_or_fail(context, cluster, "cluster_update", fields.ClusterStatus.UPDATE_FAILED,
                     node_count=node_count, rollback=False, **extra)
        return {"uuid": cluster.uuid}

    @base.expose(status=202)
    @versions.requires("1.8", what="the cluster upgrade action")
    def upgrade(self, ident: str) -> dict:
        """Upgrade the cluster (or one nodegroup) to `cluster_template` and the driver version
        it pins to (or, 1.17+, `driver_version`; or `rollback`), `max_batch_size` nodes at a
        time; 202 with the uuid. With `dry_run` (1.17+): 200 with the plan, nothing done.
        The cluster is looked up (404) and the policy checked (403) before the body is
        read."""
        context = base.context()
        base.see_all_projects(context, "cluster:update_all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "cluster:upgrade", target(cluster))
        request = cluster_upgrade.parse(base.request_json())
        if (request.rollback and not request.dry_run
                and cluster_upgrade.cancel(context, cluster, request)):
            return {"uuid": cluster.uuid}
        params = cluster_upgrade.params(context, cluster, request)
        if request.dry_run:
            check_start(context, cluster, states.Kind.UPGRADE)
            pecan.request.rpcapi.check_dry_run_api()
            plan = call_conductor(f"Cluster {cluster.uuid}: an upgrade's dry run",
                                  "upgrade_dry_run", context, cluster_uuid=cluster.uuid,
                                  params=params)
            return base.Answer(cluster_upgrade.plan_document(cluster, params, plan), 200)
        # Conductors pinned to an RPC version without upgrades refuse it now, before
        # anything changes.
        pecan.request.rpcapi.check_upgrade_api()
        start_update(context, cluster, "cluster.upgrade", kind=states.Kind.UPGRADE,
                     params=params)
        cast_or_fail(context, cluster, "cluster_upgrade", fields.ClusterStatus.UPDATE_FAILED)
        return {"uuid": cluster.uuid}


    @base.expose(status=202)
    @versions.requires("1.19", what="the cluster repair action")
    def repair(self, ident: str) -> dict:
        """Replace the cluster's unhealthy nodes (or those `nodes` names); 202 with the
        uuid. The cluster is looked up (404) and the policy checked (403) before the body;
        the conductor checks the nodes exist (400) before anything is stored."""
        context = base.context()
        base.see_all_projects(context, "cluster:update_all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "cluster:repair", target(cluster))
        request = cluster_repair.parse(base.request_json(allow_empty=True))
        nodes = cluster_repair.nodes_to_repair(cluster, request)
        check_start(context, cluster, states.Kind.REPAIR)
        pecan.request.rpcapi.check_repair_api()
        try:
            plan = call_conductor(f"Cluster {cluster.uuid}: a repair's plan", "repair_plan",
                                  context, cluster_uuid=cluster.uuid, nodes=nodes)
        except exception.NodeNotFound as err:
            raise types.invalid("nodes", str(err)) from err
        names = [name for repair in plan for name in repair.get("nodes") or []]
        start_update(context, cluster, "cluster.repair", kind=states.Kind.REPAIR,
                     params={"nodes": names or nodes, "cause": "asked for",
                             "force": request.force})
        cast_or_fail(context, cluster, "cluster_repair", fields.ClusterStatus.UPDATE_FAILED)
        return {"uuid": cluster.uuid}


class ClustersController(base.RestController):
    """GET, POST, PATCH and DELETE of clusters; their actions below `{id}/actions`, their
    nodegroups below `{id}/nodegroups` and their history below `{id}/events`."""

    _custom_actions = {"detail": ["GET"]}
    _item_children = frozenset({"actions", "nodegroups", "events"})

    actions = ClusterActionsController()

    def __init__(self, nodegroups: base.RestController, events: base.RestController) -> None:
        # `{id}/nodegroups` (1.9+) and `{id}/events` (1.16+), given by the v1 root:
        # controllers do not import each other.
        self.nodegroups = nodegroups
        self.events = events

    def _list(self, expand: bool, rule: str, resource: str) -> dict:
        context = base.context()
        policy.authorize(context, rule)
        base.see_all_projects(context, rule + "_all_projects")
        page = collection.page(SORT_KEYS)
        filters, query = _list_filters(context)
        clusters = objects.Cluster.list(context, page.limit, page.marker, page.sort_key,
                                        page.sort_dir, filters=filters)
        url = link.base_url()
        stack_field = _stack_field()
        template_labels = _TemplateLabels(context)
        document: dict[str, Any] = {"clusters": [
            convert(c, expand, stack_field,
                    template_labels(c.cluster_template_id) if expand else None, url)
            for c in clusters]}
        next_url = collection.next_link(resource, clusters, page, extra=query)
        if next_url:
            document["next"] = next_url
        return document

    @base.expose()
    def get_all(self) -> dict:
        """The caller's clusters, in short form."""
        return self._list(False, "cluster:get_all", RESOURCE)

    @base.expose()
    def detail(self) -> dict:
        """The caller's clusters, with all their fields."""
        return self._list(True, "cluster:detail", RESOURCE + "/detail")

    @base.expose()
    def get_one(self, ident: str) -> dict:
        """One cluster, by uuid or name."""
        context = base.context()
        base.see_all_projects(context, "cluster:get_one_all_projects")
        if uuidutils.is_uuid_like(ident):
            # With its template's labels (as _TemplateLabels reads them): one round trip.
            cluster, template_labels = objects.Cluster.get_with_template_labels(context, ident)
        else:
            cluster = objects.Cluster.get(context, ident)
            template_labels = None
        policy.authorize(context, "cluster:get", target(cluster))
        if not uuidutils.is_uuid_like(ident):
            template_labels = _TemplateLabels(context)(cluster.cluster_template_id)
        document = convert(cluster, True, _stack_field(), template_labels)
        document["faults"] = {}
        if (cluster.status or "").endswith("FAILED"):
            document["faults"] = {
                ng.name: ng.status_reason or ""
                for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
                if (ng.status or "").endswith("FAILED")}
        return document

    def _template(self, context: Any, ident: str) -> objects.ClusterTemplate:
        try:
            return objects.ClusterTemplate.get(context, ident)
        except exception.NotFound as err:
            raise types.invalid("cluster_template_id", str(err)) from err

    def _check_quota(self, context: Any) -> None:
        limit = objects.Quota.hard_limit_for(context.project_id, "Cluster",
                                             CONF.quotas.max_clusters_per_project)
        if limit >= 0 and objects.Cluster.count(context.project_id) >= limit:
            raise exception.ResourceLimitExceeded(
                msg=f"You have reached the maximum clusters per project, {limit}. Delete a "
                    f"cluster to make room for a new one.")

    def _cast(self, context: Any, cluster: objects.Cluster, method: str,
              failed_status: str, **kwargs: Any) -> None:
        cast_or_fail(context, cluster, method, failed_status, **kwargs)

    def _new_cluster(self, context: Any, data: Any
                     ) -> tuple[objects.Cluster, list[dict], dict]:
        """The cluster a create body asks for (not stored), its two default nodegroups' rows
        and the values it was made of, after every refusal (400, 403 quota, 404 keypair)."""
        values = types.parse_object(Cluster, data)
        if values["node_count"] == 0 and not versions.at_least("1.10"):
            raise types.invalid("node_count", "0 needs API version 1.10 or newer.")
        template = self._template(context, values["cluster_template_id"])
        self._check_quota(context)

        for field, template_field in _INHERITED:
            if values.get(field) is None:
                values[field] = getattr(template, template_field)
        labels = values.get("labels")
        if not labels:
            values["labels"] = dict(template.labels or {})
        elif values.get("merge_labels"):
            values["labels"] = {**(template.labels or {}), **labels}
        if values["master_count"] > 1 and not values["master_lb_enabled"]:
            raise types.invalid("master_count", "more than one master needs "
                                                "master_lb_enabled.")

        # As Magnum: the keypair is the creating user's (404 KeyPairNotFound otherwise), the
        # flavors and the networks the request overrides exist (400).
        validator = cloud_validation.get_validator()
        if values.get("keypair"):
            validator.keypair(context, values["keypair"], "keypair")
        for field in ("flavor_id", "master_flavor_id"):
            if values.get(field):
                validator.flavor(context, values[field], field)
        if values.get("fixed_network") and values["fixed_network"] != template.fixed_network:
            validator.network(context, values["fixed_network"], "fixed_network")
        if values.get("fixed_subnet") and values["fixed_subnet"] != template.fixed_subnet:
            validator.subnet(context, values["fixed_subnet"], "fixed_subnet")

        driver = pinned_driver(context, template)
        if driver is not None:
            values["driver_id"], values["driver_version"] = driver.uuid, driver.version

        node_count = values.pop("node_count")
        master_count = values.pop("master_count")
        values.pop("merge_labels", None)
        values["cluster_template_id"] = template.uuid
        values["name"] = values.get("name") or _generated_name(template.name)
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id=context.project_id,
            user_id=context.user_id, status=fields.ClusterStatus.CREATE_IN_PROGRESS,
            version=1, **values)
        common = {"project_id": context.project_id, "image_id": template.image_id,
                  "docker_volume_size": values.get("docker_volume_size"),
                  "labels": values["labels"], "is_default": True,
                  "status": fields.ClusterStatus.CREATE_IN_PROGRESS}
        nodegroups = [
            {**common, "name": DEFAULT_MASTER_NODEGROUP, "role": fields.NodeGroupRole.MASTER,
             "node_count": master_count, "min_node_count": 1,
             "flavor_id": values.get("master_flavor_id")},
            {**common, "name": DEFAULT_WORKER_NODEGROUP, "role": fields.NodeGroupRole.WORKER,
             "node_count": node_count, "min_node_count": 0,
             "flavor_id": values.get("flavor_id")},
        ]
        _check_with_driver(driver, cluster, template, master_count, node_count, nodegroups)
        return cluster, nodegroups, values

    @staticmethod
    def _create_dry_run(context: Any, cluster: objects.Cluster, nodegroups: list[dict]
                        ) -> dict:
        """What a conductor's driver would build for the cluster, with the cluster's pinning
        and nodegroups as the create would store them."""
        pecan.request.rpcapi.check_dry_run_api()
        answer = call_conductor("A cluster create's dry run", "cluster_create_dry_run",
                                context, nodegroups=nodegroups, cluster_fields={
                                    name: getattr(cluster, name)
                                    for name in cluster.obj_what_changed()})
        shown = ("name", "role", "node_count", "flavor_id", "image_id")
        return {"name": cluster.name, "dry_run": True,
                "cluster_template_id": cluster.cluster_template_id,
                "driver_id": cluster.driver_id if cluster.obj_attr_is_set("driver_id")
                else None,
                "driver_version": cluster.driver_version
                if cluster.obj_attr_is_set("driver_version") else None,
                "nodegroups": [{name: ng[name] for name in shown} for ng in nodegroups],
                **answer}

    @base.expose(status=202)
    def post(self) -> dict:
        """Create a cluster; 202 with its uuid. The conductor builds it. With `dry_run`
        (1.17+): 200 with what the driver would build, nothing stored (no cluster, no
        operation, no quota used; the quota is still checked, as for the create itself)."""
        context = base.context()
        policy.authorize(context, "cluster:create")
        data = base.request_json()
        dry_run = pop_dry_run(data)
        cluster, nodegroups, values = self._new_cluster(context, data)
        if dry_run:
            return base.Answer(self._create_dry_run(context, cluster, nodegroups), 200)
        cluster_operation.start_create(context, cluster, nodegroups, params={
            "create_timeout": values["create_timeout"]})
        self._cast(context, cluster, "cluster_create", fields.ClusterStatus.CREATE_FAILED,
                   create_timeout=values["create_timeout"])
        return {"uuid": cluster.uuid}

    @base.expose(status=202)
    def patch(self, ident: str) -> dict:
        """Resize the default worker nodegroup (`/node_count`); 202 with the uuid. The cluster
        is looked up (404) and the policy checked (403) before the patch is read."""
        context = base.context()
        base.see_all_projects(context, "cluster:update_all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "cluster:update", target(cluster))
        rollback = collection.query_param("rollback")
        if rollback is not None:
            if not versions.at_least("1.3"):
                raise types.invalid("rollback", "needs API version 1.3 or newer.")
            rollback = types.check_bool("rollback", rollback)
        operations = patch.parse(base.request_json())
        node_count = None
        for operation in operations:
            if operation.path != ("node_count",):
                raise types.invalid(operation.field[:80], "cannot be updated; only "
                                                          "node_count can.")
            if operation.op == "remove":
                raise types.invalid("node_count", "cannot be removed.")
            node_count = types.check_value("node_count", types.attribute(
                Cluster, "node_count").datatype, operation.value)
        if node_count == 0 and not versions.at_least("1.10"):
            raise types.invalid("node_count", "0 needs API version 1.10 or newer.")
        start_update(context, cluster, "cluster.update", params={
            "node_count": node_count, "rollback": bool(rollback)})
        self._cast(context, cluster, "cluster_update", fields.ClusterStatus.UPDATE_FAILED,
                   node_count=node_count, rollback=bool(rollback))
        return {"uuid": cluster.uuid}

    @base.expose(status=204)
    def delete(self, ident: str) -> None:
        """Delete a cluster; 204. Deleting a cluster already being deleted starts no new
        operation: its conductor drives the delete again (one stuck in Heat, or one whose
        conductor went away)."""
        context = base.context()
        base.see_all_projects(context, "cluster:delete_all_projects")
        cluster = objects.Cluster.get(context, ident)
        policy.authorize(context, "cluster:delete", target(cluster))
        if cluster.status == fields.ClusterStatus.DELETE_IN_PROGRESS:
            try:
                pecan.request.rpcapi.cluster_delete(context, cluster_uuid=cluster.uuid)
            except Exception as err:
                # The delete under way goes on: only this nudge is lost.
                LOG.warning("Cluster %s: cannot reach the conductor to delete it again: %s",
                            cluster.uuid, err)
                raise exception.ServiceUnavailable(
                    what="The conductor", reason=f"it could not be reached: "
                                                 f"{type(err).__name__}") from err
            return None
        cluster_operation.start(context, cluster, states.Kind.DELETE, "cluster.delete")
        self._cast(context, cluster, "cluster_delete", fields.ClusterStatus.DELETE_FAILED)
        return None

