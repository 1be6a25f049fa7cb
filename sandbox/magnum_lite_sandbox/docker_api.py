"""A small Docker Engine API for one sandbox swarm-mode cluster, served by the guest agent.

A simulated swarm boots no dockerd, yet `openstack coe cluster config` hands out a Docker TLS
environment (DOCKER_HOST=tcp://<api_address>, ca.pem, cert.pem, key.pem) and clients must be
able to use it. The guest agent plays the managers: one ``DockerAPI`` per swarm-mode cluster
on its loopback floating addresses at the cluster stack's ``api_port`` (2376), with the
cluster's CA, as dockerd runs with ``--tlsverify`` and a certificate the managers issue from
the CA in their user data.

It reuses kube_api's server (listeners, per-connection TLS, CA switches, no answer while no
manager is up) and answers what a reader and a drain need, with and without a ``/v1.NN``
version prefix: ``/_ping``, ``/version``, ``/info`` (the Swarm section: NodeID,
LocalNodeState, ControlAvailable, Nodes, Managers, Cluster), ``/nodes`` and ``/nodes/{id}``
(one per server; managers with their ManagerStatus), ``POST /nodes/{id}/update``,
``/services``, ``/tasks`` (with ``filters``), and an empty ``/containers/json``; what they
show is the simulated swarm's (``swarm_sim``: node states, versions and availability, the
demo service's tasks). Errors are Docker's ``{"message": ...}``. As dockerd with
``--tlsverify``, a client certificate of the cluster CA is required at the handshake.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import hashlib
import json
import re
import ssl
import time
from typing import Any

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api, swarm_sim
from magnum_lite_sandbox.cluster_sim import Node
from magnum_lite_sandbox.kube_sim import heat_time

DEFAULT_DOCKER_VERSION = "27.3.1"
API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
SWARM_PORT = 2377
_VERSION_PREFIX = re.compile(r"^/v[0-9]+\.[0-9]+(?=/)")
_NODE_UPDATE = re.compile(r"^/nodes/(?P<node>[^/]+)/update$")


@dataclasses.dataclass(frozen=True)
class DockerView:
    """What the API shows of a swarm; replaced as a whole when the cluster changes."""

    cluster_uuid: str
    nodes: tuple[Node, ...] = ()
    docker_version: str = DEFAULT_DOCKER_VERSION
    created: str | None = None
    never_ready: frozenset[str] = frozenset()  # nodes whose boot a fault holds (faults)
    stopped: frozenset[str] = frozenset()  # server ids a fault shut off (faults)
    state_dir: str | None = None  # where the timeline goes (None: nowhere)


def node_id(view: DockerView, node: Node) -> str:
    return swarm_sim.node_id(view.cluster_uuid, node.name)


def _managers(view: DockerView) -> list[Node]:
    return [n for n in view.nodes if n.role == "master"]


def node_object(view: DockerView, node: Node, leader: str | None,
                sim: swarm_sim.SwarmSim | None = None) -> dict[str, Any]:
    """A swarm Node as `docker node inspect` shows it (as the simulation has it, if given;
    else ready, active, at the swarm's version)."""
    created = heat_time(node.created or view.created)
    ident = node_id(view, node)
    manager = node.role == "master"
    ready, version, index, updated = True, view.docker_version, 1, created
    spec: dict[str, Any] = {"Labels": {"magnum.openstack.org/role": node.role},
                            "Role": "manager" if manager else "worker",
                            "Availability": "active"}
    if sim is not None:
        ready, version = sim.ready(node.name), sim.version(node.name)
        index = sim.indexes.get(node.name, index)
        spec = dict(sim.specs.get(node.name, spec))
        if node.name in sim.updated:
            updated = swarm_sim.cluster_sim.stamp(sim.updated[node.name])
    body: dict[str, Any] = {
        "ID": ident, "Version": {"Index": index}, "CreatedAt": created, "UpdatedAt": updated,
        "Spec": spec,
        "Description": {
            "Hostname": node.name,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4_102_103_040},
            "Engine": {"EngineVersion": version,
                       "Labels": {"magnum.openstack.org/role": node.role,
                                  "magnum.openstack.org/cluster": view.cluster_uuid}},
        },
        "Status": {"State": "ready" if ready else "down", "Addr": node.internal_ip,
                   **({} if ready else {"Message": "heartbeat failure"})},
    }
    if manager:
        body["ManagerStatus"] = {"Leader": ident == leader,
                                 "Reachability": "reachable" if ready else "unreachable",
                                 "Addr": f"{node.internal_ip}:{SWARM_PORT}"}
    return body


