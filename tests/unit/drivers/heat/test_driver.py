"""The shared Heat driver, driven through the k8s_ubuntu_v1 plugin against the fake Heat."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet
import pytest
import yaml

from magnum_lite import objects
from magnum_lite.common import clients, encryption, exception, trustee, x509
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import chunks, cleanup, cloud_init, names, stacks
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from tests.unit.drivers.heat.conftest import make_cluster, make_nodegroup, make_template
from tests.unit.drivers.k8s_ubuntu_v1.test_userdata import files

QUOTA = "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"


class Cluster:
    """A cluster, its template and nodegroups, and what the conductor would record."""

    def __init__(self, context, heat, masters=1, workers=(2,), **values):
        self.context, self.heat = context, heat
        template_values = {k[9:]: values.pop(k) for k in list(values)
                           if k.startswith("template_")}
        self.template = make_template(**template_values)
        self.cluster = make_cluster(master_count=masters, **values)
        self.masters = make_nodegroup(self.cluster, "default-master", "master", masters)
        self.workers = [make_nodegroup(self.cluster, f"workers-{i}", "worker", count)
                        for i, count in enumerate(workers)]
        self.driver = K8sUbuntuV1()
        #: What the conductor's credentials loader would give (None: a cluster without TLS).
        self.credentials = None

    @property
    def nodegroups(self):
        return [self.masters, *self.workers]

    def record(self, state):
        """Write a ClusterState to the objects as the conductor does."""
        for field in ("status", "status_reason", "stack_id", "api_address", "join_token",
                      "coe_version"):
            if getattr(state, field) is not None:
                setattr(self.cluster, field, getattr(state, field))
        for ng in self.nodegroups:
            ng_state = state.nodegroups.get(ng.uuid)
            if ng_state is None:
                continue
            for field in ("status", "status_reason", "stack_id", "node_addresses",
                          "node_count"):
                if getattr(ng_state, field) is not None:
                    setattr(ng, field, getattr(ng_state, field))
        return state

    def create(self):
        return self.record(self.driver.create(self.context, self.cluster, self.template,
                                              self.nodegroups, 60,
                                              credentials=self.credentials))

    def status(self, kind=None):
        """What get_status says (for an operation of `kind`), recorded."""
        return self.record(self.read_status(kind))

    def read_status(self, kind=None):
        operation = None if kind is None else objects.ClusterOperation(kind=kind)
        return self.driver.get_status(self.context, self.cluster, self.nodegroups,
                                      cluster_template=self.template,
                                      credentials=self.credentials, operation=operation)

    def built(self):
        """Create it and let Heat finish every stack."""
        self.create()
        self.heat.complete(self.cluster_stack_name)
        self.status()
        self.heat.complete_all()
        state = self.status()
        assert state.status == "CREATE_COMPLETE", state
        return state

    def resize(self, nodegroup, count, nodes_to_remove=None, rollback=False):
        self.cluster.status = nodegroup.status = "UPDATE_IN_PROGRESS"
        return self.record(self.driver.update(self.context, self.cluster, self.template,
                                              nodegroup, count, nodes_to_remove, rollback,
                                              credentials=self.credentials))

    @property
    def cluster_stack_name(self):
        return names.cluster_stack_name(self.cluster)

    def chunk_stacks(self, nodegroup):
        found = {}
        for stack in self.heat.live_stacks(self.cluster.project_id):
            chunk = names.chunk_of(stack.name, self.cluster, nodegroup)
            if chunk is not None:
                found[chunk] = stack
        return [found[c] for c in sorted(found)]


@pytest.fixture
def build(context, heat):
    def build(**kwargs):
        return Cluster(context, heat, **kwargs)
    return build


@pytest.fixture(autouse=True)
def no_cleanup(monkeypatch):
    """Pre-delete cleanup has its own tests (test_cleanup.py): record the calls here."""
    calls = []
    monkeypatch.setattr(cleanup, "remove_coe_leftovers",
                        lambda context, cluster, timeout: calls.append(cluster.uuid))
    return calls


# -- create -------------------------------------------------------------------------------


def test_create_starts_the_cluster_stack_only(build, heat):
    c = build(workers=(2, 3))
    state = c.create()
    stack = heat.stack(c.cluster_stack_name)
    assert [s.name for s in heat.live_stacks()] == [c.cluster_stack_name]
    assert stack.status == "CREATE_IN_PROGRESS"
    assert stack.tags == [names.STACK_TAG]
    assert stack.timeout_mins == 60
    assert state.status == "CREATE_IN_PROGRESS"
    assert state.stack_id == stack.id
    assert state.coe_version == "v1.30.4"
    assert state.join_token and state.join_token == c.cluster.join_token
    assert state.nodegroups[c.masters.uuid].stack_id == stack.id
    assert all(state.nodegroups[ng.uuid].status == "CREATE_IN_PROGRESS"
               and state.nodegroups[ng.uuid].stack_id is None for ng in c.workers)
    assert stack.parameters["master_count"] == 1
    assert stack.parameters["master_flavor"] == "m1.large"
    assert stack.parameters["key_name"] == "default"


def test_the_driver_makes_and_deletes_no_trust(build, heat, context, config, monkeypatch):
    """Trusts are the conductor's (conductor/credentials.py): even with a token and service
    credentials at hand the driver neither makes one at create nor deletes one at delete."""
    calls = []
    monkeypatch.setattr(clients, "create_trust", lambda ctx: calls.append("create") or "t")
    monkeypatch.setattr(clients, "delete_trust",
                        lambda ctx, trust_id: calls.append(("delete", trust_id)))
    context.auth_token = "user-token"
    config.set_override("auth_type", "password", group="keystone_auth")
    c = build()
    c.cluster.trust_id = "trust-9"
    c.built()
    _delete(c)
    heat.complete_all()
    c.status()
    heat.complete_all()
    assert c.status().status == "DELETE_COMPLETE"
    assert calls == []


def test_user_data_is_hidden_and_holds_heat_s_placeholders(build, heat):
    c = build(masters=1)
    c.create()
    stack = heat.stack(c.cluster_stack_name)
    master_data = stack.parameters["master_user_data"]
    assert "__NODE_INDEX__" in master_data and "__CONTROL_PLANE_HOST__" in master_data
    shown = heat.client_for(c.context).stacks.get(stack.id).parameters
    assert shown["master_user_data"] == "******"

    heat.complete(stack.id)
    c.status()
    worker = c.chunk_stacks(c.workers[0])[0]
    data = worker.parameters["user_data"]
    assert "__NODE_INDEX__" in data and "__CONTROL_PLANE_HOST__" not in data
    assert heat.client_for(c.context).stacks.get(worker.id).parameters["user_data"] == "******"
    # What the servers boot with once Heat has filled the placeholders in.
    master_ip = heat.outputs(stack.id)["master_private_addresses"]["0"]
    booted = heat.server_user_data(worker.id, "1")
    assert "__" not in booted.replace("__main__", "")
    assert "NODE_INDEX='1'" in booted
    assert f"CONTROL_PLANE_ENDPOINT='{master_ip}:6443'" in booted
    assert f"CONTROL_PLANE_ENDPOINT='{master_ip}:6443'" in heat.server_user_data(stack.id, "0")


def _api_cert_sans(booted: str) -> list[str]:
    """The certSANs kubeadm puts in the API server's certificate, from the booted config."""
    init = files(booted)["/etc/magnum-lite/kubeadm-init.yaml"]["content"]
    cluster_config = [doc for doc in yaml.safe_load_all(init)
                      if doc["kind"] == "ClusterConfiguration"][0]
    return cluster_config["apiServer"]["certSANs"]


