"""/v1/clustertemplates: how clusters of one kind are built.

As in Magnum, a list shows every field of each template (only clusters and nodegroups have a
short list form), and a template's `keypair_id` is not checked against Nova: keypairs belong to
users, and each user of a shared template has a keypair of that name; the cluster create checks
the keypair of the user who creates it.
"""

from __future__ import annotations

import types as types_ns
from typing import Any

from oslo_utils import uuidutils
import pecan
import wsme
from wsme import types as wtypes

from magnum_lite import objects
from magnum_lite.api.controllers import base, link
from magnum_lite.api.controllers.v1 import collection, patch, types
from magnum_lite.common import baremetal, cloud_validation, driver_factory, exception, policy
from magnum_lite.objects import fields

RESOURCE = "clustertemplates"

# Network and volume drivers each COE supports (Magnum's); the first network driver is the
# default of a template that names none.
NETWORK_DRIVERS = {
    fields.ClusterType.KUBERNETES: ("flannel", "calico"),
    fields.ClusterType.SWARM_MODE: ("docker", "flannel"),
    fields.ClusterType.MESOS: ("docker",),
}
VOLUME_DRIVERS = {
    fields.ClusterType.KUBERNETES: ("cinder",),
    fields.ClusterType.SWARM_MODE: ("rexray",),
    fields.ClusterType.MESOS: ("rexray",),
}


def _name_type(max_length: int = 255, min_length: int = 1) -> wtypes.StringType:
    return wtypes.StringType(min_length=min_length, max_length=max_length)


class ClusterTemplate(base.APIBase):
    """A cluster template: the COE, image, flavors and network of the clusters made from it."""

    uuid = wsme.wsattr(types.uuid, readonly=True)
    """The unique id of the template."""

    name = _name_type()
    """The name of the template (names need not be unique; a uuid always is)."""

    coe = wsme.wsattr(wtypes.Enum(str, *fields.ClusterType.ALL), mandatory=True)
    """The container orchestration engine: kubernetes, swarm-mode or mesos."""

    image_id = wsme.wsattr(_name_type(), mandatory=True)
    """The Glance image (name or id) the nodes boot from."""

    flavor_id = _name_type()
    """The Nova flavor of the worker nodes."""

    master_flavor_id = _name_type()
    """The Nova flavor of the master nodes."""

    dns_nameserver = types.dns_list
    """The DNS servers of the cluster network (comma separated IP addresses)."""

    keypair_id = _name_type()
    """The Nova keypair installed on the nodes."""

    external_network_id = _name_type()
    """The Neutron network floating IPs come from."""

    fixed_network = _name_type()
    """The Neutron network of the nodes (created when not given)."""

    fixed_subnet = _name_type()
    """The Neutron subnet of the nodes (created when not given)."""

    network_driver = _name_type()
    """The container network driver (see NETWORK_DRIVERS; the COE's first one by default)."""

    volume_driver = _name_type()
    """The container volume driver (kubernetes: cinder; swarm-mode, mesos: rexray)."""

    apiserver_port = wtypes.IntegerType(minimum=1024, maximum=65535)
    """The port of the COE's API server."""

    docker_volume_size = wtypes.IntegerType(minimum=1, maximum=types.MAX_INT)
    """The size in GB of the Cinder volume for container storage on each node."""

    docker_storage_driver = _name_type()
    """The Docker storage driver (overlay2, devicemapper, ...)."""

    cluster_distro = _name_type()
    """The OS of the image (Glance's os_distro property when the image has one)."""

    links = wsme.wsattr([link.Link], readonly=True)
    """The self and bookmark links of the template."""

    http_proxy = _name_type()
    """The proxy the nodes send HTTP requests through (a URL with a port)."""

    https_proxy = _name_type()
    """The proxy the nodes send HTTPS requests through (a URL with a port)."""

    no_proxy = _name_type()
    """Comma separated hosts and addresses the nodes reach without a proxy."""

    registry_enabled = wsme.wsattr(types.boolean, default=False)
    """Whether the clusters run a Docker registry."""

    labels = types.labels
    """Key/value settings passed to the driver."""

    tls_disabled = wsme.wsattr(types.boolean, default=False)
    """Whether the COE API of the clusters is served without TLS."""

    public = wsme.wsattr(types.boolean, default=False)
    """Whether every project may use the template (admins only)."""

    server_type = wsme.wsattr(wtypes.Enum(str, *fields.ServerType.ALL), default="vm")
    """The kind of server of the nodes: vm (Nova) or bm (Ironic)."""

    insecure_registry = _name_type()
    """A Docker registry the nodes may use without TLS."""

    master_lb_enabled = wsme.wsattr(types.boolean, default=False)
    """Whether the clusters have a load balancer in front of their masters."""

    floating_ip_enabled = wsme.wsattr(types.boolean, default=True)
    """Whether the nodes get floating IPs."""

    project_id = wsme.wsattr(wtypes.text, readonly=True)
    """The project that owns the template."""

    user_id = wsme.wsattr(wtypes.text, readonly=True)
    """The user who created the template."""

    hidden = wsme.wsattr(types.boolean, default=False)
    """Whether the template is left out of lists (admins only)."""

    tags = _name_type(min_length=0)
    """Comma separated tags."""

    driver = _name_type(min_length=0)
    """The name of the driver that builds the clusters (chosen from the image when empty)."""


