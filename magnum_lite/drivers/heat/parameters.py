"""What the shared Heat templates are given: environment files and parameter values.

Every value here follows from the cluster, its template, a nodegroup and the outputs of the
cluster stack alone, so it is computed the same way for a create, a resize, a dry run or a
rotation. The COE-specific part (user data, credential files, extra environments) comes from
the plugin through `StackBuilder`, which HeatDriver (driver.py) implements: the operation
modules (create, resize, nodegroups, rotation, status) build stacks through that interface
and never import the driver itself.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Protocol

from oslo_utils import timeutils

from magnum_lite.common import baremetal
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import names

TEMPLATES = Path(__file__).parent / "templates"
ENV = TEMPLATES / "env"
#: The top-level template of the cluster stack (network, security group, masters).
CLUSTER_TEMPLATE = TEMPLATES / "cluster.yaml"
#: The top-level template of each chunk stack of a worker nodegroup.
NODEGROUP_TEMPLATE = TEMPLATES / "nodegroup.yaml"

#: Where a master's user data says the control plane is; Heat puts the real address in.
CONTROL_PLANE_HOST = "__CONTROL_PLANE_HOST__"
#: Where a master's user data says clients reach the API (its certificate names it); Heat
#: puts in the load balancer's floating IP, else the master's own, else its private address.
PUBLIC_HOST = "__PUBLIC_HOST__"
#: Host names the masters' user data is rendered with in place of those placeholders: they
#: pass a plugin's address checks (RFC 6761 reserves .invalid), then Heat's placeholders
#: replace them.
STANDINS = {CONTROL_PLANE_HOST: "control-plane-host.invalid",
            PUBLIC_HOST: "public-host.invalid"}

#: The flavor of nodes whose nodegroup, cluster and template name none.
DEFAULT_FLAVOR = "m1.small"


class StackBuilder(Protocol):
    """What the stack operations ask of a driver: HeatDriver as a plugin refines it."""

    def nodes_per_stack(self) -> int: ...

    def _environments(self, cluster: Any, cluster_template: Any, masters: bool,
                      nodegroup: Any = None) -> list[Path]: ...

    def cluster_parameters(self, cluster: Any, cluster_template: Any, masters: Any,
                           credentials: base.ClusterCredentials) -> dict[str, Any]: ...

    def nodegroup_parameters(self, cluster: Any, cluster_template: Any, nodegroup: Any,
                             chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                             credentials: base.ClusterCredentials) -> dict[str, Any]: ...

    def workers_may_start(self, cluster: Any, cluster_template: Any, masters: Any,
                          outputs: dict[str, Any]) -> bool: ...

    def api_address(self, outputs: dict[str, Any]) -> str | None: ...

    def join_token(self, cluster: Any) -> str | None: ...

    def make_join_token(self) -> str | None: ...

    def coe_version(self, cluster: Any, cluster_template: Any) -> str | None: ...


def ordered(values: Any) -> list[Any]:
    """A ResourceGroup `attributes` map ({"0": v, "1": v}) as a list in member order."""
    if isinstance(values, dict):
        return [values[k] for k in sorted(values, key=lambda k: (len(str(k)), str(k)))]
    return list(values or [])


def addresses(floating: Any, private: Any) -> list[str]:
    """Each node's floating address where it has one, else its private address."""
    floating_list, private_list = ordered(floating), ordered(private)
    return [f or p for f, p in zip(floating_list + [None] * len(private_list), private_list,
                                   strict=False) if f or p]


def control_plane_host(outputs: dict[str, Any]) -> str:
    """Where nodes reach the API privately: the load balancer, else the first master."""
    masters = ordered(outputs.get("master_private_addresses"))
    return outputs.get("lb_vip") or (masters[0] if masters else "")


def public_host(outputs: dict[str, Any]) -> str | None:
    """Where clients reach the API from outside: the load balancer's floating IP, else the
    first master's; None without floating IPs."""
    floating = [a for a in ordered(outputs.get("master_floating_addresses")) if a]
    return outputs.get("lb_floating_ip") or (floating[0] if floating else None)


def server_type(cluster_template: Any, nodegroup: Any = None) -> str:
    """The nodegroup's server type ("vm" or "bm"); None on the group means the template's,
    so one cluster can mix VM and baremetal worker groups."""
    return ((nodegroup.server_type if nodegroup is not None else None)
            or cluster_template.server_type or "vm")


def update_policy(cluster_template: Any, nodegroup: Any = None) -> str:
    """How the nodegroup's servers take a new image or user data, and are repaired: a new
    server (VMs), or the same one rebuilt (baremetal: Ironic nodes are not spare)."""
    return "REBUILD" if server_type(cluster_template, nodegroup) == baremetal.BAREMETAL \
        else "REPLACE"


def master_count(cluster: Any) -> int:
    """The cluster's masters; an unset count means one."""
    return cluster.master_count or 1


def volume_size(cluster: Any, cluster_template: Any) -> int:
    """The container storage volume (GiB) the cluster asks for, its own value first."""
    return int(cluster.docker_volume_size or cluster_template.docker_volume_size or 0)


def stack_timeout(cluster: Any) -> int:
    """The minutes Heat gets for a stack of the cluster: its create timeout."""
    return cluster.create_timeout or 60


def seconds_since_created(cluster: Any) -> float | None:
    """How long ago the cluster was created; None when it has no creation time (yet)."""
    created = cluster.created_at
    if created is None:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return (timeutils.utcnow(with_timezone=True) - created).total_seconds()


