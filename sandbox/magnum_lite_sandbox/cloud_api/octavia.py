"""Octavia v2 load balancers: list, show, status tree, create and (cascade) delete.

A load balancer goes PENDING_CREATE -> ACTIVE and PENDING_DELETE -> gone after the store's
`lb_delay`, as the real one does after its amphora work, so clients that poll see both states.
Each has a VIP port in Neutron (device owner `Octavia`) that goes with it. Errors are Octavia's
WSME documents `{"faultcode", "faultstring", "debuginfo"}`.
"""

import time
from typing import Any
from urllib import parse
import uuid

import webob

from magnum_lite_sandbox.cloud_api import base, neutron
from magnum_lite_sandbox.cloud_api.store import Store

MAX_LIMIT = 1000
_LIST_PARAMS = {"fields", "limit", "marker", "sort", "page_reverse"}
_CREATABLE = {"name", "description", "admin_state_up", "vip_subnet_id", "vip_network_id",
              "vip_port_id", "vip_address", "vip_qos_policy_id", "project_id", "provider",
              "flavor_id", "availability_zone", "tags", "listeners", "pools"}


def _public(lb: dict) -> dict:
    """The load balancer as the API shows it (without the store's bookkeeping)."""
    return {k: v for k, v in lb.items() if not k.startswith("_")}


