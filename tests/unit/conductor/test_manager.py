"""The conductor's endpoints: what create, update and delete leave in the database."""

import threading
import time
from unittest import mock

from oslo_db import exception as db_exc
import oslo_messaging as messaging
from oslo_utils import timeutils
import pytest

from magnum_lite import objects
from magnum_lite.common import encryption, exception
from magnum_lite.conductor import manager as conductor_manager
from magnum_lite.conductor import recording
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation, fields
from tests.unit.conductor.helpers import WAIT, in_flight, operation_of, settle, wait_for
from tests.unit.drivers import fake_plugin

Status = fields.ClusterStatus
NO_DRIVER = "no driver is installed for (vm, None, kubernetes)"


@pytest.fixture
def fake_driver():
    fake_plugin.FakeDriver.reset()
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    yield fake_plugin.FakeDriver
    fake_plugin.FakeDriver.reset()



def reload(context, cluster):
    return objects.Cluster.get_by_uuid(context, cluster.uuid)


def events(context, cluster):
    return [(e.event_type, e.status, e.status_reason)
            for e in objects.ClusterEvent.list(context, cluster.uuid)]


# -- no driver installed ---------------------------------------------------------------------

def test_create_without_a_driver_ends_in_create_failed_with_the_reason(
        manager, context, make_cluster):
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    assert after.status == Status.CREATE_FAILED
    assert after.status_reason == NO_DRIVER
    assert after.version == cluster.version  # the operation was counted by the API
    assert after.stack_id is None
    assert events(context, cluster) == [("cluster.create", Status.CREATE_FAILED, NO_DRIVER)]


def test_update_without_a_driver_ends_in_update_failed(manager, context, make_cluster):
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=5, rollback=False)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.UPDATE_FAILED, NO_DRIVER)
    assert after.node_count == 2
    assert events(context, cluster) == [("cluster.update", Status.UPDATE_FAILED, NO_DRIVER)]


def test_delete_of_a_cluster_without_stack_removes_its_rows_and_keeps_its_events(
        manager, context, make_cluster):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)
    assert objects.NodeGroup.list_for_clusters(context, [cluster.uuid]) == []
    assert events(context, cluster) == [
        ("cluster.delete", Status.DELETE_COMPLETE, conductor_manager.NOTHING_IN_THE_CLOUD)]


def test_delete_of_a_cluster_with_a_stack_and_no_driver_ends_in_delete_failed(
        manager, context, make_cluster):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, stack_id="stack-9")
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.DELETE_FAILED, NO_DRIVER)
    assert after.stack_id == "stack-9"
    assert events(context, cluster) == [("cluster.delete", Status.DELETE_FAILED, NO_DRIVER)]


def test_the_reason_names_every_part_of_the_template(manager, context, db):
    template = objects.ClusterTemplate(context, project_id="project-a", name="swarm",
                                       coe="swarm-mode", server_type="bm",
                                       cluster_distro="coreos")
    template.create()
    cluster = objects.Cluster(context, uuid="5b6a1c1e-4c39-4a1f-9c6e-3d8f8a1b2c3d",
                              project_id="project-a", cluster_template_id=template.uuid,
                              status=Status.CREATE_IN_PROGRESS, version=1)
    cluster.create_with_nodegroups([], context)
    in_flight(context, cluster)
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    assert reload(context, cluster).status_reason == (
        "no driver is installed for (bm, coreos, swarm-mode)")


# -- with a driver ---------------------------------------------------------------------------

def test_create_with_a_driver_records_its_stack_and_stays_in_progress(
        manager, context, template, make_cluster, fake_driver):
    template.cluster_distro = "ubuntu"
    template.save()
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=42)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.stack_id) == (Status.CREATE_IN_PROGRESS, "stack-1")
    assert fake_driver.calls == [("create", {"config": {"flavor": "m1.small"},
                                             "cluster": cluster.uuid, "timeout": 42,
                                             "nodegroups": ["default-master",
                                                            "default-worker"],
                                             "ca_kinds": ["ca", "etcd", "front_proxy"]})]
    # No status change, no event: the operation's step hands it over to the reconciler.
    assert events(context, cluster) == []
    operation = operation_of(context, cluster.uuid)
    assert (operation.kind, operation.step, operation.owner, operation.outcome) == (
        "create", "following", "test-host", None)
    assert after.operation_uuid == operation.uuid


