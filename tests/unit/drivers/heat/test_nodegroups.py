"""Nodegroups added to and removed from a running cluster by the shared Heat driver (through
the k8s_ubuntu_v1 plugin against the fake Heat): each group's own chunk stacks, with its own
flavor, image and availability zone."""

from __future__ import annotations

import pytest
import yaml

from magnum_lite.common import exception
from magnum_lite.drivers.heat import driver as heat_driver
from tests.unit.drivers.heat.conftest import make_nodegroup
from tests.unit.drivers.heat.test_driver import QUOTA, Cluster


@pytest.fixture
def running(context, heat):
    """A built cluster (1 master, 2 workers) and a new nodegroup `gpu` the API recorded:
    3 nodes of its own flavor and image in zone az-2; the cluster UPDATE_IN_PROGRESS."""
    c = Cluster(context, heat, workers=(2,))
    c.built()
    gpu = make_nodegroup(c.cluster, "gpu", "worker", 3, flavor_id="m1.xlarge",
                         image_id="ubuntu-24.04", availability_zone="az-2", server_type="vm")
    c.workers.append(gpu)
    c.cluster.status = "UPDATE_IN_PROGRESS"
    return c, gpu


def _member_param(heat, stack, name):
    """A parameter as the first node of the chunk's ResourceGroup receives it."""
    with heat.lock:
        node = heat._scope(heat.stack(stack.id)).member("nodes", "0")
        return node.param(name)


def test_create_nodegroup_makes_only_its_chunk_stacks_with_its_placement(running, heat):
    c, gpu = running
    before = {s.name for s in heat.live_stacks()}
    state = c.record(c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu,
                                               credentials=c.credentials))
    assert state.status == "UPDATE_IN_PROGRESS"
    assert state.nodegroups == {gpu.uuid: heat_driver.base.NodeGroupState(
        status="CREATE_IN_PROGRESS")}
    [stack] = c.chunk_stacks(gpu)
    assert {s.name for s in heat.live_stacks()} == before | {stack.name}
    assert (stack.parameters["node_count"], stack.parameters["flavor"],
            stack.parameters["image"], stack.parameters["availability_zone"]) == (
        3, "m1.xlarge", "ubuntu-24.04", "az-2")
    assert _member_param(heat, stack, "availability_zone") == "az-2"
    # The other groups' stacks are untouched.
    [other] = c.chunk_stacks(c.workers[0])
    assert other.status == "CREATE_COMPLETE"
    assert other.parameters["availability_zone"] == ""


def test_get_status_completes_a_created_nodegroup_with_its_addresses(running, heat):
    c, gpu = running
    c.record(c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu))
    assert c.status().status is None  # Heat still building
    [stack] = c.chunk_stacks(gpu)
    heat.complete(stack.id)
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    done = state.nodegroups[gpu.uuid]
    assert (done.status, done.node_count, done.stack_id) == ("CREATE_COMPLETE", 3, stack.id)
    assert len(done.node_addresses) == 3
    assert c.workers[0].uuid not in state.nodegroups  # not in progress: not reported


def test_a_missing_chunk_of_a_new_group_is_made_by_get_status(running, heat, config):
    """Level triggered: a conductor that died before creating the stacks loses nothing."""
    c, gpu = running
    gpu.status = "CREATE_IN_PROGRESS"
    assert c.chunk_stacks(gpu) == []
    assert c.status().status is None
    [stack] = c.chunk_stacks(gpu)
    assert stack.parameters["availability_zone"] == "az-2"


def test_a_failed_new_group_fails_the_update_and_the_group(running, heat):
    c, gpu = running
    c.record(c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu))
    [stack] = c.chunk_stacks(gpu)
    heat.fail(stack.id, "nodes", QUOTA)
    state = c.status()
    assert state.status == "UPDATE_FAILED"
    assert state.nodegroups[gpu.uuid].status == "CREATE_FAILED"
    assert QUOTA in state.status_reason