@pytest.mark.parametrize(("values", "public"), [
    ({"masters": 3, "master_lb_enabled": True}, "lb_floating_ip"),
    ({"masters": 1}, "master_floating_addresses"),
    ({"masters": 1, "floating_ip_enabled": False}, "master_private_addresses"),
], ids=["load balancer", "own floating IP", "no floating IP"])
def test_a_master_s_api_certificate_names_the_address_clients_use(build, heat, values, public):
    """The cluster's api_address (what `coe cluster config` writes) must be in the API
    certificate, or TLS clients refuse it: Heat fills it in when the masters boot."""
    c = build(workers=(1,), **values)
    c.create()
    stack = heat.stack(c.cluster_stack_name)
    heat.complete(stack.id)
    outputs = heat.outputs(stack.id)
    private = outputs["master_private_addresses"]["0"]
    address = outputs[public] if public == "lb_floating_ip" else outputs[public]["0"]
    assert address and c.driver.api_address(outputs) == f"https://{address}:6443"
    sans = _api_cert_sans(heat.server_user_data(stack.id, "0"))
    assert address in sans
    assert (outputs["lb_vip"] if values.get("master_lb_enabled") else private) in sans
    assert not any("invalid" in san or "__" in san for san in sans)


def test_get_status_phases_of_a_create(build, heat):
    c = build(masters=3, workers=(2, 1))
    c.create()
    # Heat still building the cluster stack: nothing changes.
    state = c.status()
    assert state.status is None and state.nodegroups == {}
    assert len(heat.live_stacks()) == 1

    # Cluster stack complete: the worker stacks start, the masters are done.
    heat.complete(c.cluster_stack_name)
    state = c.status()
    assert state.status is None
    assert state.nodegroups[c.masters.uuid].status == "CREATE_COMPLETE"
    assert state.nodegroups[c.masters.uuid].node_count == 3
    assert all(state.nodegroups[ng.uuid].status == "CREATE_IN_PROGRESS" for ng in c.workers)
    assert [len(c.chunk_stacks(ng)) for ng in c.workers] == [1, 1]
    outputs = heat.outputs(c.cluster_stack_name)
    worker_stack = c.chunk_stacks(c.workers[0])[0]
    assert worker_stack.parameters["network"] == outputs["network"]
    assert worker_stack.parameters["subnet"] == outputs["subnet"]
    assert worker_stack.parameters["security_group"] == outputs["security_group"]
    # Three masters: behind the API load balancer.
    assert worker_stack.parameters["control_plane_host"] == outputs["lb_vip"]

    # Asked again while they build: no second create.
    creates = sum(1 for call in heat.calls if call[0] == "stacks.create")
    assert c.status().status is None
    assert sum(1 for call in heat.calls if call[0] == "stacks.create") == creates

    # One nodegroup done, the other not yet.
    heat.complete(c.chunk_stacks(c.workers[1])[0].id)
    state = c.status()
    assert state.status is None
    assert state.nodegroups[c.workers[1].uuid].status == "CREATE_COMPLETE"
    assert state.nodegroups[c.workers[0].uuid].status == "CREATE_IN_PROGRESS"

    heat.complete_all()
    state = c.status()
    assert state.status == "CREATE_COMPLETE"
    assert state.api_address == f"https://{outputs['lb_floating_ip']}:6443"
    masters = state.nodegroups[c.masters.uuid]
    assert masters.node_addresses == [outputs["master_floating_addresses"][k]
                                      for k in ("0", "1", "2")]
    for ng, count in zip(c.workers, (2, 1), strict=True):
        group = state.nodegroups[ng.uuid]
        chunk_outputs = heat.outputs(c.chunk_stacks(ng)[0].id)
        assert group.status == "CREATE_COMPLETE"
        assert group.node_count == count
        assert group.stack_id == c.chunk_stacks(ng)[0].id
        assert group.node_addresses == [chunk_outputs["node_floating_addresses"][str(i)]
                                        for i in range(count)]


