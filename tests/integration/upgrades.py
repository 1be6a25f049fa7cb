"""What the rolling upgrade tests in the sandbox share (conftest.py has their Kubernetes
templates one minor version apart): templates, the cluster's events, what the sandbox's
timeline must show, and Heat's view of the cluster's stacks."""

from __future__ import annotations

import time
import uuid

from magnum_lite_sandbox import timeline
from tests.integration import clusters

OLD, NEW = "v1.30.4", "v1.31.1"
#: An upgrade replaces every node one batch after another: minutes, not a create's seconds.
UPGRADE_TIMEOUT = 900.0


def events(sandbox, cluster_uuid: str) -> list[dict]:
    response = clusters.rest(sandbox, "GET", f"v1/clusters/{cluster_uuid}/events?limit=100")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def check_timeline(cluster_uuid: str, max_batch_size: int, target: str,
                   until: float | None = None, agentless_masters: bool = False) -> None:
    """What the cluster's nodes lived through (the sandbox's timeline, not the service's
    word): masters one at a time, at most `max_batch_size` workers out of service at once,
    every node drained before its rebuild, the workload never without a ready replica, and
    every node at `target` in the end (at `until`, by default now).

    With `agentless_masters` (Mesos: masters are no agents and run no tasks) a master has
    nothing to drain before its rebuild."""
    until = time.time() if until is None else until
    entries = [e for e in timeline.read(cluster_uuid) if e["time"] <= until]
    start = next(i for i, e in enumerate(entries) if e["event"] in ("cordoned", "drained")
                 or (e["event"] == "down" and e.get("reason") == "rebuilt"))
    state: dict[str, tuple[bool, bool]] = {}
    for entry in entries[:start]:
        state[entry["node"]] = (entry["ready"], entry["schedulable"])
    drained: set[str] = set()
    peak = {"master": 0, "worker": 0}
    running = any(e["ready_replicas"] > 0 for e in entries[:start])
    for entry in entries[start:]:
        node, event = entry["node"], entry["event"]
        if event == "drained" or (event == "down" and entry.get("reason") == "maintenance"):
            drained.add(node)  # Mesos: a machine taken down for maintenance is drained
        if event == "down" and entry.get("reason") == "rebuilt":
            # Mesos masters run no tasks and are no agents: nothing of them to drain.
            assert node in drained or (agentless_masters and "-master-" in node), \
                f"{node} went down before it was drained"
            drained.discard(node)
        if event == "removed":
            state.pop(node, None)
            continue
        state[node] = (entry["ready"], entry["schedulable"])
        running = running or entry["ready_replicas"] > 0  # once the workload started
        assert entry["ready_replicas"] > 0 or not running, \
            f"the workload lost every replica at {entry}"
        out = [n for n, (ready, schedulable) in state.items() if not (ready and schedulable)]
        for role in peak:
            peak[role] = max(peak[role], sum(1 for n in out if ("-master-" in n)
                                             == (role == "master")))
    assert peak["master"] == 1, peak
    assert 1 <= peak["worker"] <= max_batch_size, peak
    versions = {}
    for entry in entries:
        if entry["event"] == "removed":
            versions.pop(entry["node"], None)
        elif entry.get("version"):
            versions[entry["node"]] = entry["version"]
    assert set(versions.values()) == {target}, versions
    assert entries[-1]["ready_replicas"] == 3, entries[-1]


def stack_parameters(heat, cluster_uuid: str) -> dict[str, dict]:
    return {name: heat.stacks.get(stack.id).parameters
            for name, stack in clusters.stacks_of(heat, cluster_uuid).items()}


def heat_state(heat, cluster_uuid: str) -> dict[str, tuple]:
    """Each stack's status, last update and parameters: what any change in Heat moves."""
    return {name: (got.stack_status, got.updated_time, got.parameters)
            for name, stack in clusters.stacks_of(heat, cluster_uuid).items()
            for got in [heat.stacks.get(stack.id)]}


def template(openstack_cli, coe: str, image: str, network_driver: str, label: str,
              server_type: str = "vm") -> dict:
    args = ["--coe", coe, "--image", image, "--network-driver", network_driver,
            "--external-network", "public", "--labels", label, "-f", "json"]
    if server_type == "bm":
        args += ["--server-type", "bm", "--fixed-network", "private", "--flavor", "bm.small",
                 "--master-flavor", "bm.small", "--floating-ip-disabled"]
    else:
        args += ["--flavor", "m1.small", "--master-flavor", "m1.medium",
                 "--master-lb-enabled"]
    return clusters.parse_json(openstack_cli(
        "sandbox", "coe", "cluster", "template", "create",
        f"it-up-{uuid.uuid4().hex[:8]}", *args))