def test_a_refused_new_group_fails_at_once(running, heat):
    c, gpu = running
    gpu.node_labels = {"disk": "not a label value!"}
    state = c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu)
    assert state.status == "UPDATE_FAILED"
    assert state.nodegroups[gpu.uuid].status == "CREATE_FAILED"
    assert "gpu" in state.status_reason and "node_labels" in state.status_reason
    assert c.chunk_stacks(gpu) == []


def test_delete_nodegroup_removes_only_its_stacks_and_get_status_reports_it_gone(running,
                                                                                 heat):
    c, gpu = running
    c.record(c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu))
    heat.complete_all()
    assert c.status().status == "UPDATE_COMPLETE"
    [gpu_stack] = c.chunk_stacks(gpu)
    [other] = c.chunk_stacks(c.workers[0])

    c.cluster.status = "UPDATE_IN_PROGRESS"
    state = c.record(c.driver.delete_nodegroup(c.context, c.cluster, gpu))
    assert state.status == "UPDATE_IN_PROGRESS"
    assert state.nodegroups[gpu.uuid].status == "DELETE_IN_PROGRESS"
    assert heat.stack(gpu_stack.id).status == "DELETE_IN_PROGRESS"
    assert heat.stack(other.id).status == "CREATE_COMPLETE"
    assert heat.stack(c.cluster_stack_name).status == "CREATE_COMPLETE"

    assert c.status().status is None
    heat.complete(gpu_stack.id)
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    assert state.nodegroups[gpu.uuid].status == "DELETE_COMPLETE"
    assert c.chunk_stacks(gpu) == []
    assert [s.status for s in c.chunk_stacks(c.workers[0])] == ["CREATE_COMPLETE"]


def test_a_failed_group_delete_fails_the_update_and_the_group(running, heat):
    c, gpu = running
    c.record(c.driver.create_nodegroup(c.context, c.cluster, c.template, gpu))
    heat.complete_all()
    c.status()
    c.cluster.status = "UPDATE_IN_PROGRESS"
    c.record(c.driver.delete_nodegroup(c.context, c.cluster, gpu))
    [stack] = c.chunk_stacks(gpu)
    heat.fail(stack.id, None, "port still in use")
    state = c.status()
    assert state.status == "UPDATE_FAILED"
    assert state.nodegroups[gpu.uuid].status == "DELETE_FAILED"
    assert "port still in use" in state.status_reason


def test_a_group_without_stacks_is_deleted_at_once(running, heat):
    c, gpu = running
    c.record(c.driver.delete_nodegroup(c.context, c.cluster, gpu))
    state = c.status()
    assert state.nodegroups[gpu.uuid].status == "DELETE_COMPLETE"
    assert state.status == "UPDATE_COMPLETE"


def test_masters_are_neither_added_nor_deleted_as_groups(running):
    c, _gpu = running
    with pytest.raises(exception.InvalidParameterValue):
        c.driver.create_nodegroup(c.context, c.cluster, c.template, c.masters)
    with pytest.raises(exception.InvalidParameterValue):
        c.driver.delete_nodegroup(c.context, c.cluster, c.masters)


def test_the_zone_reaches_the_server_only_when_set():
    """node.yaml gives Nova the zone, or no zone at all (Nova's default) when it is empty."""
    node = yaml.safe_load((heat_driver.TEMPLATES / "fragments" / "node.yaml").read_text())
    assert node["parameters"]["availability_zone"]["default"] == ""
    assert node["resources"]["server"]["properties"]["availability_zone"] == {
        "if": ["has_availability_zone", {"get_param": "availability_zone"}, None]}
    assert node["conditions"]["has_availability_zone"] == {
        "not": {"equals": [{"get_param": "availability_zone"}, ""]}}
    group = yaml.safe_load((heat_driver.TEMPLATES / "nodegroup.yaml").read_text())
    member = group["resources"]["nodes"]["properties"]["resource_def"]["properties"]
    assert member["availability_zone"] == {"get_param": "availability_zone"}
