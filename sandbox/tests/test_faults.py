"""Faults for health tests and demos (``faults``): a server stopped and started, as Nova and
each COE's API show it; a server Heat puts in a stopped one's place comes up healthy; a
cluster API made unreachable and reachable again; the CLI and the files the processes share.
Time is a fake clock, moved by hand."""

from __future__ import annotations

from contextlib import closing
import dataclasses
import functools
import http.client
import json
import socket
import ssl

import pytest
import webtest

from fakes import CLUSTER_UUID, FakeHeat, add_cluster, change
from magnum_lite_sandbox import (
    cli,
    cluster_apis,
    docker_api,
    faults,
    kube_api,
    kube_sim,
    mesos_api,
    servers,
    timeline,
)
from magnum_lite_sandbox.cloud_api import nova, store
from magnum_lite_sandbox.cluster_sim import Node
from test_docker_api import _client_pair, _context
from test_kube_drain import _admin

CLUSTER = "5d7f9b1c-3e5a-4c7d-9e1f-2a3b4c5d6e7f"
PROJECT = "6a5b4c3d2e1f40a9b8c7d6e5f4a3b2c1"
NAMES = ("c-5d7f9b-master-0", "c-5d7f9b-default-worker-0-0", "c-5d7f9b-default-worker-0-1")
MASTER, WORKER, OTHER = NAMES


def _nodes(ids: dict[str, str] | None = None, version: str = "v1.30.4") -> tuple[Node, ...]:
    ids = ids or {}
    return tuple(
        Node(
            name,
            "master" if name == MASTER else "worker",
            f"10.0.0.{10 + i}",
            ids.get(name, f"srv-{i}"),
            "2026-11-21T18:00:00Z",
            version,
            "boot-1",
        )
        for i, name in enumerate(NAMES)
    )


def _stop(api, *server_ids: str) -> None:
    api.set_view(dataclasses.replace(api.view, stopped=frozenset(server_ids)))
    api.tick()


def _https(api, ca, path: str, pair=None) -> tuple[int, dict]:
    context = ssl.create_default_context(cadata=ca.certificate)
    if pair is not None:
        context = _context(ca, pair)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", api.addresses["127.0.0.1"], context=context, timeout=10
    )
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


# -- Kubernetes ---------------------------------------------------------------------------


@pytest.fixture
def kube(serve, tmp_path):
    return serve(
        kube_api.ClusterAPI,
        kube_api.ClusterView(
            CLUSTER, _nodes(), "v1.30.4", "2026-11-21T18:00:00Z", state_dir=str(tmp_path)
        ),
    )


def _kube_node(api, ca, name: str) -> dict:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", api.addresses["127.0.0.1"], context=_context(ca, _admin(ca)), timeout=10
    )
    try:
        conn.request("GET", f"/api/v1/nodes/{name}")
        resp = conn.getresponse()
        assert resp.status == 200
        return json.loads(resp.read())
    finally:
        conn.close()


def _ready(node: dict) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def test_a_stopped_kubernetes_node_is_unknown_until_started(kube, ca, clock, tmp_path):
    before = _kube_node(kube, ca, WORKER)
    clock.now += 5
    _stop(kube, "srv-1")
    node = _kube_node(kube, ca, WORKER)
    ready = _ready(node)
    # What the node lifecycle controller writes once kubelet stopped posting.
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    taints = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}
    assert taints == {
        (kube_sim.UNREACHABLE_TAINT, "NoSchedule"),
        (kube_sim.UNREACHABLE_TAINT, "NoExecute"),
        (kube_sim.SHUTDOWN_TAINT, "NoSchedule"),
    }
    assert _ready(_kube_node(kube, ca, OTHER))["status"] == "True"
    clock.now += 60  # stays down for as long as it is stopped
    kube.tick()
    assert _ready(_kube_node(kube, ca, WORKER))["status"] == "Unknown"
    _stop(kube)  # started: it boots
    assert _ready(_kube_node(kube, ca, WORKER))["status"] == "Unknown"
    clock.now += 2
    kube.tick()
    after = _kube_node(kube, ca, WORKER)
    assert _ready(after)["status"] == "True"
    assert "taints" not in after["spec"]
    # The same Node object, rebooted.
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["nodeInfo"]["bootID"] != before["status"]["nodeInfo"]["bootID"]
    changes = [
        (e["event"], e["reason"], e["ready"])
        for e in timeline.read(CLUSTER, tmp_path)
        if e["node"] == WORKER and e["event"] in ("up", "down")
    ]
    assert changes == [
        ("up", "registered", True),
        ("down", "stopped", False),
        ("up", "started", True),
    ]


