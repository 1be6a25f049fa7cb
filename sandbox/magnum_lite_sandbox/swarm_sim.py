"""The simulated swarm behind the sandbox's Docker API (``docker_api``).

What a drain needs a swarm to be, in Docker Engine API shapes:

- nodes: one per server (``cluster_sim``), ``Status.State`` ready, or down while its server
  is rebuilt (``boots``), its engine at the version its own boot runs
  (``Description.Engine.EngineVersion``). Each carries ``Version.Index`` (the swarm's raft
  index of its last change: a spec update, or its status going down or up) and a ``Spec``
  that ``POST /nodes/{id}/update?version=N`` replaces (``Availability`` active, pause or
  drain), refused as dockerd refuses it: 400 for a bad version, body, role or availability,
  404 for an unknown node, 500 "update out of sequence" for a stale version. A rebuilt node
  rejoins with a fresh spec (active), keeping its ID;
- a workload: a replicated service ``demo`` of ``replica_count`` (3) tasks placed on ready,
  active nodes (managers take tasks too, as in a swarm); a drained node's tasks are shut
  down and replaced elsewhere, a down node's are lost and replaced, a paused node keeps its
  tasks but gets no new ones. A new task is ``starting`` for ``workload.START_SECONDS``
  before ``running``; with no node for it, ``pending``. ``GET /tasks`` lists them with the
  last shut down ones of each slot (up to the swarm's task history limit, 5 a slot);
- the timeline: cordoned (pause), drained (drain), uncordoned (active), task shutdown /
  lost / scheduled / started, and the nodes' up and down.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import json
import time
from typing import Any

from magnum_lite_sandbox import boots, cluster_sim, workload

SERVICE = "demo"
IMAGE = "nginx:1.27-alpine"
AVAILABILITIES = ("active", "pause", "drain")
ROLES = ("manager", "worker")
TASK_HISTORY = 5
#: The timeline's word for a change to each availability.
AVAILABILITY_EVENTS = {"active": "uncordoned", "pause": "cordoned", "drain": "drained"}
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def ident(seed: str, length: int = 25) -> str:
    """A stable Docker-style identifier (lowercase base36) derived from `seed`."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        chars.append(_BASE36[digit])
    return "".join(chars)


def node_id(cluster_uuid: str, name: str) -> str:
    return ident(f"{cluster_uuid}/{name}")


def role_of(node: cluster_sim.Node) -> str:
    return "manager" if node.role == "master" else "worker"