FIELDS = tuple(name for name in base.attribute_names(ClusterTemplate) if name != "links")
WRITABLE = tuple(name for name in FIELDS
                 if not types.attribute(ClusterTemplate, name).readonly)
READ_ONLY = frozenset({"id", "links", *(name for name in FIELDS if name not in WRITABLE)})
# Fields a patch may not remove (Magnum's ClusterTemplatePatchType: its mandatory fields and
# these); the others fall back to their default, or null.
NON_REMOVABLE = frozenset({"coe", "image_id", "network_driver", "external_network_id",
                           "tls_disabled", "public", "server_type", "registry_enabled",
                           "cluster_distro", "hidden"})
SORT_KEYS = ("id",) + tuple(name for name in FIELDS if name != "labels")
# Fields naming cloud resources: checked against the cloud when they change (not keypair_id:
# keypairs are per user, checked at cluster create as Magnum does).
_CLOUD_FIELDS = ("image_id", "flavor_id", "master_flavor_id", "external_network_id",
                 "fixed_network", "fixed_subnet")


def convert(template: objects.ClusterTemplate, names: tuple[str, ...] = FIELDS,
            base_url: str | None = None) -> dict:
    document = base.to_dict(template, names)
    document["links"] = link.self_and_bookmark(RESOURCE, template.uuid, base_url)
    return document


def _check_drivers(values: dict) -> None:
    """network_driver and volume_driver must suit the COE; a missing network driver defaults."""
    coe = values["coe"]
    allowed = NETWORK_DRIVERS[coe]
    if not values.get("network_driver"):
        values["network_driver"] = allowed[0]
    elif values["network_driver"] not in allowed:
        raise types.invalid("network_driver", f"{types.quote(values['network_driver'])} is "
                                              f"not supported by {coe}; choose one of "
                                              f"{', '.join(allowed)}.")
    volume_driver = values.get("volume_driver")
    if volume_driver and volume_driver not in VOLUME_DRIVERS[coe]:
        raise types.invalid("volume_driver", f"{types.quote(volume_driver)} is not supported "
                                             f"by {coe}; choose one of "
                                             f"{', '.join(VOLUME_DRIVERS[coe])}.")


def _check_baremetal(values: dict) -> None:
    """A baremetal template must not ask for volumes, floating IPs or a network of its own
    (400 naming the field); the same check the drivers make of a cluster's overrides."""
    baremetal.check(values.get("server_type"),
                    docker_volume_size=values.get("docker_volume_size"),
                    fixed_network=values.get("fixed_network"),
                    floating_ip_enabled=values.get("floating_ip_enabled"))


