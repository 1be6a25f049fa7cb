"""A node repair's cloud side (drivers/heat/repair.py) against the fake Heat and the
sandbox's Nova stand-in: only the named members' servers are replaced (VMs) or rebuilt in
place through Nova (baremetal), resumes send nothing twice, and unknown nodes are refused."""

from __future__ import annotations

from unittest import mock

import pytest
import requests

from magnum_lite.common import exception
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import nova as nova_api
from magnum_lite_sandbox import faults, rebuilds
from tests.unit.drivers.heat.stand_in import IMAGE
from tests.unit.drivers.heat.test_baremetal import BAREMETAL
from tests.unit.drivers.heat.test_driver import Cluster, no_cleanup  # noqa: F401 - fixture


@pytest.fixture
def cluster(context, heat):
    c = Cluster(context, heat, masters=3, workers=(4,))
    c.built()
    return c


def _ids(heat, stack, key="node_ids"):
    return dict(heat.outputs(stack)[key])


def _names(heat, stack, key="node_names"):
    return dict(heat.outputs(stack)[key])


def _calls(heat, method):
    return [call for call in heat.calls if call[0] == method]


def _state(c, repair):
    return c.driver.repair_state(c.context, repair)


def test_a_worker_is_planned_by_name_or_server_id(cluster, heat):
    [stack] = cluster.chunk_stacks(cluster.workers[0])
    names, ids = _names(heat, stack.id), _ids(heat, stack.id)
    [by_name] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                           cluster.nodegroups, [names["2"]])
    assert by_name["members"] == ["2"] and by_name["nodes"] == [names["2"]]
    assert by_name["role"] == "worker" and by_name["stack"] == stack.name
    assert by_name["nodegroup"] == cluster.workers[0].uuid
    assert by_name["servers"] == {"2": ids["2"]} and by_name["method"] == "REPLACE"
    [by_id] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                         cluster.nodegroups, [ids["2"]])
    assert by_id["members"] == ["2"] and by_id["nodes"] == [names["2"]]


