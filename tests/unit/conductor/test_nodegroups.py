"""Nodegroup create and delete in the conductor: the driver call, what is recorded, and the
reconciler finishing them (the cluster goes through an update meanwhile)."""


import pytest

from magnum_lite import objects
from magnum_lite.common import exception
from magnum_lite.conductor import hashring, recording
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import fields
from tests.unit.conductor.helpers import WAIT, in_flight, operation_of, settle
from tests.unit.conductor.test_reconciler import FakeClock

Status = fields.ClusterStatus
State = drivers_base.ClusterState
NGState = drivers_base.NodeGroupState



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
    """A cluster in UPDATE_IN_PROGRESS with a new nodegroup `gpu` (2 nodes); each test
    starts the operation record of the kind it casts (`in_flight`)."""
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS, stack_id="stack-1",
                           operation=False)
    gpu = objects.NodeGroup(context, name="gpu", cluster_id=cluster.uuid,
                            project_id=cluster.project_id, role="worker", node_count=2,
                            status=Status.CREATE_IN_PROGRESS, availability_zone="az-2",
                            server_type="bm")
    gpu.create()
    return cluster, gpu


def test_create_asks_the_driver_for_the_one_nodegroup_and_hands_over(
        manager, context, updating, fake_driver):
    cluster, gpu = updating
    in_flight(context, cluster, "nodegroup_create")
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    settle()
    name, call = fake_driver.calls[0]
    assert name == "create_nodegroup"
    assert (call["nodegroup"], call["nodegroup_name"], call["node_count"],
            call["availability_zone"], call["with_credentials"]) == (
        gpu.uuid, "gpu", 2, "az-2", True)
    assert reload(context, cluster).status == Status.UPDATE_IN_PROGRESS
    assert groups(context, cluster)["gpu"].status == Status.CREATE_IN_PROGRESS
    assert objects.ClusterEvent.list(context, cluster.uuid) == []  # no status change
    operation = operation_of(context, cluster.uuid)
    assert (operation.kind, operation.step) == ("nodegroup_create", "following")


def test_the_reconciler_completes_a_created_nodegroup(manager, reconciler, context, updating,
                                                      fake_driver):
    cluster, gpu = updating
    in_flight(context, cluster, "nodegroup_create")
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    settle()
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
    in_flight(context, cluster, "nodegroup_delete")
    manager.nodegroup_delete(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    settle()
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
    recording.record_state(context, "nodegroup_delete", cluster.uuid, state)
    cluster.status = Status.UPDATE_IN_PROGRESS
    cluster = reload(context, cluster)
    recording.record_state(context, "nodegroup_delete", cluster.uuid, state)
    assert "gpu" not in groups(context, cluster)


@pytest.mark.parametrize(("action", "failed"), [("create", Status.CREATE_FAILED),
                                                ("delete", Status.DELETE_FAILED)])
def test_a_driver_refusal_fails_the_update_and_the_nodegroup(manager, context, updating,
                                                             fake_driver, action, failed):
    cluster, gpu = updating
    fake_driver.fail_with = exception.InvalidParameterValue(err="Heat refused: no zone az-2")
    in_flight(context, cluster, f"nodegroup_{action}")
    getattr(manager, f"nodegroup_{action}")(context, cluster_uuid=cluster.uuid,
                                            nodegroup_uuid=gpu.uuid)
    settle()
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
    in_flight(context, cluster, "nodegroup_create")
    manager.nodegroup_create(context, cluster_uuid=cluster.uuid, nodegroup_uuid=gpu.uuid)
    settle()
    after = reload(context, cluster)
    assert after.status == Status.UPDATE_FAILED
    assert after.status_reason == conductor_manager.NODEGROUP_GONE % gpu.uuid
    assert fake_driver.calls == []
