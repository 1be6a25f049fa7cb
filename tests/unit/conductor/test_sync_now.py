"""A check asked for at once (`Reconciler.sync_now`, what a Heat notification triggers): it
needs no round, reads only the named cluster, is fenced like a round's check, looks again
while Heat has not stored what it notified, and the polls slow down while notified.

The reconciler runs on an injected clock; its checks run in its pool and are awaited through
the database.
"""

from __future__ import annotations

import threading

from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import states
from magnum_lite.conductor import hashring
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import fields
from tests.unit.conductor.helpers import WAIT, in_flight, wait_for
from tests.unit.conductor.test_reconciler import FakeClock

Status = fields.ClusterStatus
State = drivers_base.ClusterState


def ring_of(host: str, *hosts: str) -> hashring.ConductorRing:
    return hashring.ConductorRing(host, list_hosts=lambda: set(hosts or (host,)),
                                  refresh_interval=0)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def reconciler(db, clock):
    reconciler = conductor_reconciler.Reconciler(
        "host-a", ring=ring_of("host-a"), clock=clock, utcnow=clock.utcnow, workers=4)
    yield reconciler
    reconciler.stop()


@pytest.fixture
def make(db, context, template, fake_driver):
    """A cluster in progress whose operation the reconcilers follow (step `following`)."""

    def make(status=Status.CREATE_IN_PROGRESS, kind=None, step=states.Step.FOLLOWING):
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id="project-a", user_id="user-a",
            name="c", cluster_template_id=template.uuid, status=status, version=1,
            stack_id="stack-1")
        cluster.create_with_nodegroups([
            {"name": "default-master", "project_id": "project-a", "role": "master",
             "node_count": 1, "is_default": True},
            {"name": "default-worker", "project_id": "project-a", "role": "worker",
             "node_count": 2, "is_default": True},
        ], context)
        in_flight(context, cluster, kind, step)
        return cluster

    return make


def status_of(cluster_uuid: str) -> str | None:
    try:
        return objects.Cluster.get_by_uuid(admin(), cluster_uuid).status
    except Exception:
        return None


def admin():
    context = ml_context.get_admin_context()
    context.all_projects = True
    return context


def test_a_notified_cluster_is_checked_at_once_without_a_round_or_a_listing(
        reconciler, make, fake_driver):
    cluster = make()
    other = make()
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE)
    fake_driver.statuses[other.uuid] = State(status=Status.CREATE_COMPLETE)
    assert reconciler.sync_now(cluster.uuid) is True
    wait_for(lambda: status_of(cluster.uuid) == Status.CREATE_COMPLETE, what="recorded")
    reconciler.wait(WAIT)
    assert status_of(other.uuid) == Status.CREATE_IN_PROGRESS  # only the named cluster
    assert fake_driver.snapshot_calls == []  # one cluster's read, not its project's listing
    assert [op.cluster_uuid for op in fake_driver.operations_seen] == [cluster.uuid]


def test_a_cluster_another_conductor_owns_is_checked_but_not_its_upgrade(
        db, clock, make, fake_driver):
    reconciler = conductor_reconciler.Reconciler(
        "host-a", ring=ring_of("host-a", "host-b"), clock=clock, utcnow=clock.utcnow,
        workers=2)
    try:
        ring = hashring.HashRing({"host-a", "host-b"})
        created = upgraded = None
        while created is None or upgraded is None:  # clusters host-b owns
            if created is None:
                candidate = make()
                created = candidate if ring.owner(candidate.uuid) == "host-b" else None
            if upgraded is None:
                candidate = make(status=Status.UPDATE_IN_PROGRESS, kind=states.Kind.UPGRADE)
                upgraded = candidate if ring.owner(candidate.uuid) == "host-b" else None
        fake_driver.statuses[created.uuid] = State(status=Status.CREATE_COMPLETE)
        assert reconciler.sync_now(created.uuid) is True
        wait_for(lambda: status_of(created.uuid) == Status.CREATE_COMPLETE, what="recorded")
        # An upgrade's check acts in the cloud: only its owner runs it.
        assert reconciler.sync_now(upgraded.uuid) is False
        reconciler.wait(WAIT)
        assert [op.cluster_uuid for op in fake_driver.operations_seen] == [created.uuid]
    finally:
        reconciler.stop()