def test_a_restarted_kubernetes_node_keeps_its_cordon(kube, ca, clock):
    kube.sim.cordon(WORKER, True)
    _stop(kube, "srv-1")
    _stop(kube)
    clock.now += 2
    kube.tick()
    node = _kube_node(kube, ca, WORKER)
    assert _ready(node)["status"] == "True" and node["spec"]["unschedulable"] is True


def test_a_server_put_in_a_stopped_ones_place_comes_up_healthy(kube, ca, clock):
    _stop(kube, "srv-1")
    # Heat replaced the member (mark unhealthy, stack update): same name, new server id;
    # the stop fault still names the old server.
    kube.set_view(dataclasses.replace(kube.view, nodes=_nodes({WORKER: "srv-1-new"})))
    kube.tick()
    assert _ready(_kube_node(kube, ca, WORKER))["status"] == "Unknown"
    clock.now += 2
    kube.tick()
    node = _kube_node(kube, ca, WORKER)
    assert _ready(node)["status"] == "True"
    assert node["spec"]["providerID"] == "openstack:///srv-1-new"
    assert kube.view.stopped == {"srv-1"}


# -- Swarm and Mesos ----------------------------------------------------------------------


def test_a_stopped_swarm_node_is_down_until_started(serve, ca, clock, tmp_path):
    api = serve(
        docker_api.DockerAPI,
        docker_api.DockerView(
            CLUSTER,
            _nodes(version="26.1.4"),
            "26.1.4",
            "2026-11-21T18:00:00Z",
            state_dir=str(tmp_path),
        ),
    )
    pair = _client_pair(ca)

    def state() -> str:
        code, node = _https(api, ca, f"/v1.43/nodes/{WORKER}", pair)
        assert code == 200
        return node["Status"]["State"]

    assert state() == "ready"
    _stop(api, "srv-1")
    assert state() == "down"
    _stop(api)
    clock.now += 2
    api.tick()
    assert state() == "ready"


def test_a_stopped_mesos_agent_is_inactive_then_unreachable(serve, ca, clock, tmp_path):
    api = serve(
        mesos_api.MesosAPI,
        mesos_api.MesosView(
            CLUSTER,
            _nodes(version="1.7.1"),
            "1.7.1",
            "2026-11-21T18:00:00Z",
            state_dir=str(tmp_path),
        ),
    )

    def agents() -> dict[str, dict]:
        code, body = _https(api, ca, "/master/slaves")
        assert code == 200
        return {a["hostname"]: a for a in body["slaves"]}

    first = agents()["10.0.0.11"]
    _stop(api, "srv-1")
    agent = agents()["10.0.0.11"]
    assert (agent["id"], agent["active"], agent["deactivated"]) == (first["id"], False, True)
    clock.now += 74
    api.tick()
    assert "10.0.0.11" in agents()
    clock.now += 1  # agent_ping_timeout x max_agent_ping_timeouts: marked unreachable
    api.tick()
    assert "10.0.0.11" not in agents() and "10.0.0.12" in agents()
    code, state = _https(api, ca, "/master/state")
    assert (
        state["activated_slaves"],
        state["deactivated_slaves"],
        state["unreachable_slaves"],
    ) == (1, 0, 1)
    _stop(api)
    clock.now += 2
    api.tick()
    back = agents()["10.0.0.11"]
    assert back["active"] is True and back["id"] != first["id"]  # a rebooted machine


# -- unreachable --------------------------------------------------------------------------


def test_an_unreachable_api_refuses_connections_until_reachable(kube, ca):
    port = kube.addresses["127.0.0.1"]
    kube.set_reachable(False)
    assert kube.addresses == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    kube.serve(["127.0.0.1"])  # the agent's retries do not bind it meanwhile
    assert kube.addresses == {}
    kube.set_reachable(True)
    assert set(kube.addresses) == {"127.0.0.1"}  # (port 0 here: any free port)
    assert _ready(_kube_node(kube, ca, WORKER))["status"] == "True"


# -- the agent: faults from the state dir, servers to it ----------------------------------