def test_api_address_of_a_lone_master_is_its_floating_ip(build, heat):
    c = build(masters=1)
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    assert outputs["lb_vip"] is None and outputs["lb_floating_ip"] is None
    assert state.api_address == f"https://{outputs['master_floating_addresses']['0']}:6443"


def test_without_floating_ips_the_private_addresses_are_used(build, heat):
    c = build(masters=1, floating_ip_enabled=False)
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    master_ip = outputs["master_private_addresses"]["0"]
    assert outputs["master_floating_addresses"] == {"0": None}
    assert state.api_address == f"https://{master_ip}:6443"
    assert state.nodegroups[c.masters.uuid].node_addresses == [master_ip]
    workers = state.nodegroups[c.workers[0].uuid].node_addresses
    assert len(workers) == 2 and all(a.startswith("10.") for a in workers)


def test_master_lb_without_floating_ip_gives_the_vip(build, heat):
    c = build(masters=1, master_lb_enabled=True, floating_ip_enabled=False)
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    assert outputs["lb_vip"] and outputs["lb_floating_ip"] is None
    assert state.api_address == f"https://{outputs['lb_vip']}:6443"


def test_a_failed_worker_stack_fails_the_create_naming_resource_and_message(build, heat):
    c = build(workers=(2,))
    c.create()
    heat.complete(c.cluster_stack_name)
    c.status()
    heat.fail(c.chunk_stacks(c.workers[0])[0].id, "nodes.1.server", QUOTA)
    state = c.status()
    assert state.status == "CREATE_FAILED"
    assert "server (OS::Nova::Server): " + QUOTA in state.status_reason
    assert state.nodegroups[c.workers[0].uuid].status == "CREATE_FAILED"
    assert state.nodegroups[c.workers[0].uuid].status_reason == state.status_reason
    assert state.nodegroups[c.masters.uuid].status == "CREATE_COMPLETE"


def test_a_failed_cluster_stack_fails_the_create(build, heat):
    c = build()
    c.create()
    heat.fail(c.cluster_stack_name, "network.router",
              "External network public is not reachable from subnet")
    state = c.status()
    assert state.status == "CREATE_FAILED"
    assert state.status_reason == (
        f"stack {c.cluster_stack_name} CREATE_FAILED: router (OS::Neutron::Router): "
        "External network public is not reachable from subnet")
    assert state.nodegroups[c.masters.uuid].status == "CREATE_FAILED"
    assert len(heat.live_stacks()) == 1  # no worker stacks started


def test_a_vanished_cluster_stack_fails_the_create(build, heat):
    c = build()
    c.create()
    heat.client_for(c.context).stacks.delete(c.cluster.stack_id)
    heat.complete(c.cluster.stack_id)
    state = c.status()
    assert state.status == "CREATE_FAILED"
    assert c.cluster.stack_id in state.status_reason and "gone" in state.status_reason


def test_heat_unreachable_during_status_is_cloud_unreachable(build, heat):
    c = build()
    c.create()
    with heat.outage(), pytest.raises(exception.CloudUnreachable, match="cannot reach Heat"):
        c.status()
    assert c.status().status is None  # and back


def test_snapshot_serves_get_status(build, heat):
    a, b = build(), build()
    a.create()
    b.create()
    heat.complete(a.cluster_stack_name)
    snapshot = a.driver.status_snapshot(a.context, a.cluster.project_id)
    assert set(snapshot) == {a.cluster_stack_name, b.cluster_stack_name}
    lists = sum(1 for call in heat.calls if call[0] == "stacks.list")
    for c in (a, b):
        c.record(c.driver.get_status(c.context, c.cluster, c.nodegroups, snapshot,
                                     cluster_template=c.template))
    assert sum(1 for call in heat.calls if call[0] == "stacks.list") == lists
    assert len(a.chunk_stacks(a.workers[0])) == 1
    assert b.chunk_stacks(b.workers[0]) == []


def test_a_thousand_node_nodegroup_is_split_into_chunks_under_the_limit(build, heat):
    c = build(workers=(1000,), docker_volume_size=20)  # floating IPs and volumes: the most
    per_stack = chunks.nodes_per_stack(heat.max_resources_per_stack)

    previews = c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    worker_previews = [n for n in previews if n != c.cluster_stack_name]
    assert len(worker_previews) == -(-1000 // per_stack)

    c.create()
    heat.complete(c.cluster_stack_name)
    c.status()
    stacks = c.chunk_stacks(c.workers[0])
    assert [s.parameters["node_count"] for s in stacks] == chunks.plan(1000, per_stack)
    for stack in stacks:
        assert stack.status == "CREATE_IN_PROGRESS"  # not refused by the limit
        assert heat.resource_count(stack.id) <= heat.max_resources_per_stack
    heat.complete_all()
    state = c.status()
    assert state.status == "CREATE_COMPLETE"
    group = state.nodegroups[c.workers[0].uuid]
    assert group.node_count == 1000
    assert len(set(group.node_addresses)) == 1000


def test_dry_run_is_refused_when_a_stack_would_be_over_the_limit(build, heat, monkeypatch):
    c = build(workers=(40,), docker_volume_size=20)
    # A driver that believes nodes cost fewer resources than they do.
    monkeypatch.setattr(chunks, "RESOURCES_PER_NODE", 2)
    heat.max_resources_per_stack = 100
    with pytest.raises(exception.CloudError, match="Maximum resources per stack exceeded"):
        c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)