def _as_template(values: dict) -> types_ns.SimpleNamespace:
    """`values` read as a template (unset fields None), for what reads templates."""
    return types_ns.SimpleNamespace(**{**dict.fromkeys(objects.ClusterTemplate.fields),
                                       **values})


def _check_buildable(context: Any, values: dict) -> None:
    """Some installed driver must build the template's clusters (Magnum accepts any), and
    its plugin must accept the template's settings."""
    if values.get("driver"):
        try:
            driver = objects.Driver.for_template(context, _as_template(values))
        except exception.DriverNotFound as err:
            raise types.invalid("driver", f"{types.quote(values['driver'])} names no enabled "
                                          f"driver.") from err
        _name, plugin, config = driver_factory.plugin_for(driver, None)
        if plugin is not None:
            plugin(config).validate_template(_as_template(values))
        return
    server_type, distro, coe = (values.get("server_type"), values.get("cluster_distro"),
                                values.get("coe"))
    triples = objects.Driver.provided_triples()
    if not distro:
        # The image says no OS (or no Glance was asked): the OS of the only driver that builds
        # this COE on this server type, if there is just one.
        oses = {os for st, os, c in triples if (st, c) == (server_type, coe)}
        if len(oses) == 1:
            values["cluster_distro"] = distro = oses.pop()
    template = _as_template(values)
    _name, plugin, config = driver_factory.plugin_for(None, template)
    if plugin is not None:
        plugin(config).validate_template(template)
        return
    provided = ", ".join(f"({', '.join(t)})" for t in triples)
    if not distro:
        raise types.invalid("image_id", "the image says no os_distro, so no driver can be "
                                        "chosen; set cluster_distro. Installed drivers build "
                                        f"(server_type, os, coe): {provided or 'none'}.")
    raise types.invalid("cluster_distro", f"no installed driver builds {coe} clusters on "
                                          f"{distro} ({server_type}); installed drivers build "
                                          f"(server_type, os, coe): {provided or 'none'}.")


def _check_cloud_resources(context: Any, values: dict, names: set[str]) -> None:
    """The images, flavors and networks among `names` exist for the caller."""
    validator = cloud_validation.get_validator()
    if "image_id" in names and values.get("image_id"):
        image = validator.image(context, values["image_id"])
        if image.os_distro:
            values["cluster_distro"] = image.os_distro
    for name in ("flavor_id", "master_flavor_id"):
        if name in names and values.get(name):
            validator.flavor(context, values[name], name)
    if "external_network_id" in names and values.get("external_network_id"):
        validator.network(context, values["external_network_id"], "external_network_id",
                          external=True)
    if "fixed_network" in names and values.get("fixed_network"):
        validator.network(context, values["fixed_network"], "fixed_network")
    if "fixed_subnet" in names and values.get("fixed_subnet"):
        validator.subnet(context, values["fixed_subnet"], "fixed_subnet")


def _check_publish(context: Any) -> None:
    if not policy.authorize(context, "clustertemplate:publish", do_raise=False):
        raise exception.ClusterTemplatePublishDenied()


def _target(context: Any, template: objects.ClusterTemplate) -> dict:
    # A public template is readable by every project: check the caller's own role.
    project = context.project_id if template.public else template.project_id
    return {"project_id": project, "user_id": template.user_id}