@pytest.fixture
def agent_servers(clock, tmp_path, monkeypatch):
    monkeypatch.setenv("MAGNUM_LITE_SANDBOX_BOOT_SECONDS", "2")
    factory = functools.partial(kube_api.ClusterAPI, clock=lambda: clock.now)
    with closing(cluster_apis.ClusterServers(api_factory=factory, state_dir=str(tmp_path))) as made:
        yield made


def test_the_agent_lists_servers_and_plays_the_faults_of_the_state_dir(
    agent_servers, ca, clock, tmp_path
):
    heat = FakeHeat()
    add_cluster(heat, ca, masters=1, workers=2)
    agent_servers.sweep(heat)
    listed = servers.read(tmp_path)
    assert [(s["id"], s["role"]) for s in listed] == [
        ("srv-m0", "master"),
        ("srv-w0-0", "worker"),
        ("srv-w0-1", "worker"),
    ]
    assert {s["cluster_uuid"] for s in listed} == {CLUSTER_UUID}
    worker = listed[1]["name"]
    assert faults.stop(worker, tmp_path) == {"srv-w0-0": worker}
    agent_servers.sweep(heat)
    sim = agent_servers.clusters[CLUSTER_UUID].api.sim
    assert not sim.ready(worker) and sim.ready(listed[2]["name"])
    faults.start(worker, tmp_path)
    agent_servers.sweep(heat)
    clock.now += 2
    agent_servers.sweep(heat)
    assert sim.ready(worker)
    api = agent_servers.clusters[CLUSTER_UUID].api
    bound = dict(api.addresses)
    assert bound
    faults.unreachable(CLUSTER_UUID, tmp_path)
    agent_servers.sweep(heat)
    assert api.addresses == {}
    faults.reachable(None, tmp_path)
    agent_servers.sweep(heat)
    assert set(api.addresses) == set(bound)  # (port 0 here: any free port)


# -- the files and the CLI ----------------------------------------------------------------


def _listing(tmp_path, *extra: dict) -> list[dict]:
    made = [
        {
            "id": f"srv-{i}",
            "name": name,
            "cluster_uuid": CLUSTER,
            "project_id": PROJECT,
            "role": "master" if name == MASTER else "worker",
            "internal_ip": f"10.0.0.{10 + i}",
            "created": "2026-11-21T18:00:00Z",
            "image": "ubuntu-22.04",
            "flavor": "m1.small",
        }
        for i, name in enumerate(NAMES)
    ]
    servers.write([*made, *extra], tmp_path)
    return made


def test_the_cli_stops_a_server_by_name_and_refuses_an_unknown_or_ambiguous_one(tmp_path, capsys):
    _listing(tmp_path, {"id": "srv-9", "name": OTHER, "project_id": PROJECT})
    assert cli.main(["--state-dir", str(tmp_path), "fault", "stop", WORKER]) == 0
    assert f"stopped: {WORKER} (srv-1)" in capsys.readouterr().out
    assert cli.main(["--state-dir", str(tmp_path), "fault", "stop", "nobody"]) == 1
    assert cli.main(["--state-dir", str(tmp_path), "fault", "stop", OTHER]) == 1
    assert "srv-2, srv-9" in capsys.readouterr().out
    assert cli.main(["--state-dir", str(tmp_path), "fault", "stop", "srv-9"]) == 0
    watch = faults.Faults(tmp_path)
    assert watch.active().stopped == {"srv-1", "srv-9"}
    assert cli.main(["--state-dir", str(tmp_path), "fault", "start", WORKER]) == 0
    assert watch.active().stopped == {"srv-9"}
    assert cli.main(["--state-dir", str(tmp_path), "fault", "unreachable", CLUSTER]) == 0
    assert watch.active().unreachable == {CLUSTER}
    assert cli.main(["--state-dir", str(tmp_path), "fault", "reachable"]) == 0
    assert cli.main(["--state-dir", str(tmp_path), "fault", "start"]) == 0
    assert watch.active() == faults.Active()
    assert cli.main(["--state-dir", str(tmp_path), "fault", "stop"]) == 2


# -- Nova ---------------------------------------------------------------------------------


@pytest.fixture
def compute(tmp_path):
    return webtest.TestApp(nova.NovaApp(store.Store(lb_delay=0, state_dir=str(tmp_path))))