def test_dry_run_changes_nothing(build, heat):
    c = build(workers=(3,))
    previews = c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    assert set(previews) == {c.cluster_stack_name,
                             names.nodegroup_stack_name(c.cluster, c.workers[0], 0)}
    assert previews[c.cluster_stack_name]["parameters"]["master_user_data"] == "******"
    assert heat.live_stacks() == []


def test_no_master_nodegroup_is_invalid(build):
    c = build()
    with pytest.raises(exception.InvalidParameterValue, match="no master nodegroup"):
        c.driver.create(c.context, c.cluster, c.template, c.workers, 60)


# -- resize -------------------------------------------------------------------------------


def _node_names(heat, stack):
    return heat.outputs(stack.id)["node_names"]


def test_resize_up(build, heat):
    c = build(workers=(2,))
    c.built()
    ng = c.workers[0]
    state = c.resize(ng, 5, rollback=True)
    assert state.status == "UPDATE_IN_PROGRESS"
    assert state.nodegroups[ng.uuid].status == "UPDATE_IN_PROGRESS"
    [stack] = c.chunk_stacks(ng)
    assert stack.status == "UPDATE_IN_PROGRESS"
    assert stack.parameters["node_count"] == 5
    assert stack.disable_rollback is False
    assert c.status().status is None
    heat.complete(stack.id)
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    assert state.nodegroups[ng.uuid].node_count == 5
    assert len(state.nodegroups[ng.uuid].node_addresses) == 5


def test_resize_down_removes_the_named_nodes_by_name_and_by_id(build, heat):
    c = build(workers=(5,))
    c.built()
    ng = c.workers[0]
    [stack] = c.chunk_stacks(ng)
    outputs = heat.outputs(stack.id)
    by_name = outputs["node_names"]["1"]
    by_id = outputs["node_ids"]["3"]
    c.resize(ng, 3, nodes_to_remove=[by_name, by_id])
    assert stack.parameters["removal_policies"] == [{"resource_list": ["1", "3"]}]
    heat.complete(stack.id)
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    assert state.nodegroups[ng.uuid].node_count == 3
    remaining = _node_names(heat, stack)
    assert sorted(remaining) == ["0", "2", "4"]
    assert by_name not in remaining.values()
    assert by_id not in heat.outputs(stack.id)["node_ids"].values()

    # Growing again never brings the removed members back.
    c.cluster.status = "UPDATE_COMPLETE"
    c.resize(ng, 5)
    heat.complete(stack.id)
    assert c.status().status == "UPDATE_COMPLETE"
    assert sorted(_node_names(heat, stack), key=int) == ["0", "2", "4", "5", "6"]


def test_the_same_node_named_twice_is_removed_once(build, heat):
    c = build(workers=(3,))
    c.built()
    ng = c.workers[0]
    [stack] = c.chunk_stacks(ng)
    outputs = heat.outputs(stack.id)
    c.resize(ng, 2, nodes_to_remove=[outputs["node_names"]["0"], outputs["node_ids"]["0"]])
    assert stack.parameters["node_count"] == 2
    assert stack.parameters["removal_policies"] == [{"resource_list": ["0"]}]


def test_resize_down_without_names_lets_heat_remove_the_last(build, heat):
    c = build(workers=(4,))
    c.built()
    ng = c.workers[0]
    c.resize(ng, 2)
    [stack] = c.chunk_stacks(ng)
    assert stack.parameters["removal_policies"] == []
    heat.complete(stack.id)
    assert c.status().status == "UPDATE_COMPLETE"
    assert sorted(_node_names(heat, stack)) == ["0", "1"]


def test_bad_nodes_to_remove_is_refused_naming_the_parameter(build, heat):
    c = build(workers=(3, 2))
    c.built()
    ng = c.workers[0]
    other_node = heat.outputs(c.chunk_stacks(c.workers[1])[0].id)["node_names"]["0"]
    updates = sum(1 for call in heat.calls if call[0] == "stacks.update")
    for bad in (["no-such-node"], [other_node]):
        with pytest.raises(exception.InvalidParameterValue) as err:
            c.resize(ng, 2, nodes_to_remove=bad)
        assert str(err.value).startswith(f"nodes_to_remove: {bad[0]} is not a node of "
                                         f"nodegroup {ng.name}")
    own = heat.outputs(c.chunk_stacks(ng)[0].id)["node_names"]
    with pytest.raises(exception.InvalidParameterValue, match="^nodes_to_remove: names more"):
        c.resize(ng, 2, nodes_to_remove=[own["0"], own["1"]])
    assert sum(1 for call in heat.calls if call[0] == "stacks.update") == updates


def test_masters_cannot_be_resized(build, heat):
    c = build(masters=1)
    c.built()
    with pytest.raises(exception.InvalidParameterValue, match="holds masters"):
        c.resize(c.masters, 3)
    assert heat.stack(c.cluster_stack_name).status == "CREATE_COMPLETE"