def test_nothing_is_checked_for_a_cluster_with_nothing_to_follow(reconciler, make,
                                                                 fake_driver):
    queued = make(step=states.Step.QUEUED)  # its owner drives it until the cloud took it
    done = make()
    fake_driver.statuses[done.uuid] = State(status=Status.CREATE_COMPLETE)
    assert reconciler.sync_now(done.uuid) is True
    wait_for(lambda: status_of(done.uuid) == Status.CREATE_COMPLETE, what="recorded")
    reconciler.wait(WAIT)
    seen = len(fake_driver.operations_seen)
    assert reconciler.sync_now(done.uuid) is False  # complete: nothing in flight
    assert reconciler.sync_now(queued.uuid) is False
    assert reconciler.sync_now(uuidutils.generate_uuid()) is False  # no such cluster
    reconciler.wait(WAIT)
    assert len(fake_driver.operations_seen) == seen


def test_a_check_that_comes_before_heat_stored_the_state_looks_again(reconciler, make,
                                                                     fake_driver):
    """Heat notifies just before it stores the stack's new state."""
    cluster = make()
    answers = [State(), State()]  # the stack still shows in progress twice

    def heat(_cluster):
        return answers.pop(0) if answers else State(status=Status.CREATE_COMPLETE)

    fake_driver.statuses[cluster.uuid] = heat
    assert reconciler.sync_now(cluster.uuid) is True
    wait_for(lambda: status_of(cluster.uuid) == Status.CREATE_COMPLETE, what="recorded")
    reconciler.wait(WAIT)
    assert len(fake_driver.operations_seen) == 3


def test_a_notification_during_a_check_is_followed_by_another_check(reconciler, make,
                                                                    fake_driver):
    cluster = make()
    entered, release = threading.Event(), threading.Event()
    answers = [State(api_address="https://10.0.0.10:6443")]  # a change, not the outcome

    def heat(_cluster):
        if answers:
            entered.set()
            assert release.wait(WAIT)
            return answers.pop(0)
        return State(status=Status.CREATE_COMPLETE)

    fake_driver.statuses[cluster.uuid] = heat
    assert reconciler.sync_now(cluster.uuid) is True
    assert entered.wait(WAIT)
    # The stack's next notification, while the first check is reading the cloud.
    assert reconciler.sync_now(cluster.uuid) is True  # by the check under way, again
    release.set()
    wait_for(lambda: status_of(cluster.uuid) == Status.CREATE_COMPLETE, what="checked again")
    reconciler.wait(WAIT)
    assert len(fake_driver.operations_seen) == 2


def test_a_notification_while_the_rechecks_wait_ends_the_wait(reconciler, make, fake_driver,
                                                              monkeypatch):
    """The worker stack's end found the cluster stack still building (no change): the
    cluster stack's end, moments later, is checked at once, not after the recheck delays,
    and gets rechecks of its own (Heat notifies before it stores the state)."""
    monkeypatch.setattr(conductor_reconciler, "ASKED_RECHECKS", (0.01, 10 * WAIT))
    cluster = make()
    checks, second_notification = [], threading.Event()

    def heat(_cluster):
        checks.append(second_notification.is_set())
        if checks.count(True) < 2:
            return State()  # still building; then, once notified, not stored yet
        return State(status=Status.CREATE_COMPLETE)

    fake_driver.statuses[cluster.uuid] = heat
    assert reconciler.sync_now(cluster.uuid) is True
    wait_for(lambda: len(checks) == 2, what="the check and its first recheck")
    second_notification.set()
    assert reconciler.sync_now(cluster.uuid) is True  # served by the waiting check
    wait_for(lambda: status_of(cluster.uuid) == Status.CREATE_COMPLETE, what="the rechecks")
    reconciler.wait(WAIT)
    assert checks == [False, False, True, True]