def _as(project: str, admin: bool = False) -> dict:
    return {
        "X-Project-Id": project,
        "X-User-Id": "u1",
        "X-Roles": "admin,member" if admin else "member",
    }


def test_nova_lists_the_simulated_servers_of_the_project(compute, tmp_path):
    _listing(tmp_path, {"id": "srv-x", "name": "theirs", "project_id": "other"})
    body = compute.get("/v2.1/servers", headers=_as(PROJECT)).json
    assert [s["name"] for s in body["servers"]] == list(NAMES)
    assert set(body["servers"][0]) == {"id", "name", "links"}
    detail = compute.get("/v2.1/servers/detail", headers=_as(PROJECT)).json["servers"]
    assert {
        (s["status"], s["OS-EXT-STS:vm_state"], s["OS-EXT-STS:power_state"]) for s in detail
    } == {("ACTIVE", "active", 1)}
    assert detail[1]["addresses"]["private"][0]["addr"] == "10.0.0.11"
    assert detail[1]["tenant_id"] == PROJECT
    assert (
        compute.get("/v2.1/servers/srv-x", headers=_as(PROJECT), status=404).json["itemNotFound"][
            "message"
        ]
        == "Instance srv-x could not be found."
    )
    everyone = compute.get("/v2.1/servers?all_tenants=1", headers=_as("admin-p", admin=True))
    assert len(everyone.json["servers"]) == 4


def test_nova_shows_a_stopped_server_shutoff_and_its_actions_stop_and_start(compute, tmp_path):
    _listing(tmp_path)
    faults.stop(WORKER, tmp_path)
    shown = compute.get("/v2.1/servers/srv-1", headers=_as(PROJECT)).json["server"]
    assert (
        shown["status"],
        shown["OS-EXT-STS:vm_state"],
        shown["OS-EXT-STS:power_state"],
        shown["OS-EXT-STS:task_state"],
    ) == ("SHUTOFF", "stopped", 4, None)
    shutoff = compute.get("/v2.1/servers/detail?status=SHUTOFF", headers=_as(PROJECT))
    assert [s["id"] for s in shutoff.json["servers"]] == ["srv-1"]
    refused = compute.post_json(
        "/v2.1/servers/srv-1/action", {"os-stop": None}, headers=_as(PROJECT), status=409
    ).json
    assert refused["conflictingRequest"]["message"] == (
        "Cannot 'stop' instance srv-1 while it is in vm_state stopped"
    )
    compute.post_json(
        "/v2.1/servers/srv-1/action", {"os-start": None}, headers=_as(PROJECT), status=202
    )
    assert faults.Faults(tmp_path).active().stopped == frozenset()
    compute.post_json(
        "/v2.1/servers/srv-2/action", {"os-stop": None}, headers=_as(PROJECT), status=202
    )
    assert faults.Faults(tmp_path).active().stopped == {"srv-2"}
    compute.post_json(
        "/v2.1/servers/srv-2/action", {"os-reboot": None}, headers=_as(PROJECT), status=400
    )


def test_a_server_heat_replaces_while_stopped_comes_up_healthy(agent_servers, ca, clock, tmp_path):
    heat = FakeHeat()
    add_cluster(heat, ca, masters=1, workers=2)
    agent_servers.sweep(heat)
    worker = servers.read(tmp_path)[1]["name"]
    faults.stop(worker, tmp_path)
    agent_servers.sweep(heat)
    sim = agent_servers.clusters[CLUSTER_UUID].api.sim
    assert not sim.ready(worker)
    # Mark unhealthy and a stack update: Heat replaces the member with a new server.
    old = heat.stacks_by_id["srv-w0-0"]
    heat.add_stack(
        "srv-w0-0-new",
        old["stack_name"] + "-new",
        {},
        {},
        parameters=dict(old["parameters"]),
        status="CREATE_COMPLETE",
        nested=True,
    )
    heat.stacks_by_id["ws-0"]["outputs"]["node_ids"]["0"] = "srv-w0-0-new"
    change(heat, "ws-0", "UPDATE_COMPLETE")
    agent_servers.sweep(heat)
    clock.now += 2
    agent_servers.sweep(heat)
    assert sim.ready(worker)
    assert faults.Faults(tmp_path).active().stopped == {"srv-w0-0"}  # the old server's
    assert [s["id"] for s in servers.read(tmp_path) if s["name"] == worker] == ["srv-w0-0-new"]
