"""Draining Mesos agents through a faithful master API over TLS (basic authentication for
writes): maintenance windows kept and added, machines down when idle or past the grace, up
again; and through the sandbox's master and Marathon APIs, Marathon's tasks moved off one
at a time without the app ever losing its last running task."""

from __future__ import annotations

import signal
import types

import pytest

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base, coe_http
from magnum_lite.drivers.mesos_ubuntu_v1 import coe, userdata
from magnum_lite.drivers.mesos_ubuntu_v1 import driver as mesos_driver
from magnum_lite_sandbox import mesos_api, timeline
from magnum_lite_sandbox.cluster_sim import Node
from tests.unit.drivers import coe_servers

TOKEN = "ab" * 32
NOW = 1_800_000_000.0
READS = ["GET /master/state", "GET /master/maintenance/schedule",
         "GET /master/maintenance/status"]


@pytest.fixture(autouse=True)
def fresh_contexts():
    coe_http.forget_contexts()
    yield
    coe_http.forget_contexts()


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA test", key_type="ec")


@pytest.fixture
def mesos(ca):
    secret = userdata.secret(TOKEN, userdata.ADMIN_PRINCIPAL)
    with coe_servers.FakeMesos(ca, secret=secret) as server:
        server.add_agent("m-worker-0", "10.0.0.20")
        server.add_agent("m-worker-1", "10.0.0.21", version="1.6.2")
        server.add_agent(None, "10.0.0.22", active=False)  # booted before the attribute
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def nodes_of(server, ca, clock=None, token=TOKEN) -> coe.MesosNodes:
    """A client of the fake master, whose Marathon does not answer (nothing listens)."""
    return coe.MesosNodes(f"https://127.0.0.1:{server.port}",
                          lambda: base.ClusterCredentials(cas={"ca": ca}, join_token=token),
                          clock=clock or Clock(), marathon_port=coe_servers.free_port())


def machine(ip: str) -> dict[str, str]:
    return {"hostname": ip, "ip": ip}


def window(start: float, *ips: str) -> dict:
    return {"machine_ids": [machine(ip) for ip in ips],
            "unavailability": {"start": {"nanoseconds": int(start * 1e9)},
                               "duration": {"nanoseconds": 3600 * 10**9}}}


def test_agents_by_their_server_name(mesos, ca):
    mesos.windows = [window(NOW, "10.0.0.21")]
    assert nodes_of(mesos, ca).nodes() == {
        "m-worker-0": base.NodeHealth("m-worker-0", True, "1.7.1", True, None),
        "m-worker-1": base.NodeHealth("m-worker-1", True, "1.6.2", False, None),
        "10.0.0.22": base.NodeHealth("10.0.0.22", False, "1.7.1", True,
                                     "the agent is not active (disconnected from the master)"),
    }
    assert mesos.seen() == ["GET /master/state", "GET /master/maintenance/status"]


def test_an_idle_agent_is_scheduled_and_taken_down_in_one_round(mesos, ca):
    mesos.windows = [window(NOW + 99, "10.0.0.99")]  # someone's window: kept
    assert nodes_of(mesos, ca).drain(["m-worker-0"]) is True
    posts = [r.body for r in mesos.requests if r.method == "POST"]
    assert mesos.seen() == READS + ["POST /master/maintenance/schedule",
                                    "POST /master/machine/down"]
    new_window = window(NOW + coe.DRAIN_GRACE, "10.0.0.20")
    assert posts == [{"windows": [window(NOW + 99, "10.0.0.99"), new_window]},
                     [machine("10.0.0.20")]]
    assert mesos.down == [machine("10.0.0.20")]
    assert [a["hostname"] for a in mesos.agents] == ["10.0.0.21", "10.0.0.22"]


def test_running_tasks_hold_the_machine_draining_until_they_end(mesos, ca):
    agent = mesos.agents[0]["id"]
    mesos.add_task(agent)
    mesos.add_task(agent, state="TASK_FINISHED")
    nodes = nodes_of(mesos, ca)
    assert nodes.drain(["m-worker-0"]) is False
    assert mesos.seen() == READS + ["POST /master/maintenance/schedule"]
    assert mesos.down == []
    assert nodes.drain(["m-worker-0"]) is False  # the window is not posted again
    assert mesos.seen() == READS
    mesos.finish_tasks()
    assert nodes.drain(["m-worker-0"]) is True
    assert mesos.seen() == READS + ["POST /master/machine/down"]
    assert nodes.drain(["m-worker-0"]) is True  # the agent has left the master
    assert mesos.seen() == ["GET /master/state"]


