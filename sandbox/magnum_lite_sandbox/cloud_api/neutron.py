"""Neutron v2.0: networks, subnets, ports and floating IPs, owned by projects.

A project sees its own objects, and networks that are shared or external (as with Neutron's
default policy); admin sees all. Lists take Neutron's equality filters (repeatable: any value
matches), `fields`, and `limit`/`marker` with `<collection>_links`; errors are
`{"NeutronError": {"type", "message", "detail"}}`.
"""

import ipaddress
import random
from typing import Any, ClassVar
from urllib import parse
import uuid

import webob

from magnum_lite_sandbox.cloud_api import base
from magnum_lite_sandbox.cloud_api.store import Store, iso, utc_now

MAX_LIMIT = 1000
_LIST_PARAMS = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
_TITLES = {"networks": "Network", "subnets": "Subnet", "ports": "Port",
           "floatingips": "FloatingIP"}
# Attributes a client may set on create; admin-only ones are checked separately.
_CREATABLE: dict[str, set[str]] = {
    "networks": {"name", "admin_state_up", "shared", "router:external", "mtu", "description",
                 "port_security_enabled", "project_id", "tenant_id", "tags"},
    "subnets": {"name", "network_id", "cidr", "ip_version", "gateway_ip", "enable_dhcp",
                "dns_nameservers", "description", "project_id", "tenant_id", "tags"},
    "ports": {"name", "network_id", "fixed_ips", "device_id", "device_owner", "admin_state_up",
              "mac_address", "description", "security_groups", "project_id", "tenant_id",
              "binding:vnic_type", "port_security_enabled", "allowed_address_pairs", "tags"},
    "floatingips": {"floating_network_id", "port_id", "fixed_ip_address", "description",
                    "project_id", "tenant_id", "floating_ip_address", "tags"},
}
# Attributes no client sets but every list may filter on.
_READ_ONLY = {"id", "status", "revision_number", "created_at", "updated_at"}
# The extensions whose attributes and behaviour this stand-in has: (alias, name).
_EXTENSIONS = [
    ("external-net", "Neutron external network"), ("project-id", "project_id field enabled"),
    ("net-mtu", "Network MTU"), ("port-security", "Port Security"),
    ("standard-attr-description", "standard-attr-description"),
    ("standard-attr-timestamp", "Resource timestamps"),
    ("standard-attr-revisions", "Resource revision numbers"),
    ("filter-validation", "Filter parameters validation"), ("pagination", "Pagination support"),
]
# Ports that only the L3 service may delete (through their floating IP or router).
_L3_OWNERS = ("network:floatingip", "network:router_interface", "network:router_gateway")
_COLLECTION_RE = "networks|subnets|ports|floatingips"


def not_found(collection: str, obj_id: str) -> base.ApiError:
    title = _TITLES[collection]
    return base.ApiError(404, f"{title} {obj_id} could not be found.", f"{title}NotFound")


def network_visible(network: dict, who: base.Identity) -> bool:
    return who.owns(network) or network["shared"] or network["router:external"]


def create_port(store: Store, who: base.Identity, data: dict[str, Any]) -> dict:
    """A port on a visible network, with an address from its first (or the named) subnet.

    Shared with Octavia, which makes a VIP port for every load balancer.
    """
    network_id = data.get("network_id")
    if not network_id:
        raise base.ApiError(400, "Failed to parse request. Required attribute 'network_id' not "
                                 "specified", "HTTPBadRequest")
    project_id = str(data.get("project_id") or data.get("tenant_id") or who.project_id)
    if project_id != who.project_id and not who.is_admin:
        raise base.ApiError(403, "(rule:create_port and rule:create_port:project_id) is "
                                 "disallowed by policy", "PolicyNotAuthorized")
    with store.lock:
        network = store.networks.get(network_id)
        if network is None or not network_visible(network, who):
            raise not_found("networks", network_id)
        fixed_ips = []
        requested = data.get("fixed_ips")
        if requested is None:
            requested = [{"subnet_id": sid} for sid in network["subnets"][:1]]
        if not isinstance(requested, list):
            raise base.ApiError(400, "Invalid input for fixed_ips. Reason: must be a list.",
                                "HTTPBadRequest")
        for item in requested:
            subnet_id = item.get("subnet_id") if isinstance(item, dict) else None
            if subnet_id not in network["subnets"]:
                raise base.ApiError(400, f"Invalid input for operation: Failed to create port "
                                         f"on network {network_id}, because fixed_ips "
                                         "included invalid subnet.", "InvalidInput")
            address = item.get("ip_address") or store.allocate_ip(subnet_id)
            fixed_ips.append({"subnet_id": subnet_id, "ip_address": address})
        stamp = iso(utc_now())
        mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))  # noqa: S311
        port = {
            "id": str(uuid.uuid4()), "name": data.get("name", ""), "network_id": network_id,
            "tenant_id": project_id, "project_id": project_id,
            "mac_address": data.get("mac_address", mac),
            "admin_state_up": data.get("admin_state_up", True),
            "status": "ACTIVE" if data.get("device_id") else "DOWN",
            "device_id": data.get("device_id", ""), "device_owner": data.get("device_owner", ""),
            "fixed_ips": fixed_ips, "allowed_address_pairs": data.get("allowed_address_pairs",
                                                                      []),
            "extra_dhcp_opts": [], "security_groups": data.get("security_groups", []),
            "binding:vnic_type": data.get("binding:vnic_type", "normal"),
            "port_security_enabled": data.get("port_security_enabled", True),
            "description": data.get("description", ""), "tags": data.get("tags", []),
            "revision_number": 1, "created_at": stamp, "updated_at": stamp,
        }
        store.ports[port["id"]] = port
        return port


