"""A node repair's Heat side against the sandbox's real Heat: the Heat driver's
plan_repair / repair / repair_state, called from the test process with a Heat client of the
cluster's project, replace one worker's server of a running cluster and nothing else."""

from __future__ import annotations

import time
import types

import pytest

from magnum_lite.common import clients, exception
from magnum_lite.drivers import base
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

REPAIR_TIMEOUT = 300


@pytest.fixture
def driver_heat(monkeypatch, heat):
    """The driver's Heat client is the test's (the demo project's, real Heat)."""
    monkeypatch.setattr(clients, "get_heat_client", lambda context: heat)
    return heat


def _objects(openstack_cli, cluster: dict) -> tuple[types.SimpleNamespace, list]:
    """The cluster and its nodegroups as the conductor hands them to the driver."""
    nodegroups = clusters.parse_json(openstack_cli(
        "sandbox", "coe", "nodegroup", "list", cluster["uuid"], "-f", "json",
        "-c", "uuid", "-c", "name", "-c", "role"))
    return (types.SimpleNamespace(uuid=cluster["uuid"], name=cluster["name"],
                                  project_id=cluster["project_id"]),
            [types.SimpleNamespace(server_type=None, is_default=ng["name"].startswith(
                "default-"), **ng) for ng in nodegroups])


def _servers(heat, cluster_uuid: str) -> dict[str, dict[str, str]]:
    """Per stack, member -> server id, from the stacks' outputs."""
    found = {}
    for name, stack in clusters.stacks_of(heat, cluster_uuid).items():
        out = clusters.outputs(heat, stack.id)
        found[name] = dict(out.get("node_ids") or out.get("master_ids") or {})
    return found


def _wait(driver, context, repair) -> tuple[str, str | None]:
    deadline = time.monotonic() + REPAIR_TIMEOUT
    while True:
        state = driver.repair_state(context, repair)
        if state[0] not in (base.BATCH_ROLLING,) or time.monotonic() > deadline:
            return state
        time.sleep(2)


def test_one_worker_is_replaced_and_nothing_else(request, openstack_cli, heat, driver_heat,
                                                 make_template):
    template = make_template()
    name = clusters.create(openstack_cli, template, "--master-count", "1",
                           "--node-count", "3")
    cluster = clusters.settle(openstack_cli, name)
    request.addfinalizer(lambda: clusters.delete(openstack_cli, heat, cluster))
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    cluster_obj, nodegroups = _objects(openstack_cli, cluster)
    driver, context = K8sUbuntuV1(), types.SimpleNamespace(project_id=cluster["project_id"])
    before = _servers(heat, cluster["uuid"])
    [worker_stack] = [n for n in before if "-ng-" in n]
    worker_id = heat.stacks.get(worker_stack).id
    addresses = clusters.outputs(heat, worker_id)["node_private_addresses"]
    target = clusters.outputs(heat, worker_id)["node_names"]["1"]

    with pytest.raises(exception.NodeNotFound):
        driver.plan_repair(context, cluster_obj, nodegroups, [target, "not-a-node"])
    [repair] = driver.plan_repair(context, cluster_obj, nodegroups, [target])
    assert (repair["stack"], repair["members"], repair["method"]) == (
        worker_stack, ["1"], "REPLACE")
    assert driver.repair_state(context, repair) == (base.BATCH_UNSENT, None)

    driver.repair(context, repair)
    driver.repair(context, repair)  # asked again (a lost answer): nothing more is sent
    state = _wait(driver, context, repair)
    assert state == (base.BATCH_DONE, None), state
    driver.repair(context, repair)  # asked again once done: nothing
    assert driver.repair_state(context, repair) == (base.BATCH_DONE, None)

    after = _servers(heat, cluster["uuid"])
    assert after[worker_stack]["1"] != before[worker_stack]["1"]
    changed = [(stack, member) for stack, members in after.items()
               for member, server in members.items() if before[stack].get(member) != server]
    assert changed == [(worker_stack, "1")]
    for stack_name, stack in clusters.stacks_of(heat, cluster["uuid"]).items():
        status = heat.stacks.get(stack.id).stack_status
        expected = "UPDATE_COMPLETE" if stack_name == worker_stack else "CREATE_COMPLETE"
        assert status == expected, (stack_name, status)
    # Only the server is new: the member keeps its name and its port (its address).
    out = clusters.outputs(heat, worker_id)
    assert out["node_names"]["1"] == target
    assert out["node_private_addresses"] == addresses
