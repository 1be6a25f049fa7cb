"""A baremetal node repair's Heat side against the sandbox's real Heat: the Heat driver's
plan_repair / repair / repair_state, called from the test process with a Heat client of the
cluster's project, rebuild one worker in place. (A VM worker's repair through the whole
service, only its server replaced, is test_healing.py's.)"""

from __future__ import annotations

import time
import types
import uuid

import pytest

from magnum_lite.common import clients
from magnum_lite.drivers import base
from tests.integration import clusters
from tests.unit.drivers.heat.test_driver import Cluster

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

REPAIR_TIMEOUT = 300


@pytest.fixture
def driver_heat(monkeypatch, heat):
    """The driver's Heat client is the test's (the demo project's, real Heat)."""
    monkeypatch.setattr(clients, "get_heat_client", lambda context: heat)
    return heat


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


def _delete_stacks(heat, cluster_uuid: str) -> None:
    """Worker stacks first, then the cluster stack (whose network they use)."""
    for workers_first in (True, False):
        doomed = [s for n, s in clusters.stacks_of(heat, cluster_uuid).items()
                  if ("-ng-" in n) == workers_first]
        for stack in doomed:
            heat.stacks.delete(stack.id)
        deadline = time.monotonic() + REPAIR_TIMEOUT
        while any(("-ng-" in n) == workers_first
                  for n in clusters.stacks_of(heat, cluster_uuid)):
            assert time.monotonic() < deadline, "stacks not deleted"
            time.sleep(2)


def test_a_baremetal_worker_is_rebuilt_in_place(request, sandbox, heat, driver_heat):
    """A baremetal cluster built by this branch's driver (the sandbox's conductor runs
    main's templates): the repair rebuilds the worker's server, keeping its id."""
    c = Cluster(types.SimpleNamespace(project_id=clusters.session(sandbox).get_project_id()),
                None, masters=1, workers=(3,), name=f"it-bm-{uuid.uuid4().hex[:8]}",
                template_server_type="bm", template_fixed_network="private",
                template_floating_ip_enabled=False, floating_ip_enabled=None,
                template_image_id=clusters.IMAGE, template_flavor_id="bm.small",
                template_master_flavor_id="bm.small", template_keypair_id=None, keypair=None)
    c.cluster.project_id = c.context.project_id
    request.addfinalizer(lambda: _delete_stacks(heat, c.cluster.uuid))
    c.create()
    deadline = time.monotonic() + REPAIR_TIMEOUT
    while c.status().status not in ("CREATE_COMPLETE", "CREATE_FAILED"):
        assert time.monotonic() < deadline, c.cluster.status_reason
        time.sleep(2)
    assert c.cluster.status == "CREATE_COMPLETE", c.cluster.status_reason
    before = _servers(heat, c.cluster.uuid)
    [worker_stack] = [n for n in before if "-ng-" in n]
    worker_id = heat.stacks.get(worker_stack).id
    target = clusters.outputs(heat, worker_id)["node_names"]["2"]

    [repair] = c.driver.plan_repair(c.context, c.cluster, c.nodegroups, [target])
    assert repair["method"] == "REBUILD" and repair["members"] == ["2"]
    assert c.driver.repair_state(c.context, repair) == (base.BATCH_UNSENT, None)
    c.driver.repair(c.context, repair)
    c.driver.repair(c.context, repair)  # asked again: nothing more
    state = _wait(c.driver, c.context, repair)
    assert state == (base.BATCH_DONE, None), state

    assert _servers(heat, c.cluster.uuid) == before  # the same servers: rebuilt, not new
    # Only member 2's server was asked for a rebuild: its user data carries the mark and
    # its user_data_update_policy is REBUILD; the others kept theirs (IGNORE).
    policies = {}
    for member, server_id in before[worker_stack].items():
        server = heat.stacks.get(server_id).parameters  # the simulated server's stack
        policies[member] = server["user_data_update_policy"]
    assert policies == {"0": "IGNORE", "1": "IGNORE", "2": "REBUILD"}
    statuses = {n: heat.stacks.get(s.id).stack_status
                for n, s in clusters.stacks_of(heat, c.cluster.uuid).items()}
    assert statuses == {n: "UPDATE_COMPLETE" if n == worker_stack else "CREATE_COMPLETE"
                        for n in statuses}
    server = heat.stacks.get(before[worker_stack]["2"]).parameters
    assert server["user_data"].endswith(f"\n# magnum-lite rebuild {repair['mark']}\n")

    # The next update of the stack (a resize) clears the mark: Heat then sees member 2's
    # user data change under IGNORE, which rebuilds nothing.
    c.resize(c.workers[0], 4)
    deadline = time.monotonic() + REPAIR_TIMEOUT
    while c.status().status not in ("UPDATE_COMPLETE", "UPDATE_FAILED"):
        assert time.monotonic() < deadline, c.cluster.status_reason
        time.sleep(2)
    assert c.cluster.status == "UPDATE_COMPLETE", c.cluster.status_reason
    assert heat.stacks.get(worker_id).parameters["rebuild_members"] == "{}"
    server = heat.stacks.get(before[worker_stack]["2"]).parameters
    assert server["user_data_update_policy"] == "IGNORE"
    assert "magnum-lite rebuild" not in server["user_data"]
    after = _servers(heat, c.cluster.uuid)
    assert {m: after[worker_stack][m] for m in "012"} == before[worker_stack]
