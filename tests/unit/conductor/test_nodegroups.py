"""Nodegroup create and delete in the conductor: the driver call, what is recorded, and the
reconciler finishing them (the cluster goes through an update meanwhile)."""

import time

import pytest

from magnum_lite import objects
from magnum_lite.common import exception
from magnum_lite.conductor import hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import fields
from tests.unit.conductor.test_reconciler import FakeClock

Status = fields.ClusterStatus
State = drivers_base.ClusterState
NGState = drivers_base.NodeGroupState
WAIT = 10


def finish(manager):
    deadline = time.monotonic() + WAIT
    while manager._work:
        assert time.monotonic() < deadline, "conductor work did not finish"
        time.sleep(0.01)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def reconciler(db, clock):
    ring = hashring.ConductorRing("host-a", list_hosts=lambda: {"host-a"})
    reconciler = conductor_reconciler.Reconciler("host-a", ring=ring, clock=clock,
                                                 utcnow=clock.utcnow, workers=2)
    yield reconciler
    reconciler.stop()


def round_(reconciler):
    started = reconciler.run_once()
    reconciler.wait(WAIT)
    return started


def groups(context, cluster):
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])}


def reload(context, cluster):
    return objects.Cluster.get_by_uuid(context, cluster.uuid)


@pytest.fixture
def updating(make_cluster, context, fake_driver):
    """A cluster the API put in UPDATE_IN_PROGRESS for a new nodegroup `gpu` (2 nodes)."""
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS, stack_id="stack-1")
    gpu = objects.NodeGroup(context, name="gpu", cluster_id=cluster.uuid,
                            project_id=cluster.project_id, role="worker", node_count=2,
                            status=Status.CREATE_IN_PROGRESS, availability_zone="az-2",
                            server_type="bm")
    gpu.create()
    return cluster, gpu


def test_create_asks_the_driver_for_the_one_nodegroup_and_hands_over(
        manager, context, updating, fake_driver):
    cluster, gpu = updating
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    finish(manager)
    name, call = fake_driver.calls[0]
    assert name == "create_nodegroup"
    assert (call["nodegroup"], call["nodegroup_name"], call["node_count"],
            call["availability_zone"], call["with_credentials"]) == (
        gpu.uuid, "gpu", 2, "az-2", True)
    assert reload(context, cluster).status == Status.UPDATE_IN_PROGRESS
    assert groups(context, cluster)["gpu"].status == Status.CREATE_IN_PROGRESS
    assert [e.event_type for e in objects.ClusterEvent.list(context, cluster.uuid)] == [
        "cluster.update.started"]


def test_the_reconciler_completes_a_created_nodegroup(manager, reconciler, context, updating,
                                                      fake_driver):
    cluster, gpu = updating
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    finish(manager)
    fake_driver.statuses[cluster.uuid] = State(
        status=Status.UPDATE_COMPLETE, nodegroups={gpu.uuid: NGState(
            status=Status.CREATE_COMPLETE, node_addresses=["10.0.0.21", "10.0.0.22"],
            node_count=2, stack_id="stack-gpu")})
    assert round_(reconciler) == 1
    assert reload(context, cluster).status == Status.UPDATE_COMPLETE
    after = groups(context, cluster)["gpu"]
    assert (after.status, after.node_addresses, after.stack_id) == (
        Status.CREATE_COMPLETE, ["10.0.0.21", "10.0.0.22"], "stack-gpu")


def test_delete_then_the_reconciler_removes_only_that_row(manager, reconciler, context,
                                                          updating, fake_driver):
    cluster, gpu = updating
    gpu.status = Status.DELETE_IN_PROGRESS
    gpu.save()
    manager.nodegroup_delete(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    finish(manager)
    assert fake_driver.calls[0][0] == "delete_nodegroup"
    assert fake_driver.calls[0][1]["nodegroup"] == gpu.uuid
    assert groups(context, cluster)["gpu"].status == Status.DELETE_IN_PROGRESS

    fake_driver.statuses[cluster.uuid] = State(status=Status.UPDATE_IN_PROGRESS)
    round_(reconciler)
    assert "gpu" in groups(context, cluster)  # stacks still there: the row stays

    fake_driver.statuses[cluster.uuid] = State(
        status=Status.UPDATE_COMPLETE,
        nodegroups={gpu.uuid: NGState(status=Status.DELETE_COMPLETE)})
    reconciler._clock.advance(5)
    round_(reconciler)
    assert set(groups(context, cluster)) == {"default-master", "default-worker"}
    assert reload(context, cluster).status == Status.UPDATE_COMPLETE


def test_a_delete_complete_recorded_twice_is_no_error(context, updating):
    cluster, gpu = updating
    state = State(status=Status.UPDATE_COMPLETE,
                  nodegroups={gpu.uuid: NGState(status=Status.DELETE_COMPLETE)})
    conductor_manager.record_state(context, conductor_manager.UPDATE, cluster.uuid, state)
    cluster.status = Status.UPDATE_IN_PROGRESS
    cluster = reload(context, cluster)
    conductor_manager.record_state(context, conductor_manager.UPDATE, cluster.uuid, state)
    assert "gpu" not in groups(context, cluster)


@pytest.mark.parametrize(("action", "failed"), [("create", Status.CREATE_FAILED),
                                                ("delete", Status.DELETE_FAILED)])
def test_a_driver_refusal_fails_the_update_and_the_nodegroup(manager, context, updating,
                                                             fake_driver, action, failed):
    cluster, gpu = updating
    fake_driver.fail_with = exception.InvalidParameterValue(err="Heat refused: no zone az-2")
    getattr(manager, f"nodegroup_{action}")(context, cluster_uuid=cluster.uuid,
                                            nodegroup_uuid=gpu.uuid)
    finish(manager)
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.UPDATE_FAILED,
                                                   "Heat refused: no zone az-2")
    gpu_after = groups(context, cluster)["gpu"]
    assert (gpu_after.status, gpu_after.status_reason) == (failed,
                                                           "Heat refused: no zone az-2")


def test_a_nodegroup_gone_before_the_work_ran_fails_the_update(manager, context, updating,
                                                                fake_driver):
    cluster, gpu = updating
    gpu.destroy()
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    finish(manager)
    after = reload(context, cluster)
    assert after.status == Status.UPDATE_FAILED
    assert after.status_reason == conductor_manager.NODEGROUP_GONE % gpu.uuid
    assert fake_driver.calls == []
