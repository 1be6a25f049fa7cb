"""The repair action (`POST /v1/clusters/{id}/actions/repair`, 1.19, ours): its body and the
refusals that come before anything is stored. clusters.py serves the action with these.

The body: `nodes` (server names or Nova ids; absent: the nodes the health monitor shows
not ready) and `force` (repair nodes shown ready too). Whether each node exists is the
conductor's to say (the driver plans the repair from the cloud): an unknown one is a 400
naming `nodes`, from its answer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from magnum_lite import objects
from magnum_lite.api.controllers.v1 import types
from magnum_lite.common import exception

FIELDS = ("nodes", "force")
#: The most nodes one repair may name.
MAX_NODES = 100
#: health_status_reason's key of a node's readiness: "<node>.Ready".
READY_SUFFIX = ".Ready"
#: Its key of a master's server as Nova shows it when the COE API is unreachable.
SERVER_SUFFIX = ".server"


@dataclasses.dataclass(frozen=True)
class RepairRequest:
    """A repair request's body, its types checked (`nodes` None: not given)."""

    nodes: list[str] | None
    force: bool = False


def parse(data: Any) -> RepairRequest:
    """The repair request of a body; 400 naming the field for anything wrong."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    for name in data:
        if name not in FIELDS:
            raise types.invalid(str(name)[:80], "unknown field.")
    force = data.get("force") is not None and types.check_bool("force", data["force"])
    nodes = data.get("nodes")
    if nodes is not None:
        if not isinstance(nodes, list) or not nodes:
            raise types.invalid("nodes", "must be a non-empty list of node names or ids.")
        if len(nodes) > MAX_NODES:
            raise types.invalid("nodes", f"at most {MAX_NODES} nodes per repair.")
        nodes = [types.check_text("nodes", node, min_length=1, max_length=255)
                 for node in nodes]
        nodes = list(dict.fromkeys(nodes))
    return RepairRequest(nodes, force)


def _readiness(cluster: objects.Cluster) -> dict[str, bool]:
    """What the health monitor last said of each node: ready or not (a master whose
    server Nova shows down, while the API cannot be reached, is not)."""
    reason = cluster.health_status_reason or {}
    found = {key[:-len(READY_SUFFIX)]: value == "True"
             for key, value in reason.items() if key.endswith(READY_SUFFIX)}
    found.update({key[:-len(SERVER_SUFFIX)]: value == "ACTIVE"
                  for key, value in reason.items() if key.endswith(SERVER_SUFFIX)})
    return found


def nodes_to_repair(cluster: objects.Cluster, request: RepairRequest) -> list[str]:
    """The nodes the repair replaces: those named, or the ones shown not ready. 400 naming
    `nodes` when none is given and none is unhealthy, or when a node shown ready is named
    without `force`."""
    readiness = _readiness(cluster)
    if request.nodes is None:
        unhealthy = sorted(name for name, ready in readiness.items() if not ready)
        if not unhealthy:
            raise types.invalid("nodes", f"cluster {cluster.uuid} has no node its health "
                                         f"check shows unhealthy: name the nodes to repair "
                                         f"(with force for healthy ones).")
        return unhealthy
    healthy = [name for name in request.nodes if readiness.get(name)]
    if healthy and not request.force:
        raise types.invalid("nodes", f"{', '.join(healthy)} "
                                     f"{'is' if len(healthy) == 1 else 'are'} healthy: give "
                                     f"force: true to replace "
                                     f"{'it' if len(healthy) == 1 else 'them'} anyway.")
    return list(request.nodes)