def test_past_the_grace_the_machine_goes_down_with_its_tasks(mesos, ca):
    mesos.add_task(mesos.agents[1]["id"])
    clock = Clock()
    nodes = nodes_of(mesos, ca, clock)
    assert nodes.drain(["m-worker-1"]) is False
    clock.now += coe.DRAIN_GRACE - 1
    assert nodes.drain(["m-worker-1"]) is False
    clock.now += 1
    assert nodes.drain(["m-worker-1"]) is True
    assert mesos.down == [machine("10.0.0.21")] and mesos.tasks == []


class _RefusingMarathon(coe_servers.FakeApi):
    """A Marathon that takes the conductor's credentials for wrong ones."""

    def handle(self, request):
        return 401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="Mesosphere"'}


def test_a_refusing_marathon_is_reported_yet_holds_no_machine_past_the_grace(mesos, ca):
    mesos.add_task(mesos.agents[0]["id"])
    clock = Clock()
    with _RefusingMarathon(ca) as marathon:
        nodes = coe.MesosNodes(f"https://127.0.0.1:{mesos.port}",
                               lambda: base.ClusterCredentials(cas={"ca": ca}, join_token=TOKEN),
                               clock=clock, marathon_port=marathon.port)
        with pytest.raises(exception.CoeError, match="GET /v2/apps: 401"):
            nodes.drain(["m-worker-0"])
        assert mesos.windows and mesos.down == []  # draining, its task still there
        clock.now += coe.DRAIN_GRACE
        assert nodes.drain(["m-worker-0"]) is True
    assert mesos.down == [machine("10.0.0.20")]
    assert marathon.seen() == ["GET /v2/apps?embed=apps.tasks"]  # not asked past the grace


def test_a_node_the_master_does_not_list_counts_as_drained(mesos, ca):
    assert nodes_of(mesos, ca).drain(["m-master-0", "m-worker-9"]) is True
    assert mesos.seen() == ["GET /master/state"]


def test_uncordon_brings_a_down_machine_up_and_out_of_the_schedule(mesos, ca):
    mesos.windows = [window(NOW + 99, "10.0.0.99")]
    nodes = nodes_of(mesos, ca)
    nodes.drain(["m-worker-0"])
    mesos.seen()
    # The agent has left the master: its name no longer leads to its machine.
    nodes.uncordon(["m-worker-0"])
    assert mesos.seen() == ["GET /master/state", "GET /master/maintenance/status",
                            "POST /master/machine/up"]
    assert mesos.down == [] and mesos.windows == [window(NOW + 99, "10.0.0.99")]


def test_uncordon_removes_the_window_of_a_machine_still_draining(mesos, ca):
    mesos.add_task(mesos.agents[0]["id"])
    mesos.windows = [window(NOW + 99, "10.0.0.99")]
    nodes = nodes_of(mesos, ca)
    nodes.drain(["m-worker-0", "m-worker-1"])  # worker-1 idle: down; worker-0 draining
    assert mesos.down == [machine("10.0.0.21")]
    mesos.seen()
    nodes.uncordon(["m-worker-0"])
    assert mesos.seen() == ["GET /master/state", "GET /master/maintenance/status",
                            "GET /master/maintenance/schedule",
                            "POST /master/maintenance/schedule"]
    # worker-1 stays down (its name was not given, and worker-0's was listed).
    assert mesos.down == [machine("10.0.0.21")]
    assert mesos.windows == [window(NOW + 99, "10.0.0.99"),
                             window(NOW + coe.DRAIN_GRACE, "10.0.0.21")]


def test_uncordon_of_a_machine_in_no_maintenance_writes_nothing(mesos, ca):
    nodes_of(mesos, ca).uncordon(["m-worker-0", "m-master-0"])
    assert mesos.seen() == ["GET /master/state", "GET /master/maintenance/status"]


