"""The guest agent's logic, with python-heatclient faked at its boundary.

The fake returns what heatclient returns (objects whose attributes are the API's JSON
fields: ``stack_status``, ``resource_status``, ``physical_resource_id``, a handle's
``attributes`` with ``endpoint`` and ``token``), so the agent is tested against the shapes of
the real API, not against itself.
"""

import base64
import email.generator
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import kubernetes.client as k8s
import pytest
import urllib3
import yaml

from magnum_lite.common import x509
from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
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
        self.software_deployments = SimpleNamespace(list=self._sd_list, update=self._sd_update,
                                                    get=self._sd_get)

    def add_stack(self, sid, name, template, resources, parameters=None,
                  status="CREATE_IN_PROGRESS", outputs=None, tags=(), nested=False):
        self.stacks_by_id[sid] = {"id": sid, "stack_name": name, "stack_status": status,
                                  "creation_time": "2026-11-21T18:00:00Z", "updated_time": None,
                                  "template": template, "parameters": parameters or {},
                                  "resources": resources, "outputs": outputs or {},
                                  "tags": list(tags), "nested": nested}

    def _lookup(self, ref):
        name, sid = ref.split("/") if "/" in ref else (None, ref)  # by id alone: Heat redirects
        stack = self.stacks_by_id.get(sid)
        if stack is None or name is not None and stack["stack_name"] != name:
            raise FakeHTTPNotFound(ref)
        return stack

    @staticmethod
    def _summary(stack):
        """What Heat's stack list shows: no template, parameters, resources or outputs."""
        return SimpleNamespace(**{k: v for k, v in stack.items() if k not in (
            "template", "parameters", "resources", "outputs", "nested")})

    def _stacks_list(self, **kwargs):
        self.calls.append(("stacks.list", kwargs))
        if "tags" in kwargs:
            # Top-level stacks only (no show_nested), of every project for the admin.
            assert kwargs == {"tags": "magnum-lite"}
            return iter([self._summary(s) for s in self.stacks_by_id.values()
                         if "magnum-lite" in s["tags"] and not s["nested"]])
        assert kwargs == {"show_nested": True, "filters": {"status": "IN_PROGRESS"}}
        return iter([self._summary(s) for s in self.stacks_by_id.values()
                     if s["stack_status"].endswith("_IN_PROGRESS")])

    def _template(self, ref):
        self.calls.append(("stacks.template", ref))
        return self._lookup(ref)["template"]

    def _stack_get(self, ref, resolve_outputs=True):
        self.calls.append(("stacks.get", ref))
        stack = self._lookup(ref)
        outputs = [{"output_key": k, "output_value": v} for k, v in stack["outputs"].items()]
        return SimpleNamespace(id=stack["id"], stack_name=stack["stack_name"],
                               parameters=stack["parameters"],
                               outputs=outputs if resolve_outputs else None)

    def _resources_list(self, ref, **kwargs):
        self.calls.append(("resources.list", ref))
        if kwargs.get("nested_depth"):
            # The servers under the stack, each a nested (simulated) stack.
            wanted = (kwargs.get("filters") or {}).get("type")
            return [SimpleNamespace(resource_name="server", resource_type=wanted,
                                    physical_resource_id=s["id"], parent_resource=str(i))
                    for i, s in enumerate(v for v in self.stacks_by_id.values()
                                          if v["nested"] and "user_data" in v["parameters"])]
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

    def _sd_get(self, deployment_id):
        self.calls.append(("software_deployments.get", deployment_id))
        return SimpleNamespace(id=deployment_id, **self.deployments[deployment_id])

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


# -- serving each cluster's Kubernetes API ---------------------------------------------------

CLUSTER_UUID = "0f6c2a9e-1d3b-4c5a-8e7f-9a0b1c2d3e4f"
NG_UUID = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
CLUSTER_STACK = f"demo-{CLUSTER_UUID}"
LIST_TAGGED = ("stacks.list", {"tags": "magnum-lite"})
LIST_BUSY = ("stacks.list", {"show_nested": True, "filters": {"status": "IN_PROGRESS"}})