def test_a_cluster_pinned_to_a_driver_version_uses_its_plugin_and_config(
        manager, context, make_cluster, fake_driver):
    driver = objects.Driver(context, name="k8s", plugin_name="fake",
                            config={"flavor": "m1.large"})
    driver.create()
    cluster = make_cluster(driver_id=driver.uuid, driver_version=driver.version)
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    assert fake_driver.calls[0][1]["config"] == {"flavor": "m1.large"}
    assert reload(context, cluster).stack_id == "stack-1"


def test_update_with_a_driver_passes_node_count_and_rollback(
        manager, context, template, make_cluster, fake_driver):
    template.cluster_distro = "Ubuntu"
    template.save()
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=7, rollback=True)
    settle()
    assert fake_driver.calls[0][0] == "update"
    assert fake_driver.calls[0][1]["node_count"] == 7
    assert fake_driver.calls[0][1]["rollback"] is True
    assert reload(context, cluster).status == Status.UPDATE_IN_PROGRESS


def test_driver_error_ends_in_failed_with_its_message(
        manager, context, template, make_cluster, fake_driver):
    template.cluster_distro = "ubuntu"
    template.save()
    fake_driver.fail_with = exception.InvalidParameterValue(err="quota exceeded for cores")
    cluster = make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.CREATE_FAILED,
                                                   "quota exceeded for cores")
    assert events(context, cluster)[-1][:2] == ("cluster.create", Status.CREATE_FAILED)


def test_unexpected_exception_ends_in_failed_without_leaving_in_progress(
        manager, context, make_cluster):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, stack_id="s")
    with mock.patch.object(objects.ClusterTemplate, "get_by_uuid",
                           side_effect=RuntimeError("boom")):
        manager.cluster_delete(context, cluster_uuid=cluster.uuid)
        settle()
    after = reload(context, cluster)
    assert after.status == Status.DELETE_FAILED
    assert after.status_reason == "delete failed in the conductor: RuntimeError: boom"


def test_database_error_reason_carries_no_sql_and_no_password(manager, context, make_cluster):
    cluster = make_cluster()
    error = db_exc.DBConnectionError(
        "(OperationalError) password=hunter2 connection refused\n[SQL: SELECT secret]")
    with mock.patch.object(objects.ClusterTemplate, "get_by_uuid", side_effect=error):
        manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
        settle()
    reason = reload(context, cluster).status_reason
    assert reason.startswith("create failed in the conductor: DBConnectionError")
    assert "hunter2" not in reason and "SQL" not in reason


def test_unreachable_database_is_logged_and_nothing_raised(manager, context, make_cluster,
                                                           caplog):
    cluster = make_cluster()
    down = db_exc.DBConnectionError("database unreachable")
    with mock.patch.object(objects.Cluster, "get_by_uuid", side_effect=down):
        manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
        # Nothing reaches the database: the log is all there is to wait for.
        wait_for(lambda: "could not record that its create failed" in caplog.text)
    assert reload(context, cluster).status == Status.CREATE_IN_PROGRESS
    # The operation stays in flight at its first step: the deadline (or a new owner) ends it.
    assert operation_of(context, cluster.uuid).step == "queued"


def test_vanished_cluster_is_not_an_error(manager, context, db, caplog):
    caplog.set_level("INFO")
    gone = "0a0a0a0a-0000-4000-8000-000000000000"
    manager.cluster_create(context, cluster_uuid=gone, create_timeout=1)
    wait_for(lambda: f"Cluster {gone} is gone: nothing left to create" in caplog.text)
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert objects.ClusterOperation.list(context, gone) == []  # no record made for it


# -- compare-and-swap ------------------------------------------------------------------------

def test_status_write_retries_when_another_writer_races(manager, context, make_cluster):
    cluster = reload(context, make_cluster())
    real_save = objects.Cluster.save
    raced = []

    def save_after_a_racing_write(self, context=None, **transition):
        if not raced:
            raced.append(True)
            other = objects.Cluster.get_by_uuid(self._context, self.uuid)
            other.api_address = "https://10.0.0.5:6443"
            real_save(other)  # the row's revision moves on under our feet
        return real_save(self, context, **transition)

    with mock.patch.object(objects.Cluster, "save", save_after_a_racing_write):
        manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
        settle()
    after = reload(context, cluster)
    assert raced
    assert after.status == Status.CREATE_FAILED
    assert after.api_address == "https://10.0.0.5:6443"  # the other write was kept
    assert after.revision == cluster.revision + 2