def version_info(view: DockerView, version: str | None = None) -> dict[str, Any]:
    """/version as dockerd answers it (the engine's version: `version`, else the swarm's)."""
    version = version or view.docker_version
    commit = hashlib.sha1(version.encode()).hexdigest()[:7]
    return {"Platform": {"Name": "Docker Engine - Community"},
            "Components": [{"Name": "Engine", "Version": version,
                            "Details": {"ApiVersion": API_VERSION,
                                        "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                                        "Arch": "amd64", "GitCommit": commit}}],
            "Version": version, "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "GitCommit": commit, "GoVersion": "go1.22.7",
            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.11.4-301.fc41.x86_64",
            "BuildTime": "2024-09-20T11:41:19.000000000+00:00"}


def info(view: DockerView, me: Node | None = None, version: str | None = None
         ) -> dict[str, Any]:
    """/info of the manager answering (`me`: by default manager 0, the node the API address
    leads to), with its Swarm section."""
    managers = _managers(view)
    if me is None:
        me = managers[0] if managers else None
    leader = node_id(view, me) if me else None
    created = heat_time(view.created)
    version = version or view.docker_version
    return {
        "ID": swarm_sim.ident(f"{view.cluster_uuid}/engine", 36).upper(),
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
        "ContainersStopped": 0, "Images": 0, "Driver": "overlay2",
        "Name": me.name if me else "", "ServerVersion": version,
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
            "Cluster": {"ID": swarm_sim.ident(f"{view.cluster_uuid}/swarm"),
                        "Version": {"Index": 10},
                        "CreatedAt": created, "UpdatedAt": created,
                        "Spec": {"Name": "default", "Labels": {},
                                 "Orchestration": {"TaskHistoryRetentionLimit":
                                                   swarm_sim.TASK_HISTORY},
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
        self._refuse()

    def _refuse(self) -> None:
        self._send_json(405, {"message": "the sandbox's Docker API does not do this"})

    def _write_allowed(self) -> bool:
        return True  # the client certificate was required at the handshake

    do_OPTIONS = _not_allowed  # noqa: N815


class DockerAPI(kube_api.ClusterAPI):
    """The Docker Engine API of one swarm-mode cluster (see the module docstring)."""

    handler_class = _DockerHandler
    sim_class = swarm_sim.SwarmSim
    kind = "Docker API"
    sim: swarm_sim.SwarmSim

    def __init__(self, view: DockerView, ca: x509.KeyPair, port: int = 2376,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(view, ca, port, clock)  # type: ignore[arg-type]

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
        sim = self.sim
        path = _VERSION_PREFIX.sub("", path)
        if path == "/_ping":
            return 200, "OK"
        with sim.lock:
            sim.advance()
            leader_name = sim.leader()
            me = sim.node(leader_name) if leader_name else None
            version = sim.version(leader_name) if leader_name else view.docker_version
            if path == "/version":
                return 200, version_info(view, version)
            if path in ("/info", "/swarm"):
                body = info(view, me, version)
                return 200, body if path == "/info" else body["Swarm"]["Cluster"]
            leader = node_id(view, me) if me else None
            nodes = [node_object(view, n, leader, sim) for n in view.nodes]
        try:
            filters = _filters(query.get("filters", ""))
        except ValueError as exc:
            return _error(400, str(exc))
        if path == "/nodes":
            return _filtered(nodes, filters, {
                "id": lambda n: [n["ID"]], "name": lambda n: [n["Description"]["Hostname"]],
                "role": lambda n: [n["Spec"]["Role"]], "membership": lambda n: ["accepted"]})
        if path.startswith("/nodes/"):
            wanted = path[len("/nodes/"):]
            for obj in nodes:
                if wanted in (obj["ID"], obj["Description"]["Hostname"]):
                    return 200, obj
            return _error(404, f"node {wanted} not found")
        if path in ("/services", "/services/" + sim.service_id(), "/services/" + swarm_sim.SERVICE):
            service = sim.service()
            if path != "/services":
                return 200, service
            return _filtered([service], filters, {
                "id": lambda s: [s["ID"]], "name": lambda s: [s["Spec"]["Name"]],
                "mode": lambda s: ["replicated"]})
        if path.startswith("/services/"):
            return _error(404, f"service {path[len('/services/'):]} not found")
        if path == "/tasks":
            by_name = {n["Description"]["Hostname"]: n["ID"] for n in nodes}
            return _filtered(sim.tasks(), filters, {
                "id": lambda t: [t["ID"]],
                "node": lambda t: [t.get("NodeID", ""), *[h for h, i in by_name.items()
                                                          if i == t.get("NodeID")]],
                "service": lambda t: [t["ServiceID"], swarm_sim.SERVICE],
                "desired-state": lambda t: [t["DesiredState"]],
                "name": lambda t: [f"{swarm_sim.SERVICE}.{t['Slot']}"]})
        if path in ("/containers/json", "/images/json", "/networks"):
            return 200, []
        return _error(404, "page not found")

    def write(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
              user: Any) -> tuple[int, Any] | None:
        """POST /nodes/{id}/update?version=N (a node's spec: its availability)."""
        match = _NODE_UPDATE.match(_VERSION_PREFIX.sub("", path))
        if method == "POST" and match:
            return self.sim.update_node(match.group("node"), query.get("version", ""), body)
        return None


def _filters(text: str) -> dict[str, list[str]]:
    """A `filters` query: {"key": ["v", ...]} or the older {"key": {"v": true}}."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"invalid filter: {text}") from None
    if not isinstance(data, dict):
        raise ValueError(f"invalid filter: {text}")
    filters = {}
    for key, values in data.items():
        if isinstance(values, dict):
            values = [k for k, v in values.items() if v]
        if not isinstance(values, list):
            raise ValueError(f"invalid filter: {text}")
        filters[str(key)] = [str(v) for v in values]
    return filters


def _filtered(objects: list[dict], filters: dict[str, list[str]],
              fields: dict[str, Callable[[dict], list[str]]]) -> tuple[int, Any]:
    """The objects matching every filter (any of its values), as dockerd filters lists; an
    unknown filter key is a 400."""
    for key in filters:
        if key not in fields:
            return _error(400, f"invalid filter '{key}'")
    return 200, [o for o in objects
                 if all(not values or set(values) & set(fields[key](o))
                        for key, values in filters.items())]


def join_token(cluster_uuid: str, role: str = "worker") -> str:
    """A swarm join token of Docker's form (SWMTKN-1-<CA digest>-<secret>), stable per
    cluster and role: what `docker swarm join-token -q <role>` prints on manager 0."""
    return (f"SWMTKN-1-{swarm_sim.ident(f'{cluster_uuid}/ca', 50)}-"
            f"{swarm_sim.ident(f'{cluster_uuid}/{role}')}")