def master_user_data(ca, encoding=None, kube_version="1.31.2"):
    """Master user data in the driver's format: multipart MIME whose text/cloud-config part
    writes the cluster CA and node.env (plain or base64 content), then the boot scripts."""
    files = [{"path": agent.NODE_ENV_PATH, "permissions": "0644",
              "content": f"ROLE='master'\nNODE_INDEX='0'\nCLUSTER_UUID='{CLUSTER_UUID}'\n"
                         f"KUBE_VERSION='{kube_version}'\n"}]
    for path, pem in ((agent.CA_CERT_PATH, ca.certificate), (agent.CA_KEY_PATH, ca.private_key)):
        if encoding == "b64":
            files.append({"path": path, "permissions": "0600", "encoding": "b64",
                          "content": base64.b64encode(pem.encode()).decode()})
        else:
            files.append({"path": path, "permissions": "0600", "content": pem})
    cloud_config = "#cloud-config\n" + yaml.safe_dump({"write_files": files})
    message = MIMEMultipart(boundary=userdata.MIME_BOUNDARY)
    for filename, subtype, text in (("cloud-config.yaml", "cloud-config", cloud_config),
                                    ("10-prepare-node.sh", "x-shellscript", "#!/bin/sh\n")):
        part = MIMEText(text, subtype, "us-ascii")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    out = io.StringIO()
    email.generator.Generator(out, mangle_from_=False, maxheaderlen=0).flatten(message)
    return out.getvalue()


def add_cluster(heat, ca=None, *, masters=2, workers=2, lb_fip="127.88.1.2",
                master_fips=True, status="CREATE_COMPLETE", user_data=None, port="0",
                master_ids=True):
    """A cluster's stacks as the driver makes them: the tagged cluster stack (outputs are
    ResourceGroup maps), one nested stack per simulated master server holding its user
    data, and a tagged worker stack."""
    outputs = {
        "lb_vip": "10.0.0.5", "lb_floating_ip": lb_fip,
        "master_names": {str(i): f"demo-0f6c2a-master-{i}" for i in range(masters)},
        "master_private_addresses": {str(i): f"10.0.0.{10 + i}" for i in range(masters)},
        "master_floating_addresses": {str(i): f"127.88.2.{3 + i}" if master_fips else None
                                      for i in range(masters)},
    }
    if master_ids:
        outputs["master_ids"] = {str(i): f"srv-m{i}" for i in range(masters)}
    heat.add_stack("cs-1", CLUSTER_STACK, {}, {}, parameters={"api_port": port},
                   status=status, outputs=outputs, tags=["magnum-lite"])
    for i in range(masters):
        heat.add_stack(f"srv-m{i}", f"{CLUSTER_STACK}-masters-abc-{i}-server-xyz", {}, {},
                       parameters={"user_data": user_data or master_user_data(ca)},
                       status="CREATE_COMPLETE", nested=True)
    if workers:
        add_workers(heat, 0, workers)


def add_workers(heat, chunk, count, status="CREATE_COMPLETE"):
    names = {str(i): f"demo-0f6c2a-default-worker-{chunk}-{i}" for i in range(count)}
    heat.add_stack(f"ws-{chunk}", f"{CLUSTER_STACK}-ng-{NG_UUID}-{chunk}", {}, {},
                   status=status, tags=["magnum-lite"], outputs={
                       "node_names": names,
                       "node_ids": {k: f"srv-w{chunk}-{k}" for k in names},
                       "node_private_addresses": {k: f"10.0.1.{10 + int(k)}" for k in names},
                       "node_floating_addresses": {k: None for k in names}})


def change(heat, sid, status, when="2026-11-21T18:10:00Z"):
    heat.stacks_by_id[sid].update(stack_status=status, updated_time=when)