def test_writes_need_the_operator_secret(mesos, ca):
    with pytest.raises(exception.CoeError, match="POST /master/maintenance/schedule: 401 "
                                                 "Unauthorized"):
        nodes_of(mesos, ca, token="cd" * 32).drain(["m-worker-0"])
    with pytest.raises(exception.CoeError, match="no join token"):
        nodes_of(mesos, ca, token=None).nodes()


def test_a_refusal_names_the_request_and_the_masters_message(mesos, ca):
    mesos.down = [machine("10.0.0.50")]  # down, yet missing from the schedule: refused
    with pytest.raises(exception.CoeError) as caught:
        nodes_of(mesos, ca).drain(["m-worker-0"])
    assert "POST /master/maintenance/schedule: 400 Bad Request: Machine " in str(caught.value)
    assert "is deactivated and cannot be removed from the schedule" in str(caught.value)


def test_a_standby_master_redirects_to_the_leader(mesos, ca):
    with coe_servers.FakeMesos(ca, leader=mesos) as standby:
        assert nodes_of(standby, ca).drain(["m-worker-0"]) is True
        assert len(standby.seen()) == 5
    assert mesos.seen() == READS + ["POST /master/maintenance/schedule",
                                    "POST /master/machine/down"]


def test_an_unreachable_master(ca):
    nodes = coe.MesosNodes(f"https://127.0.0.1:{coe_servers.free_port()}",
                           lambda: base.ClusterCredentials(cas={"ca": ca}, join_token=TOKEN))
    with pytest.raises(exception.CoeUnreachable, match="Mesos"):
        nodes.drain(["m-worker-0"])


def test_a_master_of_another_ca_is_refused(ca):
    with coe_servers.FakeMesos(x509.generate_ca("other", key_type="ec")) as server:
        with pytest.raises(exception.CoeError, match="does not verify against the cluster CA"):
            nodes_of(server, ca).nodes()


def test_the_driver_gives_its_client_on_the_master_port():
    cluster = types.SimpleNamespace(api_address="https://192.0.2.9:5050")
    nodes = mesos_driver.MesosUbuntuV1({}).coe_nodes(
        cluster, types.SimpleNamespace(tls_disabled=False), credentials=lambda: None)
    assert isinstance(nodes, coe.MesosNodes)


# -- Marathon's tasks, through the sandbox's master and Marathon APIs --------------------------

CLUSTER = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
WORKERS = tuple(f"m-worker-{i}" for i in range(3))


def _nodes(workers: int) -> tuple[Node, ...]:
    return tuple(Node(name, "master" if i == 0 else "worker", f"10.0.0.{10 + i}", f"srv-{i}",
                      "2026-11-21T18:00:00Z", "1.7.1", "boot-1")
                 for i, name in enumerate(("m-master-0", *WORKERS[:workers])))


@pytest.fixture
def sandbox(ca, tmp_path, monkeypatch):
    """A Mesos cluster whose three Marathon tasks all run on m-worker-0 (it was the only
    worker when they started), with two more workers up since."""
    # A peer hanging up mid-answer must raise EPIPE in the server's thread, not end pytest
    # (the sandbox's own main(), run in-process by some sandbox tests, restores SIG_DFL).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    monkeypatch.setenv("MAGNUM_LITE_SANDBOX_BOOT_SECONDS", "2")
    clock = Clock()
    view = mesos_api.MesosView(
        CLUSTER, _nodes(1), "1.7.1", "2026-11-21T18:00:00Z", state_dir=str(tmp_path),
        credentials=((userdata.ADMIN_PRINCIPAL,
                      userdata.secret(TOKEN, userdata.ADMIN_PRINCIPAL)),))
    api = mesos_api.MesosAPI(view, ca, port=0, clock=clock)
    api.serve(["127.0.0.1"])
    api.set_view(mesos_api.MesosView(**{**view.__dict__, "nodes": _nodes(3)}))
    clock.now += 3
    api.tick()
    nodes = coe.MesosNodes(
        f"https://127.0.0.1:{api.addresses['127.0.0.1']}",
        lambda: base.ClusterCredentials(cas={"ca": ca}, join_token=TOKEN), clock=clock,
        marathon_port=api.marathon.addresses["127.0.0.1"])
    yield types.SimpleNamespace(api=api, clock=clock, nodes=nodes, state_dir=tmp_path)
    api.close()