class NeutronApp(base.ServiceApp):
    """The v2.0 API's networks, subnets and ports collections."""

    routes = [
        ("GET", r"/", "versions"),
        ("GET", r"/v2\.0", "resources"),
        ("GET", r"/v2\.0/extensions", "list_extensions"),
        ("GET", r"/v2\.0/extensions/(?P<alias>[^/]+)", "show_extension"),
        ("GET", rf"/v2\.0/(?P<collection>{_COLLECTION_RE})", "list_objects"),
        ("POST", rf"/v2\.0/(?P<collection>{_COLLECTION_RE})", "create_object"),
        ("GET", rf"/v2\.0/(?P<collection>{_COLLECTION_RE})/(?P<obj_id>[^/]+)", "show_object"),
        ("DELETE", rf"/v2\.0/(?P<collection>{_COLLECTION_RE})/(?P<obj_id>[^/]+)",
         "delete_object"),
    ]
    member_names: ClassVar[dict[str, str]] = {
        "networks": "network", "subnets": "subnet", "ports": "port",
        "floatingips": "floatingip"}

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def error_response(self, req: webob.Request, error: base.ApiError) -> webob.Response:
        kind = error.kind or {400: "HTTPBadRequest", 403: "HTTPForbidden", 404: "HTTPNotFound",
                              409: "HTTPConflict"}.get(error.status, "HTTPInternalServerError")
        return base.json_response(
            {"NeutronError": {"type": kind, "message": error.message, "detail": ""}},
            status=error.status)

    def _table(self, collection: str) -> dict[str, dict]:
        return {"networks": self.store.networks, "subnets": self.store.subnets,
                "ports": self.store.ports, "floatingips": self.store.floatingips}[collection]

    def _visible(self, collection: str, obj: dict, who: base.Identity) -> bool:
        if collection == "networks":
            return network_visible(obj, who)
        if collection == "subnets":
            # A subnet of a shared or external network is visible with its network.
            network = self.store.networks.get(obj["network_id"])
            return who.owns(obj) or (network is not None and network_visible(network, who))
        return who.owns(obj)

    def versions(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response({"versions": [
            {"id": "v2.0", "status": "CURRENT",
             "links": [{"rel": "self", "href": f"{req.host_url}/v2.0/"}]}]})

    def resources(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response({"resources": [
            {"name": member, "collection": collection,
             "links": [{"rel": "self", "href": f"{req.host_url}/v2.0/{collection}"}]}
            for collection, member in self.member_names.items()]})

    def list_extensions(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response({"extensions": [self._extension(a, n) for a, n in _EXTENSIONS]})

    def show_extension(self, req: webob.Request, who: base.Identity,
                       alias: str) -> webob.Response:
        for known, name in _EXTENSIONS:
            if known == alias:
                return base.json_response({"extension": self._extension(known, name)})
        raise base.ApiError(404, f"Extension with alias {alias} does not exist",
                            "HTTPNotFound")

    @staticmethod
    def _extension(alias: str, name: str) -> dict:
        return {"alias": alias, "name": name, "description": name,
                "updated": "2013-01-01T10:00:00-00:00", "links": []}

    @staticmethod
    def _select(obj: dict, fields: list[str]) -> dict:
        return {k: v for k, v in obj.items() if k in fields} if fields else dict(obj)

    def list_objects(self, req: webob.Request, who: base.Identity,
                     collection: str) -> webob.Response:
        self.store.ensure_project(who.project_id)
        params = req.GET
        filters: dict[str, list[str]] = {}
        with self.store.lock:
            table = self._table(collection)
            known = _CREATABLE[collection] | _READ_ONLY
            known = known.union(*(obj.keys() for obj in table.values()))
            for key, value in params.items():
                if key in _LIST_PARAMS:
                    continue
                if key not in known:
                    raise base.ApiError(400, f"{key} is invalid attribute for filtering",
                                        "HTTPBadRequest")
                filters.setdefault(key, []).append(value.lower() if value in ("True", "False")
                                                   else value)
            items = [obj for obj in table.values() if self._visible(collection, obj, who)
                     and all(base.as_filter_text(obj[key]) in values
                             for key, values in filters.items())]
            limit = (base.parse_limit(params["limit"], MAX_LIMIT, MAX_LIMIT)
                     if "limit" in params else None)
            chunk, full = base.page(items, params.get("marker"), limit)
            fields = params.getall("fields")
            body: dict[str, Any] = {collection: [self._select(o, fields) for o in chunk]}
        if limit is not None:
            links = []
            if full:
                query = [(k, v) for k, v in params.items() if k != "marker"]
                query.append(("marker", chunk[-1]["id"]))
                links.append({"rel": "next", "href": f"{req.host_url}/v2.0/{collection}?"
                                                     f"{parse.urlencode(query)}"})
            body[f"{collection}_links"] = links
        return base.json_response(body)

    def show_object(self, req: webob.Request, who: base.Identity, collection: str,
                    obj_id: str) -> webob.Response:
        self.store.ensure_project(who.project_id)
        with self.store.lock:
            obj = self._table(collection).get(obj_id)
            if obj is None or not self._visible(collection, obj, who):
                raise not_found(collection, obj_id)
            body = self._select(obj, req.GET.getall("fields"))
        return base.json_response({self.member_names[collection]: body})

    def create_object(self, req: webob.Request, who: base.Identity,
                      collection: str) -> webob.Response:
        self.store.ensure_project(who.project_id)
        member = self.member_names[collection]
        data = base.read_json(req, member)
        unknown = sorted(set(data) - _CREATABLE[collection])
        if unknown:
            raise base.ApiError(400, f"Unrecognized attribute(s) '{', '.join(unknown)}'",
                                "HTTPBadRequest")
        if collection == "ports":
            obj = create_port(self.store, who, data)
        elif collection == "networks":
            obj = self._create_network(who, data)
        elif collection == "floatingips":
            obj = self._create_floatingip(who, data)
        else:
            obj = self._create_subnet(who, data)
        return base.json_response({member: dict(obj)}, status=201)

    @staticmethod
    def _project_of(who: base.Identity, data: dict, action: str) -> str:
        project_id = str(data.get("project_id") or data.get("tenant_id") or who.project_id)
        if project_id != who.project_id and not who.is_admin:
            raise base.ApiError(403, f"(rule:{action} and rule:{action}:project_id) is "
                                     "disallowed by policy", "PolicyNotAuthorized")
        return project_id

    def _create_network(self, who: base.Identity, data: dict) -> dict:
        project_id = self._project_of(who, data, "create_network")
        for admin_only in ("shared", "router:external"):
            if data.get(admin_only) and not who.is_admin:
                raise base.ApiError(403, f"(rule:create_network and rule:create_network:"
                                         f"{admin_only}) is disallowed by policy",
                                    "PolicyNotAuthorized")
        extra = {k: data[k] for k in ("admin_state_up", "mtu", "description",
                                      "port_security_enabled", "tags") if k in data}
        with self.store.lock:
            return self.store.add_network(
                str(uuid.uuid4()), str(data.get("name", "")), project_id,
                external=bool(data.get("router:external")), shared=bool(data.get("shared")),
                **extra)

    def _create_subnet(self, who: base.Identity, data: dict) -> dict:
        project_id = self._project_of(who, data, "create_subnet")
        for required in ("network_id", "cidr"):
            if not data.get(required):
                raise base.ApiError(400, f"Failed to parse request. Required attribute "
                                         f"'{required}' not specified", "HTTPBadRequest")
        try:
            cidr = ipaddress.ip_network(str(data["cidr"]), strict=False)
        except ValueError as e:
            raise base.ApiError(400, f"Invalid input for cidr. Reason: '{data['cidr']}' is not "
                                     "a valid IP subnet.", "HTTPBadRequest") from e
        with self.store.lock:
            network = self.store.networks.get(data["network_id"])
            if network is None or not network_visible(network, who):
                raise not_found("networks", data["network_id"])
            if not who.owns(network):
                raise base.ApiError(403, "(rule:create_subnet and rule:create_subnet:network_id"
                                         ") is disallowed by policy", "PolicyNotAuthorized")
            extra = {k: data[k] for k in ("enable_dhcp", "dns_nameservers", "description",
                                          "tags") if k in data}
            subnet = self.store.add_subnet(str(uuid.uuid4()), str(data.get("name", "")),
                                           network["id"], project_id, str(cidr), **extra)
            if "gateway_ip" in data:
                subnet["gateway_ip"] = data["gateway_ip"]
            return subnet

    def _create_floatingip(self, who: base.Identity, data: dict) -> dict:
        """An address of an external network, optionally bound to one of the project's ports.

        As in Neutron, the address is held by a port of owner `network:floatingip` that belongs
        to no project, so only admin sees it.
        """
        project_id = self._project_of(who, data, "create_floatingip")
        network_id = data.get("floating_network_id")
        if not network_id:
            raise base.ApiError(400, "Failed to parse request. Required attribute "
                                     "'floating_network_id' not specified", "HTTPBadRequest")
        with self.store.lock:
            network = self.store.networks.get(network_id)
            if network is None or not network_visible(network, who):
                raise not_found("networks", network_id)
            if not network["router:external"]:
                raise base.ApiError(400, f"Bad floatingip request: Network {network_id} is not "
                                         "a valid external network.", "BadRequest")
            fixed_address = None
            port_id = data.get("port_id")
            if port_id is not None:
                port = self.store.ports.get(port_id)
                if port is None or not who.owns(port):
                    raise not_found("ports", port_id)
                if not port["fixed_ips"]:
                    raise base.ApiError(400, f"Bad floatingip request: Port {port_id} has no "
                                             "fixed IP address.", "BadRequest")
                fixed_address = data.get("fixed_ip_address") or port["fixed_ips"][0][
                    "ip_address"]
            fip_id = str(uuid.uuid4())
            holder = create_port(self.store, base.Identity("", "", ("admin",)), {
                "network_id": network_id, "device_id": fip_id,
                "device_owner": "network:floatingip"})
            stamp = iso(utc_now())
            fip = {
                "id": fip_id, "floating_ip_address": holder["fixed_ips"][0]["ip_address"],
                "floating_network_id": network_id, "router_id": None, "port_id": port_id,
                "fixed_ip_address": fixed_address, "status": "ACTIVE" if port_id else "DOWN",
                "project_id": project_id, "tenant_id": project_id,
                "description": data.get("description", ""), "tags": data.get("tags", []),
                "port_details": None, "qos_policy_id": None, "revision_number": 0,
                "created_at": stamp, "updated_at": stamp,
            }
            self.store.floatingips[fip_id] = fip
            return fip

    def delete_object(self, req: webob.Request, who: base.Identity, collection: str,
                      obj_id: str) -> webob.Response:
        with self.store.lock:
            table = self._table(collection)
            obj = table.get(obj_id)
            if obj is None or not self._visible(collection, obj, who):
                raise not_found(collection, obj_id)
            if not who.owns(obj):
                raise base.ApiError(403, f"(rule:delete_{self.member_names[collection]}) is "
                                         "disallowed by policy", "PolicyNotAuthorized")
            if collection == "networks":
                if any(p["network_id"] == obj_id for p in self.store.ports.values()):
                    raise base.ApiError(409, f"Unable to complete operation on network "
                                             f"{obj_id}. There are one or more ports still in "
                                             "use on the network.", "NetworkInUse")
                for subnet_id in obj["subnets"]:
                    self.store.subnets.pop(subnet_id, None)
            elif collection == "subnets":
                if any(ip["subnet_id"] == obj_id for p in self.store.ports.values()
                       for ip in p["fixed_ips"]):
                    raise base.ApiError(409, f"Unable to complete operation on subnet {obj_id}: "
                                             "One or more ports have an IP allocation from "
                                             "this subnet.", "SubnetInUse")
                network = self.store.networks.get(obj["network_id"])
                if network is not None and obj_id in network["subnets"]:
                    network["subnets"].remove(obj_id)
            elif collection == "floatingips":
                for port_id, port in list(self.store.ports.items()):
                    if port["device_owner"] == "network:floatingip" and \
                            port["device_id"] == obj_id:
                        del self.store.ports[port_id]
            elif obj["device_owner"] in _L3_OWNERS:
                raise base.ApiError(409, f"Port {obj_id} cannot be deleted directly via the port "
                                         f"API: has device owner {obj['device_owner']}.",
                                    "ServicePortInUse")
            del table[obj_id]
        return base.empty_response(204)