class RecordingAPI:
    """Stands in for kube_api.ClusterAPI where the test is about what the agent decides."""

    def __init__(self, view, ca, port):
        self.view, self.ca, self.port = view, ca, port
        self.hosts: tuple = ()
        self.closed = False

    @property
    def addresses(self):
        return {h: self.port for h in self.hosts}

    def serve(self, hosts):
        self.hosts = tuple(hosts)
        return self.addresses

    def set_view(self, view):
        self.view = view

    def set_ca(self, ca):
        self.ca = ca

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("kubernetes")


@pytest.fixture
def servers():
    made = agent.ClusterServers()
    yield made
    made.close()


@pytest.fixture
def recorded():
    made = agent.ClusterServers(api_factory=RecordingAPI)
    yield made
    made.close()


def cluster_agent(heat, servers, posted=None):
    return agent.Agent(heat, lambda *a: (posted or []).append(a), clusters=servers)


def _kube(api, host, tmp_path, ca_cert, client, name="c"):
    conf = k8s.Configuration()
    conf.host = f"https://{host}:{api.addresses[host]}"
    conf.retries = 0
    for suffix, text in (("ca.crt", ca_cert), ("crt", client.certificate),
                         ("key", client.private_key)):
        (tmp_path / f"{name}.{suffix}").write_text(text)
    conf.ssl_ca_cert, conf.cert_file, conf.key_file = (
        str(tmp_path / f"{name}.{s}") for s in ("ca.crt", "crt", "key"))
    return k8s.CoreV1Api(k8s.ApiClient(conf))


def _admin(ca):
    return x509.issue_certificate(ca, "admin", organizations=["system:masters"], server=False,
                                  client=True)


def test_a_complete_cluster_is_served_with_its_masters_ca(heat, servers, ca, tmp_path):
    add_cluster(heat, ca, masters=2, workers=3)
    cluster_agent(heat, servers).sweep()
    api = servers.clusters[CLUSTER_UUID].api
    # The LB's floating IP (the api_address) first, then every master's.
    assert list(api.addresses) == ["127.88.1.2", "127.88.2.3", "127.88.2.4"]
    core = _kube(api, "127.88.1.2", tmp_path, ca.certificate, _admin(ca))
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == [
        "demo-0f6c2a-master-0", "demo-0f6c2a-master-1", "demo-0f6c2a-default-worker-0-0",
        "demo-0f6c2a-default-worker-0-1", "demo-0f6c2a-default-worker-0-2"]
    assert all([c.status for c in n.status.conditions if c.type == "Ready"] == ["True"]
               for n in nodes)
    assert nodes[0].status.node_info.kubelet_version == "v1.31.2"  # node.env KUBE_VERSION
    assert nodes[2].status.addresses[0].address == "10.0.1.10"
    # Found with one tagged listing, one GET per stack and one for master 0's user data
    # (through the master_ids output), plus one deployment listing for earlier rotations.
    assert heat.calls == [LIST_TAGGED, ("stacks.get", f"{CLUSTER_STACK}/cs-1"),
                          ("stacks.get", f"{CLUSTER_STACK}-ng-{NG_UUID}-0/ws-0"),
                          ("stacks.get", "srv-m0"), ("software_deployments.list", {}),
                          LIST_BUSY]


def test_nothing_changed_means_no_heat_calls_but_the_two_listings(heat, recorded, ca):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    heat.calls.clear()
    for _ in range(3):
        the_agent.sweep()
    assert heat.calls == [LIST_TAGGED, LIST_BUSY] * 3
    assert the_agent.heat.count == 2  # what the DEBUG line of each sweep reports


def test_b64_encoded_ca_files_are_decoded(heat, recorded, ca):
    add_cluster(heat, user_data=master_user_data(ca, encoding="b64"))
    cluster_agent(heat, recorded).sweep()
    assert recorded.clusters[CLUSTER_UUID].api.ca == ca