def floating_ip_enabled(cluster: Any, cluster_template: Any) -> bool:
    """Whether the cluster asks for floating IPs (its own choice first, then the template's)."""
    return bool(cluster.floating_ip_enabled if cluster.floating_ip_enabled is not None
                else cluster_template.floating_ip_enabled)


def fixed_network(cluster: Any, cluster_template: Any) -> str:
    """The existing network the cluster goes on; "" for a network of its own."""
    return cluster.fixed_network or cluster_template.fixed_network or ""


def environments(cluster: Any, cluster_template: Any, *, masters: bool, masters_count: int,
                 baremetal: bool, node_volume_size: int) -> list[Path]:
    """The shared environment files the cluster's options choose (later ones win).

    The masters get a load balancer when asked for or when there are several
    (`masters_count`). Baremetal nodes get no floating IPs (a flat network), whatever the
    cluster says for its VM groups; a volume only where `node_volume_size` asks for one.
    """
    files = [ENV / "base.yaml"]
    if fixed_network(cluster, cluster_template):
        files.append(ENV / "existing_network.yaml")
    lb = masters and (cluster.master_lb_enabled or masters_count > 1)
    floating = floating_ip_enabled(cluster, cluster_template) and not baremetal
    if lb:
        files.append(ENV / "master_lb.yaml")
        if floating:
            files.append(ENV / "master_lb_floating_ip.yaml")
    if floating:
        files.append(ENV / "node_floating_ip.yaml")
    if node_volume_size:
        files.append(ENV / "volume.yaml")
    return files


def common_parameters(cluster: Any, cluster_template: Any, docker_volume_size: int
                      ) -> dict[str, Any]:
    """The parameters the cluster stack and every worker stack share."""
    return {
        "key_name": cluster.keypair or cluster_template.keypair_id or "",
        "external_network": cluster_template.external_network_id or "public",
        "docker_volume_size": docker_volume_size,
    }


def credentials_parameters(cluster: Any, files: dict[str, str], script: str
                           ) -> dict[str, Any]:
    """The hidden parameters of each node's credentials deployment: the files a rotation
    rewrites (path: content) and the script that applies them."""
    return {"cluster_uuid": cluster.uuid, "credentials_script": script,
            "credentials": json.dumps(files, sort_keys=True)}


def network_parameters(cluster: Any, cluster_template: Any, labels: dict[str, str]
                       ) -> dict[str, Any]:
    """The cluster stack's network: an existing one, or a new one of the labels' CIDR."""
    return {
        "fixed_network": fixed_network(cluster, cluster_template),
        "fixed_subnet": cluster.fixed_subnet or cluster_template.fixed_subnet or "",
        "fixed_subnet_cidr": labels.get("fixed_subnet_cidr", "10.0.0.0/24"),
        "dns_nameservers": cluster_template.dns_nameserver or "8.8.8.8",
    }


def worker_network_parameters(cluster_outputs: dict[str, Any]) -> dict[str, Any]:
    """What a worker stack takes from the cluster stack: its network and security group."""
    return {
        "network": cluster_outputs.get("network") or "",
        "subnet": cluster_outputs.get("subnet") or "",
        "security_group": cluster_outputs.get("security_group") or "",
    }


def public_tcp_ports(ports: tuple[int, ...], api_port: int) -> str:
    """The ports open to anyone, the API's among them, as the template's comma list."""
    return ",".join(str(p) for p in sorted({*ports, api_port}))


def load_credentials(loader: base.CredentialsLoader | None) -> base.ClusterCredentials:
    """The credentials the loader gives; none for a cluster without TLS or trustee."""
    return loader() if loader is not None else base.ClusterCredentials()


class LazyCredentials:
    """A credentials loader called at most once, and only when a stack needs them (a status
    poll that makes no stack decrypts nothing)."""

    def __init__(self, loader: base.CredentialsLoader | None) -> None:
        self._loader = loader
        self._given: base.ClusterCredentials | None = None

    def __call__(self) -> base.ClusterCredentials:
        if self._given is None:
            self._given = load_credentials(self._loader)
        return self._given


def cluster_stack(builder: StackBuilder, cluster: Any, cluster_template: Any, masters: Any,
                  credentials: base.ClusterCredentials
                  ) -> tuple[str, Path, list[Path], dict[str, Any]]:
    """Name, template, environments and parameters of the cluster stack, as stacks.create
    and stacks.preview take them."""
    return (names.cluster_stack_name(cluster), CLUSTER_TEMPLATE,
            builder._environments(cluster, cluster_template, masters=True, nodegroup=masters),
            builder.cluster_parameters(cluster, cluster_template, masters, credentials))


def nodegroup_stack(builder: StackBuilder, cluster: Any, cluster_template: Any, nodegroup: Any,
                    chunk: int, node_count: int, cluster_outputs: dict[str, Any],
                    credentials: base.ClusterCredentials
                    ) -> tuple[str, Path, list[Path], dict[str, Any]]:
    """Name, template, environments and parameters of one chunk stack of a worker nodegroup,
    as stacks.create and stacks.preview take them."""
    return (names.nodegroup_stack_name(cluster, nodegroup, chunk), NODEGROUP_TEMPLATE,
            builder._environments(cluster, cluster_template, masters=False, nodegroup=nodegroup),
            builder.nodegroup_parameters(cluster, cluster_template, nodegroup, chunk, node_count,
                                         cluster_outputs, credentials))