class OctaviaApp(base.ServiceApp):
    """/v2/lbaas/loadbalancers (also under the older /v2.0 prefix)."""

    routes = [
        ("GET", r"/", "versions"),
        ("GET", r"/v2(?:\.0)?/lbaas/loadbalancers", "list_loadbalancers"),
        ("POST", r"/v2(?:\.0)?/lbaas/loadbalancers", "create_loadbalancer"),
        ("GET", r"/v2(?:\.0)?/lbaas/loadbalancers/(?P<lb_id>[^/]+)", "show_loadbalancer"),
        ("DELETE", r"/v2(?:\.0)?/lbaas/loadbalancers/(?P<lb_id>[^/]+)", "delete_loadbalancer"),
        ("GET", r"/v2(?:\.0)?/lbaas/loadbalancers/(?P<lb_id>[^/]+)/status", "show_status"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def error_response(self, req: webob.Request, error: base.ApiError) -> webob.Response:
        fault = "Client" if error.status < 500 else "Server"
        return base.json_response(
            {"faultcode": fault, "faultstring": error.message, "debuginfo": None},
            status=error.status)

    def versions(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response({"versions": [
            {"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z",
             "links": [{"rel": "self", "href": f"{req.host_url}/v2.0"}]},
            {"id": "v2", "status": "CURRENT", "updated": "2024-10-15T00:00:00Z",
             "links": [{"rel": "self", "href": f"{req.host_url}/v2"}]}]})

    def _get(self, lb_id: str, who: base.Identity) -> dict:
        lb = self.store.loadbalancers.get(lb_id)
        if lb is None:
            raise base.ApiError(404, f"Load Balancer {lb_id} not found.")
        if not who.owns(lb):
            # Octavia loads the object first, then checks its project: 403, not 404.
            raise base.ApiError(403, "Policy does not allow this request to be performed.")
        return lb

    def list_loadbalancers(self, req: webob.Request, who: base.Identity) -> webob.Response:
        params = req.GET
        self.store.lb_settle()
        with self.store.lock:
            items = [_public(lb) for lb in self.store.loadbalancers.values() if who.owns(lb)]
        filters: dict[str, list[str]] = {}
        for key, value in params.items():
            if key in _LIST_PARAMS:
                continue
            if items and key not in items[0]:
                raise base.ApiError(400, f"Invalid filter: {key}")
            filters.setdefault(key, []).append(value)
        items = [lb for lb in items if all(base.as_filter_text(lb.get(key)) in values
                                           for key, values in filters.items())]
        limit = (base.parse_limit(params["limit"], MAX_LIMIT, MAX_LIMIT)
                 if "limit" in params else None)
        try:
            chunk, full = base.page(items, params.get("marker"), limit)
        except base.ApiError as e:
            raise base.ApiError(400, f"Invalid marker: {params.get('marker')}") from e
        fields = params.getall("fields")
        body: dict[str, Any] = {
            "loadbalancers": [{k: v for k, v in lb.items() if not fields or k in fields}
                              for lb in chunk],
            "loadbalancers_links": []}
        if full:
            query = [(k, v) for k, v in params.items() if k != "marker"]
            query.append(("marker", chunk[-1]["id"]))
            body["loadbalancers_links"].append({
                "rel": "next",
                "href": f"{req.host_url}/v2/lbaas/loadbalancers?{parse.urlencode(query)}"})
        return base.json_response(body)

    def show_loadbalancer(self, req: webob.Request, who: base.Identity,
                          lb_id: str) -> webob.Response:
        self.store.lb_settle()
        with self.store.lock:
            return base.json_response({"loadbalancer": _public(self._get(lb_id, who))})

    def show_status(self, req: webob.Request, who: base.Identity,
                    lb_id: str) -> webob.Response:
        self.store.lb_settle()
        with self.store.lock:
            lb = self._get(lb_id, who)
            tree = {"id": lb["id"], "name": lb["name"], "listeners": [],
                    "provisioning_status": lb["provisioning_status"],
                    "operating_status": lb["operating_status"]}
        return base.json_response({"statuses": {"loadbalancer": tree}})

    def _vip(self, who: base.Identity, data: dict) -> tuple[str, str]:
        """(network id, subnet id) of the VIP: from the subnet, the network, or the port."""
        if data.get("vip_port_id"):
            port = self.store.ports.get(data["vip_port_id"])
            if port is None or not who.owns(port) or not port["fixed_ips"]:
                raise base.ApiError(400, f"Port {data['vip_port_id']} not found.")
            return port["network_id"], port["fixed_ips"][0]["subnet_id"]
        if data.get("vip_subnet_id"):
            subnet = self.store.subnets.get(data["vip_subnet_id"])
            network = subnet and self.store.networks.get(subnet["network_id"])
            if not subnet or not network or not neutron.network_visible(network, who):
                raise base.ApiError(400, f"Subnet {data['vip_subnet_id']} not found.")
            return subnet["network_id"], subnet["id"]
        if data.get("vip_network_id"):
            network = self.store.networks.get(data["vip_network_id"])
            if network is None or not neutron.network_visible(network, who):
                raise base.ApiError(400, f"Network {data['vip_network_id']} not found.")
            if not network["subnets"]:
                raise base.ApiError(400, "Validation failure: Supplied network does not "
                                         "contain a subnet.")
            return network["id"], network["subnets"][0]
        raise base.ApiError(400, "Validation failure: VIP must contain one of: vip_port_id, "
                                 "vip_network_id, vip_subnet_id.")

    def create_loadbalancer(self, req: webob.Request, who: base.Identity) -> webob.Response:
        self.store.ensure_project(who.project_id)
        try:
            data = base.read_json(req, "loadbalancer")
        except base.ApiError as e:
            raise base.ApiError(400, f"Invalid input for field/attribute loadbalancer. "
                                     f"{e.message}") from e
        unknown = sorted(set(data) - _CREATABLE)
        if unknown:
            raise base.ApiError(400, f"Invalid input for field/attribute loadbalancer. Value: "
                                     f"'{data}'. Unknown attribute for argument loadbalancer: "
                                     f"{', '.join(unknown)}")
        project_id = str(data.get("project_id") or who.project_id)
        if project_id != who.project_id and not who.is_admin:
            raise base.ApiError(403, "Policy does not allow this request to be performed.")
        lb_id = str(uuid.uuid4())
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        owner = base.Identity(project_id, who.user_id, who.roles)
        with self.store.lock:
            network_id, subnet_id = self._vip(who, data)
            if data.get("vip_port_id"):
                port = self.store.ports[data["vip_port_id"]]
            else:
                port = neutron.create_port(self.store, owner, {
                    "network_id": network_id, "name": f"octavia-lb-{lb_id}",
                    "device_id": f"lb-{lb_id}", "device_owner": "Octavia",
                    "fixed_ips": [{"subnet_id": subnet_id,
                                   "ip_address": data.get("vip_address")}]})
            lb = {
                "id": lb_id, "name": data.get("name", ""),
                "description": data.get("description", ""),
                "admin_state_up": data.get("admin_state_up", True),
                "project_id": project_id, "tenant_id": project_id,
                "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE",
                "vip_address": port["fixed_ips"][0]["ip_address"], "vip_port_id": port["id"],
                "vip_subnet_id": subnet_id, "vip_network_id": network_id,
                "vip_qos_policy_id": data.get("vip_qos_policy_id"), "additional_vips": [],
                "listeners": [], "pools": [], "provider": data.get("provider", "amphora"),
                "flavor_id": data.get("flavor_id"),
                "availability_zone": data.get("availability_zone"),
                "tags": data.get("tags", []), "vip_vnic_type": "normal",
                "created_at": now, "updated_at": None, "_since": time.monotonic(),
                "_own_port": not data.get("vip_port_id"),
            }
            self.store.loadbalancers[lb_id] = lb
            return base.json_response({"loadbalancer": _public(lb)}, status=201)

    def delete_loadbalancer(self, req: webob.Request, who: base.Identity,
                            lb_id: str) -> webob.Response:
        self.store.lb_settle()
        with self.store.lock:
            lb = self._get(lb_id, who)
            if lb["provisioning_status"] not in ("ACTIVE", "ERROR"):
                raise base.ApiError(409, f"Invalid state {lb['provisioning_status']} of "
                                         f"loadbalancer resource {lb_id}")
            lb["provisioning_status"] = "PENDING_DELETE"
            lb["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            lb["_since"] = time.monotonic()
        self.store.lb_settle()  # with no delay, gone at once
        return base.empty_response(204)