def test_the_drivers_user_data_is_parsed(ca):
    config = userdata.NodeBootConfig(
        role="master", cluster_uuid=CLUSTER_UUID, cluster_name="demo", kube_tag="v1.30.4",
        network_driver="flannel", pod_network_cidr="10.100.0.0/16",
        service_cluster_ip_range="10.254.0.0/16", control_plane_endpoint="10.0.0.5:6443",
        api_public_address="127.88.1.2", join_token="abcdef.0123456789abcdef",
        certificate_key="0" * 64, master_count=1,
        credential_files={agent.CA_CERT_PATH: ca.certificate, agent.CA_KEY_PATH: ca.private_key})
    text = userdata.render_user_data(config).replace(userdata.NODE_INDEX_PLACEHOLDER, "0")
    info = agent.boot_info(text)
    assert info.env["CLUSTER_UUID"] == CLUSTER_UUID
    assert info.env["KUBE_VERSION"] == "1.30.4"
    assert info.ca == ca


def test_a_cluster_is_not_served_before_its_stack_completes(heat, recorded, ca):
    add_cluster(heat, ca, status="CREATE_IN_PROGRESS")
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    assert recorded.clusters == {}
    assert "stacks.get" not in [c[0] for c in heat.calls]
    change(heat, "cs-1", "CREATE_COMPLETE", when=None)
    the_agent.sweep()
    assert recorded.clusters[CLUSTER_UUID].api.hosts[0] == "127.88.1.2"


def test_an_update_keeps_serving_and_rereads_only_what_changed(heat, recorded, ca):
    add_cluster(heat, ca, workers=2)
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    api = recorded.clusters[CLUSTER_UUID].api
    heat.calls.clear()
    # A resize: Heat updates the cluster stack and makes a second worker chunk.
    change(heat, "cs-1", "UPDATE_IN_PROGRESS")
    add_workers(heat, 1, 2, status="CREATE_IN_PROGRESS")
    the_agent.sweep()
    assert recorded.clusters[CLUSTER_UUID].api is api and not api.closed
    assert [c for c in heat.calls if c[0] == "stacks.get"] == []  # nothing read mid-build
    assert len(api.view.nodes) == 4
    change(heat, "cs-1", "UPDATE_COMPLETE", when="2026-11-21T18:11:00Z")
    change(heat, "ws-1", "CREATE_COMPLETE", when=None)
    heat.calls.clear()
    the_agent.sweep()
    assert [c for c in heat.calls if c[0] == "stacks.get"] == [
        ("stacks.get", f"{CLUSTER_STACK}/cs-1"),
        ("stacks.get", f"{CLUSTER_STACK}-ng-{NG_UUID}-1/ws-1")]
    assert recorded.clusters[CLUSTER_UUID].api is api
    assert len(api.view.nodes) == 6


def test_serving_stops_when_the_cluster_is_deleted(heat, recorded, ca):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    api = recorded.clusters[CLUSTER_UUID].api
    change(heat, "cs-1", "DELETE_IN_PROGRESS")
    the_agent.sweep()
    assert api.closed and CLUSTER_UUID not in recorded.clusters


def test_serving_stops_when_the_stacks_are_gone(heat, servers, ca):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, servers)
    the_agent.sweep()
    api = servers.clusters[CLUSTER_UUID].api
    port = api.addresses["127.88.1.2"]
    for sid in ("cs-1", "ws-0"):
        del heat.stacks_by_id[sid]
    the_agent.sweep()
    assert servers.clusters == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.88.1.2", port), timeout=2).close()


