"""The guest agent's logic, with python-heatclient faked at its boundary.

The fake returns what heatclient returns (objects whose attributes are the API's JSON
fields: ``stack_status``, ``resource_status``, ``physical_resource_id``, a handle's
``attributes`` with ``endpoint`` and ``token``), so the agent is tested against the shapes of
the real API, not against itself.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from magnum_lite.sandbox import agent


class FakeHTTPNotFound(Exception):
    code = 404


class FakeHeat:
    """Just enough of heatclient.v1.client.Client: stacks, resources, software_deployments."""

    def __init__(self):
        self.stacks_by_id: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}
        self.calls: list[tuple] = []
        self.stacks = SimpleNamespace(list=self._stacks_list, template=self._template,
                                      get=self._stack_get)
        self.resources = SimpleNamespace(list=self._resources_list, get=self._resource_get)
        self.software_deployments = SimpleNamespace(list=self._sd_list, update=self._sd_update)

    def add_stack(self, sid, name, template, resources, parameters=None,
                  status="CREATE_IN_PROGRESS"):
        self.stacks_by_id[sid] = {"id": sid, "stack_name": name, "stack_status": status,
                                  "creation_time": "2026-11-21T18:00:00Z", "updated_time": None,
                                  "template": template, "parameters": parameters or {},
                                  "resources": resources}

    def _lookup(self, ref):
        name, sid = ref.split("/")
        stack = self.stacks_by_id.get(sid)
        if stack is None or stack["stack_name"] != name:
            raise FakeHTTPNotFound(ref)
        return stack

    def _stacks_list(self, **kwargs):
        self.calls.append(("stacks.list", kwargs))
        assert kwargs == {"show_nested": True, "filters": {"status": "IN_PROGRESS"}}
        return iter([SimpleNamespace(**{k: v for k, v in s.items()
                                        if k not in ("template", "parameters", "resources")})
                     for s in self.stacks_by_id.values()
                     if s["stack_status"].endswith("_IN_PROGRESS")])

    def _template(self, ref):
        self.calls.append(("stacks.template", ref))
        return self._lookup(ref)["template"]

    def _stack_get(self, ref, resolve_outputs=True):
        self.calls.append(("stacks.get", ref))
        stack = self._lookup(ref)
        return SimpleNamespace(id=stack["id"], stack_name=stack["stack_name"],
                               parameters=stack["parameters"])

    def _resources_list(self, ref, **kwargs):
        self.calls.append(("resources.list", ref))
        return [SimpleNamespace(resource_name=n, **r)
                for n, r in self._lookup(ref)["resources"].items()]

    def _resource_get(self, ref, name):
        self.calls.append(("resources.get", ref, name))
        stack = self._lookup(ref)
        res = stack["resources"][name]
        attributes = {}
        if res["resource_type"] == agent.WAIT_HANDLE:
            endpoint = (f"http://127.0.0.1:8004/v1/p1/stacks/{stack['stack_name']}/"
                        f"{stack['id']}/resources/{name}/signal")
            attributes = {"endpoint": endpoint, "token": f"token-{name}",
                          "curl_cli": f"curl -i -X POST -H 'X-Auth-Token: token-{name}' "
                                      f"{endpoint}"}
        return SimpleNamespace(resource_name=name, attributes=attributes, **res)

    def _sd_list(self, **kwargs):
        # Heat lists every project's deployments to an admin, oldest first.
        self.calls.append(("software_deployments.list", kwargs))
        base = {"config_id": "c", "server_id": "srv", "input_values": {},
                "output_values": None, "status_reason": "", "action": "CREATE"}
        return [SimpleNamespace(id=i, **{**base, **d}) for i, d in self.deployments.items()]

    def _sd_update(self, deployment_id, **kwargs):
        self.calls.append(("software_deployments.update", deployment_id, kwargs))
        if deployment_id not in self.deployments:
            raise FakeHTTPNotFound(deployment_id)
        self.deployments[deployment_id].update(kwargs)


def res(rtype, status="CREATE_COMPLETE", physical=""):
    return {"resource_type": rtype, "resource_status": status, "physical_resource_id": physical}


MEMBER_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "resources": {
        "port": {"type": "OS::Neutron::Port", "properties": {"network": "private"}},
        "server": {"type": "OS::Nova::Server", "properties": {"flavor": "m1.small"}},
        "config": {"type": "OS::Heat::SoftwareConfig", "properties": {"config": "true"}},
        "deploy": {"type": "OS::Heat::SoftwareDeployment",
                   "properties": {"config": {"get_resource": "config"},
                                  "server": {"get_resource": "server"},
                                  "signal_transport": "HEAT_SIGNAL"}},
    },
}

WAIT_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "parameters": {"masters": {"type": "number"}},
    "resources": {
        "handle": {"type": "OS::Heat::WaitConditionHandle"},
        "wait": {"type": "OS::Heat::WaitCondition",
                 "properties": {"handle": {"get_resource": "handle"},
                                "count": {"get_param": "masters"}, "timeout": 600}},
    },
}


@pytest.fixture
def heat():
    return FakeHeat()


@pytest.fixture
def posted():
    return []


@pytest.fixture
def clock():
    return SimpleNamespace(now=100.0)


@pytest.fixture
def the_agent(heat, posted, clock):
    return agent.Agent(heat, lambda endpoint, token, body: posted.append((endpoint, token, body)),
                       clock=lambda: clock.now)


def test_idle_sweep_is_one_list_call(heat, the_agent):
    heat.add_stack("s0", "done", MEMBER_TEMPLATE, {}, status="CREATE_COMPLETE")
    assert the_agent.sweep() is False
    assert heat.calls == [("stacks.list", {"show_nested": True,
                                           "filters": {"status": "IN_PROGRESS"}})]


def test_in_progress_deployment_is_reported_complete(heat, the_agent):
    heat.add_stack("m1", "grp-0-abc", MEMBER_TEMPLATE, {
        "server": res("OS::Nova::Server", physical="m1-server"),
        "deploy": res("OS::Heat::SoftwareDeployment", "CREATE_IN_PROGRESS", "dep-1")})
    heat.deployments["dep-1"] = {"status": "IN_PROGRESS", "action": "CREATE"}
    heat.deployments["dep-0"] = {"status": "COMPLETE", "action": "CREATE"}
    assert the_agent.sweep() is True
    update = [c for c in heat.calls if c[0] == "software_deployments.update"]
    assert update == [("software_deployments.update", "dep-1",
                       {"status": "COMPLETE", "status_reason": "Outputs received",
                        "output_values": {"deploy_stdout": "", "deploy_stderr": "",
                                          "deploy_status_code": 0}})]
    # The next sweep sees it COMPLETE and leaves it alone.
    heat.calls.clear()
    the_agent.sweep()
    assert not [c for c in heat.calls if c[0] == "software_deployments.update"]


def test_deployments_are_not_read_from_each_member_stack(heat, the_agent):
    for i in range(5):
        heat.add_stack(f"m{i}", f"grp-{i}", MEMBER_TEMPLATE, {
            "deploy": res("OS::Heat::SoftwareDeployment", "CREATE_IN_PROGRESS", f"dep-{i}")})
        heat.deployments[f"dep-{i}"] = {"status": "IN_PROGRESS", "action": "CREATE"}
    the_agent.sweep()
    names = [c[0] for c in heat.calls]
    assert names.count("software_deployments.list") == 1
    assert "resources.list" not in names  # no wait conditions here: no per-stack listing
    assert all(d["status"] == "COMPLETE" for d in heat.deployments.values())


def test_no_stack_in_progress_means_no_deployment_listing(heat, the_agent):
    heat.deployments["dep-1"] = {"status": "IN_PROGRESS", "action": "CREATE"}
    assert the_agent.sweep() is False
    assert [c[0] for c in heat.calls] == ["stacks.list"]


def test_update_in_progress_deployment_is_reported_too(heat, the_agent):
    heat.add_stack("m1", "grp-0-abc", MEMBER_TEMPLATE, {
        "deploy": res("OS::Heat::SoftwareDeployment", "UPDATE_IN_PROGRESS", "dep-1")},
        status="UPDATE_IN_PROGRESS")
    heat.deployments["dep-1"] = {"status": "IN_PROGRESS", "action": "UPDATE"}
    the_agent.sweep()
    assert heat.deployments["dep-1"]["status"] == "COMPLETE"


def test_template_is_read_once_per_stack_action(heat, the_agent):
    heat.add_stack("p1", "port-stack", {"resources": {}}, {})
    for _ in range(3):
        the_agent.sweep()
    assert [c[0] for c in heat.calls].count("stacks.template") == 1
    # Nothing to act on: its resources are never listed.
    assert "resources.list" not in [c[0] for c in heat.calls]
    heat.stacks_by_id["p1"]["updated_time"] = "2026-11-21T18:05:00Z"
    heat.stacks_by_id["p1"]["stack_status"] = "UPDATE_IN_PROGRESS"
    the_agent.sweep()
    assert [c[0] for c in heat.calls].count("stacks.template") == 2


def test_wait_condition_gets_count_signals_through_the_handle_endpoint(heat, the_agent, posted,
                                                                     clock):
    heat.add_stack("w1", "cluster", WAIT_TEMPLATE, {
        "handle": res(agent.WAIT_HANDLE),
        "wait": res(agent.WAIT_CONDITION, "CREATE_IN_PROGRESS")}, parameters={"masters": "3"})
    the_agent.sweep()
    endpoint = "http://127.0.0.1:8004/v1/p1/stacks/cluster/w1/resources/handle/signal"
    assert [(e, t, b["id"], b["status"]) for e, t, b in posted] == [
        (endpoint, "token-handle", sid, "SUCCESS") for sid in ("1", "2", "3")]
    # Not repeated on every sweep, and the handle's token is read once.
    the_agent.sweep()
    assert len(posted) == 3
    assert [c[0] for c in heat.calls].count("resources.get") == 1
    # Repeated (same ids, so idempotent in Heat) if the condition is still waiting later.
    clock.now += agent.RESEND_AFTER + 1
    the_agent.sweep()
    assert [b["id"] for _, _, b in posted[3:]] == ["1", "2", "3"]


def test_wait_condition_not_yet_waiting_is_not_signalled(heat, the_agent, posted):
    heat.add_stack("w1", "cluster", WAIT_TEMPLATE, {
        "handle": res(agent.WAIT_HANDLE), "wait": res(agent.WAIT_CONDITION, "INIT_COMPLETE")},
        parameters={"masters": "1"})
    the_agent.sweep()
    assert posted == []


def test_unknown_count_adds_one_signal_per_sweep(heat, the_agent, posted):
    template = json.loads(json.dumps(WAIT_TEMPLATE))
    template["resources"]["wait"]["properties"]["count"] = {"get_attr": ["x", "y"]}
    heat.add_stack("w1", "cluster", template, {
        "handle": res(agent.WAIT_HANDLE), "wait": res(agent.WAIT_CONDITION,
                                                       "CREATE_IN_PROGRESS")})
    for _ in range(3):
        the_agent.sweep()
    assert [b["id"] for _, _, b in posted] == ["1", "2", "3"]


def test_lone_handle_is_signalled_once(heat, the_agent, posted, clock):
    template = {"heat_template_version": "2018-08-31",
                "resources": {"h": {"type": agent.WAIT_HANDLE}}}
    heat.add_stack("n1", "node", template, {"h": res(agent.WAIT_HANDLE)})
    the_agent.sweep()
    the_agent.sweep()
    assert [b["id"] for _, _, b in posted] == ["1"]


def test_failed_signal_rereads_the_handle_token(heat, clock):
    attempts = []

    def post(endpoint, token, body):
        attempts.append(token)
        if len(attempts) == 1:
            raise RuntimeError("401 Unauthorized")

    a = agent.Agent(heat, post, clock=lambda: clock.now)
    heat.add_stack("w1", "cluster", WAIT_TEMPLATE, {
        "handle": res(agent.WAIT_HANDLE),
        "wait": res(agent.WAIT_CONDITION, "CREATE_IN_PROGRESS")}, parameters={"masters": "1"})
    a.sweep()
    a.sweep()
    assert attempts == ["token-handle", "token-handle"]
    assert [c[0] for c in heat.calls].count("resources.get") == 2


def test_a_vanished_stack_does_not_stop_the_sweep(heat, the_agent, posted):
    heat.add_stack("w0", "gone", WAIT_TEMPLATE, {
        "handle": res(agent.WAIT_HANDLE),
        "wait": res(agent.WAIT_CONDITION, "CREATE_IN_PROGRESS")}, parameters={"masters": "1"})
    heat.add_stack("w1", "cluster", WAIT_TEMPLATE, {
        "handle": res(agent.WAIT_HANDLE),
        "wait": res(agent.WAIT_CONDITION, "CREATE_IN_PROGRESS")}, parameters={"masters": "1"})
    heat.stacks_by_id["w0"]["stack_name"] = "renamed"  # now a 404 for the listed name
    original = heat.stacks.list
    heat.stacks.list = lambda **kw: [SimpleNamespace(
        id=s.id, stack_name="gone" if s.id == "w0" else s.stack_name,
        stack_status=s.stack_status, creation_time=s.creation_time,
        updated_time=s.updated_time) for s in original(**kw)]
    the_agent.sweep()
    assert [e.split("/")[-4] for e, _, _ in posted] == ["w1"]


def test_a_failing_deployment_update_does_not_stop_the_others(heat, the_agent):
    heat.add_stack("m1", "grp-0", MEMBER_TEMPLATE, {})
    heat.deployments["dep-1"] = {"status": "IN_PROGRESS"}
    heat.deployments["dep-2"] = {"status": "IN_PROGRESS"}
    real_update = heat.software_deployments.update

    def update(deployment_id, **kwargs):
        if deployment_id == "dep-1":
            raise FakeHTTPNotFound(deployment_id)
        return real_update(deployment_id, **kwargs)

    heat.software_deployments.update = update
    the_agent.sweep()
    assert heat.deployments["dep-2"]["status"] == "COMPLETE"


def test_make_plan_reads_cfn_templates():
    template = {"Resources": {"h": {"Type": agent.WAIT_HANDLE},
                              "w": {"Type": agent.WAIT_CONDITION,
                                    "Properties": {"handle": {"Ref": "h"}, "count": 2}}}}
    plan = agent.make_plan(template, {})
    assert plan.wait_conditions == {"w": ("h", 2)}
    assert plan.handles == []


def test_run_survives_outages_and_stops(tmp_path):
    (tmp_path / "sandbox.json").write_text(json.dumps({"users": {}}))
    stop = threading.Event()
    attempts = []

    def clients(sandbox):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("Keystone is down")
        heat = FakeHeat()
        original = heat.stacks.list

        def listing(**kwargs):
            stop.set()
            return original(**kwargs)

        heat.stacks.list = listing
        return heat, lambda *a: None

    old = agent.BUSY_INTERVAL
    agent.BUSY_INTERVAL = 0.01
    try:
        t = threading.Thread(target=agent.run, args=(str(tmp_path), stop, clients))
        t.start()
        t.join(5)
    finally:
        agent.BUSY_INTERVAL = old
    assert not t.is_alive()
    assert len(attempts) == 3


def test_sigterm_stops_the_process_quickly(tmp_path):
    sandbox = {"keystone_url": "http://127.0.0.1:9/v3", "region": "RegionOne",
               "users": {"admin": {"username": "admin", "password": "x",
                                   "project_name": "admin", "user_domain_name": "Default",
                                   "project_domain_name": "Default"}}}
    (tmp_path / "sandbox.json").write_text(json.dumps(sandbox))
    proc = subprocess.Popen([sys.executable, "-m", "magnum_lite.sandbox.agent",
                             "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 15
        line = ""
        while "started" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        time.sleep(1.0)  # let it fail against the missing Keystone at least once
        assert proc.poll() is None, "the agent must not exit when Keystone is down"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