def _marathon_tasks(sandbox) -> dict[str, str]:
    """Marathon's tasks: id -> the node it runs on."""
    names = {a.id: a.name for a in sandbox.nodes._agents().values()}
    return {t["id"]: names[t["slaveId"]] for t in sandbox.api.sim.marathon_tasks()}


def test_marathons_tasks_move_off_one_at_a_time_and_the_app_keeps_running(sandbox):
    assert set(_marathon_tasks(sandbox).values()) == {"m-worker-0"}
    rounds = 0
    while not sandbox.nodes.drain(["m-worker-0"]):
        rounds += 1
        assert rounds < 20
        sandbox.clock.now += 0.5  # a replacement starts in a second
        sandbox.api.tick()
    assert sandbox.clock.now < NOW + coe.DRAIN_GRACE  # moved, not waited out
    moved = _marathon_tasks(sandbox)
    assert len(moved) == 3 and "m-worker-0" not in moved.values()
    entries = timeline.read(CLUSTER, sandbox.state_dir)
    start = next(i for i, e in enumerate(entries) if e["event"] == "cordoned")
    events = [(e["event"], e["node"]) for e in entries[start:]]
    kills = [i for i, (event, _) in enumerate(events) if event == "task killed"]
    assert len(kills) == 3 and ("task lost", "m-worker-0") not in events
    # One at a time: each kill after the previous replacement started.
    for before, after in zip(kills, kills[1:], strict=False):
        assert any(e == "task started" for e, _ in events[before:after])
    assert all(e["ready_replicas"] >= 2 for e in entries[start:])
    assert events[-1] == ("down", "m-worker-0")


def test_a_drain_waits_while_a_replacement_is_staging(sandbox):
    assert sandbox.nodes.drain(["m-worker-0"]) is False
    killed = [e for e in timeline.read(CLUSTER, sandbox.state_dir)
              if e["event"] == "task killed"]
    assert len(killed) == 1
    assert sandbox.nodes.drain(["m-worker-0"]) is False  # the replacement is not running yet
    assert [e for e in timeline.read(CLUSTER, sandbox.state_dir)
            if e["event"] == "task killed"] == killed


def _app(*tasks: dict, instances: int | None = None, checks: int = 0) -> dict:
    return {"id": "/web", "instances": len(tasks) if instances is None else instances,
            "healthChecks": [{"protocol": "HTTP"}] * checks, "tasks": list(tasks)}


def _task(task_id: str, agent: str, state: str = "TASK_RUNNING",
          alive: bool | None = None) -> dict:
    task = {"id": task_id, "slaveId": agent, "state": state}
    if alive is not None:
        task["healthCheckResults"] = [{"alive": alive}]
    return task


@pytest.mark.parametrize(("app", "spare"), [
    (_app(_task("a", "S0"), _task("b", "S1")), "a"),
    (_app(_task("a", "S0"), _task("b", "S0")), "a"),  # another one on that agent
    (_app(_task("a", "S0")), None),  # its last running task
    (_app(_task("a", "S0"), _task("b", "S1", "TASK_STAGING")), None),  # a replacement
    (_app(_task("a", "S0"), _task("b", "S1"), instances=3), None),  # one not launched yet
    (_app(_task("a", "S2"), _task("b", "S1")), None),  # none on the draining agent
    (_app(_task("a", "S0", alive=True), _task("b", "S1", alive=False), checks=1), None),
    (_app(_task("a", "S0", alive=False), _task("b", "S1", alive=True), checks=1), "a"),
    (_app(_task("a", "S0", alive=True), _task("b", "S0", alive=False),
          _task("c", "S1", alive=True), checks=1), "b"),  # the unhealthy one first
    (_app(_task("a", "S0"), _task("b", "S1"), checks=1), None),  # no health results yet
])
def test_a_task_is_spared_only_while_its_app_keeps_another_healthy(app, spare):
    assert coe._spare_task(app, {"S0"}) == spare