def test_a_cluster_without_a_loopback_address_is_told_once(heat, recorded, ca, caplog):
    add_cluster(heat, ca, lb_fip=None, master_fips=False)
    the_agent = cluster_agent(heat, recorded)
    with caplog.at_level(logging.INFO, logger="magnum_lite.sandbox.agent"):
        the_agent.sweep()
        change(heat, "cs-1", "UPDATE_COMPLETE")
        the_agent.sweep()
    told = [r for r in caplog.records if "no loopback address" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO
    assert recorded.clusters[CLUSTER_UUID].api is None


def test_without_master_ids_the_servers_are_found_among_the_resources(heat, recorded, ca):
    add_cluster(heat, ca, master_ids=False)
    cluster_agent(heat, recorded).sweep()
    assert ("resources.list", "cs-1") in heat.calls
    assert recorded.clusters[CLUSTER_UUID].api.ca == ca


def _credentials(ca):
    return json.dumps({agent.CA_CERT_PATH: ca.certificate, agent.CA_KEY_PATH: ca.private_key})


def test_a_credentials_deployment_switches_the_ca_before_it_completes(heat, servers, ca,
                                                                     tmp_path):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, servers)
    the_agent.sweep()
    api = servers.clusters[CLUSTER_UUID].api
    old_core = _kube(api, "127.88.1.2", tmp_path, ca.certificate, _admin(ca), "old")
    assert len(old_core.list_node().items) == 4
    # The rotation: Heat updates the cluster stack; each master gets the new credentials.
    new_ca = x509.generate_ca("kubernetes")
    change(heat, "cs-1", "UPDATE_IN_PROGRESS")
    for i in range(2):
        heat.deployments[f"rot-{i}"] = {
            "status": "IN_PROGRESS", "action": "UPDATE", "server_id": f"srv-m{i}",
            "input_values": {"cluster_uuid": CLUSTER_UUID, "credentials": _credentials(new_ca)}}
    seen_at_complete = []
    real_update = heat.software_deployments.update

    def update(deployment_id, **kwargs):
        seen_at_complete.append(api.ca_certificate)
        return real_update(deployment_id, **kwargs)

    heat.software_deployments.update = update
    the_agent.sweep()
    assert seen_at_complete == [new_ca.certificate] * 2  # applied before reported
    assert [heat.deployments[f"rot-{i}"]["status"] for i in range(2)] == ["COMPLETE"] * 2
    with pytest.raises(urllib3.exceptions.HTTPError):
        old_core.list_node()
    new_core = _kube(api, "127.88.1.2", tmp_path, new_ca.certificate, _admin(new_ca), "new")
    assert len(new_core.list_node().items) == 4
    # The update completes: the applied CA stays (the user data still holds the old one).
    change(heat, "cs-1", "UPDATE_COMPLETE", when="2026-11-21T18:12:00Z")
    the_agent.sweep()
    assert servers.clusters[CLUSTER_UUID].api.ca_certificate == new_ca.certificate


def test_unusable_credentials_fail_the_deployment_and_keep_the_ca(heat, recorded, ca):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    other = x509.generate_ca("kubernetes")
    mismatched = json.dumps({agent.CA_CERT_PATH: ca.certificate,
                             agent.CA_KEY_PATH: other.private_key})
    change(heat, "cs-1", "UPDATE_IN_PROGRESS")
    heat.deployments["bad-1"] = {"status": "IN_PROGRESS", "action": "UPDATE", "input_values": {
        "cluster_uuid": CLUSTER_UUID, "credentials": "{not json"}}
    heat.deployments["bad-2"] = {"status": "IN_PROGRESS", "action": "UPDATE", "input_values": {
        "cluster_uuid": CLUSTER_UUID, "credentials": mismatched}}
    # A worker's files (the CA certificate only) and a trustee-only change are fine.
    heat.deployments["worker"] = {"status": "IN_PROGRESS", "action": "UPDATE", "input_values": {
        "cluster_uuid": CLUSTER_UUID,
        "credentials": json.dumps({agent.CA_CERT_PATH: other.certificate})}}
    heat.deployments["trustee"] = {"status": "IN_PROGRESS", "action": "UPDATE", "input_values": {
        "cluster_uuid": CLUSTER_UUID,
        "credentials": json.dumps({"/etc/kubernetes/cloud.conf": "[Global]\n"})}}
    the_agent.sweep()
    for dep in ("bad-1", "bad-2"):
        assert heat.deployments[dep]["status"] == "FAILED"
        outputs = heat.deployments[dep]["output_values"]
        assert outputs["deploy_status_code"] == 1 and outputs["deploy_stderr"]
        assert "PRIVATE KEY" not in outputs["deploy_stderr"]
    assert heat.deployments["worker"]["status"] == "COMPLETE"
    assert heat.deployments["trustee"]["status"] == "COMPLETE"
    assert recorded.clusters[CLUSTER_UUID].api.ca == ca


