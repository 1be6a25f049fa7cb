"""A small Docker Engine API for one sandbox swarm-mode cluster, served by the guest agent.

A simulated swarm boots no dockerd, yet `openstack coe cluster config` hands out a Docker TLS
environment (DOCKER_HOST=tcp://<api_address>, ca.pem, cert.pem, key.pem) and clients must be
able to use it. The guest agent plays the managers: one ``DockerAPI`` per swarm-mode cluster
on its loopback floating addresses at the cluster stack's ``api_port`` (2376), with the
cluster's CA, as dockerd runs with ``--tlsverify`` and a certificate the managers issue from
the CA in their user data.

It reuses kube_api's server (listeners, per-connection TLS, CA switches) and answers what a
reader needs, with and without a ``/v1.NN`` version prefix: ``/_ping``, ``/version``,
``/info`` (the Swarm section: NodeID, LocalNodeState, ControlAvailable, Nodes, Managers,
Cluster), ``/nodes`` and ``/nodes/{id}`` (one per server, every one ready; managers with
their ManagerStatus), and empty ``/containers/json``, ``/services`` and ``/tasks``.
Errors are Docker's ``{"message": ...}``. As dockerd with ``--tlsverify``, a client
certificate of the cluster CA is required at the handshake.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import ssl
from typing import Any

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api

DEFAULT_DOCKER_VERSION = "27.3.1"
API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
SWARM_PORT = 2377
_VERSION_PREFIX = re.compile(r"^/v[0-9]+\.[0-9]+(?=/)")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _ident(seed: str, length: int = 25) -> str:
    """A stable Docker-style identifier (lowercase base36) derived from `seed`."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        chars.append(_BASE36[digit])
    return "".join(chars)


@dataclasses.dataclass(frozen=True)
class DockerView:
    """What the API shows of a swarm; replaced as a whole when the cluster changes."""

    cluster_uuid: str
    nodes: tuple[kube_api.Node, ...] = ()
    docker_version: str = DEFAULT_DOCKER_VERSION
    created: str | None = None


def node_id(view: DockerView, node: kube_api.Node) -> str:
    return _ident(f"{view.cluster_uuid}/{node.name}")


def _managers(view: DockerView) -> list[kube_api.Node]:
    return [n for n in view.nodes if n.role == "master"]


def node_object(view: DockerView, node: kube_api.Node, leader: str | None) -> dict[str, Any]:
    """A swarm Node as `docker node inspect` shows it."""
    created = kube_api._rfc3339(node.created or view.created)
    ident = node_id(view, node)
    manager = node.role == "master"
    body: dict[str, Any] = {
        "ID": ident, "Version": {"Index": 1}, "CreatedAt": created, "UpdatedAt": created,
        "Spec": {"Labels": {"magnum.openstack.org/role": node.role},
                 "Role": "manager" if manager else "worker", "Availability": "active"},
        "Description": {
            "Hostname": node.name,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4_102_103_040},
            "Engine": {"EngineVersion": view.docker_version,
                       "Labels": {"magnum.openstack.org/role": node.role,
                                  "magnum.openstack.org/cluster": view.cluster_uuid}},
        },
        "Status": {"State": "ready", "Addr": node.internal_ip},
    }
    if manager:
        body["ManagerStatus"] = {"Leader": ident == leader, "Reachability": "reachable",
                                 "Addr": f"{node.internal_ip}:{SWARM_PORT}"}
    return body