def test_resize_across_chunks(build, heat, config):
    config.set_override("max_resources_per_stack", 100, group="heat_driver")
    heat.max_resources_per_stack = 100
    n = chunks.nodes_per_stack(100)
    assert 1 < n < 10
    c = build(workers=(n - 1,), docker_volume_size=10)
    c.built()
    ng = c.workers[0]
    c.resize(ng, 2 * n + 5)
    stacks = c.chunk_stacks(ng)
    assert [s.parameters["node_count"] for s in stacks] == [n, n, 5]
    assert [s.status for s in stacks] == ["UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS",
                                          "CREATE_IN_PROGRESS"]
    # The new chunks join the cluster's network like the first.
    assert {s.parameters["network"] for s in stacks} == {stacks[0].parameters["network"]}
    heat.complete_all()
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    assert state.nodegroups[ng.uuid].node_count == 2 * n + 5
    assert all(heat.resource_count(s.id) <= 100 for s in stacks)

    # Remove a node of the middle chunk while shrinking: it leaves its chunk, the rest of
    # the shrink comes off the end; an emptied chunk stays.
    c.cluster.status = "UPDATE_COMPLETE"
    victim = heat.outputs(stacks[1].id)["node_names"]["4"]
    c.resize(ng, 2 * n - 1, nodes_to_remove=[victim])
    assert [s.parameters["node_count"] for s in stacks] == [n, n - 1, 0]
    heat.complete_all()
    state = c.status()
    assert state.nodegroups[ng.uuid].node_count == 2 * n - 1
    assert victim not in _node_names(heat, stacks[1]).values()
    assert len(c.chunk_stacks(ng)) == 3


def test_a_failed_resize_is_update_failed_with_the_reason(build, heat):
    c = build(workers=(2,))
    c.built()
    ng = c.workers[0]
    c.resize(ng, 4)
    heat.fail(c.chunk_stacks(ng)[0].id, "nodes.3.server", QUOTA)
    state = c.status()
    assert state.status == "UPDATE_FAILED"
    assert "server (OS::Nova::Server): " + QUOTA in state.status_reason
    assert state.nodegroups[ng.uuid].status == "UPDATE_FAILED"
    # Retried from UPDATE_FAILED: Heat accepts the update of a failed stack.
    c.resize(ng, 4)
    heat.complete_all()
    assert c.status().status == "UPDATE_COMPLETE"


def test_update_dry_run_reports_the_plan_and_changes_nothing(build, heat):
    c = build(workers=(3,))
    c.built()
    ng = c.workers[0]
    name = heat.outputs(c.chunk_stacks(ng)[0].id)["node_names"]["1"]
    plan = c.driver.update_dry_run(c.context, c.cluster, c.template, ng, 2, [name])
    assert (plan["chunks_before"], plan["chunks_after"]) == ([3], [2])
    chunk_name = c.chunk_stacks(ng)[0].name
    changes = plan["stacks"][chunk_name]
    # Heat's preview: the named member goes, the others stay.
    assert [r["resource_name"] for r in changes["deleted"]] == ["1"]
    assert sorted(r["resource_name"] for r in changes["unchanged"]) == ["0", "2"]
    assert not any(call[0] == "stacks.update" for call in heat.calls)
    assert heat.outputs(c.chunk_stacks(ng)[0].id)["node_names"]["1"] == name


def test_update_dry_run_previews_a_new_chunk_as_a_stack_create(build, heat, monkeypatch):
    c = build(workers=(2,))
    c.built()
    ng = c.workers[0]
    per_stack = c.driver.nodes_per_stack()
    plan = c.driver.update_dry_run(c.context, c.cluster, c.template, ng, per_stack + 1)
    assert plan["chunks_after"] == [per_stack, 1]
    new_chunk = [name for name in plan["stacks"] if name.endswith("-1")]
    assert len(new_chunk) == 1 and "resources" in str(plan["stacks"][new_chunk[0]])
    assert len(c.chunk_stacks(ng)) == 1  # nothing created


# -- delete -------------------------------------------------------------------------------


def _delete(c):
    c.cluster.status = "DELETE_IN_PROGRESS"
    return c.record(c.driver.delete(c.context, c.cluster, c.nodegroups))


def test_delete_removes_worker_stacks_then_the_cluster_stack(build, heat, no_cleanup):
    c = build(workers=(2, 1))
    c.built()
    state = _delete(c)
    assert no_cleanup == [c.cluster.uuid]
    assert state.status == "DELETE_IN_PROGRESS"
    workers = [s for ng in c.workers for s in c.chunk_stacks(ng)]
    assert [s.status for s in workers] == ["DELETE_IN_PROGRESS"] * 2
    assert heat.stack(c.cluster_stack_name).status == "CREATE_COMPLETE"  # not yet

    assert c.status().status == "DELETE_IN_PROGRESS"
    heat.complete(workers[0].id)
    assert c.status().status == "DELETE_IN_PROGRESS"
    assert heat.stack(c.cluster_stack_name).status == "CREATE_COMPLETE"
    heat.complete(workers[1].id)
    assert c.status().status == "DELETE_IN_PROGRESS"
    assert heat.stack(c.cluster_stack_name).status == "DELETE_IN_PROGRESS"
    deletes = sum(1 for call in heat.calls if call[0] == "stacks.delete")
    assert c.status().status == "DELETE_IN_PROGRESS"  # no second delete while it runs
    assert sum(1 for call in heat.calls if call[0] == "stacks.delete") == deletes

    heat.complete(c.cluster_stack_name)
    state = c.status()
    assert state.status == "DELETE_COMPLETE"
    assert heat.live_stacks() == []