def test_input_values_are_read_when_the_listing_lacks_them(heat, recorded, ca):
    add_cluster(heat, ca)
    the_agent = cluster_agent(heat, recorded)
    the_agent.sweep()
    new_ca = x509.generate_ca("kubernetes")
    change(heat, "cs-1", "UPDATE_IN_PROGRESS")
    heat.deployments["rot"] = {"status": "IN_PROGRESS", "action": "UPDATE", "input_values": {
        "cluster_uuid": CLUSTER_UUID, "credentials": _credentials(new_ca)}}
    real_list = heat.software_deployments.list
    heat.software_deployments.list = lambda **kw: [
        SimpleNamespace(**{k: v for k, v in vars(d).items() if k != "input_values"})
        for d in real_list(**kw)]
    the_agent.sweep()
    assert ("software_deployments.get", "rot") in heat.calls
    assert recorded.clusters[CLUSTER_UUID].api.ca == new_ca


def test_after_a_restart_the_newest_applied_credentials_win(heat, recorded, ca):
    add_cluster(heat, ca)
    older, newer = x509.generate_ca("kubernetes"), x509.generate_ca("kubernetes")
    for dep, rotated, when in (("d1", newer, "2026-11-21T19:00:00Z"),
                               ("d0", older, "2026-11-21T18:30:00Z")):
        heat.deployments[dep] = {"status": "COMPLETE", "action": "UPDATE",
                                 "updated_time": when, "input_values": {
                                     "cluster_uuid": CLUSTER_UUID,
                                     "credentials": _credentials(rotated)}}
    heat.deployments["other-cluster"] = {
        "status": "COMPLETE", "action": "UPDATE", "updated_time": "2026-11-21T20:00:00Z",
        "input_values": {"cluster_uuid": "another", "credentials": _credentials(older)}}
    cluster_agent(heat, recorded).sweep()
    assert recorded.clusters[CLUSTER_UUID].api.ca == newer


def test_api_hosts_follow_the_drivers_api_address_order():
    outputs = {"lb_floating_ip": None, "lb_vip": "10.0.0.5",
               "master_floating_addresses": {"0": "127.1.2.3", "1": "127.1.2.4"},
               "master_private_addresses": {"0": "10.0.0.10"}}
    assert agent.api_hosts(outputs) == ["127.1.2.3", "127.1.2.4"]
    assert agent.api_hosts({**outputs, "lb_floating_ip": "127.9.9.9"})[0] == "127.9.9.9"
    assert agent.api_hosts({"lb_vip": "10.0.0.5",
                            "master_private_addresses": {"0": "10.0.0.10"}}) == []


def test_run_closes_the_cluster_apis_when_it_stops(tmp_path, ca):
    (tmp_path / "sandbox.json").write_text(json.dumps({"users": {}}))
    stop = threading.Event()
    heat = FakeHeat()
    add_cluster(heat, ca)
    made = []
    servers = agent.ClusterServers(api_factory=lambda *a: made.append(RecordingAPI(*a))
                                   or made[-1])
    original = heat.stacks.list

    def listing(**kwargs):
        if "tags" not in kwargs:
            stop.set()  # after the cluster listing of the first sweep
        return original(**kwargs)

    heat.stacks.list = listing
    agent.run(str(tmp_path), stop, lambda sandbox: (heat, lambda *a: None), servers)
    assert len(made) == 1 and made[0].hosts and made[0].closed
    assert servers.clusters == {}
