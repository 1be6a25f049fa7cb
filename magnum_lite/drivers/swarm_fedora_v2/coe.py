"""A swarm-mode cluster's nodes through the managers' Docker Engine API, for a rolling
upgrade's drain.

A node is drained by setting its availability to "drain" (POST /nodes/{id}/update with the
node's whole spec, role and labels kept, and the version index it was read at: swarm refuses
an update from a stale read with "update out of sequence", which makes the round say not done
so the next one reads again). Swarm's orchestrator then shuts the node's tasks down and starts
replicas elsewhere; the node is drained once none of its tasks is meant to run or still runs.
A node is the server whose name is its hostname (Description.Hostname), as the nodes boot.

dockerd on the managers (--tlsverify) accepts any client certificate of the cluster CA.
"""

from __future__ import annotations

import json
from typing import Any
import urllib.parse

from magnum_lite.common import exception
from magnum_lite.drivers import base, coe_http
from magnum_lite.drivers.swarm_fedora_v2 import userdata

COE = "Docker"
#: The Engine API version asked for: Docker 20.10 and later serve it (the plugin needs 24+).
API_VERSION = "v1.41"
IDENTITY = coe_http.ClientIdentity(coe_http.CONDUCTOR_NAME)
#: What swarm answers to an update from a stale version index.
OUT_OF_SEQUENCE = "update out of sequence"
#: Task states in which a container runs or is about to (the rest are final).
LIVE_TASK_STATES = frozenset({"new", "pending", "assigned", "accepted", "preparing", "ready",
                              "starting", "running"})


def _hostname(node: dict[str, Any]) -> str | None:
    return (node.get("Description") or {}).get("Hostname")


class SwarmNodes(base.CoeNodes):
    """The nodes of one swarm, through the managers' TLS Docker API."""

    def __init__(self, api_address: str | None, credentials: base.CredentialsLoader, *,
                 timeout: float | None = None) -> None:
        self._api = coe_http.CoeHttpClient(
            COE, api_address, lambda: coe_http.cluster_ca(credentials, COE),
            identity=IDENTITY, default_port=userdata.DOCKER_TLS_PORT, timeout=timeout)

    @staticmethod
    def _path(path: str) -> str:
        return f"/{API_VERSION}{path}"

    def _nodes(self) -> dict[str, dict[str, Any]]:
        """The swarm's nodes by hostname."""
        listed = self._api.get_json(self._path("/nodes"))
        if not isinstance(listed, list):
            raise exception.CoeError(coe=COE, reason="GET /nodes: not a list")
        return {_hostname(n): n for n in listed if isinstance(n, dict) and _hostname(n)}

    def nodes(self) -> dict[str, base.NodeHealth]:
        found = {}
        for name, node in self._nodes().items():
            status = node.get("Status") or {}
            state = status.get("State")
            found[name] = base.NodeHealth(
                name=name, ready=state == "ready",
                version=((node.get("Description") or {}).get("Engine") or {}).get(
                    "EngineVersion"),
                schedulable=(node.get("Spec") or {}).get("Availability") == "active",
                reason=None if state == "ready" else
                (status.get("Message") or f"the node is {state or 'in an unknown state'}"))
        return found

    def _set_availability(self, node: dict[str, Any], availability: str) -> bool:
        """Update the node's availability, the rest of its spec as read; False when swarm
        refused it for a stale version index."""
        spec = {**(node.get("Spec") or {}), "Availability": availability}
        index = (node.get("Version") or {}).get("Index")
        path = self._path(f"/nodes/{urllib.parse.quote(node['ID'], safe='')}/update")
        response = self._api.request("POST", path, query={"version": str(index)}, body=spec,
                                     allow=(400, 409, 500))
        if response.status < 400:
            return True
        message = coe_http.message_of(response.body)
        if OUT_OF_SEQUENCE in message:
            return False
        raise exception.CoeError(coe=COE, reason=f"POST {path}: {response.status} "
                                                 f"{response.reason}: {message or 'no message'}")

    def _tasks_left(self, node: dict[str, Any]) -> int:
        """The node's tasks that are meant to run, or still run while the node is up (a
        down node's tasks keep the last state it reported)."""
        tasks = self._api.get_json(self._path("/tasks"),
                                   {"filters": json.dumps({"node": [node["ID"]]})})
        if not isinstance(tasks, list):
            raise exception.CoeError(coe=COE, reason="GET /tasks: not a list")
        up = (node.get("Status") or {}).get("State") == "ready"
        return sum(1 for task in tasks if isinstance(task, dict) and (
            task.get("DesiredState") == "running"
            or (up and (task.get("Status") or {}).get("State") in LIVE_TASK_STATES)))

    def drain(self, names: list[str]) -> bool:
        known = self._nodes()
        done = True
        for name in names:
            node = known.get(name)
            if node is None:
                continue  # a node swarm does not know runs nothing of it
            if (node.get("Spec") or {}).get("Availability") != "drain" and \
                    not self._set_availability(node, "drain"):
                done = False  # read again next round
                continue
            if self._tasks_left(node):
                done = False
        return done

    def uncordon(self, names: list[str]) -> None:
        """Availability "active" again; a stale read is read again once."""
        known = self._nodes()
        for name in names:
            node = known.get(name)
            if node is None or (node.get("Spec") or {}).get("Availability") == "active":
                continue
            if self._set_availability(node, "active"):
                continue
            fresh = self._api.get_json(
                self._path(f"/nodes/{urllib.parse.quote(node['ID'], safe='')}"))
            if not self._set_availability(fresh, "active"):
                raise exception.CoeError(coe=COE, reason=f"node {name}: {OUT_OF_SEQUENCE} "
                                                         "twice")
