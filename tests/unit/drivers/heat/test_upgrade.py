"""A rolling upgrade's Heat side (drivers/heat/upgrade.py) against the fake Heat: the plan's
batches, updates in which only a batch's members boot the target, resumes, and settling."""

from __future__ import annotations

import dataclasses
import email
import functools

import pytest

from magnum_lite.drivers import base
from magnum_lite.drivers.heat import boot_data
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from magnum_lite_sandbox import rebuilds
from tests.unit.drivers.boot_helpers import files
from tests.unit.drivers.heat.conftest import make_template
from tests.unit.drivers.heat.stand_in import IMAGE
from tests.unit.drivers.heat.test_driver import Cluster, no_cleanup  # noqa: F401 - fixture

OLD, NEW = "v1.30.4", "v1.31.1"


def _target(c, key="target-1", tag=NEW, image="ubuntu-24.04"):
    template = make_template(labels={"kube_tag": tag}, image_id=image)
    cluster = type(c.cluster)(**{**vars(c.cluster), "labels": {"kube_tag": tag},
                                 "cluster_template_id": template.uuid})
    return base.UpgradeTarget(K8sUbuntuV1(), cluster, template, key)


@pytest.fixture
def cluster(context, heat):
    c = Cluster(context, heat, masters=3, workers=(5,), labels={"kube_tag": OLD},
                template_labels={"kube_tag": OLD})
    c.built()
    return c


def _plan(c, size=2, key="target-1", nodegroups=None, undo=None):
    return c.driver.upgrade(c.context, c.cluster, c.nodegroups, max_batch_size=size,
                            nodegroup_uuids=nodegroups, target_key=key, undo_key=undo)


def _boots(heat, stack, member, group=None):
    """The Kubernetes version the member's server boots (its files' KUBE_VERSION)."""
    env = files(heat.server_user_data(stack, member, group))["/etc/magnum-lite/node.env"]
    [version] = [line.split("=", 1)[1].strip("'") for line in env["content"].splitlines()
                 if line.startswith("KUBE_VERSION=")]
    return "v" + version


def test_masters_go_one_at_a_time_then_workers_in_batches(cluster):
    batches = _plan(cluster, size=2)
    assert [(b["role"], b["members"]) for b in batches] == [
        ("master", ["0"]), ("master", ["1"]), ("master", ["2"]),
        ("worker", ["0", "1"]), ("worker", ["2", "3"]), ("worker", ["4"])]
    assert batches[0]["stack"] == cluster.cluster_stack_name
    assert batches[3]["nodes"] == [n for n in batches[3]["nodes"] if "-0" in n or "-1" in n]
    assert all(b["nodegroup"] == cluster.workers[0].uuid for b in batches[3:])


def test_a_nodegroup_named_plans_only_its_nodes(cluster):
    batches = _plan(cluster, size=5, nodegroups=[cluster.workers[0].uuid])
    assert [(b["role"], b["members"]) for b in batches] == [
        ("worker", ["0", "1", "2", "3", "4"])]


def test_a_batch_update_moves_only_its_members(cluster, heat):
    ng = cluster.workers[0]
    plan = _plan(cluster)
    batch = plan[3]
    target = _target(cluster)
    assert cluster.driver.batch_state(cluster.context, batch, target.key) == (
        base.BATCH_UNSENT, None)
    cluster.driver.roll_batch(cluster.context, ng, batch, target, credentials=None)
    [stack] = cluster.chunk_stacks(ng)
    assert stack.status == "UPDATE_IN_PROGRESS"
    assert stack.parameters["upgraded_members"] == ["0", "1"]
    assert stack.parameters["rolling"] is True
    assert stack.parameters["upgraded_image"] == "ubuntu-24.04"
    assert stack.parameters["upgrade_policy"] == "REPLACE"  # VMs: new servers
    assert [_boots(heat, stack.id, m) for m in "01234"] == [NEW, NEW, OLD, OLD, OLD]
    assert cluster.driver.batch_state(cluster.context, batch, target.key)[0] == \
        base.BATCH_ROLLING
    heat.complete(stack.id)
    assert cluster.driver.batch_state(cluster.context, batch, target.key) == (
        base.BATCH_DONE, None)
    # The next batch keeps the first one's members where they are.
    cluster.driver.roll_batch(cluster.context, ng, plan[4], target, credentials=None)
    assert stack.parameters["upgraded_members"] == ["0", "1", "2", "3"]
    assert [_boots(heat, stack.id, m) for m in "01234"] == [NEW, NEW, NEW, NEW, OLD]