def test_delete_of_a_cluster_whose_stacks_are_gone_is_complete(build, heat):
    c = build()
    c.create()
    heat.client_for(c.context).stacks.delete(c.cluster.stack_id)
    heat.complete(c.cluster.stack_id)
    assert _delete(c).status == "DELETE_COMPLETE"


def test_stacks_heat_still_lists_as_deleted_get_no_second_delete(build, heat):
    c = build(workers=(1,))
    c.built()
    _delete(c)
    listing = c.driver.status_snapshot(c.context, c.cluster.project_id)
    done = {name: stacks.StackSummary(s.id, s.name, "DELETE_COMPLETE", "")
            for name, s in listing.items()}
    deletes = sum(1 for call in heat.calls if call[0] == "stacks.delete")
    worker = next(name for name in done if "-ng-" in name)
    for shown in ({**listing, worker: done[worker]}, done):
        state = c.driver.get_status(c.context, c.cluster, c.nodegroups,
                                    stacks.StackListing(shown), cluster_template=c.template)
        # Done only once Heat no longer lists them; nothing sent to a deleted stack.
        assert state.status == "DELETE_IN_PROGRESS"
        assert sum(1 for call in heat.calls if call[0] == "stacks.delete") == deletes
    state = c.driver.get_status(c.context, c.cluster, c.nodegroups, stacks.StackListing(),
                                cluster_template=c.template)
    assert state.status == "DELETE_COMPLETE"


@pytest.mark.parametrize(("reason", "status"), [
    ("Stack DELETE cancelled", "DELETE_IN_PROGRESS"),  # a newer delete of it runs on
    ("Resource DELETE failed: Conflict: port in use", "DELETE_FAILED")])
def test_a_delete_another_delete_cancelled_is_still_in_progress(build, heat, reason, status):
    c = build(workers=(1,))
    c.built()
    _delete(c)
    listing = c.driver.status_snapshot(c.context, c.cluster.project_id)
    cluster_stack = listing[c.cluster_stack_name]
    shown = stacks.StackListing({c.cluster_stack_name: stacks.StackSummary(
        cluster_stack.id, cluster_stack.name, "DELETE_FAILED", reason)})
    deletes = sum(1 for call in heat.calls if call[0] == "stacks.delete")
    state = c.driver.get_status(c.context, c.cluster, c.nodegroups, shown,
                                cluster_template=c.template)
    assert state.status == status
    assert sum(1 for call in heat.calls if call[0] == "stacks.delete") == deletes


def test_delete_of_a_half_built_cluster(build, heat):
    c = build(workers=(2,))
    c.create()  # the cluster stack only, still building
    state = _delete(c)
    assert state.status == "DELETE_IN_PROGRESS"
    assert heat.stack(c.cluster_stack_name).status == "DELETE_IN_PROGRESS"
    heat.complete(c.cluster_stack_name)
    assert c.status().status == "DELETE_COMPLETE"


def test_delete_failed_names_the_resource_and_can_be_retried(build, heat):
    c = build(workers=(1,))
    c.built()
    _delete(c)
    worker = c.chunk_stacks(c.workers[0])[0]
    heat.fail(worker.id, "nodes.0.port", "Port is still in use by a load balancer")
    state = c.status()
    assert state.status == "DELETE_FAILED"
    assert "port (OS::Neutron::Port): Port is still in use by a load balancer" in \
        state.status_reason
    assert heat.stack(c.cluster_stack_name).status == "CREATE_COMPLETE"
    # The user deletes again: the failed stack is deleted again.
    state = _delete(c)
    assert state.status == "DELETE_IN_PROGRESS"
    assert worker.status == "DELETE_IN_PROGRESS"
    heat.complete(worker.id)
    c.status()
    heat.complete(c.cluster_stack_name)
    assert c.status().status == "DELETE_COMPLETE"


def test_other_statuses_change_nothing(build):
    c = build()
    c.built()
    c.cluster.status = "CREATE_COMPLETE"
    assert c.status() == heat_driver.base.ClusterState()


def test_delete_also_removes_worker_stacks_of_a_nodegroup_no_longer_listed(build, heat):
    c = build(workers=(1, 1))
    c.built()
    orphan = c.chunk_stacks(c.workers[1])[0]
    c.workers.pop()  # its row is gone, its stack is not
    _delete(c)
    assert orphan.status == "DELETE_IN_PROGRESS"
    heat.complete_all()
    c.status()
    assert heat.stack(c.cluster_stack_name).status == "DELETE_IN_PROGRESS"


def test_a_bad_label_is_refused_before_anything_is_built(build, heat):
    c = build(labels={"kube_tag": "latest"})
    with pytest.raises(exception.InvalidParameterValue, match="kube_tag"):
        c.create()
    assert heat.live_stacks() == []
    assert heat.calls == []


def test_worker_stacks_need_the_template(build, heat):
    c = build()
    c.create()
    heat.complete(c.cluster_stack_name)
    with pytest.raises(exception.InvalidParameterValue, match="need its template"):
        c.driver.get_status(c.context, c.cluster, c.nodegroups)


# -- credentials ------------------------------------------------------------------------------

PKI = "/etc/kubernetes/pki"
AUTH_URL = "http://keystone.test:5000/v3"


def _cas() -> dict[str, x509.KeyPair]:
    return {kind: x509.generate_ca(f"{kind} CA", key_type="ec", key_size=256)
            for kind in ("ca", "etcd", "front_proxy")}


def _loader(cas, given_trustee=None):
    """A credentials loader as the conductor's, counting its calls."""
    def load():
        load.calls += 1
        return base.ClusterCredentials(cas=cas, trustee=given_trustee,
                                       auth_url=AUTH_URL if given_trustee else None,
                                       region_name="RegionOne")
    load.calls = 0
    return load


