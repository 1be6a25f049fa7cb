"""What a rolling upgrade does to a swarm in the sandbox, through the Docker Engine API as a
Docker client uses it: node availability updates at the node's version, tasks that move off
a drained node, a node rebuilt into a new engine version, and the timeline. Time is a fake
clock, moved by hand."""

from __future__ import annotations

import dataclasses
import http.client
import json
import urllib.parse

import pytest

from magnum_lite_sandbox import docker_api, swarm_sim, timeline
from magnum_lite_sandbox.cluster_sim import Node
from test_docker_api import _client_pair, _context

CLUSTER = "2b4d6f8a-1c3e-4a5b-9c7d-8e9f0a1b2c3d"
MANAGER = "swarm-2b4d6f-master-0"
WORKERS = tuple(f"swarm-2b4d6f-default-worker-0-{i}" for i in range(2))


def _nodes(digests: dict[str, str] | None = None,
           versions: dict[str, str] | None = None) -> tuple[Node, ...]:
    digests, versions = digests or {}, versions or {}
    return tuple(Node(name, "master" if name == MANAGER else "worker", f"10.0.0.{10 + i}",
                      f"srv-{i}", "2026-11-21T18:00:00Z", versions.get(name, "26.1.4"),
                      digests.get(name, "boot-1"))
                 for i, name in enumerate((MANAGER, *WORKERS)))


@pytest.fixture
def api(serve, tmp_path):
    return serve(docker_api.DockerAPI, docker_api.DockerView(
        CLUSTER, _nodes(), "26.1.4", "2026-11-21T18:00:00Z", state_dir=str(tmp_path)))


def call(api, ca, method: str, path: str, body=None) -> tuple[int, object]:
    conn = http.client.HTTPSConnection("127.0.0.1", api.addresses["127.0.0.1"], timeout=10,
                                       context=_context(ca, _client_pair(ca)))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def _node(api, ca, name: str) -> dict:
    code, node = call(api, ca, "GET", f"/v1.43/nodes/{name}")
    assert code == 200
    return node


def _set(api, ca, name: str, availability: str, version: int | None = None) -> tuple:
    node = _node(api, ca, name)
    spec = {**node["Spec"], "Availability": availability}
    index = node["Version"]["Index"] if version is None else version
    return call(api, ca, "POST", f"/v1.43/nodes/{node['ID']}/update?version={index}", spec)


def _tasks(api, ca, **filters) -> list[dict]:
    query = urllib.parse.quote(json.dumps({k.replace("_", "-"): [v] for k, v in
                                           filters.items()}))
    code, tasks = call(api, ca, "GET", f"/v1.43/tasks?filters={query}")
    assert code == 200
    return tasks


def test_nodes_tasks_and_the_service(api, ca):
    node = _node(api, ca, WORKERS[0])
    assert node["Description"]["Engine"]["EngineVersion"] == "26.1.4"
    assert node["Spec"]["Availability"] == "active" and node["Status"]["State"] == "ready"
    tasks = _tasks(api, ca, desired_state="running")
    assert len(tasks) == 3 and {t["Status"]["State"] for t in tasks} == {"running"}
    # Managers take tasks too: one task on each of the three nodes.
    assert len({t["NodeID"] for t in tasks}) == 3
    code, [service] = call(api, ca, "GET", "/services")
    assert service["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert {t["ServiceID"] for t in tasks} == {service["ID"]}
    assert len(_tasks(api, ca, node=WORKERS[0])) == 1  # by host name, as by ID
    code, body = call(api, ca, "GET", "/tasks?filters=" + urllib.parse.quote('{"x":["y"]}'))
    assert code == 400 and body == {"message": "invalid filter 'x'"}


def test_drain_moves_the_tasks_and_versions_guard_updates(api, ca, tmp_path):
    before = _node(api, ca, WORKERS[0])["Version"]["Index"]
    assert _set(api, ca, WORKERS[0], "drain") == (200, None)
    node = _node(api, ca, WORKERS[0])
    assert node["Spec"]["Availability"] == "drain" and node["Version"]["Index"] > before
    assert _tasks(api, ca, node=WORKERS[0], desired_state="running") == []
    [old] = _tasks(api, ca, node=WORKERS[0])
    assert (old["DesiredState"], old["Status"]["State"]) == ("shutdown", "shutdown")
    running = _tasks(api, ca, desired_state="running")
    assert len(running) == 3 and [t["Status"]["State"] for t in running].count("starting") == 1
    # A stale version is refused as dockerd refuses it.
    code, body = _set(api, ca, WORKERS[0], "active", version=before)
    assert (code, body) == (500, {"message": swarm_sim.OUT_OF_SEQUENCE})
    code, body = _set(api, ca, WORKERS[0], "sideways")
    assert code == 400 and body["message"] == 'invalid Availability: "sideways"'
    code, body = call(api, ca, "POST", "/nodes/nope/update?version=1",
                      {"Role": "worker", "Availability": "active"})
    assert (code, body) == (404, {"message": "node nope not found"})
    code, body = call(api, ca, "POST", f"/nodes/{node['ID']}/update", node["Spec"])
    assert code == 400 and body["message"].startswith("invalid node version ''")
    assert _set(api, ca, WORKERS[0], "active") == (200, None)
    events = [(e["node"], e["event"]) for e in timeline.read(CLUSTER, tmp_path)
              if e["event"] in ("drained", "uncordoned", "task shutdown")]
    assert events == [(WORKERS[0], "drained"), (WORKERS[0], "task shutdown"),
                      (WORKERS[0], "uncordoned")]


def test_pause_keeps_tasks_but_takes_no_new_ones(api, ca, clock):
    assert _set(api, ca, WORKERS[1], "pause")[0] == 200
    assert len(_tasks(api, ca, node=WORKERS[1], desired_state="running")) == 1
    assert _set(api, ca, WORKERS[0], "drain")[0] == 200
    # The drained node's task can only go to the manager now.
    manager_tasks = _tasks(api, ca, node=MANAGER, desired_state="running")
    assert len(manager_tasks) == 2


def test_a_rebuilt_node_is_down_then_back_at_its_new_version_and_active(api, ca, clock,
                                                                       tmp_path):
    assert _set(api, ca, WORKERS[0], "drain")[0] == 200
    api.set_view(dataclasses.replace(api.view, nodes=_nodes({WORKERS[0]: "boot-2"},
                                                            {WORKERS[0]: "27.3.1"})))
    down = _node(api, ca, WORKERS[0])
    assert down["Status"]["State"] == "down"
    assert down["Description"]["Engine"]["EngineVersion"] == "26.1.4"
    clock.now += 2.0
    api.tick()
    up = _node(api, ca, WORKERS[0])
    assert up["Status"]["State"] == "ready" and up["Spec"]["Availability"] == "active"
    assert up["Description"]["Engine"]["EngineVersion"] == "27.3.1"
    assert up["ID"] == down["ID"] and up["Version"]["Index"] > down["Version"]["Index"]
    states = [(e["event"], e["ready"], e["version"])
              for e in timeline.read(CLUSTER, tmp_path) if e["node"] == WORKERS[0]
              and e["event"] in ("down", "up")]
    assert states[-2:] == [("down", False, "26.1.4"), ("up", True, "27.3.1")]