def test_a_master_batch_updates_the_cluster_stack_for_that_master(cluster, heat):
    batch = _plan(cluster)[1]
    cluster.driver.roll_batch(cluster.context, cluster.masters, batch, _target(cluster),
                              credentials=None)
    name = cluster.cluster_stack_name
    assert heat.stack(name).parameters["upgraded_members"] == ["1"]
    assert [_boots(heat, name, m, "masters") for m in "012"] == [OLD, NEW, OLD]
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    assert not chunk.in_progress  # the workers' stack is not touched


def test_asked_again_the_plan_leaves_out_nodes_already_at_the_target(cluster, heat):
    ng = cluster.workers[0]
    target = _target(cluster)
    cluster.driver.roll_batch(cluster.context, ng, _plan(cluster)[3], target,
                              credentials=None)
    heat.complete(cluster.chunk_stacks(ng)[0].id)
    again = _plan(cluster, key=target.key)
    assert [(b["role"], b["members"]) for b in again][3:] == [
        ("worker", ["2", "3"]), ("worker", ["4"])]
    # Another target plans every node anew.
    assert [b["members"] for b in _plan(cluster, key="another")][3:] == [
        ["0", "1"], ["2", "3"], ["4"]]


def test_a_rollback_of_an_unfinished_upgrade_takes_back_only_its_members(cluster, heat):
    """Workers 0 and 1 moved, then the upgrade stopped: the rollback rebases the stack
    (no member boots anything else), then moves those two back; masters and the other
    workers are never touched."""
    ng = cluster.workers[0]
    [stack] = cluster.chunk_stacks(ng)
    old_image = stack.parameters["image"]
    cluster.driver.roll_batch(cluster.context, ng, _plan(cluster)[3], _target(cluster),
                              credentials=None)
    heat.complete(stack.id)
    back = dataclasses.replace(_target(cluster, key="back", tag=OLD, image=old_image),
                               undone=_target(cluster))
    undo = _plan(cluster, key=back.key, undo="target-1")
    assert [(b["role"], b["members"]) for b in undo] == [("worker", ["0", "1"])]
    cluster.driver.roll_batch(cluster.context, ng, undo[0], back, credentials=None)
    assert (stack.parameters["upgrade_target"], stack.parameters["rolling"]) == ("back", False)
    assert stack.parameters["upgraded_members"] == ["2", "3", "4"]
    assert (stack.parameters["image"], stack.parameters["upgraded_image"]) == (
        "ubuntu-24.04", old_image)
    assert [_boots(heat, stack.id, m) for m in "01234"] == [NEW, NEW, OLD, OLD, OLD]
    # The batch's own update waits for the rebase, then lists its members.
    assert cluster.driver.batch_state(cluster.context, undo[0], back.key)[0] == \
        base.BATCH_ROLLING
    heat.complete(stack.id)
    assert cluster.driver.batch_state(cluster.context, undo[0], back.key)[0] == \
        base.BATCH_UNSENT
    cluster.driver.roll_batch(cluster.context, ng, undo[0], back, credentials=None)
    assert stack.parameters["upgraded_members"] == ["0", "1", "2", "3", "4"]
    assert stack.parameters["rolling"] is True
    assert [_boots(heat, stack.id, m) for m in "01234"] == [OLD] * 5
    heat.complete(stack.id)
    assert cluster.driver.batch_state(cluster.context, undo[0], back.key) == (
        base.BATCH_DONE, None)
    assert _plan(cluster, key=back.key, undo="target-1") == []  # asked again: nothing left
    assert cluster.driver.settle_upgrade(cluster.context, ng, undo[0], back,
                                         credentials=None)[0] == base.BATCH_ROLLING
    assert (stack.parameters["image"], stack.parameters["upgraded_members"]) == (
        old_image, [])
    assert not heat.stack(cluster.cluster_stack_name).in_progress  # masters untouched


def test_a_failed_batch_update_says_heat_s_reason(cluster, heat):
    ng = cluster.workers[0]
    batch = _plan(cluster)[3]
    target = _target(cluster)
    cluster.driver.roll_batch(cluster.context, ng, batch, target, credentials=None)
    [stack] = cluster.chunk_stacks(ng)
    heat.fail(stack.id, "nodes", "No valid host was found")
    state, reason = cluster.driver.batch_state(cluster.context, batch, target.key)
    assert state == base.BATCH_FAILED
    assert "No valid host was found" in reason


