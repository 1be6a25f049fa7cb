"""The stand-in cloud's state: in memory, seeded at start, shared by the four services.

One lock guards everything: requests are few and short, and Octavia's load balancers create and
delete Neutron ports, so the services must see one consistent state.

The seeded catalog is what a small devstack offers: public Ubuntu, Fedora CoreOS and Fedora
images (and one still `queued`), VM and baremetal flavors, and a `public` external network.
Every project also gets its own `private` network and subnet the first time it calls, the way
devstack gives its demo project one; their ids derive from the project id, so they survive a
restart of the stand-in (Heat stacks keep pointing at them).
"""

import datetime
import ipaddress
import itertools
import threading
import time
from typing import Any
import uuid

from magnum_lite_sandbox.cloud_api import base

# uuid5 namespace of the ids derived from project ids.
_NAMESPACE = uuid.UUID("6d1f3c8e-2b7a-4c55-9e0d-7a3f5b9c1e42")

PUBLIC_NETWORK_ID = "e2d9c3a0-6b1f-4f7e-9a35-8c0d4b6e1f27"
PUBLIC_SUBNET_ID = "4b7c2e91-0d3a-4f68-b5e2-9c1a7d3f6e08"
PRIVATE_CIDR = "10.0.0.0/24"
PUBLIC_CIDR = "127.0.0.0/8"

# (id, name, os_distro, os_version, status): public images of the seeded catalog.
SEED_IMAGES = [
    ("7f1c4d2a-93b6-4e0f-a8d5-1b2c3d4e5f60", "ubuntu-22.04", "ubuntu", "22.04", "active"),
    ("2a9e8b7c-6d5f-4e3a-9b1c-0d2e3f4a5b61", "fedora-coreos-40", "fedora-coreos", "40",
     "active"),
    ("5c3b2a19-8e7d-4c6b-a5f4-3e2d1c0b9a72", "fedora-40", "fedora", "40", "active"),
    ("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b83", "ubuntu-24.04-uploading", "ubuntu", "24.04",
     "queued"),
]

# (id, name, ram MiB, vcpus, disk GiB, extra specs).
_BAREMETAL_SPECS = {"resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0",
                    "resources:MEMORY_MB": "0", "resources:DISK_GB": "0",
                    "capabilities:boot_mode": "uefi"}
