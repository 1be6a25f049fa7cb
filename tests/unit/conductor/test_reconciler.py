"""The status reconciler: what it reads from the driver, what it records, and when it checks.

The reconciler runs on injected clocks (monotonic seconds and UTC wall time): rounds are run
by hand with `run_once()` and the checks it started are awaited with `wait()`.
"""

import datetime
import threading
from unittest import mock

from oslo_utils import timeutils, uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import encryption, exception, states, trustee
from magnum_lite.conductor import hashring
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation, fields
from tests.unit.conductor.helpers import WAIT, in_flight, operation_of

Status = fields.ClusterStatus
State = drivers_base.ClusterState
NGState = drivers_base.NodeGroupState
# [conductor] delete_timeout's default.
CONF_DELETE_TIMEOUT_MINUTES = 60


class FakeClock:
    """Monotonic seconds and the matching UTC wall time, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall0 = timeutils.utcnow(with_timezone=True)
        self.start = self.now

    def __call__(self) -> float:
        return self.now

    def utcnow(self) -> datetime.datetime:
        return self.wall0 + datetime.timedelta(seconds=self.now - self.start)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def only_host(host):
    return hashring.ConductorRing(host, list_hosts=lambda: {host})


@pytest.fixture
def reconciler(db, clock):
    reconciler = conductor_reconciler.Reconciler(
        "host-a", ring=only_host("host-a"), clock=clock, utcnow=clock.utcnow, workers=4)
    yield reconciler
    reconciler.stop()


def round_(reconciler):
    started = reconciler.run_once()
    reconciler.wait(WAIT)
    return started


@pytest.fixture
def make(db, context, template):
    """A cluster of any project, in progress with a stack, its operation record at step
    `following` (handed over to the reconcilers by the conductor that started it) unless
    `started` is False (then `queued`), of `kind` (by default the status's); no record when
    `operation` is False (a cluster from before records were kept)."""

    def make(project="project-a", status=Status.CREATE_IN_PROGRESS, stack_id="stack-1",
             started=True, kind=None, operation=True, **values):
        cluster = objects.Cluster(
            context, uuid=uuidutils.generate_uuid(), project_id=project, user_id="user-a",
            name="c", cluster_template_id=template.uuid, status=status, version=1,
            stack_id=stack_id, **values)
        cluster.create_with_nodegroups([
            {"name": "default-master", "project_id": project, "role": "master",
             "node_count": 1, "is_default": True},
            {"name": "default-worker", "project_id": project, "role": "worker",
             "node_count": 2, "is_default": True},
        ], context)
        if operation and status in Status.IN_PROGRESS:
            in_flight(context, cluster, kind, "following" if started else "queued")
        return cluster

    return make


def reload(context, cluster):
    context.all_projects = True
    context.is_admin = True
    return objects.Cluster.get_by_uuid(context, cluster.uuid)


def groups(context, cluster):
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])}


def events(context, cluster):
    return [(e.event_type, e.status, e.status_reason)
            for e in objects.ClusterEvent.list(context, cluster.uuid)]


# -- outcomes ---------------------------------------------------------------------------------

def test_create_complete_is_recorded_with_the_addresses_on_the_nodegroups(
        reconciler, context, make, fake_driver):
    cluster = make()
    ngs = groups(context, cluster)
    master, worker = ngs["default-master"], ngs["default-worker"]
    fake_driver.statuses[cluster.uuid] = State(
        status=Status.CREATE_COMPLETE, api_address="https://10.0.0.10:6443",
        coe_version="v1.30.1",
        nodegroups={
            master.uuid: NGState(status=Status.CREATE_COMPLETE, node_addresses=["10.0.0.10"],
                                 node_count=1),
            worker.uuid: NGState(status=Status.CREATE_COMPLETE,
                                 node_addresses=["10.0.0.11", "10.0.0.12"], node_count=2)})
    assert round_(reconciler) == 1
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.CREATE_COMPLETE, None)
    assert (after.api_address, after.coe_version) == ("https://10.0.0.10:6443", "v1.30.1")
    assert after.master_addresses == ["10.0.0.10"]
    assert after.node_addresses == ["10.0.0.11", "10.0.0.12"]
    ngs = groups(context, cluster)
    assert ngs["default-worker"].status == Status.CREATE_COMPLETE
    assert ngs["default-worker"].node_addresses == ["10.0.0.11", "10.0.0.12"]
    assert events(context, cluster) == [("cluster.create", Status.CREATE_COMPLETE, None)]
    assert after.version == cluster.version  # a status poll is no operation
    # Done: the next round has nothing to check.
    clock_moves = reconciler._clock
    clock_moves.advance(5)
    assert round_(reconciler) == 0


def test_a_failure_is_recorded_with_the_drivers_reason(reconciler, context, make,
                                                       fake_driver):
    cluster = make()
    worker = groups(context, cluster)["default-worker"]
    reason = "Resource CREATE failed: Quota exceeded for instances (kube_minions.0)"
    fake_driver.statuses[cluster.uuid] = State(
        status=Status.CREATE_FAILED, status_reason=reason,
        nodegroups={worker.uuid: NGState(status=Status.CREATE_FAILED, status_reason=reason)})
    round_(reconciler)
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.CREATE_FAILED, reason)
    assert groups(context, cluster)["default-worker"].status_reason == reason
    assert events(context, cluster) == [("cluster.create", Status.CREATE_FAILED, reason)]


def test_update_and_rollback_outcomes_are_recorded(reconciler, context, make, fake_driver,
                                                   clock):
    cluster = make(status=Status.UPDATE_IN_PROGRESS)
    fake_driver.statuses[cluster.uuid] = State(status=Status.ROLLBACK_IN_PROGRESS,
                                               status_reason="scaling failed")
    round_(reconciler)
    assert reload(context, cluster).status == Status.ROLLBACK_IN_PROGRESS
    fake_driver.statuses[cluster.uuid] = State(status=Status.ROLLBACK_COMPLETE)
    clock.advance(1)
    round_(reconciler)
    assert reload(context, cluster).status == Status.ROLLBACK_COMPLETE
    assert [e[:2] for e in events(context, cluster)] == [
        ("cluster.update", Status.ROLLBACK_IN_PROGRESS),
        ("cluster.update", Status.ROLLBACK_COMPLETE)]


def test_delete_complete_removes_the_rows_and_keeps_the_events(reconciler, context, make,
                                                               fake_driver):
    cluster = make(status=Status.DELETE_IN_PROGRESS)
    fake_driver.statuses[cluster.uuid] = State(status=Status.DELETE_COMPLETE)
    round_(reconciler)
    with pytest.raises(Exception, match="could not be found"):
        reload(context, cluster)
    assert objects.NodeGroup.list_for_clusters(context, [cluster.uuid]) == []
    assert events(context, cluster) == [("cluster.delete", Status.DELETE_COMPLETE, None)]


def test_the_state_of_the_previous_operation_is_no_outcome(reconciler, context, make,
                                                           fake_driver):
    # The update has not reached Heat yet: the stack still says CREATE_COMPLETE.
    cluster = make(status=Status.UPDATE_IN_PROGRESS)
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE,
                                               api_address="https://10.0.0.1:6443")
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status == Status.UPDATE_IN_PROGRESS
    assert after.api_address == "https://10.0.0.1:6443"  # facts are still recorded
    assert events(context, cluster) == []


def test_nothing_is_written_while_nothing_changes(reconciler, context, make, fake_driver,
                                                  clock):
    cluster = make()
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_IN_PROGRESS,
                                               stack_id="stack-1")
    for _ in range(3):
        round_(reconciler)
        clock.advance(2)
    assert reload(context, cluster).revision == cluster.revision


@pytest.mark.parametrize("step", ["queued", "cloud_requested"])
def test_an_operation_its_owner_still_drives_is_not_checked(reconciler, context, make,
                                                            fake_driver, step):
    driven = make(stack_id=None, started=False)
    objects.ClusterOperation.get(context, reload(context, driven).operation_uuid).update(
        step=step, owner="host-b")
    make(status=Status.DELETE_IN_PROGRESS, started=False)
    followed = make()
    assert round_(reconciler) == 1
    assert [op.cluster_uuid for op in fake_driver.operations_seen] == [followed.uuid]


def test_the_outcome_of_the_previous_operation_is_not_taken_for_the_new_one(
        reconciler, context, make, fake_driver, clock):
    # Resized before; a new resize has not reached Heat yet, whose stack still says
    # UPDATE_COMPLETE: its operation is queued at its owner.
    cluster = make(status=Status.UPDATE_COMPLETE)
    operation = cluster_operation.start(context, reload(context, cluster), "resize",
                                        "cluster.resize")
    fake_driver.statuses[cluster.uuid] = State(status=Status.UPDATE_COMPLETE)
    assert round_(reconciler) == 0
    assert reload(context, cluster).status == Status.UPDATE_IN_PROGRESS
    # Its conductor hands it over: from now on Heat's answer counts.
    operation.update(step="following")
    clock.advance(1)
    assert round_(reconciler) == 1
    assert reload(context, cluster).status == Status.UPDATE_COMPLETE
    assert objects.ClusterOperation.get(context, operation.uuid).outcome == "succeeded"


def test_a_cluster_in_progress_without_a_record_gets_one_and_is_followed(
        reconciler, context, make, fake_driver):
    # In flight when the records came (an upgrade): a rollback Heat started is followed.
    cluster = make(status=Status.ROLLBACK_IN_PROGRESS, operation=False)
    fake_driver.statuses[cluster.uuid] = State(status=Status.ROLLBACK_COMPLETE)
    round_(reconciler)
    assert reload(context, cluster).status == Status.ROLLBACK_COMPLETE
    [operation] = objects.ClusterOperation.list(context, cluster.uuid)
    assert (operation.kind, operation.step, operation.outcome, operation.fault) == (
        "resize", "following", "failed", "cloud_error")


@pytest.mark.parametrize(("kind", "status", "reported", "recorded"), [
    # Each kind takes the statuses of its own table entry; anything else is a previous
    # operation's state in the cloud.
    ("delete", Status.DELETE_IN_PROGRESS, Status.UPDATE_COMPLETE, Status.DELETE_IN_PROGRESS),
    ("delete", Status.DELETE_IN_PROGRESS, Status.DELETE_FAILED, Status.DELETE_FAILED),
    ("create", Status.CREATE_IN_PROGRESS, Status.DELETE_COMPLETE, Status.CREATE_IN_PROGRESS),
    ("ca_rotation", Status.UPDATE_IN_PROGRESS, Status.CREATE_COMPLETE,
     Status.UPDATE_IN_PROGRESS),
    ("ca_rotation", Status.UPDATE_IN_PROGRESS, Status.ROLLBACK_IN_PROGRESS,
     Status.ROLLBACK_IN_PROGRESS),
    ("nodegroup_delete", Status.UPDATE_IN_PROGRESS, Status.UPDATE_COMPLETE,
     Status.UPDATE_COMPLETE),
])
def test_the_reconciler_dispatches_on_the_operation_s_kind(reconciler, context, make,
                                                           fake_driver, kind, status,
                                                           reported, recorded):
    cluster = make(status=status, kind=kind)
    fake_driver.statuses[cluster.uuid] = State(status=reported)
    round_(reconciler)
    assert reload(context, cluster).status == recorded
    [seen] = fake_driver.operations_seen  # the driver is told which operation it follows
    assert (seen.kind, seen.cluster_uuid, seen.step) == (kind, cluster.uuid, "following")


def test_a_cluster_without_an_installed_plugin_is_not_checked(reconciler, make):
    make()  # the template's (vm, None, kubernetes) has no plugin
    assert round_(reconciler) == 0


def test_the_poll_context_is_an_admin_of_the_clusters_project_with_its_trust(
        reconciler, make, fake_driver):
    cluster = make(project="project-x", trust_id="trust-9")
    seen = []
    fake_driver.on_get_status = lambda ctx, c: seen.append(
        (ctx.project_id, ctx.user_id, ctx.trust_id, ctx.is_admin, ctx.auth_token))
    round_(reconciler)
    assert seen == [("project-x", "user-a", "trust-9", True, None)]
    assert cluster.uuid


# -- one snapshot per project and driver -------------------------------------------------------

def test_one_snapshot_per_project_per_round(reconciler, make, fake_driver, clock, config):
    projects = ["p1", "p2", "p3"]
    for project in projects:
        for _ in range(10):
            make(project=project)
    polled = []
    fake_driver.on_get_status = lambda ctx, c: polled.append(c.uuid)
    assert round_(reconciler) == 30
    assert sorted(fake_driver.snapshot_calls) == projects
    assert len(polled) == len(set(polled)) == 30
    clock.advance(config.conductor.reconcile_backoff_base)  # all due again
    round_(reconciler)
    assert sorted(fake_driver.snapshot_calls) == sorted(projects * 2)
    assert len(polled) == 60


def test_a_project_is_listed_at_most_as_often_as_the_bound_allows(reconciler, make,
                                                                  fake_driver, clock, config):
    # Clusters due every 0.125 s and a round as often; two listings a second per project.
    config.set_override("reconcile_backoff_base", 0.125, group="conductor")
    config.set_override("reconcile_backoff_max", 0.125, group="conductor")
    config.set_override("max_listings_per_project_per_second", 2, group="conductor")
    for project in ("p1", "p2"):
        for _ in range(3):
            make(project=project)
    listed = {"p1": [], "p2": []}
    real = fake_driver.status_snapshot

    def snapshot(self, context, project_id):
        listed[project_id].append(clock.now)
        return real(self, context, project_id)

    polled = []
    fake_driver.on_get_status = lambda ctx, c: polled.append(c.uuid)
    with mock.patch.object(fake_driver, "status_snapshot", snapshot):
        for _ in range(32):  # 4 s
            round_(reconciler)
            clock.advance(0.125)
    for times in listed.values():
        # Every 0.5 s from the first round, not every round: the bound, and no more.
        assert times == [1000.0 + 0.5 * i for i in range(8)]
    # Each listing served every cluster of its project that was due.
    assert len(polled) == 2 * 3 * 8


def test_a_project_is_not_listed_again_before_its_listing_answered(reconciler, make,
                                                                   fake_driver, clock):
    make(project="p1")
    entered, release = threading.Event(), threading.Event()
    listed = []

    def slow(self, context, project_id):
        listed.append(project_id)
        entered.set()
        release.wait(WAIT)

    with mock.patch.object(fake_driver, "status_snapshot", slow):
        assert reconciler.run_once() == 1
        assert entered.wait(WAIT)
        make(project="p1")  # new to the reconciler: due at once
        make(project="p2")
        clock.advance(60)
        # p1's listing has not answered: its new cluster waits; p2 is listed.
        assert reconciler.run_once() == 1
        release.set()
        reconciler.wait(WAIT)
        assert listed == ["p1", "p2"]
        # Answered: p1's two clusters are checked in one listing.
        clock.advance(1)
        assert round_(reconciler) == 2
    assert listed == ["p1", "p2", "p1"]


def test_a_round_reads_the_database_in_a_constant_number_of_queries(reconciler, make,
                                                                    fake_driver, db):
    import sqlalchemy as sa

    for project in ("p1", "p2"):
        for _ in range(5):
            make(project=project)
    round_(reconciler)  # warms the driver-row cache
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    reconciler._clock.advance(5)
    sa.event.listen(db, "before_cursor_execute", count)
    try:
        reconciler.run_once()
        reconciler.wait(WAIT)
    finally:
        sa.event.remove(db, "before_cursor_execute", count)
    # The clusters, their nodegroups, and their template once (no driver row pinned here).
    assert len(statements) == 3, statements


def test_a_slow_project_does_not_hold_up_the_others(reconciler, context, make, fake_driver,
                                                    clock):
    slow, fast = make(project="slow"), make(project="fast")
    release = threading.Event()
    entered = threading.Event()

    def on_get_status(ctx, c):
        if c.uuid == slow.uuid:
            entered.set()
            release.wait(WAIT)

    fake_driver.on_get_status = on_get_status
    fake_driver.statuses[fast.uuid] = State(status=Status.CREATE_COMPLETE)
    reconciler.run_once()
    assert entered.wait(WAIT)
    deadline = 50
    while reload(context, fast).status != Status.CREATE_COMPLETE and deadline:
        release.wait(0.1)
        deadline -= 1
    assert reload(context, fast).status == Status.CREATE_COMPLETE
    clock.advance(5)
    assert reconciler.run_once() == 0  # the slow one is still being checked: not again
    release.set()
    reconciler.wait(WAIT)


# -- errors -------------------------------------------------------------------------------------

def test_a_driver_error_keeps_the_status_says_why_and_recovers(reconciler, context, make,
                                                               fake_driver, clock):
    cluster = make()
    fake_driver.statuses[cluster.uuid] = ConnectionError(
        "Unable to establish connection to http://heat:8004: refused")
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status == Status.CREATE_IN_PROGRESS
    assert after.status_reason == (
        "cannot check the cluster in the cloud: ConnectionError: Unable to establish connection to "
        "http://heat:8004: refused; still checking")
    assert events(context, cluster) == []
    # Heat is back, still building: the reason goes away.
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_IN_PROGRESS)
    clock.advance(5)
    round_(reconciler)
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.CREATE_IN_PROGRESS, None)
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE)
    clock.advance(5)
    round_(reconciler)
    assert reload(context, cluster).status == Status.CREATE_COMPLETE


def test_a_snapshot_error_is_recorded_on_every_cluster_of_the_project(
        reconciler, context, make, fake_driver):
    clusters = [make(project="p1") for _ in range(3)]
    fake_driver.snapshot_fail_with = RuntimeError("401 Unauthorized: password=hunter2")
    round_(reconciler)
    for cluster in clusters:
        after = reload(context, cluster)
        assert after.status == Status.CREATE_IN_PROGRESS
        assert after.status_reason.startswith(
            "cannot check the cluster in the cloud: RuntimeError: 401")
        assert "hunter2" not in after.status_reason


def test_the_thread_survives_a_database_error(db, clock, make, fake_driver, context, config):
    config.set_override("reconcile_interval", 0.01, group="conductor")
    cluster = make()
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE)
    calls = []
    real = objects.Cluster.list_in_flight

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("database is down: password=hunter2")
        return real(*args, **kwargs)

    reconciler = conductor_reconciler.Reconciler("host-a", ring=only_host("host-a"))
    log = conductor_reconciler.LOG
    with mock.patch.object(objects.Cluster, "list_in_flight", side_effect=flaky), \
            mock.patch.object(log, "warning", wraps=log.warning) as warning, \
            mock.patch.object(log, "info", wraps=log.info) as info:
        reconciler.start()
        try:
            for _ in range(500):
                if reload(context, cluster).status == Status.CREATE_COMPLETE:
                    break
                threading.Event().wait(0.01)
        finally:
            reconciler.stop(WAIT)
    assert reload(context, cluster).status == Status.CREATE_COMPLETE
    assert not reconciler.is_alive()
    # Three failed rounds of one cause: said once (masked), and once that rounds work again.
    failed = [c.args for c in warning.call_args_list if "round" in c.args[0]]
    assert failed == [("Reconciler round on %s failed: %s", "host-a",
                       "RuntimeError: database is down: password=***")]
    assert [c.args for c in info.call_args_list if "again" in c.args[0]] == [
        ("Reconciler rounds on %s work again", "host-a")]


# -- timeouts -----------------------------------------------------------------------------------

def test_a_create_fails_after_its_timeout_and_the_grace(reconciler, context, make,
                                                        fake_driver, clock, config):
    config.set_override("timeout_grace", 30, group="conductor")
    cluster = make(create_timeout=1)
    fake_driver.statuses[cluster.uuid] = ConnectionError("refused")
    clock.advance(60 + 29)
    round_(reconciler)
    assert reload(context, cluster).status == Status.CREATE_IN_PROGRESS  # Heat may still say
    clock.advance(2)
    round_(reconciler)
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (
        Status.CREATE_FAILED, "the cluster's create did not finish within 1 minute")
    assert events(context, cluster)[-1] == ("cluster.create", Status.CREATE_FAILED,
                                            "the cluster's create did not finish within 1 "
                                            "minute")


def test_a_create_without_its_own_timeout_uses_the_default(reconciler, context, make,
                                                           fake_driver, clock, config):
    config.set_override("create_timeout", 2, group="conductor")
    config.set_override("timeout_grace", 0, group="conductor")
    cluster = make(create_timeout=0, stack_id=None)  # e.g. the conductor died in the create
    clock.advance(121)
    round_(reconciler)
    assert reload(context, cluster).status_reason == (
        "the cluster's create did not finish within 2 minutes")


def test_the_timeout_counts_from_the_operation_s_start(reconciler, context, make,
                                                       fake_driver, clock, config):
    config.set_override("update_timeout", 1, group="conductor")
    config.set_override("timeout_grace", 0, group="conductor")
    cluster = make(status=Status.UPDATE_COMPLETE)
    clock.advance(3600)  # the cluster row is old ...
    operation = cluster_operation.start(context, reload(context, cluster), "resize",
                                        "cluster.resize")  # ... but the update began now
    operation.update(step="following")
    started = operation.started_at
    clock.wall0 = started - datetime.timedelta(seconds=clock.now - clock.start)
    assert operation.deadline - started == datetime.timedelta(minutes=1)
    clock.advance(59)
    round_(reconciler)
    assert reload(context, cluster).status == Status.UPDATE_IN_PROGRESS
    clock.advance(2)
    round_(reconciler)
    assert reload(context, cluster).status_reason == (
        "the cluster's update did not finish within 1 minute")
    ended = objects.ClusterOperation.get(context, operation.uuid)
    assert (ended.outcome, ended.fault) == ("failed", "timeout")


def test_an_operation_cut_off_before_the_cloud_fails_at_its_deadline(
        reconciler, context, make, fake_driver, clock, config):
    config.set_override("timeout_grace", 0, group="conductor")
    cluster = make(status=Status.DELETE_IN_PROGRESS, started=False)  # never handed over
    clock.advance(CONF_DELETE_TIMEOUT_MINUTES * 60 + 30)  # the rows are made after the clock
    round_(reconciler)
    assert reload(context, cluster).status == Status.DELETE_FAILED
    assert operation_of(context, cluster.uuid).fault == "timeout"


def test_a_delete_timeout_ends_in_delete_failed_with_the_reason(reconciler, context, make,
                                                                fake_driver, clock, config):
    config.set_override("delete_timeout", 5, group="conductor")
    config.set_override("timeout_grace", 0, group="conductor")
    cluster = make(status=Status.DELETE_IN_PROGRESS)
    clock.advance(5 * 60 + 30)  # margin: the rows are made after the clock
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status == Status.DELETE_FAILED
    assert after.status_reason.startswith("the cluster's delete did not finish within 5 "
                                          "minutes; the cloud may still hold")


# -- schedule -----------------------------------------------------------------------------------

def test_checks_back_off_while_nothing_changes_and_start_over_on_a_change(
        reconciler, make, fake_driver, clock, config):
    config.set_override("reconcile_backoff_base", 0.2, group="conductor")
    config.set_override("reconcile_backoff_max", 1.0, group="conductor")
    # Checks 0.2 s apart: the project may be listed as often.
    config.set_override("max_listings_per_project_per_second", 10, group="conductor")
    cluster = make()
    polled = []
    fake_driver.on_get_status = lambda ctx, c: polled.append(clock.now)
    delays = []
    for _ in range(7):
        before = len(polled)
        round_(reconciler)
        assert len(polled) == before + 1
        due = reconciler.next_check(cluster.uuid)
        delays.append(round(due - clock.now, 4))
        # Not due before its time: a round just before does not check it.
        clock.advance(due - clock.now - 0.01)
        assert round_(reconciler) == 0
        clock.advance(0.01)
    assert delays == [0.2, 0.3, 0.45, 0.675, 1.0, 1.0, 1.0]
    # Heat reports a change: back to the base delay.
    fake_driver.statuses[cluster.uuid] = State(status_reason="creating the masters")
    round_(reconciler)
    assert round(reconciler.next_check(cluster.uuid) - clock.now, 4) == 0.2


def test_a_driver_waiting_on_a_step_nothing_announces_is_looked_at_again_that_soon(
        reconciler, make, fake_driver, clock, config):
    config.set_override("reconcile_backoff_base", 0.2, group="conductor")
    config.set_override("reconcile_backoff_max", 5.0, group="conductor")
    config.set_override("max_listings_per_project_per_second", 100, group="conductor")
    cluster = make()
    fake_driver.statuses[cluster.uuid] = State(look_again=0.05)
    delays = []
    for _ in range(6):
        round_(reconciler)
        due = reconciler.next_check(cluster.uuid)
        delays.append(round(due - clock.now, 4))
        clock.advance(due - clock.now)
    # The backoff would have grown to 0.2 · 1.5^5; the driver's wish keeps it at 0.05.
    assert delays == [0.05] * 6
    # Once the driver no longer asks, the backoff is back where it had grown to.
    fake_driver.statuses[cluster.uuid] = State()
    round_(reconciler)
    assert round(reconciler.next_check(cluster.uuid) - clock.now, 4) == round(
        0.2 * 1.5 ** 6, 4)


def test_a_new_operation_starts_a_new_schedule(reconciler, context, make, fake_driver, clock,
                                              config):
    cluster = make()
    for _ in range(4):
        round_(reconciler)
        clock.advance(reconciler.next_check(cluster.uuid) - clock.now)
    assert round(reconciler.next_check(cluster.uuid) - clock.now, 4) == 0

    def to_update(c):  # the create ended, and a resize started
        c.status = Status.UPDATE_IN_PROGRESS
        c.version += 1
        c.operation_uuid = None

    objects.Cluster.update_with_retry(context, cluster.uuid, to_update)
    in_flight(context, reload(context, cluster), "resize", "following")
    round_(reconciler)  # checked at once, then the base delay
    assert (round(reconciler.next_check(cluster.uuid) - clock.now, 4)
            == config.conductor.reconcile_backoff_base)


def test_a_poll_that_raced_a_new_operation_writes_nothing(reconciler, context, make,
                                                          fake_driver):
    cluster = make(status=Status.UPDATE_IN_PROGRESS)

    def user_starts_another_update(ctx, c):
        def bump(row):
            row.status = Status.UPDATE_FAILED
        objects.Cluster.update_with_retry(context, c.uuid, bump)

    fake_driver.on_get_status = user_starts_another_update
    fake_driver.statuses[cluster.uuid] = State(status=Status.UPDATE_IN_PROGRESS,
                                               status_reason="still resizing")
    round_(reconciler)
    assert reload(context, cluster).status == Status.UPDATE_FAILED


def test_the_service_runs_the_reconciler(db, config, context, make, fake_driver):
    from magnum_lite.conductor import service as conductor_service

    config.set_override("reconcile_interval", 0.01, group="conductor")
    cluster = make(stack_id=None, started=False)
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_COMPLETE)
    service = conductor_service.ConductorService(host="unit-host")
    service.start()
    try:
        # The manager starts the create and hands it over; the reconciler finishes it.
        service.manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
        for _ in range(500):
            if reload(context, cluster).status == Status.CREATE_COMPLETE:
                break
            threading.Event().wait(0.01)
        assert service.reconciler.is_alive()
    finally:
        assert service.stop()
    assert reload(context, cluster).status == Status.CREATE_COMPLETE
    assert [e[:2] for e in events(context, cluster)] == [
        ("cluster.create", Status.CREATE_COMPLETE)]
    operation = operation_of(context, cluster.uuid)
    assert (operation.owner, operation.step, operation.outcome) == ("unit-host", "following",
                                                                    "succeeded")
    assert not service.reconciler.is_alive()


def test_every_status_in_progress_is_one_of_a_kind_of_operation():
    for status in Status.IN_PROGRESS:
        kind = states.kind_for_status(status)
        assert status in states.rules(kind).in_flight


# -- the cluster's trust ------------------------------------------------------------------------

NOT_AUTHORIZED = exception.CloudError(
    service="Heat", reason="listing stacks: not authorized: The request you have made "
                           "requires authentication. (HTTP 401)")


@pytest.fixture
def with_trustee(make):
    def make_with_trustee(**values):
        return make(trustee_user_id="trustee-1", trustee_username="cluster-1",
                    trustee_password=encryption.encrypt("password-1"), trust_id="trust-1",
                    **values)
    return make_with_trustee


def test_checks_act_through_the_cluster_s_trustee(reconciler, context, with_trustee,
                                                  fake_driver):
    cluster = with_trustee()
    seen = []
    fake_driver.on_get_status = lambda ctx, c: seen.append(
        (ctx.trustee.user_id, ctx.trustee.password, ctx.trustee.trust_id, ctx.auth_token))
    round_(reconciler)
    assert seen == [("trustee-1", "password-1", "trust-1", None)]
    assert "trustee" not in conductor_reconciler.poll_context(cluster).to_dict()


def test_a_trust_that_no_longer_works_is_the_reason_and_says_how_to_renew_it(
        reconciler, context, with_trustee, fake_driver, monkeypatch):
    cluster = with_trustee()
    checked = []

    def check_trust(given):
        checked.append((given.user_id, given.password, given.trust_id))
        return "the cluster's trust trust-1 no longer works (deleted, or its owner lost " \
               "their roles): 401"

    monkeypatch.setattr(trustee, "check_trust", check_trust)
    fake_driver.statuses[cluster.uuid] = NOT_AUTHORIZED
    round_(reconciler)
    after = reload(context, cluster)
    assert checked == [("trustee-1", "password-1", "trust-1")]
    assert after.status == Status.CREATE_IN_PROGRESS
    assert after.status_reason == (
        "cannot check the cluster in the cloud: the cluster's trust trust-1 no longer works "
        "(deleted, or its owner lost their roles): 401; renew it with PATCH "
        f"/v1/credentials/{cluster.uuid}; still checking")
    # The code the API acts on; the reason is prose for people.
    operation = objects.ClusterOperation.get(context, after.operation_uuid)
    assert (operation.fault, operation.outcome) == ("trust_broken", None)
    # Checked once: the next refusal does not log in to Keystone again.
    fake_driver.statuses[cluster.uuid] = NOT_AUTHORIZED
    reconciler._clock.advance(60)
    round_(reconciler)
    assert len(checked) == 1
    # A new trust works: the reason and the fault are cleared.
    fake_driver.statuses[cluster.uuid] = State(status=Status.CREATE_IN_PROGRESS)
    reconciler._clock.advance(60)
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status_reason is None
    assert objects.ClusterOperation.get(context, after.operation_uuid).fault is None


def test_a_working_trust_leaves_the_cloud_s_own_error_as_the_reason(
        reconciler, context, with_trustee, fake_driver, monkeypatch):
    cluster = with_trustee()
    monkeypatch.setattr(trustee, "check_trust", lambda given: None)
    fake_driver.statuses[cluster.uuid] = NOT_AUTHORIZED
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status_reason.startswith("cannot check the cluster in the cloud: ")
    assert "not authorized" in after.status_reason
    assert "/v1/credentials" not in after.status_reason
    assert objects.ClusterOperation.get(context, after.operation_uuid).fault == "cloud_error"


def test_the_trust_is_checked_only_for_a_refusal_of_a_cluster_with_a_trustee(
        reconciler, context, make, with_trustee, fake_driver, monkeypatch, clock):
    checked = []
    monkeypatch.setattr(trustee, "check_trust", lambda given: checked.append(given) or "x")
    plain = make()  # no trustee: nothing to check
    fake_driver.statuses[plain.uuid] = NOT_AUTHORIZED
    other_error = with_trustee()
    fake_driver.statuses[other_error.uuid] = exception.CloudUnreachable(
        service="Heat", reason="connection refused")
    round_(reconciler)
    assert checked == []
    assert "/v1/credentials" not in reload(context, plain).status_reason
    assert reload(context, other_error).status_reason == (
        "cannot check the cluster in the cloud: CloudUnreachable: cannot reach Heat: "
        "connection refused; still checking")


def test_keystone_down_while_checking_the_trust_keeps_the_first_error(
        reconciler, context, with_trustee, fake_driver, monkeypatch):
    cluster = with_trustee()

    def unreachable(given):
        raise exception.CloudUnreachable(service="Keystone", reason="connection refused")

    monkeypatch.setattr(trustee, "check_trust", unreachable)
    fake_driver.statuses[cluster.uuid] = NOT_AUTHORIZED
    round_(reconciler)
    after = reload(context, cluster)
    assert after.status == Status.CREATE_IN_PROGRESS
    assert "not authorized" in after.status_reason and "Keystone" not in after.status_reason