def _credentials_of(stack):
    return json.loads(stack.parameters["credentials"])


def test_stacks_get_the_credentials_of_their_nodes_hidden(build, heat):
    cas = _cas()
    c = build(workers=(2,))
    c.credentials = _loader(cas, trustee.Trustee(user_id="trustee-1", username="t",
                                                 password="trustee-secret",
                                                 trust_id="trust-1"))
    c.create()
    stack = heat.stack(c.cluster_stack_name)
    assert stack.parameters["cluster_uuid"] == c.cluster.uuid
    assert stack.parameters["credentials_script"] == cloud_init.self_contained(
        (userdata.BOOT_DIR / "apply-credentials.sh").read_text())
    master_files = _credentials_of(stack)
    assert master_files == {
        f"{PKI}/ca.crt": cas["ca"].certificate, f"{PKI}/ca.key": cas["ca"].private_key,
        f"{PKI}/etcd/ca.crt": cas["etcd"].certificate,
        f"{PKI}/etcd/ca.key": cas["etcd"].private_key,
        f"{PKI}/front-proxy-ca.crt": cas["front_proxy"].certificate,
        f"{PKI}/front-proxy-ca.key": cas["front_proxy"].private_key,
        "/etc/kubernetes/cloud.conf": master_files["/etc/kubernetes/cloud.conf"]}
    cloud_conf = master_files["/etc/kubernetes/cloud.conf"]
    for line in (f'auth-url="{AUTH_URL}"', 'user-id="trustee-1"', 'password="trustee-secret"',
                 'trust-id="trust-1"', 'region="RegionOne"'):
        assert line in cloud_conf.splitlines()
    shown = heat.client_for(c.context).stacks.get(stack.id).parameters
    assert shown["credentials"] == "******" and shown["master_user_data"] == "******"

    # What a master boots with: every CA with its key, root only for the keys.
    booted = files(heat.server_user_data(stack.id, "0"))
    for kind, path in (("ca", "ca"), ("etcd", "etcd/ca"), ("front_proxy", "front-proxy-ca")):
        assert booted[f"{PKI}/{path}.crt"]["content"] == cas[kind].certificate
        assert booted[f"{PKI}/{path}.key"]["content"] == cas[kind].private_key
        assert booted[f"{PKI}/{path}.key"]["permissions"] == "0600"
    assert booted["/etc/kubernetes/cloud.conf"]["content"] == cloud_conf

    heat.complete(stack.id)
    c.status()
    [worker] = c.chunk_stacks(c.workers[0])
    assert worker.parameters["cluster_uuid"] == c.cluster.uuid
    assert _credentials_of(worker) == {f"{PKI}/ca.crt": cas["ca"].certificate,
                                       "/etc/kubernetes/cloud.conf": cloud_conf}
    assert heat.client_for(c.context).stacks.get(worker.id).parameters["credentials"] == \
        "******"
    # A worker boots with no CA key at all, and checks the API against the CA's hash; kubeadm
    # join writes the CA certificate itself.
    data = heat.server_user_data(worker.id, "1")
    assert "PRIVATE KEY" not in data
    booted = files(data)
    assert not any(path.startswith(PKI) for path in booted)
    join = booted["/etc/magnum-lite/kubeadm-join.yaml"]["content"]
    assert x509.ca_public_key_hash(cas["ca"].certificate) in join
    assert "caCertHashes" in join and "unsafeSkipCAVerification" not in join
    assert booted["/etc/kubernetes/cloud.conf"]["content"] == cloud_conf


def test_without_credentials_workers_skip_the_ca_check(build, heat):
    c = build(workers=(1,))
    c.built()
    [worker] = c.chunk_stacks(c.workers[0])
    assert _credentials_of(worker) == {}
    join = files(heat.server_user_data(worker.id, "0"))["/etc/magnum-lite/kubeadm-join.yaml"]
    assert "unsafeSkipCAVerification: true" in join["content"]
    assert "caCertHashes" not in join["content"]


def test_a_status_check_decrypts_nothing_until_it_starts_worker_stacks(build, heat):
    c = build(workers=(1,))
    c.credentials = _loader(_cas())
    c.create()
    assert c.credentials.calls == 1
    c.status()  # the cluster stack is still building: nothing rendered
    assert c.credentials.calls == 1
    heat.complete(c.cluster_stack_name)
    c.status()
    assert c.credentials.calls == 2
    heat.complete_all()
    assert c.status().status == "CREATE_COMPLETE"
    assert c.credentials.calls == 2


def test_the_join_token_is_decrypted_for_the_user_data(build, heat, config):
    config.set_override("encryption_keys", [Fernet.generate_key().decode()],
                        group="credentials")
    token = "abcdef.0123456789abcdef"
    c = build(workers=(1,), join_token=encryption.encrypt(token))
    assert K8sUbuntuV1.join_token(c.cluster) == token
    state = c.create()
    assert state.join_token == token  # the same token, not a new one
    master = files(heat.server_user_data(c.cluster_stack_name, "0"))
    assert token in master["/etc/magnum-lite/kubeadm-init.yaml"]["content"]


def _rotated(c, cas):
    c.cluster.status = "UPDATE_IN_PROGRESS"
    return c.record(c.driver.rotate_ca_certificate(c.context, c.cluster, c.template,
                                                   c.nodegroups, credentials=_loader(cas)))