def test_one_repair_per_stack(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    master = _names(heat, cluster.cluster_stack_name, "master_names")["1"]
    workers = _names(heat, chunk.id)
    repairs = cluster.driver.plan_repair(cluster.context, cluster.cluster, cluster.nodegroups,
                                         [workers["3"], master, workers["0"]])
    assert [(r["role"], r["stack"], r["members"]) for r in repairs] == [
        ("master", cluster.cluster_stack_name, ["1"]), ("worker", chunk.name, ["0", "3"])]


def test_an_unknown_node_is_refused_naming_it(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    known = _names(heat, chunk.id)["1"]
    with pytest.raises(exception.NodeNotFound) as caught:
        cluster.driver.plan_repair(cluster.context, cluster.cluster, cluster.nodegroups,
                                   [known, "no-such-node"])
    assert caught.value.code == 400
    assert isinstance(caught.value, exception.InvalidParameterValue)
    assert "no-such-node" in str(caught.value) and known not in str(caught.value)


def test_only_the_named_workers_server_is_replaced(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    before = _ids(heat, chunk.id)
    masters_before = _ids(heat, cluster.cluster_stack_name, "master_ids")
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [_names(heat, chunk.id)["2"]])
    assert _state(cluster, repair) == (base.BATCH_UNSENT, None)

    cluster.driver.repair(cluster.context, repair)
    [mark] = _calls(heat, "resources.mark_unhealthy")
    assert mark[2]["resource"] == "server" and mark[2]["mark_unhealthy"] is True
    assert chunk.status == "UPDATE_IN_PROGRESS"
    assert _state(cluster, repair) == (base.BATCH_ROLLING, None)
    server = [r for r in heat.client_for(cluster.context).resources.list(
        chunk.id, nested_depth=2, filters={"status": "FAILED"})
        if r.resource_name == "server"]
    assert [(r.physical_resource_id, r.resource_status) for r in server] == [
        (before["2"], "CHECK_FAILED")]

    heat.complete(chunk.id)
    assert _state(cluster, repair) == (base.BATCH_DONE, None)
    after = _ids(heat, chunk.id)
    assert after["2"] != before["2"]
    assert {m: i for m, i in after.items() if m != "2"} == {
        m: i for m, i in before.items() if m != "2"}
    # The other stack is not touched.
    assert _ids(heat, cluster.cluster_stack_name, "master_ids") == masters_before
    assert not heat.stack(cluster.cluster_stack_name).in_progress
    updates = _calls(heat, "stacks.update")
    assert [u[1] for u in updates] == [chunk.id]


def test_a_master_is_replaced_through_the_cluster_stack(cluster, heat):
    before = _ids(heat, cluster.cluster_stack_name, "master_ids")
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    workers_before = _ids(heat, chunk.id)
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [before["0"]])
    assert repair["role"] == "master" and repair["nodegroup"] == cluster.masters.uuid
    cluster.driver.repair(cluster.context, repair)
    heat.complete(cluster.cluster_stack_name)
    after = _ids(heat, cluster.cluster_stack_name, "master_ids")
    assert after["0"] != before["0"] and (after["1"], after["2"]) == (before["1"], before["2"])
    assert _ids(heat, chunk.id) == workers_before


def test_asked_again_at_each_step_nothing_is_sent_twice(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    before = _ids(heat, chunk.id)
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [before["1"]])
    # The conductor died after the mark, before the update: the update alone is sent.
    heat.inject("stacks.update", exception.CloudUnreachable(service="Heat", reason="x"))
    with pytest.raises(exception.CloudUnreachable):
        cluster.driver.repair(cluster.context, repair)
    assert len(_calls(heat, "resources.mark_unhealthy")) == 1
    assert _state(cluster, repair) == (base.BATCH_UNSENT, None)
    cluster.driver.repair(cluster.context, repair)
    assert len(_calls(heat, "resources.mark_unhealthy")) == 1
    assert len(_calls(heat, "stacks.update")) == 1
    # Sent and updating: asked again, nothing more.
    cluster.driver.repair(cluster.context, repair)
    assert _state(cluster, repair) == (base.BATCH_ROLLING, None)
    heat.complete(chunk.id)
    # Done: a repair asked again (a lost answer) replaces nothing more.
    cluster.driver.repair(cluster.context, repair)
    assert _state(cluster, repair) == (base.BATCH_DONE, None)
    assert len(_calls(heat, "stacks.update")) == 1
    assert len(_calls(heat, "resources.mark_unhealthy")) == 1
    assert not heat.stack(chunk.id).in_progress
    assert sum(1 for m in before if _ids(heat, chunk.id)[m] != before[m]) == 1


def test_a_failed_replacement_says_heats_reason(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [_names(heat, chunk.id)["0"]])
    cluster.driver.repair(cluster.context, repair)
    heat.fail(chunk.id, "nodes.0.server", "No valid host was found.")
    state, reason = _state(cluster, repair)
    assert state == base.BATCH_FAILED and "No valid host was found." in reason
    # Failed is final for this repair: asking its state again does not make it unsent.
    assert _state(cluster, repair)[0] == base.BATCH_FAILED


def test_a_repair_of_a_stack_that_failed_before_is_unsent_until_sent(cluster, heat):
    """A stack failed by an earlier operation: the repair's own state is not that failure."""
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    cluster.resize(cluster.workers[0], 5)
    heat.fail(chunk.id, "nodes.4.server", "No valid host was found.")
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [_names(heat, chunk.id)["1"]])
    assert _state(cluster, repair) == (base.BATCH_UNSENT, None)
    cluster.driver.repair(cluster.context, repair)
    heat.complete(chunk.id)
    assert _state(cluster, repair) == (base.BATCH_DONE, None)


@pytest.fixture
def baremetal(context, heat):
    c = Cluster(context, heat, masters=1, workers=(3,), **BAREMETAL)
    c.built()
    return c


def test_a_baremetal_node_is_rebuilt_in_place_through_nova(baremetal, heat, nova):
    c = baremetal
    [chunk] = c.chunk_stacks(c.workers[0])
    assert chunk.parameters["upgrade_policy"] == "REBUILD"  # the stack says what it holds
    before = _ids(heat, chunk.id)
    nova.list(before.values())
    [repair] = c.driver.plan_repair(c.context, c.cluster, c.nodegroups,
                                    [_names(heat, chunk.id)["1"]])
    assert repair["method"] == "REBUILD"
    assert _state(c, repair) == (base.BATCH_UNSENT, None)
    c.driver.repair(c.context, repair)
    assert not _calls(heat, "resources.mark_unhealthy") and not _calls(heat, "stacks.update")
    assert rebuilds.read(nova.state_dir) == {before["1"]: {
        "seq": 1, "image": IMAGE, "user_data": None, "at": mock.ANY,
        "metadata": {"role": "worker", "magnum_lite_rebuild": repair["mark"]}}}
    assert _state(c, repair) == (base.BATCH_ROLLING, None)  # Nova shows it REBUILD
    c.driver.repair(c.context, repair)  # asked again while it runs: nothing
    nova.boot()
    assert _state(c, repair) == (base.BATCH_DONE, None)
    c.driver.repair(c.context, repair)  # asked again once done: nothing
    assert rebuilds.read(nova.state_dir)[before["1"]]["seq"] == 1
    assert _ids(heat, chunk.id) == before  # the same servers, Heat untouched
    assert not _calls(heat, "stacks.update")
    assert nova.show(before["1"])["status"] == "ACTIVE"


