"""What a rolling upgrade does to a Mesos cluster in the sandbox, through mesos-master's HTTP
maintenance primitives: a schedule, machines down and up (with the masters' credentials),
Marathon's tasks moving off, agents at their own versions, and the timeline. Time is a fake
clock, moved by hand."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import ssl

import pytest

from magnum_lite_sandbox import mesos_api, timeline
from magnum_lite_sandbox.cluster_sim import Node

CLUSTER = "4c6e8a0b-2d4f-4b6c-8d0e-1f2a3b4c5d6e"
MASTER = "mesos-4c6e8a-master-0"
WORKERS = tuple(f"mesos-4c6e8a-default-worker-0-{i}" for i in range(3))
ADMIN = ("magnum-admin", "s3cret")
AGENT = ("magnum-agent", "s3cret2")


def _nodes(digests: dict[str, str] | None = None,
           versions: dict[str, str] | None = None) -> tuple[Node, ...]:
    digests, versions = digests or {}, versions or {}
    return tuple(Node(name, "master" if name == MASTER else "worker", f"10.0.0.{10 + i}",
                      f"srv-{i}", "2026-11-21T18:00:00Z", versions.get(name, "1.7.1"),
                      digests.get(name, "boot-1"))
                 for i, name in enumerate((MASTER, *WORKERS)))


def machine(i: int) -> dict:
    """Worker i's machine ID: the agent's hostname (its private address) and ip."""
    return {"hostname": f"10.0.0.{11 + i}", "ip": f"10.0.0.{11 + i}"}


@pytest.fixture
def api(serve, tmp_path):
    return serve(mesos_api.MesosAPI, mesos_api.MesosView(
        CLUSTER, _nodes(), "1.7.1", "2026-11-21T18:00:00Z", state_dir=str(tmp_path),
        credentials=(ADMIN, AGENT)))


def call(api, ca, method: str, path: str, body=None, auth=ADMIN) -> tuple[int, object]:
    return _call(api.addresses["127.0.0.1"], ca, method, path, body, auth)


def marathon(api, ca, method: str, path: str, body=None, auth=ADMIN) -> tuple[int, object]:
    """A request to Marathon's API, beside the master's on the same address."""
    return _call(api.marathon.addresses["127.0.0.1"], ca, method, path, body, auth)


def _call(port: int, ca, method: str, path: str, body, auth) -> tuple[int, object]:
    context = ssl.create_default_context(cadata=ca.certificate)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            ":".join(auth).encode()).decode()
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        kind = resp.getheader("Content-Type") or ""
        return resp.status, json.loads(raw) if "json" in kind else raw.decode()
    finally:
        conn.close()


def _agents(api, ca) -> dict[str, dict]:
    code, body = call(api, ca, "GET", "/master/slaves", auth=None)
    assert code == 200
    return {a["hostname"]: a for a in body["slaves"]}


def _tasks(api, ca) -> list[dict]:
    return call(api, ca, "GET", "/master/state", auth=None)[1]["frameworks"][0]["tasks"]


def _window(*machines: dict) -> dict:
    return {"windows": [{"machine_ids": list(machines), "unavailability": {
        "start": {"nanoseconds": 1_800_000_000_000_000_000},
        "duration": {"nanoseconds": 3_600_000_000_000}}}]}


def test_agents_report_their_versions_and_marathon_runs_three_tasks(api, ca):
    api.set_view(dataclasses.replace(api.view, nodes=_nodes(versions={WORKERS[2]: "1.11.0"})))
    agents = _agents(api, ca)
    assert [agents[m["hostname"]]["version"] for m in map(machine, range(3))] == [
        "1.7.1", "1.7.1", "1.7.1"]  # a version changes with a boot, not with the view
    tasks = _tasks(api, ca)
    assert [t["state"] for t in tasks] == ["TASK_RUNNING"] * 3
    assert {t["slave_id"] for t in tasks} == {a["id"] for a in agents.values()}


def test_maintenance_drains_a_machine_and_brings_it_back(api, ca, clock, tmp_path):
    assert call(api, ca, "POST", mesos_api.SCHEDULE_PATH, _window(machine(0))) == (200, "")
    assert call(api, ca, "GET", mesos_api.SCHEDULE_PATH)[1] == _window(machine(0))
    assert call(api, ca, "GET", mesos_api.STATUS_PATH)[1] == {
        "draining_machines": [{"id": machine(0)}]}
    agent = _agents(api, ca)[machine(0)["hostname"]]
    assert call(api, ca, "POST", mesos_api.DOWN_PATH, [machine(0)]) == (200, "")
    # Its agent is removed, its task lost and launched again on another agent.
    assert machine(0)["hostname"] not in _agents(api, ca)
    tasks = _tasks(api, ca)
    assert agent["id"] not in {t["slave_id"] for t in tasks}
    assert sorted(t["state"] for t in tasks) == ["TASK_RUNNING", "TASK_RUNNING",
                                                 "TASK_STAGING"]
    assert call(api, ca, "GET", mesos_api.STATUS_PATH)[1] == {"down_machines": [machine(0)]}
    # Rebuilt while DOWN: its new agent may not register until the machine is UP.
    api.set_view(dataclasses.replace(api.view, nodes=_nodes({WORKERS[0]: "boot-2"},
                                                            {WORKERS[0]: "1.11.0"})))
    clock.now += 2.0
    api.tick()
    assert machine(0)["hostname"] not in _agents(api, ca)
    assert call(api, ca, "POST", mesos_api.UP_PATH, [machine(0)]) == (200, "")
    back = _agents(api, ca)[machine(0)["hostname"]]
    assert back["version"] == "1.11.0" and back["active"] and back["id"] != agent["id"]
    assert call(api, ca, "GET", mesos_api.SCHEDULE_PATH)[1] == {}  # up: out of the schedule
    events = [(e["event"], e.get("reason"), e["ready"], e["schedulable"])
              for e in timeline.read(CLUSTER, tmp_path)
              if e["node"] == WORKERS[0] and not e["event"].startswith("task")]
    assert events == [("up", "registered", True, True), ("cordoned", None, True, False),
                      ("down", "maintenance", False, False),
                      ("uncordoned", None, False, True), ("up", "maintenance", True, True)]


def test_mesos_refusals(api, ca):
    assert call(api, ca, "POST", mesos_api.DOWN_PATH, [machine(1)]) == (
        400, f"Machine '{json.dumps(machine(1), separators=(',', ':'))}' is not part of a "
             "maintenance schedule")
    assert call(api, ca, "POST", mesos_api.SCHEDULE_PATH, _window(machine(1)))[0] == 200
    code, body = call(api, ca, "POST", mesos_api.UP_PATH, [machine(1)])
    assert code == 400 and body.endswith("is not in DOWN mode and cannot be brought up")
    assert call(api, ca, "POST", mesos_api.DOWN_PATH, [machine(1)])[0] == 200
    code, body = call(api, ca, "POST", mesos_api.SCHEDULE_PATH, {"windows": []})
    assert code == 400 and body.endswith("is deactivated and cannot be removed from the "
                                         "schedule")
    code, body = call(api, ca, "POST", mesos_api.SCHEDULE_PATH,
                      _window(machine(2), machine(2)))
    assert code == 400 and "appears more than once" in body
    assert call(api, ca, "POST", mesos_api.DOWN_PATH, [])[1] == "List of machines is empty"
    # The read-write realm: the masters' principals only, reads of it included.
    assert call(api, ca, "GET", mesos_api.SCHEDULE_PATH, auth=None)[0] == 401
    assert call(api, ca, "POST", mesos_api.UP_PATH, [machine(1)], auth=("x", "y"))[0] == 401
    assert call(api, ca, "GET", "/master/state", auth=None)[0] == 200


def test_a_machine_id_must_be_the_agents_own(api, ca):
    """Mesos compares hostname and ip: an ID with the hostname alone is scheduled but
    matches no agent, so the agent keeps taking tasks."""
    partial = {"hostname": machine(0)["hostname"]}
    assert call(api, ca, "POST", mesos_api.SCHEDULE_PATH, _window(partial))[0] == 200
    assert call(api, ca, "POST", mesos_api.DOWN_PATH, [partial])[0] == 200
    assert machine(0)["hostname"] in _agents(api, ca)


def _app(api, ca) -> dict:
    code, body = marathon(api, ca, "GET", "/v2/apps?embed=apps.tasks")
    assert code == 200
    [app] = body["apps"]
    return app


def test_marathon_serves_its_app_and_tasks_to_the_operator_only(api, ca):
    app = _app(api, ca)
    assert (app["id"], app["instances"], app["tasksRunning"], app["tasksStaged"]) == (
        "/demo", 3, 3, 0)
    agents = {a["id"]: a for a in _agents(api, ca).values()}
    assert {t["slaveId"] for t in app["tasks"]} == set(agents)
    assert {t["host"] for t in app["tasks"]} == {a["hostname"] for a in agents.values()}
    assert all(t["state"] == "TASK_RUNNING" and t["appId"] == "/demo" and t["startedAt"]
               for t in app["tasks"])
    assert {t["id"] for t in app["tasks"]} == {t["id"] for t in _tasks(api, ca)}
    assert "tasks" not in marathon(api, ca, "GET", "/v2/apps")[1]["apps"][0]
    assert marathon(api, ca, "GET", "/v2/tasks")[1]["tasks"] == app["tasks"]
    assert marathon(api, ca, "GET", "/ping") == (200, "pong")
    # --http_credentials: the operator principal on every endpoint, /ping included.
    for auth in (None, AGENT, ("magnum-admin", "wrong")):
        assert marathon(api, ca, "GET", "/ping", auth=auth) == (401, {"message": "Unauthorized"})
        assert marathon(api, ca, "POST", "/v2/tasks/delete?scale=false",
                        {"ids": [app["tasks"][0]["id"]]}, auth=auth)[0] == 401
    assert _app(api, ca)["tasksRunning"] == 3


def test_a_task_killed_without_scaling_is_replaced_off_the_draining_machine(
        api, ca, clock, tmp_path):
    assert call(api, ca, "POST", mesos_api.SCHEDULE_PATH, _window(machine(0)))[0] == 200
    draining = _agents(api, ca)[machine(0)["hostname"]]["id"]
    [victim] = [t for t in _app(api, ca)["tasks"] if t["slaveId"] == draining]
    code, body = marathon(api, ca, "POST", "/v2/tasks/delete?scale=false",
                          {"ids": [victim["id"]]})
    assert code == 200 and [t["id"] for t in body["tasks"]] == [victim["id"]]
    app = _app(api, ca)
    assert app["instances"] == 3 and (app["tasksRunning"], app["tasksStaged"]) == (2, 1)
    [new] = [t for t in app["tasks"] if t["state"] == "TASK_STAGING"]
    assert new["slaveId"] != draining and "startedAt" not in new  # Marathon declines DRAINING
    state = call(api, ca, "GET", "/master/state", auth=None)[1]["frameworks"][0]
    assert [t["state"] for t in state["completed_tasks"] if t["id"] == victim["id"]] == [
        "TASK_KILLED"]
    clock.now += 2.0
    assert _app(api, ca)["tasksRunning"] == 3
    # The timeline records the move as it records a lost task's.
    names = {_agents(api, ca)[machine(i)["hostname"]]["id"]: WORKERS[i] for i in range(3)}
    moves = [(e["event"], e["node"], e["ready_replicas"]) for e in timeline.read(
        CLUSTER, tmp_path) if e.get("task") in (victim["id"], new["id"])]
    assert moves == [("task started", WORKERS[0], 3), ("task killed", WORKERS[0], 2),
                     ("task scheduled", names[new["slaveId"]], 2),
                     ("task started", names[new["slaveId"]], 3)]


def test_marathon_refusals(api, ca):
    task = _app(api, ca)["tasks"][0]["id"]
    # Scaling the app down is not what a drain does: the sandbox refuses it.
    assert marathon(api, ca, "POST", "/v2/tasks/delete?scale=true", {"ids": [task]})[0] == 405
    assert marathon(api, ca, "POST", "/v2/tasks/delete", {"ids": ["other.1234"]}) == (
        404, {"message": "App '/other' does not exist"})
    assert marathon(api, ca, "POST", "/v2/tasks/delete", {"id": task})[0] == 422
    assert marathon(api, ca, "DELETE", "/v2/apps/demo/tasks/demo.nope?scale=false") == (
        404, {"message": "Task 'demo.nope' does not exist"})
    code, body = marathon(api, ca, "DELETE", f"/v2/apps/demo/tasks/{task}?scale=false")
    assert code == 200 and body["task"]["id"] == task
    assert marathon(api, ca, "GET", "/v2/apps/other")[0] == 404
    assert marathon(api, ca, "PUT", "/v2/apps/demo", {"instances": 1})[0] == 405
