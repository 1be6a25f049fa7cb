"""The transition table (common/states.py) applied by objects/cluster_operation.py.

Parametrized over the table itself: for every kind and every status, a start is allowed or
refused (409) as the table says, and an allowed one leaves the status, version, event and
operation row it must; for every kind and every status it may record, finish leaves the
status, the outcome and the event it must.
"""

from __future__ import annotations

import datetime

from oslo_utils import timeutils, uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, states
from magnum_lite.objects import cluster_operation, fields

Status = fields.ClusterStatus
KINDS = [kind for kind in states.Kind.ALL if kind != states.Kind.CREATE]


@pytest.fixture
def context(db):
    ctx = ml_context.RequestContext(project_id="p1", user_id="u1", request_id="req-1",
                                    is_admin=True, all_projects=True)
    return ctx


def make(context, status, **values):
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id="p1",
                              user_id="u1", name="c", cluster_template_id="t", status=status,
                              status_reason="before", version=3, create_timeout=7, **values)
    cluster.create_with_nodegroups([], context)
    return objects.Cluster.get_by_uuid(context, cluster.uuid)


def events(context, uuid):
    return [(e.event_type, e.status, e.cluster_version, e.request_id)
            for e in objects.ClusterEvent.list(context, uuid)]


# -- start -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", Status.ALL)
@pytest.mark.parametrize("kind", KINDS)
def test_start_follows_the_table(context, kind, status):
    cluster = make(context, status)
    table = states.rules(kind)
    if status not in table.start_from:
        with pytest.raises(exception.Conflict) as refused:
            cluster_operation.start(context, cluster, kind, f"test.{kind}")
        assert refused.value.code == 409
        assert status in str(refused.value)
        after = objects.Cluster.get_by_uuid(context, cluster.uuid)
        assert (after.status, after.version, after.operation_uuid) == (status, 3, None)
        assert events(context, cluster.uuid) == []
        assert objects.ClusterOperation.list(context, cluster.uuid) == []
        return
    before = timeutils.utcnow(with_timezone=True)
    operation = cluster_operation.start(context, cluster, kind, f"test.{kind}",
                                        {"node_count": 4})
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.status, after.status_reason, after.version, after.operation_uuid) == (
        table.in_progress, None, 4, operation.uuid)
    assert events(context, cluster.uuid) == [(f"test.{kind}", table.in_progress, 4, "req-1")]
    assert (operation.kind, operation.step, operation.owner, operation.outcome,
            operation.fault, operation.cluster_version, operation.params,
            operation.request_id) == (kind, "queued", None, None, None, 4, {"node_count": 4},
                                      "req-1")
    assert operation.started_at >= before.replace(microsecond=0)
    minutes = getattr(cluster_operation.CONF.conductor, table.timeout_option)
    assert operation.deadline - operation.started_at == datetime.timedelta(minutes=minutes)


def test_create_starts_with_the_cluster_row(context):
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id="p1",
                              user_id="u1", name="c", cluster_template_id="t",
                              create_timeout=7)
    operation = cluster_operation.start_create(context, cluster, [], {"create_timeout": 7})
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.status, after.version, after.operation_uuid) == (
        Status.CREATE_IN_PROGRESS, 1, operation.uuid)
    assert events(context, cluster.uuid) == [("cluster.create", Status.CREATE_IN_PROGRESS, 1,
                                             "req-1")]
    assert (operation.kind, operation.step, operation.cluster_version) == ("create", "queued",
                                                                          1)
    # The cluster's own timeout is the create's deadline.
    assert operation.deadline - operation.started_at == datetime.timedelta(minutes=7)
    assert not states.may_start(states.Kind.CREATE, Status.CREATE_FAILED)


@pytest.mark.parametrize("kind", KINDS)
def test_a_cluster_busy_with_another_operation_is_a_409_unless_deleted(context, kind):
    # An operation in flight on a cluster whose status would allow another start (a
    # credentials rotation's side work, a race): the record decides.
    cluster = make(context, Status.UPDATE_FAILED)
    running = cluster_operation.start(context, cluster, states.Kind.RESIZE, "test.resize")
    cluster = objects.Cluster.get_by_uuid(context, cluster.uuid)
    cluster.status = Status.UPDATE_FAILED  # as if the status allowed a start again
    cluster.save()
    if kind != states.Kind.DELETE:
        with pytest.raises(exception.Conflict, match="busy with another operation"):
            cluster_operation.start(context, cluster, kind, "test.again")
        assert objects.ClusterOperation.get(context, running.uuid).outcome is None
        return
    delete = cluster_operation.start(context, cluster, kind, "test.delete")
    superseded = objects.ClusterOperation.get(context, running.uuid)
    assert (superseded.outcome, superseded.finished_at is not None) == ("superseded", True)
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.status, after.operation_uuid) == (Status.DELETE_IN_PROGRESS, delete.uuid)