def test_a_dry_run_lists_each_batch_s_member_servers_and_changes_nothing(cluster, heat):
    plan = _plan(cluster, size=2)
    heat.calls.clear()
    replaces = cluster.driver.upgrade_dry_run(cluster.context, cluster.cluster,
                                              cluster.nodegroups, plan)
    masters = heat.outputs(cluster.cluster_stack_name)
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    workers = heat.outputs(chunk.id)
    assert [(r["stack"], r["resource_group"], [s["member"] for s in r["servers"]])
            for r in replaces] == [
        (cluster.cluster_stack_name, "masters", ["0"]),
        (cluster.cluster_stack_name, "masters", ["1"]),
        (cluster.cluster_stack_name, "masters", ["2"]),
        (chunk.name, "nodes", ["0", "1"]), (chunk.name, "nodes", ["2", "3"]),
        (chunk.name, "nodes", ["4"])]
    assert replaces[1]["servers"] == [{"member": "1", "name": masters["master_names"]["1"],
                                       "id": masters["master_ids"]["1"]}]
    assert replaces[4]["servers"] == [
        {"member": m, "name": workers["node_names"][m], "id": workers["node_ids"][m]}
        for m in ("2", "3")]
    assert [s["name"] for r in replaces for s in r["servers"]] == [
        n for b in plan for n in b["nodes"]]
    # Each stack read once, nothing written.
    assert sorted(method for method, _target, _extra in heat.calls) == ["stacks.get"] * 2


def test_a_dry_run_of_a_batch_whose_stack_is_gone_is_a_cloud_error(cluster, heat):
    from magnum_lite.common import exception

    batch = {**_plan(cluster)[3], "stack": "gone"}
    with pytest.raises(exception.CloudError, match="the stack gone is gone"):
        cluster.driver.upgrade_dry_run(cluster.context, cluster.cluster, cluster.nodegroups,
                                       [batch])


def test_settling_makes_the_target_the_stack_s_own_without_moving_a_node(cluster, heat):
    ng = cluster.workers[0]
    target = _target(cluster)
    [stack] = cluster.chunk_stacks(ng)
    for batch in _plan(cluster, size=5)[3:]:
        cluster.driver.roll_batch(cluster.context, ng, batch, target, credentials=None)
        heat.complete(stack.id)
    batch = _plan(cluster, size=5, key="another")[3]
    settle = cluster.driver.settle_upgrade
    assert settle(cluster.context, ng, batch, target, credentials=None)[0] == \
        base.BATCH_ROLLING
    assert stack.parameters["upgraded_members"] == []
    assert stack.parameters["rolling"] is False
    assert stack.parameters["image"] == "ubuntu-24.04"
    assert [_boots(heat, stack.id, m) for m in "01234"] == [NEW] * 5
    assert settle(cluster.context, ng, batch, target, credentials=None)[0] == \
        base.BATCH_ROLLING
    heat.complete(stack.id)
    assert settle(cluster.context, ng, batch, target, credentials=None) == (
        base.BATCH_DONE, None)
    # A resize later adds nodes of the target.
    cluster.resize(ng, 6)
    assert _boots(heat, stack.id, "5") == NEW


def test_the_target_s_user_data_is_the_same_each_time_it_is_rendered(cluster):
    """Every batch renders the target again: members moved earlier must see the same text,
    or Heat would replace them once more."""
    target = _target(cluster)
    first = target.builder.cluster_parameters(target.cluster, target.cluster_template,
                                              cluster.masters, base.ClusterCredentials())
    again = target.builder.cluster_parameters(target.cluster, target.cluster_template,
                                              cluster.masters, base.ClusterCredentials())
    assert first["master_user_data"] == again["master_user_data"]



def _heat_given(ours: str) -> str:
    """The user data Heat gives a SOFTWARE_CONFIG server: its agent's parts around ours."""
    parts = email.message_from_string(ours).get_payload()
    return boot_data._message(
        [("cloud-config", "cloud-config", "#cloud-config\n"),
         ("boothook.sh", "cloud-boothook", "#!/bin/bash\n"),
         ("part-handler.py", "part-handler", "#part-handler\n")]
        + [(p.get_filename(), p.get_content_subtype(), p.get_payload()) for p in parts]
        + [("cfn-init-data", "x-cfninitdata", '{"os-collect-config": {"heat": {}}}')])


def _parts(text: str) -> list[str]:
    return [p.get_filename() for p in email.message_from_string(text).get_payload()]


@pytest.fixture
def bm(context, heat, nova):
    """A baremetal cluster (1 master, 3 workers) whose workers Nova lists, each with the user
    data Heat would have given it."""
    c = Cluster(context, heat, masters=1, workers=(3,), labels={"kube_tag": OLD},
                template_labels={"kube_tag": OLD}, template_server_type="bm",
                template_fixed_network="flat", floating_ip_enabled=False,
                template_floating_ip_enabled=False, template_image_id="ubuntu-22.04")
    c.built()
    [c.stack] = c.chunk_stacks(c.workers[0])
    c.ids = dict(heat.outputs(c.stack.id)["node_ids"])
    c.given = {c.ids[m]: _heat_given(heat.server_user_data(c.stack.id, m)) for m in c.ids}
    nova.list(c.ids.values(), c.given)
    return c


def _bm_target(c, **values):
    target = _target(c, **values)
    target.cluster_template.server_type = "bm"
    return target


