"""Real Heat with the simulation: a stack of simulated servers created, grown and deleted.

Each member of a ResourceGroup is a nested template with a port, a server and a software
deployment (as a cluster node is), and the stack has a wait condition: Heat only completes
it when the sandbox's guest agent plays the servers. The times are printed for
benchmarks/README.md (sandbox-facts.md measured create 10 ≈ 4.6 s, update to 20 ≈ 5.9 s,
delete 20 ≈ 3.5 s). A user of another project must not see the stack. `sandbox` is the
session fixture of tests/integration/conftest.py (the parsed sandbox.json).
"""

import time
from typing import Any
import uuid

import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

STACK_TIMEOUT = 180.0

MEMBER = """
heat_template_version: 2018-08-31
parameters:
  index: {type: string}
resources:
  port:
    type: OS::Neutron::Port
    properties:
      network: private
      name: {list_join: ['-', [node, {get_param: index}, port]]}
  server:
    type: OS::Nova::Server
    properties:
      name: {list_join: ['-', [node, {get_param: index}]]}
      image: ubuntu-jammy
      flavor: m1.small
      networks: [{port: {get_resource: port}}]
      user_data_format: SOFTWARE_CONFIG
      software_config_transport: POLL_SERVER_HEAT
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho configured\\n"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      signal_transport: HEAT_SIGNAL
outputs:
  first_address: {value: {get_attr: [server, first_address]}}
  server_id: {value: {get_resource: server}}
"""

TOP = """
heat_template_version: 2018-08-31
parameters:
  count: {type: number}
resources:
  nodes:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: count}
      resource_def:
        type: member.yaml
        properties: {index: "%index%"}
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    depends_on: nodes
    properties:
      handle: {get_resource: handle}
      count: 1
      timeout: 300
outputs:
  addresses: {value: {get_attr: [nodes, first_address]}}
  server_ids: {value: {get_attr: [nodes, server_id]}}
"""


def heat_as(sandbox: dict, user: str) -> Any:
    from heatclient import client as heat_client
    from keystoneauth1 import exceptions as ks_exc
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    creds = sandbox["users"][user]
    auth = v3.Password(auth_url=sandbox["keystone_url"], username=creds["username"],
                       password=creds["password"], project_name=creds["project_name"],
                       user_domain_name=creds.get("user_domain_name", "Default"),
                       project_domain_name=creds.get("project_domain_name", "Default"))
    sess = ks_session.Session(auth=auth, timeout=30)
    try:
        sess.get_token()
    except ks_exc.ConnectFailure:
        pytest.skip("the sandbox's Keystone is not running")
    return heat_client.Client("1", session=sess, service_type="orchestration",
                              interface="public", region_name=sandbox.get("region"))