def test_a_start_that_races_another_write_is_a_409_and_writes_nothing(context):
    cluster = make(context, Status.CREATE_COMPLETE)
    other = objects.Cluster.get_by_uuid(context, cluster.uuid)
    other.api_address = "https://10.0.0.1:6443"
    other.save()
    with pytest.raises(exception.ConcurrentUpdate):
        cluster_operation.start(context, cluster, states.Kind.RESIZE, "test.resize")
    assert objects.ClusterOperation.list(context, cluster.uuid) == []
    assert events(context, cluster.uuid) == []


# -- finish ----------------------------------------------------------------------------------

def _recordable():
    for kind in states.Kind.ALL:
        for status in sorted(states.rules(kind).statuses):
            yield kind, status


@pytest.mark.parametrize(("kind", "status"), list(_recordable()))
def test_finish_follows_the_table(context, kind, status):
    table = states.rules(kind)
    cluster = make(context, table.in_progress)
    operation = cluster_operation.adopt(context, cluster.uuid, kind, "host-a", "following")
    result = cluster_operation.finish(context, cluster.uuid, kind, status, "why",
                                      operation_uuid=operation.uuid)
    assert result is not None
    ended = objects.ClusterOperation.get(context, operation.uuid)
    expected = states.outcome_of(kind, status)
    assert ended.outcome == expected
    if status == Status.DELETE_COMPLETE:
        with pytest.raises(exception.ClusterNotFound):
            objects.Cluster.get_by_uuid(context, cluster.uuid)
    else:
        after = objects.Cluster.get_by_uuid(context, cluster.uuid)
        assert (after.status, after.status_reason, after.version) == (status, "why", 3)
        assert after.operation_uuid == (None if expected else operation.uuid)
    changed = status != table.in_progress
    assert events(context, cluster.uuid) == (
        [(table.event_type, status, 3, "req-1")] if changed else [])
    if expected == states.Outcome.FAILED:
        assert ended.fault == "cloud_error" and ended.finished_at is not None
    elif expected == states.Outcome.SUCCEEDED:
        assert ended.fault is None and ended.finished_at is not None
    else:
        assert ended.finished_at is None


@pytest.mark.parametrize("kind", states.Kind.ALL)
def test_finish_refuses_a_status_outside_the_kind(context, kind):
    table = states.rules(kind)
    cluster = make(context, table.in_progress)
    for status in sorted(set(Status.ALL) - table.statuses):
        with pytest.raises(exception.MagnumLiteException, match="cannot set the status"):
            cluster_operation.finish(context, cluster.uuid, kind, status, None)
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.status, after.revision) == (table.in_progress, cluster.revision)


def test_finish_for_an_operation_that_was_superseded_writes_nothing(context):
    cluster = make(context, Status.CREATE_COMPLETE)
    resize = cluster_operation.start(context, cluster, states.Kind.RESIZE, "test.resize")
    cluster_operation.start(context, objects.Cluster.get_by_uuid(context, cluster.uuid),
                            states.Kind.DELETE, "test.delete")
    assert cluster_operation.finish(context, cluster.uuid, states.Kind.RESIZE,
                                    Status.UPDATE_COMPLETE, None,
                                    operation_uuid=resize.uuid) is None
    assert objects.Cluster.get_by_uuid(context, cluster.uuid).status == \
        Status.DELETE_IN_PROGRESS


def test_a_failure_names_its_fault(context):
    cluster = make(context, Status.CREATE_IN_PROGRESS)
    operation = cluster_operation.adopt(context, cluster.uuid, "create", "host-a")
    cluster_operation.finish(context, cluster.uuid, "create", Status.CREATE_FAILED,
                             "Quota exceeded for instances: Requested 3, but already used 9",
                             operation_uuid=operation.uuid)
    assert objects.ClusterOperation.get(context, operation.uuid).fault == "quota_exceeded"


def test_adopt_records_an_operation_without_a_new_version_or_event(context):
    cluster = make(context, Status.ROLLBACK_IN_PROGRESS)
    operation = cluster_operation.adopt(context, cluster.uuid, "resize", None, "following")
    after = objects.Cluster.get_by_uuid(context, cluster.uuid)
    assert (after.version, after.operation_uuid) == (3, operation.uuid)
    assert (operation.kind, operation.step, operation.cluster_version) == ("resize",
                                                                          "following", 3)
    assert events(context, cluster.uuid) == []
    # Once recorded, the same record is found; a kind the cluster is not in gets none.
    assert cluster_operation.adopt(context, cluster.uuid, "resize", "x").uuid == \
        operation.uuid
    assert cluster_operation.adopt(context, cluster.uuid, "delete", "x") is None