def test_outcome_is_not_written_over_a_later_operation(manager, context, make_cluster,
                                                       caplog):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS)
    delete = operation_of(context, cluster.uuid)
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    wait_for(lambda: "is in another operation now: its create is not done" in caplog.text)
    assert reload(context, cluster).status == Status.DELETE_IN_PROGRESS
    assert events(context, cluster) == []
    # The delete's record is untouched: no owner, no step taken for it.
    after = objects.ClusterOperation.get(context, delete.uuid)
    assert (after.kind, after.step, after.owner, after.outcome) == ("delete", "queued", None,
                                                                    None)


# -- threads and stopping --------------------------------------------------------------------

def test_endpoint_returns_before_the_work_is_done(manager, context, template, make_cluster,
                                                  fake_driver):
    template.cluster_distro = "ubuntu"
    template.save()
    fake_driver.block = threading.Event()
    fake_driver.started = threading.Event()
    cluster = make_cluster()
    began = time.monotonic()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    assert time.monotonic() - began < 1
    assert fake_driver.started.wait(WAIT)
    assert reload(context, cluster).stack_id is None
    fake_driver.block.set()
    settle()
    assert reload(context, cluster).stack_id == "stack-1"


def test_stop_hands_queued_work_over_and_reports_work_still_running(context, template,
                                                                     make_cluster,
                                                                     fake_driver):
    template.cluster_distro = "ubuntu"
    template.save()
    manager = conductor_manager.ConductorManager("test-host", workers=1)
    manager.start()
    fake_driver.block = threading.Event()
    fake_driver.started = threading.Event()
    running, queued = make_cluster(), make_cluster()
    manager.cluster_create(context, cluster_uuid=running.uuid, create_timeout=60)
    assert fake_driver.started.wait(WAIT)
    manager.cluster_create(context, cluster_uuid=queued.uuid, create_timeout=60)
    began = time.monotonic()
    assert manager.stop(timeout=0.3) == [running.uuid]
    assert time.monotonic() - began < 2
    fake_driver.block.set()
    # Not failed: released, for the cluster's next owner on the ring (test_takeover.py).
    after = reload(context, queued)
    assert (after.status, after.status_reason) == (Status.CREATE_IN_PROGRESS, None)
    operation = operation_of(context, queued.uuid)
    assert (operation.owner, operation.step, operation.outcome) == (None, "queued", None)
    assert events(context, queued) == []
    assert [call[1]["cluster"] for call in fake_driver.calls] == [running.uuid]


def test_stopped_manager_refuses_work_and_fails_the_cluster(context, make_cluster):
    manager = conductor_manager.ConductorManager("test-host")
    manager.start()
    manager.stop(timeout=1)
    cluster = make_cluster()
    # Declared expected: oslo.messaging logs it without a traceback.
    with pytest.raises(messaging.ExpectedException) as raised:
        manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    assert isinstance(raised.value.exc_info[1], exception.ServiceUnavailable)
    assert reload(context, cluster).status == Status.CREATE_FAILED


def test_work_runs_with_the_callers_request_id_and_may_read_any_project(manager, context,
                                                                        make_cluster):
    cluster = make_cluster()
    seen = []

    def work(ctx, work):
        seen.append((ctx.request_id, ctx.project_id, ctx.is_admin, ctx.all_projects))

    manager._spawn(context, "create", cluster.uuid, work)
    assert wait_for(lambda: seen) == [(context.request_id, context.project_id, True, True)]


# -- recording driver states on the cluster and its nodegroups -------------------------------

@pytest.fixture
def ubuntu(template):
    """The template made one the fake plugin provides."""
    template.cluster_distro = "ubuntu"
    template.save()
    return template


def nodegroups_of(context, cluster):
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster.uuid])}


