"""Operations whose owner left: the cluster's owner on the hash ring takes them over.

Two conductors (managers with their reconcilers) share one database; the ring is given by
hand. An operation at a step its owner drives (queued, cloud_requested) is driven again from
its recorded parameters by the ring's owner of the cluster when its owner left the ring,
when nobody claimed it within the grace (a cast lost with a dead conductor, work released by
a stopping one), or when it names a conductor that restarted with no work for it.
"""

from __future__ import annotations

import threading

from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import encryption
from magnum_lite.conductor import hashring
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.objects import cluster_operation, fields
from tests.unit.conductor.conftest import PROJECT, USER
from tests.unit.conductor.helpers import (
    WAIT,
    operation_of,
    reconciler_on,
    settle,
    takeover_round,
    wait_for,
)
from tests.unit.conductor.test_reconciler import FakeClock

Status = fields.ClusterStatus


@pytest.fixture
def ubuntu(template):
    template.cluster_distro = "ubuntu"
    template.save()
    return template


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def conductors(db, clock):
    """host-a and host-b, each a started manager and a reconciler on the ring `hosts`."""
    hosts = {"host-a", "host-b"}
    made = {}
    for host in sorted(hosts):
        manager = conductor_manager.ConductorManager(host, workers=2)
        manager.start()
        made[host] = (manager, reconciler_on(host, manager, hosts, clock))
    yield hosts, made
    for manager, reconciler in made.values():
        reconciler.stop()
        manager.stop(timeout=WAIT)


def owned_by(host, make_cluster, hosts, **values):
    """A cluster the ring of `hosts` gives to `host`, in CREATE_IN_PROGRESS with its record."""
    ring = hashring.HashRing(hosts)
    while True:
        cluster = make_cluster(**values)
        if ring.owner(cluster.uuid) == host:
            return cluster
        # Not this host's: gone, its record ended with it.
        operation = operation_of(cluster._context, cluster.uuid)
        if operation is not None:
            operation.update(outcome="superseded")
        objects.Cluster.get_by_uuid(cluster._context, cluster.uuid).destroy()


def rounds(made):
    for _manager, reconciler in made.values():
        reconciler.run_once()
    for _manager, reconciler in made.values():
        reconciler.wait(WAIT)


def test_the_owner_on_the_ring_takes_over_a_create_its_dead_owner_left_queued(
        conductors, context, ubuntu, make_cluster, fake_driver):
    hosts, made = conductors
    cluster = owned_by("host-b", make_cluster, hosts)
    operation = operation_of(context, cluster.uuid)
    operation.update(owner="host-gone")  # claimed by a conductor no longer in the ring
    rounds(made)
    settle()
    after = operation_of(context, cluster.uuid)
    assert (after.owner, after.step, after.outcome) == ("host-b", "following", None)
    assert [name for name, _ in fake_driver.calls] == ["create"]
    assert objects.Cluster.get_by_uuid(context, cluster.uuid).stack_id == "stack-1"


def test_a_live_owner_s_operation_is_left_to_it(conductors, context, ubuntu, make_cluster,
                                                fake_driver):
    hosts, made = conductors
    cluster = owned_by("host-b", make_cluster, hosts)
    operation_of(context, cluster.uuid).update(owner="host-a", step="cloud_requested")
    rounds(made)
    assert fake_driver.calls == []
    assert operation_of(context, cluster.uuid).owner == "host-a"


def test_an_unclaimed_operation_is_taken_over_after_the_grace(conductors, context, ubuntu,
                                                              make_cluster, fake_driver,
                                                              clock):
    # Cast to a conductor that died before it took the work: nobody owns the record.
    hosts, made = conductors
    cluster = owned_by("host-a", make_cluster, hosts, kind="create")
    rounds(made)
    assert fake_driver.calls == []  # within the grace: its cast may still be on the way
    clock.advance(conductor_reconciler.UNCLAIMED_GRACE + 60)
    rounds(made)
    settle()
    after = operation_of(context, cluster.uuid)
    assert (after.owner, after.step) == ("host-a", "following")
    assert [call[1]["cluster"] for call in fake_driver.calls] == [cluster.uuid]


def test_a_resize_is_driven_again_from_its_recorded_parameters(conductors, context, ubuntu,
                                                               make_cluster, fake_driver):
    hosts, made = conductors
    cluster = owned_by("host-a", make_cluster, hosts, status=Status.CREATE_COMPLETE)
    worker = [ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])
              if ng.name == "default-worker"][0]
    operation = cluster_operation.start(context, objects.Cluster.get_by_uuid(
        context, cluster.uuid), "resize", "cluster.resize", {
        "node_count": 5, "rollback": True, "nodegroup_uuid": worker.uuid,
        "nodes_to_remove": None})
    operation.update(owner="host-gone", step="cloud_requested")  # cut off mid-call
    rounds(made)
    settle()
    [(name, call)] = fake_driver.calls
    assert (name, call["nodegroup"], call["node_count"], call["rollback"]) == (
        "update", worker.uuid, 5, True)
    assert operation_of(context, cluster.uuid).owner == "host-a"