SEED_FLAVORS = [
    ("2", "m1.small", 2048, 1, 20, {}),
    ("3", "m1.medium", 4096, 2, 40, {}),
    ("4", "m1.large", 8192, 4, 80, {}),
    ("bm1", "bm.small", 16384, 4, 240, _BAREMETAL_SPECS),
    ("bm2", "bm.large", 65536, 16, 960, _BAREMETAL_SPECS),
    # The simulation fails (sandbox.fail) or never finishes (sandbox.hang) a server of these.
    ("f1", "sandbox.fail", 2048, 1, 20, {}),
    ("h1", "sandbox.hang", 2048, 1, 20, {}),
]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def iso(moment: datetime.datetime) -> str:
    """Neutron's and Glance's timestamps: seconds, with a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


class Store:
    """All objects of the stand-in cloud, keyed by id (insertion order is list order)."""

    def __init__(self, lb_delay: float = 1.0, state_dir: str | None = None) -> None:
        self.lock = threading.RLock()
        self.lb_delay = lb_delay  # seconds an Octavia load balancer stays PENDING_*
        # The simulated servers (the agent's ``servers`` file) and the faults that stop
        # them (``faults``) live in the state dir; None: Nova has no servers.
        self.state_dir = state_dir
        self.images: dict[str, dict] = {}
        self.flavors: dict[str, dict] = {}
        self.keypairs: dict[tuple[str, str], dict] = {}  # (user id, name) -> keypair
        self.networks: dict[str, dict] = {}
        self.subnets: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.loadbalancers: dict[str, dict] = {}
        self.keypair_ids = itertools.count(1)
        self._seeded_projects: set[str] = set()
        self._seed()

    def _seed(self) -> None:
        created = iso(datetime.datetime(2026, 1, 15, 9, 0, tzinfo=datetime.UTC))
        for index, (image_id, name, distro, version, status) in enumerate(SEED_IMAGES):
            # Distinct creation times: Glance sorts by created_at, newest first.
            stamp = iso(datetime.datetime(2026, 1, 15, 9, index, tzinfo=datetime.UTC))
            self.images[image_id] = new_image(
                image_id, name, owner=base.CLOUD_PROJECT_ID, status=status, created=stamp,
                properties={"os_distro": distro, "os_version": version,
                            "hw_architecture": "x86_64"})
        for flavor_id, name, ram, vcpus, disk, specs in SEED_FLAVORS:
            self.flavors[flavor_id] = {
                "id": flavor_id, "name": name, "ram": ram, "vcpus": vcpus, "disk": disk,
                "swap": 0, "ephemeral": 0, "disabled": False, "is_public": True,
                "rxtx_factor": 1.0, "description": None, "extra_specs": dict(specs)}
        self.add_network(PUBLIC_NETWORK_ID, "public", base.CLOUD_PROJECT_ID, external=True,
                         created=created)
        # Loopback, like the floating IPs the Heat simulation gives out on this network
        # (generate.py), which the guest agent serves cluster APIs on.
        self.add_subnet(PUBLIC_SUBNET_ID, "public-subnet", PUBLIC_NETWORK_ID,
                        base.CLOUD_PROJECT_ID, PUBLIC_CIDR, created=created)

    def ensure_project(self, project_id: str) -> None:
        """Give a project its `private` network and subnet the first time it is seen."""
        with self.lock:
            if project_id in self._seeded_projects:
                return
            self._seeded_projects.add(project_id)
            network_id = derived_id("private-network", project_id)
            if network_id not in self.networks:
                self.add_network(network_id, "private", project_id)
                self.add_subnet(derived_id("private-subnet", project_id), "private-subnet",
                                network_id, project_id, PRIVATE_CIDR)

    # Neutron objects (here because Octavia makes ports too)

    def add_network(self, network_id: str, name: str, project_id: str, *,
                    external: bool = False, shared: bool = False, created: str | None = None,
                    **extra: Any) -> dict:
        stamp = created or iso(utc_now())
        network = {
            "id": network_id, "name": name, "tenant_id": project_id, "project_id": project_id,
            "admin_state_up": True, "status": "ACTIVE", "shared": shared,
            "router:external": external, "mtu": 1500 if external else 1450,
            "subnets": [], "availability_zone_hints": [], "availability_zones": ["nova"],
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "port_security_enabled": True, "is_default": external,
            "description": "", "tags": [], "revision_number": 1,
            "created_at": stamp, "updated_at": stamp,
        }
        network.update(extra)
        self.networks[network_id] = network
        return network

    def add_subnet(self, subnet_id: str, name: str, network_id: str, project_id: str,
                   cidr: str, *, created: str | None = None, **extra: Any) -> dict:
        net = ipaddress.ip_network(cidr, strict=False)
        hosts = list(itertools.islice(net.hosts(), 2))
        stamp = created or iso(utc_now())
        subnet = {
            "id": subnet_id, "name": name, "network_id": network_id, "tenant_id": project_id,
            "project_id": project_id, "ip_version": net.version, "cidr": str(net),
            "gateway_ip": str(hosts[0]) if hosts else None, "enable_dhcp": True,
            "dns_nameservers": [], "host_routes": [], "service_types": [],
            "allocation_pools": ([{"start": str(hosts[1]),
                                   "end": str(net.broadcast_address - 1)}]
                                 if len(hosts) > 1 else []),
            "ipv6_address_mode": None, "ipv6_ra_mode": None, "subnetpool_id": None,
            "description": "", "tags": [], "revision_number": 0,
            "created_at": stamp, "updated_at": stamp,
        }
        subnet.update(extra)
        self.subnets[subnet_id] = subnet
        self.networks[network_id]["subnets"].append(subnet_id)
        return subnet

    def allocate_ip(self, subnet_id: str) -> str:
        """The first free address of a subnet's allocation pools (409 when exhausted)."""
        subnet = self.subnets[subnet_id]
        used = {ip["ip_address"] for port in self.ports.values()
                for ip in port["fixed_ips"] if ip["subnet_id"] == subnet_id}
        for pool in subnet["allocation_pools"]:
            address = ipaddress.ip_address(pool["start"])
            while address <= ipaddress.ip_address(pool["end"]):
                if str(address) not in used:
                    return str(address)
                address += 1
        raise base.ApiError(409, f"No more IP addresses available for subnet {subnet_id}.",
                            "IpAddressGenerationFailure")

    def lb_settle(self, now: float | None = None) -> None:
        """Move load balancers out of PENDING_* once `lb_delay` has passed (lazily, on read)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            for lb_id, lb in list(self.loadbalancers.items()):
                if now - lb["_since"] < self.lb_delay:
                    continue
                if lb["provisioning_status"] in ("PENDING_CREATE", "PENDING_UPDATE"):
                    lb["provisioning_status"] = "ACTIVE"
                    lb["operating_status"] = "ONLINE"
                elif lb["provisioning_status"] == "PENDING_DELETE":
                    del self.loadbalancers[lb_id]
                    if lb["_own_port"]:  # a VIP port the user brought stays
                        self.ports.pop(lb["vip_port_id"], None)


def new_image(image_id: str, name: str, *, owner: str, status: str = "active",
              visibility: str = "public", created: str | None = None,
              properties: dict[str, Any] | None = None) -> dict:
    """A Glance v2 image document; custom properties (os_distro, ...) sit at the top level."""
    stamp = created or iso(utc_now())
    active = status == "active"
    image: dict[str, Any] = {
        "id": image_id, "name": name, "status": status, "visibility": visibility,
        "protected": False, "os_hidden": False, "owner": owner,
        "checksum": "9b2f4c1d7e8a6b5c3d2e1f0a9b8c7d6e" if active else None,
        "os_hash_algo": "sha512" if active else None,
        "os_hash_value": ("5f" * 64) if active else None,
        "size": 734003200 if active else None, "virtual_size": 10737418240 if active else None,
        "min_ram": 0, "min_disk": 0,
        "disk_format": "qcow2" if active else None,
        "container_format": "bare" if active else None,
        "created_at": stamp, "updated_at": stamp, "tags": [],
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    image.update(properties or {})
    return image