def test_create_records_the_cluster_and_each_nodegroup_state(manager, context, ubuntu,
                                                               make_cluster, fake_driver):
    cluster = make_cluster()
    groups = nodegroups_of(context, cluster)
    master, worker = groups["default-master"], groups["default-worker"]
    fake_driver.create_state = drivers_base.ClusterState(
        status=Status.CREATE_IN_PROGRESS, stack_id="stack-main", join_token="secret-token",
        nodegroups={master.uuid: drivers_base.NodeGroupState(
                        status=Status.CREATE_IN_PROGRESS, stack_id="stack-main"),
                    worker.uuid: drivers_base.NodeGroupState(
                        status=Status.CREATE_IN_PROGRESS, stack_id="stack-workers")})
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    after = reload(context, cluster)
    # The join token is stored encrypted, and there is no trust without a token to
    # delegate from.
    assert (after.status, after.stack_id, after.trust_id) == (
        Status.CREATE_IN_PROGRESS, "stack-main", None)
    assert encryption.is_encrypted(after.join_token)
    assert encryption.decrypt(after.join_token) == "secret-token"
    groups = nodegroups_of(context, cluster)
    assert groups["default-master"].stack_id == "stack-main"
    assert groups["default-worker"].stack_id == "stack-workers"
    assert groups["default-worker"].status == Status.CREATE_IN_PROGRESS
    assert groups["default-worker"].node_count == 2  # None in the state: unchanged
    assert fake_driver.calls[0][1]["nodegroups"] == ["default-master", "default-worker"]


def test_a_nodegroup_write_retries_when_another_writer_races(manager, context, ubuntu,
                                                             make_cluster, fake_driver):
    cluster = make_cluster()
    worker = nodegroups_of(context, cluster)["default-worker"]
    fake_driver.create_state = drivers_base.ClusterState(
        status=Status.CREATE_IN_PROGRESS, stack_id="s",
        nodegroups={worker.uuid: drivers_base.NodeGroupState(stack_id="stack-w")})
    real_save = objects.NodeGroup.save
    raced = []

    def save_after_a_racing_write(self, context=None):
        if not raced:
            raced.append(True)
            other = objects.NodeGroup.get(self._context, self.cluster_id, self.uuid)
            other.status_reason = "written by someone else"
            real_save(other)
        return real_save(self, context)

    with mock.patch.object(objects.NodeGroup, "save", save_after_a_racing_write):
        manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
        settle()
    after = nodegroups_of(context, cluster)["default-worker"]
    assert raced
    assert (after.stack_id, after.status_reason) == ("stack-w", "written by someone else")


def test_update_resizes_the_default_worker_nodegroup(manager, context, ubuntu, make_cluster,
                                                     fake_driver):
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    worker = nodegroups_of(context, cluster)["default-worker"]
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=5)
    settle()
    name, call = fake_driver.calls[0]
    assert name == "update"
    assert (call["nodegroup"], call["node_count"], call["nodes_to_remove"],
            call["rollback"]) == (worker.uuid, 5, None, False)
    # No event: the operation's step hands the resize over to the reconciler.
    assert events(context, cluster) == []
    operation = operation_of(context, cluster.uuid)
    assert (operation.kind, operation.step, operation.outcome) == ("resize", "following", None)


def test_update_1_1_resizes_the_given_nodegroup_removing_the_given_nodes(
        manager, context, ubuntu, make_cluster, fake_driver):
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    extra = objects.NodeGroup(context, name="gpu", cluster_id=cluster.uuid,
                              project_id=cluster.project_id, role="worker", node_count=3)
    extra.create()
    fake_driver.update_state = drivers_base.ClusterState(
        status=Status.UPDATE_IN_PROGRESS,
        nodegroups={extra.uuid: drivers_base.NodeGroupState(status=Status.UPDATE_IN_PROGRESS,
                                                            stack_id="stack-gpu")})
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=1, rollback=True,
                           nodegroup_uuid=extra.uuid, nodes_to_remove=["node-a", "node-b"])
    settle()
    call = fake_driver.calls[0][1]
    assert (call["nodegroup"], call["node_count"], call["nodes_to_remove"],
            call["rollback"]) == (extra.uuid, 1, ["node-a", "node-b"], True)
    gpu = nodegroups_of(context, cluster)["gpu"]
    assert (gpu.status, gpu.stack_id) == (Status.UPDATE_IN_PROGRESS, "stack-gpu")