def test_a_shut_off_baremetal_node_is_started_once_rebuilt(baremetal, heat, nova):
    c = baremetal
    [chunk] = c.chunk_stacks(c.workers[0])
    ids = _ids(heat, chunk.id)
    nova.list(ids.values())
    faults.stop_server(ids["0"], "node-0", nova.state_dir)
    [repair] = c.driver.plan_repair(c.context, c.cluster, c.nodegroups, [ids["0"]])
    c.driver.repair(c.context, repair)
    nova.boot()
    assert nova.show(ids["0"])["status"] == "SHUTOFF"  # as Nova leaves a stopped server
    assert _state(c, repair) == (base.BATCH_UNSENT, None)  # still to start
    c.driver.repair(c.context, repair)
    assert nova.show(ids["0"])["status"] == "ACTIVE"
    assert _state(c, repair) == (base.BATCH_DONE, None)
    assert rebuilds.read(nova.state_dir)[ids["0"]]["seq"] == 1


def test_a_baremetal_server_nova_puts_in_error_fails_the_repair(baremetal, heat, nova,
                                                                monkeypatch):
    c = baremetal
    [chunk] = c.chunk_stacks(c.workers[0])
    ids = _ids(heat, chunk.id)
    nova.list(ids.values())
    [repair] = c.driver.plan_repair(c.context, c.cluster, c.nodegroups, [ids["2"]])
    c.driver.repair(c.context, repair)
    errored = {"status": "ERROR", "metadata": {}, "OS-EXT-STS:task_state": None,
               "fault": {"message": "No valid host was found."}}
    monkeypatch.setattr(nova_api, "server", lambda context, server_id: errored)
    state, reason = _state(c, repair)
    assert state == base.BATCH_FAILED
    assert reason == f"server {ids['2']} is in ERROR: No valid host was found."


def test_nova_refuses_a_rebuild_that_is_not_an_image(nova, baremetal, heat):
    """The stand-in is as strict as Nova: Heat's user-data rebuild (the user data where the
    image goes) is refused, and user data before 2.57 too."""
    [chunk] = baremetal.chunk_stacks(baremetal.workers[0])
    server_id = _ids(heat, chunk.id)["0"]
    nova.list([server_id])
    url = f"{nova.url}/servers/{server_id}/action"
    headers = {"X-Project-Id": nova.project_id}
    answer = requests.post(url, json={"rebuild": {"imageRef": "#cloud-config\n"}},
                           headers=headers, timeout=5)
    assert answer.status_code == 400 and "Cannot find requested image" in answer.text
    answer = requests.post(url, json={"rebuild": {"imageRef": IMAGE, "user_data": "eA=="}},
                           headers={**headers, "OpenStack-API-Version": "compute 2.56"},
                           timeout=5)
    assert answer.status_code == 400 and "'user_data' was unexpected" in answer.text
    assert rebuilds.read(nova.state_dir) == {}


def test_a_baremetal_group_of_a_stack_that_does_not_say_is_told_by_the_template(
        baremetal, heat):
    c = baremetal
    [chunk] = c.chunk_stacks(c.workers[0])
    chunk.parameters["upgrade_policy"] = "REPLACE"  # a stack made before it said so
    node = _names(heat, chunk.id)["2"]
    [repair] = c.driver.plan_repair(c.context, c.cluster, c.nodegroups, [node],
                                    cluster_template=c.template)
    assert repair["method"] == "REBUILD"


def test_a_driver_that_does_not_repair_says_so(context):
    """The interface's defaults (a plugin without repairs)."""
    plugin = object()
    for method, args in (("plan_repair", (None, [], ["n"])), ("repair", ({},)),
                         ("repair_state", ({},))):
        with pytest.raises(exception.NotSupported):
            getattr(base.Driver, method)(plugin, context, *args)