class ClusterTemplatesController(base.RestController):
    """GET, POST, PATCH and DELETE of cluster templates."""

    _custom_actions = {"detail": ["GET"]}

    def _list(self, rule: str, resource: str) -> dict:
        context = base.context()
        policy.authorize(context, rule)
        base.see_all_projects(context, rule + "_all_projects")
        page = collection.page(SORT_KEYS)
        templates = objects.ClusterTemplate.list(context, page.limit, page.marker,
                                                 page.sort_key, page.sort_dir)
        url = link.base_url()
        document: dict[str, Any] = {
            "clustertemplates": [convert(t, FIELDS, url) for t in templates]}
        next_url = collection.next_link(resource, templates, page)
        if next_url:
            document["next"] = next_url
        return document

    @base.expose()
    def get_all(self) -> dict:
        """The templates the caller may use, with all their fields (as Magnum lists them)."""
        return self._list("clustertemplate:get_all", RESOURCE)

    @base.expose()
    def detail(self) -> dict:
        """The templates the caller may use, with all their fields."""
        return self._list("clustertemplate:detail", RESOURCE + "/detail")

    @base.expose()
    def get_one(self, ident: str) -> dict:
        """One template, by uuid or name."""
        context = base.context()
        base.see_all_projects(context, "clustertemplate:get_one_all_projects")
        template = objects.ClusterTemplate.get(context, ident)
        policy.authorize(context, "clustertemplate:get", _target(context, template))
        return convert(template)

    @base.expose(status=201)
    def post(self) -> dict:
        """Create a template; 201 with the whole template."""
        context = base.context()
        policy.authorize(context, "clustertemplate:create")
        values = types.parse_object(ClusterTemplate, base.request_json())
        if values.get("public") or values.get("hidden"):
            _check_publish(context)
        _check_drivers(values)
        _check_baremetal(values)
        _check_cloud_resources(context, values, set(values))
        _check_buildable(context, values)
        if not values.get("name"):
            values["name"] = f"{values['coe']}-template-{uuidutils.generate_uuid()[:8]}"
        template = objects.ClusterTemplate(context, project_id=context.project_id,
                                           user_id=context.user_id, **values)
        template.create()
        pecan.response.location = link.build_url(RESOURCE, template.uuid)
        return convert(template)

    @base.expose()
    def patch(self, ident: str) -> dict:
        """Change a template with a JSON patch; 200 with the whole template. The template is
        looked up (404) and the policy checked (403) before the patch is read."""
        context = base.context()
        base.see_all_projects(context, "clustertemplate:update_all_projects")
        template = objects.ClusterTemplate.get(context, ident)
        policy.authorize(context, "clustertemplate:update",
                         {"project_id": template.project_id, "user_id": template.user_id})
        operations = patch.parse(base.request_json())
        for operation in operations:
            if operation.op == "remove" and operation.path == (operation.field,) and \
                    operation.field in NON_REMOVABLE:
                raise types.invalid(operation.field, "is a mandatory attribute and cannot be "
                                                     "removed.")

        current = {name: getattr(template, name) for name in WRITABLE}
        patched = patch.apply(current, operations, read_only=READ_ONLY)
        changed = {name for name in WRITABLE if patched[name] != current[name]}
        values = dict(current)
        for name in sorted(changed):
            attr = types.attribute(ClusterTemplate, name)
            if patched[name] is None:
                if attr.mandatory:
                    raise types.invalid(name, "this field is required and cannot be removed.")
                values[name] = None if attr.default is wtypes.Unset else attr.default
            else:
                values[name] = types.check_value(name, attr.datatype, patched[name])
        if values["public"] != template.public or values["hidden"] != template.hidden:
            _check_publish(context)
        _check_drivers(values)
        _check_baremetal(values)
        _check_cloud_resources(context, values,
                               {n for n in _CLOUD_FIELDS if values[n] != current[n]})
        if {"driver", "server_type", "cluster_distro", "coe", "image_id",
                "docker_storage_driver"} & changed:
            _check_buildable(context, values)
        for name in WRITABLE:
            if values[name] != current[name]:
                setattr(template, name, values[name])
        if template.obj_what_changed():
            template.save()
        return convert(template)

    @base.expose(status=204)
    def delete(self, ident: str) -> None:
        """Delete a template that no cluster uses; 204."""
        context = base.context()
        base.see_all_projects(context, "clustertemplate:delete_all_projects")
        template = objects.ClusterTemplate.get(context, ident)
        policy.authorize(context, "clustertemplate:delete",
                         {"project_id": template.project_id, "user_id": template.user_id})
        template.destroy()