def test_update_of_a_nodegroup_that_is_gone_fails_with_the_reason(
        manager, context, ubuntu, make_cluster, fake_driver):
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=1,
                           nodegroup_uuid="0a0a0a0a-0000-4000-8000-000000000001")
    settle()
    after = reload(context, cluster)
    assert after.status == Status.UPDATE_FAILED
    assert after.status_reason == (
        "nodegroup 0a0a0a0a-0000-4000-8000-000000000001 of the cluster does not exist "
        "(any more)")
    assert fake_driver.calls == []


def test_update_driver_error_ends_in_update_failed(manager, context, ubuntu, make_cluster,
                                                   fake_driver):
    fake_driver.fail_with = exception.InvalidParameterValue(err="Heat refused the update")
    cluster = make_cluster(status=Status.UPDATE_IN_PROGRESS)
    manager.cluster_update(context, cluster_uuid=cluster.uuid, node_count=3)
    settle()
    after = reload(context, cluster)
    assert (after.status, after.status_reason) == (Status.UPDATE_FAILED,
                                                   "Heat refused the update")


def test_delete_goes_through_the_driver_and_stays_in_progress(manager, context, ubuntu,
                                                              make_cluster, fake_driver):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, stack_id="stack-1")
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    assert fake_driver.calls == [("delete", {"config": {"flavor": "m1.small"},
                                             "cluster": cluster.uuid,
                                             "nodegroups": ["default-master",
                                                            "default-worker"]})]
    assert reload(context, cluster).status == Status.DELETE_IN_PROGRESS
    assert events(context, cluster) == []
    assert operation_of(context, cluster.uuid).step == "following"


def test_delete_complete_from_the_driver_removes_the_rows_and_keeps_the_events(
        manager, context, ubuntu, make_cluster, fake_driver):
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, stack_id="stack-1")
    fake_driver.delete_state = drivers_base.ClusterState(status=Status.DELETE_COMPLETE)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)
    assert objects.NodeGroup.list_for_clusters(context, [cluster.uuid]) == []
    assert events(context, cluster) == [("cluster.delete", Status.DELETE_COMPLETE, None)]


def test_delete_of_a_pinned_cluster_without_a_recorded_stack_asks_the_driver(
        manager, context, make_cluster, fake_driver):
    # A conductor stopped in the middle of a create may have left stacks it never recorded.
    driver = objects.Driver(context, name="k8s", plugin_name="fake", config={"flavor": "x"})
    driver.create()
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, driver_id=driver.uuid,
                           driver_version=driver.version)
    # Its create asked the cloud, and its conductor stopped before it recorded the answer.
    objects.Cluster.dbapi.create_cluster_operation({
        "cluster_uuid": cluster.uuid, "kind": "create", "step": "cloud_requested",
        "started_at": timeutils.utcnow(), "outcome": "failed", "fault": "conductor_stopped"})
    fake_driver.delete_state = drivers_base.ClusterState(status=Status.DELETE_COMPLETE)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    assert [name for name, _ in fake_driver.calls] == ["delete"]
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)
    assert [e[0] for e in events(context, cluster)] == ["cluster.delete"]
    outcomes = {op.kind: op.outcome for op in objects.ClusterOperation.list(context,
                                                                            cluster.uuid)}
    assert outcomes == {"create": "failed", "delete": "succeeded"}  # records outlive it


def test_delete_of_a_cluster_no_driver_ever_took_removes_its_rows_without_the_cloud(
        manager, context, make_cluster, fake_driver):
    # Its create failed before the driver accepted it (no Heat, say): nothing to look for.
    driver = objects.Driver(context, name="k8s", plugin_name="fake", config={"flavor": "x"})
    driver.create()
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, driver_id=driver.uuid,
                           driver_version=driver.version)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    assert fake_driver.calls == []
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)


def test_delete_of_a_cluster_without_stack_whose_plugin_is_gone_removes_its_rows(
        manager, context, make_cluster):
    driver = objects.Driver(context, name="k8s", plugin_name="uninstalled", config={})
    driver.create()
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, driver_id=driver.uuid,
                           driver_version=driver.version)
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    with pytest.raises(exception.ClusterNotFound):
        reload(context, cluster)
    assert events(context, cluster) == [
        ("cluster.delete", Status.DELETE_COMPLETE, conductor_manager.NOTHING_IN_THE_CLOUD)]