class SwarmSim(cluster_sim.ClusterSim):
    """Node specs and versions, the demo service's tasks (see the module docstring)."""

    replica_word = "task"

    def __init__(self, view: Any, clock: Callable[[], float] = time.time) -> None:
        self.specs: dict[str, dict[str, Any]] = {}
        self.indexes: dict[str, int] = {}
        self.updated: dict[str, float] = {}
        self.raft_index = 10
        super().__init__(view, clock)

    # -- ClusterSim --------------------------------------------------------------------------
    def default_version(self) -> str:
        return self.view.docker_version

    def replica_name(self, serial: int) -> str:
        return ident(f"{self.view.cluster_uuid}/task/{serial}")

    def availability(self, name: str) -> str:
        spec = self.specs.get(name)
        return str(spec.get("Availability", "active")) if spec else "active"

    def schedulable(self, name: str) -> bool:
        return self.availability(name) == "active"

    def alive(self) -> set[str]:
        return {n.name for n in self.view.nodes
                if self.ready(n.name) and self.availability(n.name) != "drain"}

    def eligible(self) -> list[str]:
        return [n.name for n in self.view.nodes
                if self.ready(n.name) and self.schedulable(n.name)]

    def lost_reason(self, node: str) -> str:
        return "shutdown" if self.ready(node) else "lost"

    def on_change(self, change: boots.Change) -> str | None:
        if change.event == "removed":
            for table in (self.specs, self.indexes, self.updated):
                table.pop(change.name, None)
            return change.event
        node = self.node(change.name)
        if change.event == "up" and node is not None:  # (re)joined: a fresh spec
            self.specs[change.name] = {"Labels": {"magnum.openstack.org/role": node.role},
                                       "Role": role_of(node), "Availability": "active"}
        self._bump(change.name, change.time)
        return change.event

    # -- nodes -------------------------------------------------------------------------------
    def find(self, wanted: str) -> cluster_sim.Node | None:
        """A node by ID or host name, as dockerd resolves it."""
        for node in self.view.nodes:
            if wanted in (node_id(self.view.cluster_uuid, node.name), node.name):
                return node
        return None

    def update_node(self, wanted: str, version_text: str, body: bytes) -> tuple[int, Any]:
        """POST /nodes/{id}/update?version=N (see the module docstring)."""
        with self.lock:
            self._advance(self.clock())
            if not version_text.isdigit():
                return 400, {"message": f"invalid node version '{version_text}': "
                             f"strconv.ParseUint: parsing {json.dumps(version_text)}: "
                             "invalid syntax"}
            version = int(version_text)
            try:
                spec = json.loads(body or b"null")
            except ValueError as exc:
                return 400, {"message": f"invalid JSON: {exc}"}
            if not isinstance(spec, dict):
                return 400, {"message": "invalid JSON: the body is not a node spec"}
            role, availability = spec.get("Role", ""), spec.get("Availability", "")
            if role not in ROLES:
                return 400, {"message": f"invalid Role: {json.dumps(role)}"}
            if availability not in AVAILABILITIES:
                return 400, {"message": f"invalid Availability: {json.dumps(availability)}"}
            node = self.find(wanted)
            if node is None:
                return 404, {"message": f"node {wanted} not found"}
            if version != self.indexes.get(node.name):
                return 500, {"message": OUT_OF_SEQUENCE}
            if role != role_of(node):
                return 400, {"message": "the sandbox does not promote or demote nodes"}
            before = self.availability(node.name)
            labels = spec.get("Labels") if isinstance(spec.get("Labels"), dict) else {}
            self.specs[node.name] = {**({"Name": spec["Name"]} if spec.get("Name") else {}),
                                     "Labels": labels, "Role": role,
                                     "Availability": availability}
            self._bump(node.name, self.now)
            if availability != before:
                self.record(node.name, AVAILABILITY_EVENTS[availability])
            self._advance(self.now)
            return 200, None

    def _bump(self, name: str, when: float) -> None:
        self.raft_index += 1
        self.indexes[name] = self.raft_index
        self.updated[name] = when

    # -- tasks -------------------------------------------------------------------------------
    def service_id(self) -> str:
        return ident(f"{self.view.cluster_uuid}/service/{SERVICE}")

    def tasks(self) -> list[dict]:
        """The service's tasks: current ones, then the last shut down ones of each slot."""
        with self.lock:
            self._advance(self.clock())
            tasks = [self._task(r) for r in self.workload.replicas]
            history: dict[int, list[dict]] = {}
            for replica, why, when in reversed(self.workload.removed):
                kept = history.setdefault(replica.slot, [])
                if len(kept) < TASK_HISTORY - 1:
                    kept.append(self._task(replica, why, when))
            return tasks + [t for slot in sorted(history) for t in history[slot]]

    def _task(self, replica: workload.Replica, gone: str | None = None,
              when: float | None = None) -> dict:
        cluster = self.view.cluster_uuid
        node = replica.node
        if gone is not None:
            state, desired, message = "shutdown", "shutdown", \
                "shutdown" if gone == "shutdown" else "node is down"
            changed = when or self.now
        elif node is None:
            state, desired, message = "pending", "running", "pending task scheduling"
            changed = replica.created
        elif replica.running(self.now):
            state, desired, message = "running", "running", "started"
            changed = replica.running_at or self.now
        else:
            state, desired, message = "starting", "running", "starting"
            changed = replica.scheduled_at or self.now
        status: dict[str, Any] = {"Timestamp": cluster_sim.stamp(changed), "State": state,
                                  "Message": message, "PortStatus": {}}
        if node is None and gone is None:
            status["Err"] = "no suitable node (no node is ready and active)"
        elif state in ("running", "shutdown"):
            status["ContainerStatus"] = {
                "ContainerID": hashlib.sha256(f"{cluster}/{replica.name}".encode()).hexdigest(),
                "PID": 0 if state == "shutdown" else 1000 + replica.serial, "ExitCode": 0}
        task: dict[str, Any] = {
            "ID": replica.name, "Version": {"Index": self.raft_index},
            "CreatedAt": cluster_sim.stamp(replica.created),
            "UpdatedAt": cluster_sim.stamp(changed), "Labels": {},
            "Spec": {"ContainerSpec": {"Image": IMAGE, "Isolation": "default"},
                     "Resources": {"Limits": {}, "Reservations": {}},
                     "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
                     "Placement": {}, "ForceUpdate": 0},
            "ServiceID": self.service_id(), "Slot": replica.slot, "Status": status,
            "DesiredState": desired}
        if node is not None:
            task["NodeID"] = node_id(cluster, node)
        return task

    def service(self) -> dict:
        """The demo service as `docker service inspect` shows it."""
        created = cluster_sim.stamp(self.workload.replicas[0].created) \
            if self.workload.replicas else "1970-01-01T00:00:00Z"
        return {"ID": self.service_id(), "Version": {"Index": 11}, "CreatedAt": created,
                "UpdatedAt": created,
                "Spec": {"Name": SERVICE, "Labels": {},
                         "TaskTemplate": {"ContainerSpec": {"Image": IMAGE},
                                          "RestartPolicy": {"Condition": "any"},
                                          "ForceUpdate": 0, "Runtime": "container"},
                         "Mode": {"Replicated": {"Replicas": self.replica_count}},
                         "EndpointSpec": {"Mode": "vip"}},
                "Endpoint": {"Spec": {}}}