def test_a_round_leaves_alone_a_cluster_a_notification_started_checking_meanwhile(
        reconciler, make, fake_driver, monkeypatch):
    """Two checks at once could both act in the cloud (two deletes: Heat cancels the
    first): the notification's check comes between the round's read and its start."""
    monkeypatch.setattr(conductor_reconciler, "ASKED_RECHECKS", ())
    cluster = make()
    entered, release = threading.Event(), threading.Event()

    def heat(_cluster):
        entered.set()
        assert release.wait(WAIT)
        return State()

    fake_driver.statuses[cluster.uuid] = heat
    read_template = reconciler._template

    notified = []

    def template_then_a_notification(context, c, templates):
        found = read_template(context, c, templates)
        if not notified:  # the round's read (sync_now reads it too)
            notified.append(c.uuid)
            assert reconciler.sync_now(c.uuid) is True
            assert entered.wait(WAIT)
        return found

    monkeypatch.setattr(reconciler, "_template", template_then_a_notification)
    reconciler.run_once()
    release.set()
    reconciler.wait(WAIT)
    assert [op.cluster_uuid for op in fake_driver.operations_seen] == [cluster.uuid]


@pytest.mark.parametrize("notified", [False, True])
def test_polls_slow_down_to_the_steady_interval_while_notified(config, reconciler, clock, make,
                                                               notified):
    config.set_override("reconcile_backoff_max", 10.0, group="conductor")
    config.set_override("steady_poll_interval", 30.0, group="heat_notifications")
    reconciler.notified = notified
    cluster = make()
    gaps = []
    for _ in range(12):  # checks that find no change
        assert reconciler.run_once() == 1
        reconciler.wait(WAIT)
        due = reconciler.next_check(cluster.uuid)
        gaps.append(due - clock.now)
        clock.advance(due - clock.now)
    assert max(gaps) == (30.0 if notified else 10.0)


def test_upgrades_keep_the_quick_polls_while_notified(config, reconciler, clock, make):
    """An upgrade waits on the COE's nodes, of which Heat says nothing."""
    config.set_override("reconcile_backoff_max", 10.0, group="conductor")
    config.set_override("steady_poll_interval", 30.0, group="heat_notifications")
    reconciler.notified = True
    cluster = make(status=Status.UPDATE_IN_PROGRESS, kind=states.Kind.UPGRADE)
    gaps = []
    for _ in range(12):
        reconciler.run_once()
        reconciler.wait(WAIT)
        due = reconciler.next_check(cluster.uuid)
        gaps.append(due - clock.now)
        clock.advance(due - clock.now)
    assert max(gaps) == 10.0


def test_a_check_never_pairs_a_cluster_read_before_its_create_was_recorded_with_its_record(
        reconciler, make, fake_driver, monkeypatch):
    """The create's record (the stack id and join token on the cluster, the operation moved
    on to following) lands between the check's read of the cluster and that of its
    operation: the check sees the recorded cluster, not the one read before."""
    from magnum_lite.objects import cluster_operation

    cluster = make(step=states.Step.CLOUD_REQUESTED)
    context = admin()
    stale = objects.Cluster.get_by_uuid(context, cluster.uuid)
    stale.stack_id = None
    stale.save()
    current = cluster_operation.ClusterOperation.current
    recorded = []

    def record_then_read(ctx, found):
        if not recorded:  # the conductor records the cloud's answer now
            fresh = objects.Cluster.get_by_uuid(context, cluster.uuid)
            fresh.stack_id = "stack-1"
            fresh.save()
            current(ctx, found).update(step=states.Step.FOLLOWING)
            recorded.append(True)
        return current(ctx, found)

    monkeypatch.setattr(cluster_operation.ClusterOperation, "current",
                        staticmethod(record_then_read))
    seen = []
    fake_driver.on_get_status = lambda ctx, checked: seen.append(checked.stack_id)
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE)
    assert reconciler.sync_now(cluster.uuid) is True
    wait_for(lambda: status_of(cluster.uuid) == Status.CREATE_COMPLETE, what="recorded")
    reconciler.wait(WAIT)
    assert seen == ["stack-1"]