def _kube_version(user_data: str) -> str:
    ours = boot_data._message([p for p in boot_data._parts(user_data)
                               if p[0] not in boot_data.HEAT_PARTS])
    env = files(ours)["/etc/magnum-lite/node.env"]["content"]
    [version] = [line.split("=", 1)[1].strip("'") for line in env.splitlines()
                 if line.startswith("KUBE_VERSION=")]
    return "v" + version


def test_baremetal_nodes_are_rebuilt_in_place_through_nova(bm, heat, nova):
    c, stack, ids, given = bm, bm.stack, bm.ids, bm.given
    target = _bm_target(c, image="fedora-40")
    batch = _plan(c)[1]
    assert batch["members"] == ["0", "1"]
    state = functools.partial(c.driver.batch_state, c.context, batch, target.key)

    # First the stack lists the batch, changing no server: images kept, user data ignored.
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    assert stack.parameters["upgrade_policy"] == "REBUILD"
    assert stack.parameters["upgraded_members"] == ["0", "1"]
    assert stack.parameters["server_images"] == {m: "ubuntu-22.04" for m in "012"}
    assert state() == (base.BATCH_ROLLING, None)
    heat.complete(stack.id)
    assert rebuilds.read(nova.state_dir) == {}

    # Then Nova rebuilds each member of the batch with the target's image and user data.
    assert state() == (base.BATCH_UNSENT, None)
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    sent = rebuilds.read(nova.state_dir)
    assert set(sent) == {ids["0"], ids["1"]}
    assert {r["image"] for r in sent.values()} == {"5c3b2a19-8e7d-4c6b-a5f4-3e2d1c0b9a72"}
    assert {r["metadata"]["magnum_lite_rebuild"] for r in sent.values()} == {target.key}
    for member in "01":
        data = sent[ids[member]]["user_data"]
        # Heat's parts stay (the node keeps polling Heat), the driver's are the target's.
        assert _parts(data) == _parts(given[ids[member]])
        assert _kube_version(data) == NEW
        assert "__NODE_INDEX__" not in data and "__CONTROL_PLANE_HOST__" not in data
        # The driver's parts as Heat would render them for this member (index, hosts).
        assert boot_data._parts(data) == boot_data._parts(boot_data.rebuilt_user_data(
            given[ids[member]], heat.server_user_data(stack.id, member)))
    assert state() == (base.BATCH_ROLLING, None)  # Nova shows them REBUILD
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    nova.boot()
    assert state() == (base.BATCH_DONE, None)
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    assert {r["seq"] for r in rebuilds.read(nova.state_dir).values()} == {1}  # once each
    assert len([call for call in heat.calls if call[0] == "stacks.update"]) == 1

    # Settled, the stack runs the target; the kept images still change no server.
    c.driver.settle_upgrade(c.context, c.workers[0], batch, target, credentials=None)
    assert stack.parameters["image"] == "fedora-40"
    assert stack.parameters["server_images"] == {m: "ubuntu-22.04" for m in "012"}


def test_a_baremetal_rollback_rebuilds_back_only_the_moved_members(bm, heat, nova):
    c, stack = bm, bm.stack
    target = _bm_target(c, image="fedora-40")
    batch = _plan(c)[1]
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    heat.complete(stack.id)
    c.driver.roll_batch(c.context, c.workers[0], batch, target, credentials=None)
    nova.boot()
    back = dataclasses.replace(_bm_target(c, key="back", tag=OLD, image="ubuntu-22.04"),
                               undone=target)
    [undo] = _plan(c, key=back.key, undo=target.key)
    assert undo["members"] == ["0", "1"]
    for _step in range(2):  # the rebase, then the batch's listing
        c.driver.roll_batch(c.context, c.workers[0], undo, back, credentials=None)
        heat.complete(stack.id)
    assert c.driver.batch_state(c.context, undo, back.key) == (base.BATCH_UNSENT, None)
    c.driver.roll_batch(c.context, c.workers[0], undo, back, credentials=None)  # Nova's
    assert stack.parameters["server_images"] == {m: "ubuntu-22.04" for m in "012"}
    sent = rebuilds.read(nova.state_dir)
    assert {m: sent[c.ids[m]]["seq"] for m in "01"} == {"0": 2, "1": 2}
    assert c.ids["2"] not in sent  # never moved: never rebuilt
    assert {sent[c.ids[m]]["image"] for m in "01"} == {IMAGE}
    assert {_kube_version(sent[c.ids[m]]["user_data"]) for m in "01"} == {OLD}
    assert c.driver.batch_state(c.context, undo, back.key)[0] == base.BATCH_ROLLING
    nova.boot()
    assert c.driver.batch_state(c.context, undo, back.key) == (base.BATCH_DONE, None)
