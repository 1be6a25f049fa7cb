"""Regenerate the provider templates from the real resource types' schemas.

Run with the interpreter of a venv that has ``openstack-heat==27.0.1`` (not the project's)::

    /tmp/heatsrc/bin/python sandbox/magnum_lite_sandbox/templates/generate.py

Each template takes one parameter per property of the real type (with the type Heat's facade
check demands: a List property is a ``comma_delimited_list``, a Map a ``json``), creates no
resources, and has one output per attribute of the real type (``show`` included) plus
``OS::stack_id``, so that ``get_resource`` yields an id. The outputs are plausible: ids are the
nested stack's id, addresses and MACs are derived from it, names come from the ``name``
property or the stack name, and properties echo back where the real attribute would.
"""

import collections.abc  # noqa: F401  (yaql, imported by heat, needs it loaded)
import importlib
import importlib.util
import json
import os
import sys

from heat.engine import attributes, properties
from heat.engine import resource as heat_resource
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def _simulated_types() -> dict[str, str]:
    """The type list of simulation.py, loaded by path: importing magnum_lite_sandbox (and so
    magnum_lite) would select oslo.service's backend, which Heat's import has already done."""
    spec = importlib.util.spec_from_file_location(
        "_sandbox_simulation", os.path.join(os.path.dirname(HERE), "simulation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SIMULATED_TYPES


SIMULATED_TYPES = _simulated_types()

HOT_VERSION = "2018-08-31"  # queens: has conditions, if, yaql, digest

MODULES = {
    "OS::Nova::Server": "nova.server",
    "OS::Nova::ServerGroup": "nova.server_group",
    "OS::Nova::KeyPair": "nova.keypair",
    "OS::Neutron::Net": "neutron.net",
    "OS::Neutron::Subnet": "neutron.subnet",
    "OS::Neutron::Port": "neutron.port",
    "OS::Neutron::Router": "neutron.router",
    "OS::Neutron::RouterInterface": "neutron.router",
    "OS::Neutron::SecurityGroup": "neutron.security_group",
    "OS::Neutron::SecurityGroupRule": "neutron.security_group_rule",
    "OS::Neutron::FloatingIP": "neutron.floatingip",
    "OS::Neutron::FloatingIPAssociation": "neutron.floatingip",
    "OS::Octavia::LoadBalancer": "octavia.loadbalancer",
    "OS::Octavia::Listener": "octavia.listener",
    "OS::Octavia::Pool": "octavia.pool",
    "OS::Octavia::PoolMember": "octavia.pool_member",
    "OS::Octavia::HealthMonitor": "octavia.health_monitor",
    "OS::Cinder::Volume": "cinder.volume",
    "OS::Cinder::VolumeAttachment": "cinder.volume",
}

PARAM_TYPES = {
    properties.Schema.STRING: "string",
    properties.Schema.INTEGER: "number",
    properties.Schema.NUMBER: "number",
    properties.Schema.BOOLEAN: "boolean",
    properties.Schema.LIST: "comma_delimited_list",
    properties.Schema.MAP: "json",
}
EMPTY = {"string": "", "number": 0, "boolean": False, "comma_delimited_list": [], "json": {}}

STACK_ID = {"get_param": "OS::stack_id"}
NAME = {"if": ["has_name", {"get_param": "name"}, {"get_param": "OS::stack_name"}]}

# 10.a.b.c from the first six hex digits of a uuid (c kept in 3..252).
_OCTET = "($h.indexOf($s.substring({0},1))*16 + $h.indexOf($s.substring({1},1)))"
_IP_EXPR = (
    "let(h => '0123456789abcdef', s => $.data.s) -> concat('10.', str(" + _OCTET.format(0, 1)
    + "), '.', str(" + _OCTET.format(2, 3) + "), '.', str(" + _OCTET.format(4, 5)
    + " mod 250 + 3))"
)
_MAC_EXPR = ("concat('fa:16:3e:', $.data.s.substring(0,2), ':', $.data.s.substring(2,2), ':',"
             " $.data.s.substring(4,2))")


def ip_of(value: object) -> dict:
    """A yaql function giving a private IPv4 address derived from a uuid."""
    return {"yaql": {"expression": _IP_EXPR, "data": {"s": value}}}


IP = ip_of(STACK_ID)
MAC = {"yaql": {"expression": _MAC_EXPR, "data": {"s": STACK_ID}}}


def param(name: str) -> dict:
    """The value of a template parameter (the real type's property of that name)."""
    return {"get_param": name}


def overrides(type_name: str) -> dict:
    """Type-specific outputs where a generic guess would be implausible."""
    net_name = "private"  # the network a simulated server reports its address on
    if type_name == "OS::Nova::Server":
        addr = {"addr": IP, "version": 4, "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": MAC}
        return {
            "first_address": IP,
            "accessIPv4": IP,
            "accessIPv6": "",
            "networks": {net_name: [IP]},
            "addresses": {net_name: [addr]},
            "instance_name": {"str_replace": {"template": "instance-ID",
                                              "params": {"ID": STACK_ID}}},
            "console_urls": {},
            "os_collect_config": {},
            "tags": param("tags"),
            "show": {"id": STACK_ID, "name": NAME, "status": "ACTIVE",
                     "flavor": {"original_name": param("flavor")},
                     "image": {"id": param("image")}, "key_name": param("key_name"),
                     "addresses": {net_name: [addr]}, "metadata": param("metadata")},
        }
    if type_name == "OS::Neutron::Port":
        fixed = [{"subnet_id": STACK_ID, "ip_address": IP}]
        return {"fixed_ips": fixed, "mac_address": MAC, "network_id": param("network"),
                "network": {"id": param("network")}, "device_id": param("device_id"),
                "device_owner": param("device_owner"), "subnets": [],
                "security_groups": param("security_groups"),
                "dns_assignment": {"hostname": NAME, "ip_address": IP, "fqdn": ""},
                "show": {"id": STACK_ID, "name": NAME, "status": "ACTIVE", "mac_address": MAC,
                         "network_id": param("network"), "fixed_ips": fixed}}
    if type_name == "OS::Neutron::Subnet":
        return {"network_id": param("network"), "cidr": param("cidr"),
                "gateway_ip": param("gateway_ip"), "ip_version": param("ip_version"),
                "enable_dhcp": param("enable_dhcp"),
                "dns_nameservers": param("dns_nameservers"),
                "show": {"id": STACK_ID, "name": NAME, "cidr": param("cidr"),
                         "network_id": param("network"), "ip_version": param("ip_version")}}
    if type_name == "OS::Neutron::Net":
        return {"mtu": 1450, "subnets": [], "segments": [], "l2_adjacency": True}
    if type_name == "OS::Neutron::Router":
        return {"external_gateway_info": param("external_gateway_info")}
    if type_name == "OS::Neutron::FloatingIP":
        # 127.a.b.c from the private 10.a.b.c: Linux routes all of 127/8 to loopback, so the
        # sandbox agent can serve a cluster's API there without privileges.
        fip = {"yaql": {"expression": "concat('127.', $.data.ip.split('.')[1], '.',"
                                      " $.data.ip.split('.')[2], '.', $.data.ip.split('.')[3])",
                        "data": {"ip": IP}}}
        return {"floating_ip_address": fip, "floating_network_id": param("floating_network"),
                "port_id": param("port_id"), "fixed_ip_address": param("fixed_ip_address"),
                "router_id": "",
                "show": {"id": STACK_ID, "floating_ip_address": fip, "status": "ACTIVE",
                         "port_id": param("port_id")}}
    if type_name == "OS::Octavia::LoadBalancer":
        return {"vip_address": IP, "vip_port_id": STACK_ID, "vip_subnet_id": param("vip_subnet"),
                "flavor_id": param("flavor"), "pools": [],
                "show": {"id": STACK_ID, "name": NAME, "vip_address": IP,
                         "vip_port_id": STACK_ID, "provisioning_status": "ACTIVE",
                         "operating_status": "ONLINE"}}
    if type_name == "OS::Octavia::Listener":
        return {"default_pool_id": param("default_pool"),
                "loadbalancers": [{"id": param("loadbalancer")}]}
    if type_name == "OS::Octavia::Pool":
        return {"listeners": [{"id": param("listener")}], "members": [],
                "healthmonitor_id": ""}
    if type_name == "OS::Octavia::HealthMonitor":
        return {"pools": [{"id": param("pool")}]}
    if type_name == "OS::Cinder::Volume":
        return {"status": "available", "size": param("size"), "attachments": "[]",
                "attachments_list": [], "display_name": NAME,
                "display_description": param("description"), "bootable": False,
                "encrypted": False, "multiattach": False, "metadata": "{}",
                "metadata_values": param("metadata"), "volume_type": param("volume_type"),
                "availability_zone": param("availability_zone"),
                "created_at": "2026-01-01T00:00:00.000000"}
    if type_name == "OS::Nova::KeyPair":
        return {"public_key": param("public_key"), "private_key": ""}
    return {}


def generic_output(attr: str, schema: attributes.Schema, params: dict) -> object:
    """A plausible value for an attribute with no override."""
    if attr == "tenant_id":
        return {"get_param": "OS::project_id"}
    if attr == "id":
        return STACK_ID
    if attr.endswith("_id") and attr not in params:
        return ""
    if attr == "name" or attr.endswith("_name"):
        return NAME
    if attr in params:
        return param(attr)
    if attr == "status":
        return "ACTIVE"
    if attr.endswith("_address") or attr.endswith("_ip"):
        return IP
    if attr == "admin_state_up":
        return True
    return {
        attributes.Schema.LIST: [], attributes.Schema.MAP: {},
        attributes.Schema.BOOLEAN: False, attributes.Schema.INTEGER: 0,
        attributes.Schema.NUMBER: 0,
    }.get(schema.type, "")


def template_for(type_name: str) -> dict:
    """The provider template for one real type."""
    module = importlib.import_module("heat.engine.resources.openstack." + MODULES[type_name])
    cls = module.resource_mapping()[type_name]
    params: dict = {}
    for pname, pschema in sorted(properties.schemata(cls.properties_schema).items()):
        ptype = PARAM_TYPES[pschema.type]
        p: dict = {"type": ptype}
        if pschema.description:
            p["description"] = " ".join(str(pschema.description).split())
        if not pschema.required:
            default = pschema.default
            if default is None or isinstance(default, (list, dict)) and not default:
                default = EMPTY[ptype]
            p["default"] = default
        params[pname] = p

    attrs = dict(heat_resource.Resource.base_attributes_schema)
    attrs.update(cls.attributes_schema)
    special = overrides(type_name)
    outputs: dict = {}
    for aname, aschema in sorted(attributes.schemata(attrs).items()):
        if aname in special:
            value = special[aname]
        elif aname == "show":
            value = {"id": STACK_ID, "name": NAME, "status": "ACTIVE"}
        else:
            value = generic_output(aname, aschema, params)
        outputs[aname] = {"value": value}
    outputs["OS::stack_id"] = {"value": STACK_ID}

    tmpl: dict = {
        "heat_template_version": HOT_VERSION,
        "description": f"Sandbox simulation of {type_name}: no resources, plausible outputs "
                       f"(generated by generate.py from openstack-heat 27.0.1).",
        "parameters": params,
    }
    if "name" in params:
        tmpl["conditions"] = {"has_name": {"not": {"equals": [param("name"), ""]}}}
    else:
        _strip_name(outputs)
    tmpl["resources"] = {}
    if type_name == "OS::Nova::Server":
        _add_fault_flavors(tmpl)
    tmpl["outputs"] = outputs
    return tmpl


# Flavors that make a simulated server misbehave, for tests of what a cluster does then:
# FAIL_FLAVOR fails the server's create (as Nova's "No valid host" would), HANG_FLAVOR never
# finishes it (the stack then runs into its timeout). Both are in the stand-in Nova's flavors.
FAIL_FLAVOR = "sandbox.fail"
HANG_FLAVOR = "sandbox.hang"


def _add_fault_flavors(tmpl: dict) -> None:
    tmpl.setdefault("conditions", {}).update({
        "fail_requested": {"equals": [param("flavor"), FAIL_FLAVOR]},
        "hang_requested": {"equals": [param("flavor"), HANG_FLAVOR]},
    })
    tmpl["resources"].update({
        "no_valid_host": {"type": "OS::Heat::TestResource", "condition": "fail_requested",
                          "properties": {"fail": True}},
        "never_active": {"type": "OS::Heat::TestResource", "condition": "hang_requested",
                         "properties": {"action_wait_secs": {"create": 86400}}},
    })


def _strip_name(outputs: dict) -> None:
    """Without a name property, names come from the stack name alone."""
    for out in outputs.values():
        out["value"] = _replace(out["value"])


def _replace(value: object) -> object:
    """``value`` with every NAME expression replaced by the stack name."""
    if value == NAME:
        return {"get_param": "OS::stack_name"}
    if isinstance(value, dict):
        return {k: _replace(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v) for v in value]
    return value


def _check_params(tmpl: dict, type_name: str) -> None:
    """Every get_param must name a declared parameter (or a pseudo one)."""
    def walk(v: object) -> None:
        if isinstance(v, dict):
            if set(v) == {"get_param"}:
                name = v["get_param"]
                if not name.startswith("OS::") and name not in tmpl["parameters"]:
                    raise SystemExit(f"{type_name}: get_param {name} is not a parameter")
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(tmpl["outputs"])


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors and aliases, which make the templates hard to read."""

    def ignore_aliases(self, data: object) -> bool:
        return True


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s))


def schema_record(type_name: str) -> dict:
    """The real type's property types and attribute names, as Heat reports them; kept in
    schemas.json so the unit tests can check the templates without Heat installed."""
    module = importlib.import_module("heat.engine.resources.openstack." + MODULES[type_name])
    cls = module.resource_mapping()[type_name]
    attrs = dict(heat_resource.Resource.base_attributes_schema)
    attrs.update(cls.attributes_schema)
    return {
        "properties": {n: {"type": s.type, "required": bool(s.required)}
                       for n, s in sorted(properties.schemata(cls.properties_schema).items())},
        "attributes": sorted(attrs),
    }


def check_with_heat(path: str) -> dict:
    """Validates a written template with Heat's own parser and resolves its outputs, as
    the engine would for a nested stack; returns the output values."""
    import uuid

    from heat.common import context, identifier, template_format
    from heat.engine import environment, resources, template
    from heat.engine import stack as heat_stack

    resources.initialise()
    with open(path, encoding="utf-8") as f:
        tmpl = template_format.parse(f.read())
    samples = {"string": "x", "number": 1, "boolean": True,
               "comma_delimited_list": "a,b", "json": {}}
    params = {n: samples[p["type"]] for n, p in tmpl["parameters"].items() if "default" not in p}
    ctx = context.RequestContext(user_id="u", project_id="p", auth_token="t")
    stack = heat_stack.Stack(ctx, "check", template.Template(
        tmpl, env=environment.Environment(params)))
    stack.id = str(uuid.uuid4())
    stack.parameters.set_stack_id(identifier.HeatIdentifier("p", "check", stack.id))
    stack.validate()
    return {name: out.get_value() for name, out in stack.outputs.items()}


def main() -> None:
    from oslo_config import cfg

    cfg.CONF([], project="heat", default_config_files=[])
    records = {}
    for type_name, filename in SIMULATED_TYPES.items():
        records[type_name] = schema_record(type_name)
        tmpl = template_for(type_name)
        _check_params(tmpl, type_name)
        with open(os.path.join(HERE, filename), "w", encoding="utf-8") as f:
            f.write("# Generated by generate.py; edit that, not this file.\n")
            yaml.dump(tmpl, f, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                      width=100)
        values = check_with_heat(os.path.join(HERE, filename))
        if values["OS::stack_id"] != values["show"]["id"]:
            raise SystemExit(f"{type_name}: show.id is not the stack id")
    with open(os.path.join(HERE, "schemas.json"), "w", encoding="utf-8") as f:
        json.dump({"heat": "openstack-heat 27.0.1", "types": records}, f, indent=1,
                  sort_keys=True)
        f.write("\n")
    sys.stdout.write(f"wrote {len(SIMULATED_TYPES)} templates and schemas.json to {HERE}\n")


if __name__ == "__main__":
    main()