def version_info(view: DockerView) -> dict[str, Any]:
    """/version as dockerd answers it."""
    commit = hashlib.sha1(view.docker_version.encode()).hexdigest()[:7]
    return {"Platform": {"Name": "Docker Engine - Community"},
            "Components": [{"Name": "Engine", "Version": view.docker_version,
                            "Details": {"ApiVersion": API_VERSION,
                                        "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                                        "Arch": "amd64", "GitCommit": commit}}],
            "Version": view.docker_version, "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "GitCommit": commit, "GoVersion": "go1.22.7",
            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.11.4-301.fc41.x86_64",
            "BuildTime": "2024-09-20T11:41:19.000000000+00:00"}


def info(view: DockerView) -> dict[str, Any]:
    """/info of manager 0 (the node the API address leads to), with its Swarm section."""
    managers = _managers(view)
    me = managers[0] if managers else None
    leader = node_id(view, me) if me else None
    created = kube_api._rfc3339(view.created)
    return {
        "ID": _ident(f"{view.cluster_uuid}/engine", 36).upper(),
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
        "ContainersStopped": 0, "Images": 0, "Driver": "overlay2",
        "Name": me.name if me else "", "ServerVersion": view.docker_version,
        "OperatingSystem": "Fedora Linux 41 (Cloud Edition)", "OSType": "linux",
        "Architecture": "x86_64", "NCPU": 2, "MemTotal": 4_102_103_040,
        "KernelVersion": "6.11.4-301.fc41.x86_64", "DockerRootDir": "/var/lib/docker",
        "Labels": [f"magnum.openstack.org/cluster={view.cluster_uuid}"],
        "Swarm": {
            "NodeID": leader or "", "NodeAddr": me.internal_ip if me else "",
            "LocalNodeState": "active", "ControlAvailable": me is not None, "Error": "",
            "RemoteManagers": [{"NodeID": node_id(view, m),
                                "Addr": f"{m.internal_ip}:{SWARM_PORT}"} for m in managers],
            "Nodes": len(view.nodes), "Managers": len(managers),
            "Cluster": {"ID": _ident(f"{view.cluster_uuid}/swarm"), "Version": {"Index": 10},
                        "CreatedAt": created, "UpdatedAt": created,
                        "Spec": {"Name": "default", "Labels": {},
                                 "Orchestration": {"TaskHistoryRetentionLimit": 5},
                                 "Raft": {"SnapshotInterval": 10000, "ElectionTick": 10,
                                          "HeartbeatTick": 1},
                                 "Dispatcher": {"HeartbeatPeriod": 5000000000}},
                        "RootRotationInProgress": False, "DefaultAddrPool": ["10.0.0.0/8"],
                        "SubnetSize": 24, "DataPathPort": 4789},
        },
    }


def _error(code: int, message: str) -> tuple[int, dict[str, str]]:
    return code, {"message": message}


class _DockerHandler(kube_api._Handler):
    """kube_api's handler with dockerd's name and Docker's error bodies."""

    server_version = f"Docker/{DEFAULT_DOCKER_VERSION}"

    def _not_allowed(self) -> None:
        self._drain()
        self._send_json(405, {"message": "the sandbox's Docker API is read-only"})

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST = _not_allowed  # noqa: N815


class DockerAPI(kube_api.ClusterAPI):
    """The Docker Engine API of one swarm-mode cluster (see the module docstring)."""

    handler_class = _DockerHandler
    kind = "Docker API"

    def __init__(self, view: DockerView, ca: x509.KeyPair, port: int = 2376) -> None:
        super().__init__(view, ca, port)  # type: ignore[arg-type]

    @staticmethod
    def _make_context(ca: x509.KeyPair, names: tuple[str, ...]) -> ssl.SSLContext:
        """A serving certificate for `names` (see ClusterAPI.set_certificate_names) and
        the loopback names prepare-node.sh always adds."""
        serving = x509.issue_certificate(ca, "swarm-manager",
                                         sans=[*names, *kube_api.LOOPBACK_NAMES], server=True)
        context = kube_api.tls_context(ca, serving)
        context.verify_mode = ssl.CERT_REQUIRED  # dockerd --tlsverify
        return context

    def route(self, path: str, query: dict[str, str], host: str
              ) -> tuple[int, Any]:
        """(HTTP status, JSON body or text) for a GET of `path` (version prefix optional)."""
        view: DockerView = self.view  # type: ignore[assignment]
        path = _VERSION_PREFIX.sub("", path)
        if path == "/_ping":
            return 200, "OK"
        if path == "/version":
            return 200, version_info(view)
        if path == "/info":
            return 200, info(view)
        managers = _managers(view)
        leader = node_id(view, managers[0]) if managers else None
        if path == "/nodes":
            nodes = [node_object(view, n, leader) for n in view.nodes]
            role = _role_filter(query.get("filters", ""))
            if role:
                nodes = [n for n in nodes if n["Spec"]["Role"] == role]
            return 200, nodes
        if path.startswith("/nodes/"):
            wanted = path[len("/nodes/"):]
            for node in view.nodes:
                obj = node_object(view, node, leader)
                if wanted in (obj["ID"], node.name):
                    return 200, obj
            return _error(404, f"node {wanted} not found")
        if path == "/swarm":
            return 200, info(view)["Swarm"]["Cluster"]
        if path in ("/containers/json", "/services", "/tasks", "/images/json",
                    "/networks"):
            return 200, []
        return _error(404, "page not found")


def _role_filter(filters: str) -> str | None:
    """The `role` of a `filters` query ({"role": ["manager"]} or {"role": {"manager": true}})."""
    try:
        data = json.loads(filters) if filters else {}
    except ValueError:
        return None
    role = data.get("role") if isinstance(data, dict) else None
    if isinstance(role, dict):
        role = [k for k, v in role.items() if v]
    if isinstance(role, list) and len(role) == 1 and role[0] in ("manager", "worker"):
        return str(role[0])
    return None


def join_token(cluster_uuid: str, role: str = "worker") -> str:
    """A swarm join token of Docker's form (SWMTKN-1-<CA digest>-<secret>), stable per
    cluster and role: what `docker swarm join-token -q <role>` prints on manager 0."""
    return f"SWMTKN-1-{_ident(f'{cluster_uuid}/ca', 50)}-{_ident(f'{cluster_uuid}/{role}')}"