def test_a_credentials_rotation_left_behind_fails_with_its_fault(conductors, context,
                                                                 ubuntu, make_cluster,
                                                                 fake_driver):
    # A new trust needs the owner's token, which only the request carried.
    hosts, made = conductors
    cluster = owned_by("host-a", make_cluster, hosts, status=Status.UPDATE_IN_PROGRESS,
                       kind="credentials_rotation")
    operation_of(context, cluster.uuid).update(owner="host-gone")
    rounds(made)
    wait_for(lambda: operation_of(context, cluster.uuid).outcome)
    after = operation_of(context, cluster.uuid)
    assert (after.outcome, after.fault) == ("failed", "conductor_stopped")
    assert objects.Cluster.get_by_uuid(context, cluster.uuid).status == Status.UPDATE_FAILED


def test_a_credentials_rotation_left_behind_with_its_token_is_done_again(
        conductors, context, ubuntu, make_cluster, fake_driver, monkeypatch):
    hosts, made = conductors
    cluster = owned_by("host-a", make_cluster, hosts, status=Status.CREATE_COMPLETE)
    context.auth_token = "user-token"
    cluster_operation.start(context, objects.Cluster.get_by_uuid(context, cluster.uuid),
                            "credentials_rotation", "cluster.update")
    operation_of(context, cluster.uuid).update(owner="host-gone")
    replaced = []
    monkeypatch.setattr(conductor_manager.credentials, "replace_trustee",
                        lambda context, cluster: replaced.append(context.auth_token) or cluster)
    rounds(made)
    settle()
    assert replaced == ["user-token"]
    after = operation_of(context, cluster.uuid)
    assert (after.owner, after.step, after.auth_token) == ("host-a", "following", None)
    assert [name for name, _ in fake_driver.calls] == ["rotate_ca_certificate"]


def test_a_stopping_conductor_hands_its_queued_work_to_the_next_owner(
        db, context, ubuntu, make_cluster, fake_driver, clock):
    # host-a stops (SIGTERM) with a create running and one queued; the ring then holds
    # host-b alone, which takes the queued one over: none fails.
    hosts = {"host-a", "host-b"}
    stopping = conductor_manager.ConductorManager("host-a", workers=1)
    stopping.start()
    fake_driver.block = threading.Event()
    fake_driver.started = threading.Event()
    running, queued = make_cluster(), make_cluster()
    stopping.cluster_create(context, cluster_uuid=running.uuid, create_timeout=60)
    assert fake_driver.started.wait(WAIT)
    stopping.cluster_create(context, cluster_uuid=queued.uuid, create_timeout=60)
    assert stopping.stop(timeout=0.2) == [running.uuid]
    fake_driver.block.set()  # the running one finishes on host-a before it leaves the ring
    wait_for(lambda: operation_of(context, running.uuid).step == "following")
    hosts.discard("host-a")
    takeover_round("host-b", hosts, clock)
    after = operation_of(context, queued.uuid)
    assert (after.owner, after.step, after.outcome) == ("host-b", "following", None)
    assert objects.Cluster.get_by_uuid(context, queued.uuid).status == \
        Status.CREATE_IN_PROGRESS
    assert sorted(call[1]["cluster"] for call in fake_driver.calls) == sorted(
        [running.uuid, queued.uuid])


def test_a_restarted_conductor_takes_back_what_its_records_name(db, context, ubuntu,
                                                                make_cluster, fake_driver,
                                                                clock):
    # Killed and started again under the same name: its pool is empty, its records stay.
    cluster = make_cluster()
    operation_of(context, cluster.uuid).update(owner="host-a", step="cloud_requested")
    manager = conductor_manager.ConductorManager("host-a", workers=2)
    manager.start()
    reconciler = reconciler_on("host-a", manager, {"host-a"}, clock)
    try:
        reconciler.run_once()
        assert fake_driver.calls == []  # within the grace
        clock.advance(conductor_reconciler.UNCLAIMED_GRACE + 60)
        reconciler.run_once()
        settle()
    finally:
        reconciler.stop()
        manager.stop(timeout=WAIT)
    assert [name for name, _ in fake_driver.calls] == ["create"]
    assert operation_of(context, cluster.uuid).step == "following"


# -- fencing: an operation is written by its owner only ------------------------------------

def test_a_late_cast_leaves_an_operation_another_conductor_took_over(
        conductors, context, ubuntu, make_cluster, fake_driver):
    hosts, made = conductors
    cluster = make_cluster()
    operation_of(context, cluster.uuid).update(owner="host-b", step="cloud_requested")
    manager_a = made["host-a"][0]
    manager_a.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    wait_for(lambda: not manager_a.working_on(cluster.uuid))
    assert fake_driver.calls == []
    assert operation_of(context, cluster.uuid).owner == "host-b"