def test_delete_driver_error_ends_in_delete_failed_and_keeps_the_rows(
        manager, context, ubuntu, make_cluster, fake_driver):
    fake_driver.fail_with = RuntimeError("Heat unreachable")
    cluster = make_cluster(status=Status.DELETE_IN_PROGRESS, stack_id="stack-1")
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    after = reload(context, cluster)
    assert after.status == Status.DELETE_FAILED
    assert after.status_reason == "delete failed in the conductor: RuntimeError: Heat unreachable"
    assert len(nodegroups_of(context, cluster)) == 2


def test_a_reason_is_kept_while_the_status_stays_and_cleared_when_it_changes(
        context, make_cluster):
    cluster = make_cluster(status=Status.CREATE_IN_PROGRESS)
    cluster_operation.finish(context, cluster.uuid, "create", Status.CREATE_IN_PROGRESS,
                             "waiting")
    record = recording.record_state
    record(context, "create", cluster.uuid,
           drivers_base.ClusterState(api_address="https://1.2.3.4:6443"))
    assert reload(context, cluster).status_reason == "waiting"
    record(context, "create", cluster.uuid,
           drivers_base.ClusterState(status=Status.CREATE_COMPLETE))
    after = reload(context, cluster)
    assert (after.status, after.status_reason, after.api_address) == (
        Status.CREATE_COMPLETE, None, "https://1.2.3.4:6443")


def test_an_expected_status_guards_the_write(context, make_cluster):
    cluster = make_cluster(status=Status.UPDATE_FAILED)
    result = recording.record_state(
        context, "resize", cluster.uuid,
        drivers_base.ClusterState(status=Status.UPDATE_COMPLETE),
        expect=(Status.UPDATE_IN_PROGRESS, cluster.version))
    assert result is None
    assert reload(context, cluster).status == Status.UPDATE_FAILED
    assert events(context, cluster) == []


def test_the_record_shows_the_owner_and_step_while_the_driver_works(
        manager, context, ubuntu, make_cluster, fake_driver):
    fake_driver.block = threading.Event()
    fake_driver.started = threading.Event()
    cluster, other = make_cluster(), make_cluster()
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    assert fake_driver.started.wait(WAIT)
    asking = operation_of(context, cluster.uuid)
    assert (asking.owner, asking.step, asking.outcome) == ("test-host", "cloud_requested", None)
    untouched = operation_of(context, other.uuid)
    assert (untouched.owner, untouched.step) == (None, "queued")
    fake_driver.block.set()
    wait_for(lambda: operation_of(context, cluster.uuid).step == "following")



@pytest.mark.parametrize("never_sent", [True, False])
def test_delete_after_a_create_heat_never_got_asks_no_driver(
        manager, context, ubuntu, make_cluster, fake_driver, never_sent):
    """A create whose request never left (no Heat endpoint) leaves nothing in the cloud: the
    delete removes the rows at once. One Heat may have received (a dropped connection, a
    read timeout) makes the delete ask the driver what is there."""
    fake_driver.fail_with = exception.CloudUnreachable(
        service="Heat", reason="creating stack", never_sent=never_sent)
    driver = objects.Driver(context, name="fake", plugin_name="fake", config={})
    driver.create()
    cluster = make_cluster(driver_id=driver.uuid, driver_version=driver.version)
    manager.cluster_create(context, cluster_uuid=cluster.uuid, create_timeout=60)
    settle()
    assert reload(context, cluster).status == Status.CREATE_FAILED
    fake_driver.fail_with = None
    fake_plugin.FakeDriver.calls.clear()
    cluster_operation.start(context, reload(context, cluster), "delete", "cluster.delete")
    manager.cluster_delete(context, cluster_uuid=cluster.uuid)
    settle()
    asked = [name for name, _args in fake_plugin.FakeDriver.calls]
    if never_sent:
        assert asked == []
        with pytest.raises(exception.ClusterNotFound):
            reload(context, cluster)
    else:
        assert asked == ["delete"]