def wait_for(heat: Any, stack_id: str, want: str) -> float:
    """Polls the stack until it reaches ``want``; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < STACK_TIMEOUT:
        stack = heat.stacks.get(stack_id, resolve_outputs=False)
        if stack.stack_status == want:
            return time.monotonic() - t0
        assert not stack.stack_status.endswith("FAILED"), stack.stack_status_reason
        time.sleep(0.1)
    raise AssertionError(f"stack {stack_id} not {want} after {STACK_TIMEOUT}s")


def wait_gone(heat: Any, stack_id: str) -> float:
    from heatclient import exc as heat_exc

    t0 = time.monotonic()
    while time.monotonic() - t0 < STACK_TIMEOUT:
        try:
            stack = heat.stacks.get(stack_id, resolve_outputs=False)
        except heat_exc.HTTPNotFound:
            return time.monotonic() - t0
        if stack.stack_status == "DELETE_COMPLETE":
            return time.monotonic() - t0
        assert stack.stack_status != "DELETE_FAILED", stack.stack_status_reason
        time.sleep(0.1)
    raise AssertionError(f"stack {stack_id} not deleted after {STACK_TIMEOUT}s")


def outputs(heat: Any, stack_id: str) -> dict:
    stack = heat.stacks.get(stack_id)
    return {o["output_key"]: o["output_value"] for o in stack.outputs}


def test_simulated_servers_create_update_delete(sandbox):
    from heatclient import exc as heat_exc

    demo = heat_as(sandbox, "demo")
    alt = heat_as(sandbox, "alt_demo")
    name = f"sim-{uuid.uuid4().hex[:8]}"
    files = {"member.yaml": MEMBER}
    times: dict[str, float] = {}

    t0 = time.monotonic()
    created = demo.stacks.create(stack_name=name, template=TOP, files=files,
                                 parameters={"count": 10}, timeout_mins=5)
    stack_id = f'{name}/{created["stack"]["id"]}'
    try:
        wait_for(demo, stack_id, "CREATE_COMPLETE")
        times["create 10"] = time.monotonic() - t0
        out = outputs(demo, stack_id)
        assert len(out["addresses"]) == 10
        assert all(a.startswith("10.") for a in out["addresses"])
        assert len(set(out["server_ids"])) == 10

        # Another project's user sees neither the stack in its list nor by id.
        assert name not in [s.stack_name for s in alt.stacks.list()]
        with pytest.raises((heat_exc.HTTPNotFound, heat_exc.HTTPForbidden)):
            alt.stacks.get(stack_id.split("/")[1])

        t0 = time.monotonic()
        demo.stacks.update(stack_id, template=TOP, files=files, parameters={"count": 20})
        wait_for(demo, stack_id, "UPDATE_COMPLETE")
        times["update 10 -> 20"] = time.monotonic() - t0
        assert len(outputs(demo, stack_id)["addresses"]) == 20
    finally:
        t0 = time.monotonic()
        demo.stacks.delete(stack_id)
        wait_gone(demo, stack_id)
        times["delete 20" if "update 10 -> 20" in times else "delete"] = time.monotonic() - t0
        print("\nHeat stack times (simulated servers, port + server + software deployment "
              "each, one wait condition):")
        for what, seconds in times.items():
            print(f"  {what}: {seconds:.1f} s")


PLUGIN_CHECK = r"""
import collections.abc, json, sys, threading, time
from oslo_config import cfg
from heat.common import config  # noqa: F401 (registers Heat's options)
cfg.CONF([], project="heat", default_config_files=[])
cfg.CONF.set_override("plugin_dirs", [sys.argv[1]])
cfg.CONF.set_override("environment_dir", sys.argv[2])
from heat.engine import resources, scheduler, stack
from heat.engine.hot import functions
resources.initialise()
env = resources.global_env()
errors = []

def parse_many():
    fn = functions.Yaql(None, "yaql", {"expression": "$.data", "data": {}})
    for i in range(200):
        try:
            fn._parse("$.data.l.where($ > %d).select($ * 2).toList()" % i)
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=parse_many) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
asked = []
real_sleep, time.sleep = time.sleep, asked.append  # what heat.engine.stack's sleep asks for
stack.time.sleep(1)
polls = []  # what a resource's completion poll sleeps between its checks

def two_steps():
    yield
    yield

time.sleep = polls.append
scheduler.TaskRunner(two_steps)()
time.sleep = real_sleep
print(json.dumps({
    "accepting": {n: type(env.get_constraint(n)()).__name__ for n in (
        "nova.flavor", "nova.keypair", "nova.server", "glance.image", "neutron.network",
        "neutron.subnet", "neutron.port", "neutron.router", "neutron.security_group",
        "cinder.volume", "cinder.vtype", "octavia.loadbalancer", "octavia.pool")},
    "ip_addr": type(env.get_constraint("ip_addr")()).__name__,
    "server_class": env.get_class("OS::Nova::Server").__name__,
    "yaql_errors": errors[:3],
    "converge_sleep": asked,
    "poll": max(polls),
}))
"""


def test_heat_plugins_load_in_heats_venv(sandbox):
    """The plugins run inside Heat's own venv: constraints, yaql lock, short sleep."""
    import json
    import os
    import subprocess

    from magnum_lite_sandbox import simulation

    python = os.path.join(sandbox["state_dir"], "venv", "bin", "python")
    if not os.path.exists(python):
        pytest.skip(f"no Heat venv at {python}")
    env_dir = simulation.prepare(sandbox["state_dir"])["environment_dir"]
    res = subprocess.run([python, "-c", PLUGIN_CHECK, simulation.PLUGINS_DIR, env_dir],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(report["accepting"].values()) == {"SandboxAcceptingConstraint"}
    assert report["ip_addr"] == "IPConstraint"  # constraints of real checks stay real
    assert report["server_class"] == "OS::Nova::Server"  # the provider template's facade
    assert report["yaql_errors"] == []
    # Heat's 1 s pause after each leaf resource, shortened (what it asks of time.sleep).
    assert report["converge_sleep"] == [float(os.environ.get(
        "MAGNUM_LITE_SANDBOX_CONVERGE_SLEEP", "0.05"))]
    # Heat's once-a-second poll of a resource's completion: shortened only when asked.
    poll = os.environ.get("MAGNUM_LITE_SANDBOX_HEAT_POLL")
    assert report["poll"] == (float(poll) if poll else 1)