def test_a_conductor_whose_create_was_taken_over_records_nothing(
        conductors, context, ubuntu, make_cluster, fake_driver):
    hosts, made = conductors
    manager_a = made["host-a"][0]
    cluster = make_cluster()
    fake_driver.block, fake_driver.started = threading.Event(), threading.Event()
    manager_a.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    assert fake_driver.started.wait(WAIT)
    # Meanwhile host-a was taken for dead and host-b took the create over.
    operation_of(context, cluster.uuid).update(owner="host-b")
    fake_driver.block.set()
    wait_for(lambda: not manager_a.working_on(cluster.uuid))
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.status, after.stack_id) == (Status.CREATE_IN_PROGRESS, None)
    operation = operation_of(context, cluster.uuid)
    assert (operation.owner, operation.step, operation.outcome) == (
        "host-b", "cloud_requested", None)


def test_a_conductor_that_lost_its_operation_before_the_cloud_call_asks_nothing(
        conductors, context, ubuntu, make_cluster, fake_driver, monkeypatch):
    hosts, made = conductors
    manager_a = made["host-a"][0]
    cluster = make_cluster()

    def taken_over_at(name, error=None):
        if name == "conductor.create.claimed":
            operation_of(context, cluster.uuid).update(owner="host-b")

    monkeypatch.setattr(conductor_manager.failpoints, "hit", taken_over_at)
    manager_a.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    wait_for(lambda: not manager_a.working_on(cluster.uuid))
    assert fake_driver.calls == []
    operation = operation_of(context, cluster.uuid)
    assert (operation.owner, operation.step, operation.outcome) == ("host-b", "queued", None)


def test_a_create_taken_over_makes_its_trust_with_the_requester_s_token(
        conductors, context, ubuntu, make_cluster, fake_driver, monkeypatch):
    hosts, made = conductors
    cluster = owned_by("host-b", make_cluster, hosts)
    operation_of(context, cluster.uuid).update(owner="host-gone",
                                               auth_token=encryption.encrypt("user-token"))
    assert "user-token" not in operation_of(context, cluster.uuid).auth_token  # not in clear
    operation_of(context, cluster.uuid).update(params={"create_timeout": 60,
                                                       "requester_roles": ["member"]})
    seen = []
    real_ensure = conductor_manager.credentials.ensure_trustee

    def ensure_trustee(context, cluster):
        seen.append((context.auth_token, context.roles))
        return real_ensure(context, cluster)

    monkeypatch.setattr(conductor_manager.credentials, "ensure_trustee", ensure_trustee)
    rounds(made)
    settle()
    assert seen == [("user-token", ["member"])]
    after = operation_of(context, cluster.uuid)
    assert (after.owner, after.step, after.auth_token) == ("host-b", "following", None)


def test_the_requester_s_token_is_kept_encrypted_until_the_trust_exists(
        db, context, ubuntu, fake_driver, manager):
    context.auth_token = "user-token"
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id=PROJECT,
                              user_id=USER, name="c1", cluster_template_id=ubuntu.uuid)
    cluster_operation.start_create(context, cluster, [
        {"name": "default-master", "project_id": PROJECT, "role": "master", "node_count": 1,
         "is_default": True}])
    stored = operation_of(context, cluster.uuid)
    assert stored.auth_token and "user-token" not in stored.auth_token
    assert stored.token == "user-token"
    assert stored.params["requester_roles"] == context.roles
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    assert operation_of(context, cluster.uuid).auth_token is None


def test_a_create_taken_over_without_token_acts_through_the_cluster_s_trust(
        conductors, context, ubuntu, make_cluster, fake_driver, monkeypatch):
    hosts, made = conductors
    cluster = owned_by("host-b", make_cluster, hosts, trust_id="trust-1")
    operation_of(context, cluster.uuid).update(owner="host-gone")
    monkeypatch.setattr(conductor_manager.credentials, "keystone_in_use", lambda: True)
    acting = []
    real_create = fake_driver.create

    def create(self, context, *args, **kwargs):
        acting.append((context.auth_token, context.trust_id))
        return real_create(self, context, *args, **kwargs)

    monkeypatch.setattr(fake_driver, "create", create)
    rounds(made)
    settle()
    assert acting == [(None, "trust-1")]


def test_a_create_taken_over_with_neither_token_nor_trust_fails_and_builds_nothing(
        conductors, context, ubuntu, make_cluster, fake_driver, monkeypatch):
    # With Keystone in use, the service user would build it in its own project instead.
    hosts, made = conductors
    cluster = owned_by("host-b", make_cluster, hosts)
    operation_of(context, cluster.uuid).update(owner="host-gone")
    monkeypatch.setattr(conductor_manager.credentials, "keystone_in_use", lambda: True)
    rounds(made)
    wait_for(lambda: operation_of(context, cluster.uuid).outcome)
    assert fake_driver.calls == []
    after = operation_of(context, cluster.uuid)
    assert (after.outcome, after.fault) == ("failed", "conductor_stopped")
    assert "token is gone" in objects.Cluster.get_by_uuid(context, cluster.uuid).status_reason