def test_rotate_ca_updates_every_stack_s_credentials_and_nothing_else(build, heat, config):
    config.set_override("max_resources_per_stack", 100, group="heat_driver")
    heat.max_resources_per_stack = 100
    n = chunks.nodes_per_stack(100)
    old, new = _cas(), {**_cas()}
    new["etcd"], new["front_proxy"] = old["etcd"], old["front_proxy"]
    c = build(masters=1, workers=(n + 2, 1))
    c.credentials = _loader(old)
    c.built()
    chunk_stacks = [s for ng in c.workers for s in c.chunk_stacks(ng)]
    assert [s.parameters["node_count"] for s in chunk_stacks] == [n, 2, 1]
    cluster_stack = heat.stack(c.cluster_stack_name)
    master_count = cluster_stack.parameters["master_count"]
    updates_before = len(heat.calls)

    state = _rotated(c, new)
    assert state.status == "UPDATE_IN_PROGRESS"
    assert {uuid: g.status for uuid, g in state.nodegroups.items()} == {
        ng.uuid: "UPDATE_IN_PROGRESS" for ng in c.workers}
    updates = [call for call in heat.calls[updates_before:] if call[0] == "stacks.update"]
    assert [(stack_id, sorted(params)) for _, stack_id, params in updates] == [
        (cluster_stack.id, ["cluster_uuid", "credentials", "credentials_script",
                            "master_user_data"])] + [
        (s.id, ["cluster_uuid", "credentials", "credentials_script", "user_data"])
        for s in chunk_stacks]
    assert cluster_stack.status == "UPDATE_IN_PROGRESS"
    assert cluster_stack.parameters["master_count"] == master_count
    assert _credentials_of(cluster_stack)[f"{PKI}/ca.crt"] == new["ca"].certificate
    assert _credentials_of(cluster_stack)[f"{PKI}/ca.key"] == new["ca"].private_key
    booted = files(heat.server_user_data(cluster_stack.id, "0"))
    assert booted[f"{PKI}/ca.key"]["content"] == new["ca"].private_key
    for stack in chunk_stacks:
        assert stack.status == "UPDATE_IN_PROGRESS"
        assert _credentials_of(stack) == {f"{PKI}/ca.crt": new["ca"].certificate}
        join = files(heat.server_user_data(stack.id, "0"))[
            "/etc/magnum-lite/kubeadm-join.yaml"]["content"]
        assert x509.ca_public_key_hash(new["ca"].certificate) in join
    # The node counts stay as they were (a PATCH of the credentials only).
    assert [s.parameters["node_count"] for s in chunk_stacks] == [n, 2, 1]

    # get_status follows the update like a resize, the cluster stack included.
    assert c.status().status is None
    for stack in chunk_stacks:
        heat.complete(stack.id)
    assert c.status().status is None  # the cluster stack is still updating
    heat.complete(cluster_stack.id)
    state = c.status()
    assert state.status == "UPDATE_COMPLETE"
    assert [state.nodegroups[ng.uuid].node_count for ng in c.workers] == [n + 2, 1]
    assert state.nodegroups[c.workers[0].uuid].status == "UPDATE_COMPLETE"


def test_a_failed_rotation_of_the_cluster_stack_is_update_failed(build, heat):
    c = build(workers=(1,))
    c.credentials = _loader(_cas())
    c.built()
    _rotated(c, _cas())
    heat.complete_all(names.nodegroup_stack_name(c.cluster, c.workers[0], 0))
    node = yaml.safe_load((heat_driver.TEMPLATES / "fragments" / "node.yaml").read_text())
    [deployment] = [name for name, resource in node["resources"].items()
                    if resource["type"] == "OS::Heat::SoftwareDeployment"]
    heat.fail(c.cluster_stack_name, f"masters.0.{deployment}",
              "Deployment exited with non-zero status code: 1")
    state = c.status()
    assert state.status == "UPDATE_FAILED"
    assert "Deployment exited with non-zero status code: 1" in state.status_reason
    assert f"{deployment} (OS::Heat::SoftwareDeployment)" in state.status_reason


def test_a_resize_after_a_failed_rotation_is_not_failed_by_the_stale_cluster_stack(build,
                                                                                   heat):
    # A CA rotation fails in the cluster stack, which stays UPDATE_FAILED: a resize leaves
    # the cluster stack as it is, so its failure is no outcome of the resize.
    c = build(workers=(1,))
    c.credentials = _loader(_cas())
    c.built()
    _rotated(c, _cas())
    [chunk] = c.chunk_stacks(c.workers[0])
    heat.complete(chunk.id)
    heat.fail(c.cluster_stack_name, "masters.0", "Deployment exited with non-zero status")
    assert c.status("ca_rotation").status == "UPDATE_FAILED"
    ng = c.workers[0]
    state = c.resize(ng, 2)
    assert state.status == "UPDATE_IN_PROGRESS"
    assert c.read_status("resize").status is None  # the resize is still under way ...
    # ... where the stale failure was taken for its own without the operation's kind.
    assert c.read_status().status == "UPDATE_FAILED"
    heat.complete(chunk.id)
    state = c.status("resize")
    assert state.status == "UPDATE_COMPLETE"
    assert state.nodegroups[ng.uuid].node_count == 2


def test_rotate_of_a_cluster_whose_stack_is_gone_is_a_cloud_error(build, heat):
    c = build(workers=(1,))
    c.built()
    heat.client_for(c.context).stacks.delete(c.cluster.stack_id)
    heat.complete(c.cluster.stack_id)
    with pytest.raises(exception.CloudError, match="gone"):
        _rotated(c, _cas())
