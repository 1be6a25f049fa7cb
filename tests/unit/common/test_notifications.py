"""The CADF payloads of operation notifications (common/notifications.py), and what the
operation records send through oslo.messaging's in-memory `test` driver."""

from __future__ import annotations

import datetime
import json

from oslo_messaging.notify import _impl_test
from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import notifications, states
from magnum_lite.objects import cluster_operation, fields

Kind = states.Kind
CLUSTER = {"uuid": "6b1f0c7e-7e43-4f2a-9f8e-5a1d3c2b4e6f", "name": "c1", "project_id": "p1",
           "user_id": "u1", "status": "CREATE_IN_PROGRESS", "driver_id": "d-uuid",
           "driver_version": 3, "flavor_id": None, "master_flavor_id": "m1.large",
           "created_at": datetime.datetime(2025, 1, 2, 3, 4, 5),
           # Secrets on the row never leave it.
           "trustee_password": "s3cret", "join_token": "t0ken"}
TEMPLATE = {"coe": "kubernetes", "server_type": "vm", "cluster_distro": "ubuntu",
            "flavor_id": "m1.small", "master_flavor_id": "m1.medium"}
NODEGROUPS = [{"uuid": "w", "name": "default-worker", "role": "worker", "node_count": 3},
              {"uuid": "m", "name": "default-master", "role": "master", "node_count": 1},
              {"uuid": "g", "name": "gpu", "role": "worker", "node_count": 2,
               "flavor_id": "g1.xlarge", "server_type": "bm"}]


def payload(phase, kind=Kind.CREATE, **operation):
    return notifications.build_payload(
        phase, initiator={"user_id": "u1", "project_id": "p1"}, cluster=CLUSTER,
        operation={"kind": kind, "uuid": "op-1", **operation}, nodegroups=NODEGROUPS,
        template=TEMPLATE, driver_name="k8s_ubuntu_v1")


def data(event):
    (attached,) = event["target"]["attachments"]
    assert (attached["name"], attached["typeURI"]) == ("cluster_data", "service/magnum/cluster")
    return attached["content"]


@pytest.mark.parametrize(("kind", "event_type"), [
    (Kind.CREATE, "magnum.cluster.create"), (Kind.DELETE, "magnum.cluster.delete"),
    (Kind.RESIZE, "magnum.cluster.update"), (Kind.UPGRADE, "magnum.cluster.update"),
    (Kind.CA_ROTATION, "magnum.cluster.update"),
    (Kind.CREDENTIALS_ROTATION, "magnum.cluster.update"),
    (Kind.NODEGROUP_CREATE, "magnum.cluster.update"),
    (Kind.NODEGROUP_DELETE, "magnum.cluster.update")])
def test_event_types_are_magnums(kind, event_type):
    assert notifications.event_type(kind) == event_type
    assert payload("start", kind)["action"] == event_type.rsplit(".", 1)[1]


def test_a_start_is_a_pending_cadf_activity_with_initiator_target_and_observer():
    event = payload("start")
    assert (event["typeURI"], event["eventType"], event["outcome"]) == (
        "http://schemas.dmtf.org/cloud/audit/1.0/event", "activity", "pending")
    assert event["initiator"]["typeURI"] == "service/security/account/user"
    assert (event["initiator"]["user_id"], event["initiator"]["project_id"]) == ("u1", "p1")
    assert (event["target"]["id"], event["target"]["name"]) == (CLUSTER["uuid"], "c1")
    assert event["observer"]["typeURI"] == "service/magnum/cluster"
    assert "reason" not in event


def test_the_attachment_carries_what_accounting_needs():
    content = data(payload("end", outcome="succeeded"))
    assert (content["coe"], content["server_type"], content["driver"],
            content["driver_version"], content["project_id"]) == (
        "kubernetes", "vm", "k8s_ubuntu_v1", 3, "p1")
    assert (content["master_count"], content["node_count"]) == (1, 5)
    # Flavors: the nodegroup's own, else the cluster's, else the template's.
    assert [(ng["name"], ng["node_count"], ng["flavor_id"], ng["server_type"])
            for ng in content["nodegroups"]] == [
        ("default-master", 1, "m1.large", "vm"), ("default-worker", 3, "m1.small", "vm"),
        ("gpu", 2, "g1.xlarge", "bm")]
    assert (content["master_flavor_id"], content["flavor_id"]) == ("m1.large", "m1.small")
    assert content["operation"]["kind"] == Kind.CREATE
    assert content["created_at"] == "2025-01-02T03:04:05+00:00"


def test_an_error_is_a_failure_with_its_fault_and_reason():
    event = payload("error", Kind.RESIZE, outcome="failed", fault="quota_exceeded",
                    reason="Quota exceeded for cores")
    assert event["outcome"] == "failure"
    assert event["reason"] == {"reasonType": "magnum-lite/fault",
                               "reasonCode": "quota_exceeded"}
    assert data(event)["operation"]["reason"] == "Quota exceeded for cores"


def test_an_operation_a_delete_superseded_ends_with_an_unknown_outcome():
    assert payload("end", Kind.UPGRADE, outcome="superseded")["outcome"] == "unknown"


def test_no_secret_of_the_cluster_row_is_sent():
    text = json.dumps(payload("start"))
    assert "s3cret" not in text and "t0ken" not in text


# -- sent by the operation records -----------------------------------------------------------

@pytest.fixture
def sent(config):
    """The notifications sent through the `test` driver (in memory), as (priority,
    event_type, payload)."""
    config.set_override("driver", ["test"], group="oslo_messaging_notifications")
    _impl_test.reset()
    return lambda: [(m["priority"], m["event_type"], m["payload"])
                    for _c, m, _p, _r in _impl_test.NOTIFICATIONS]


@pytest.fixture
def context(db):
    return ml_context.RequestContext(project_id="p1", user_id="u1", request_id="req-1",
                                     auth_token="secret-token")


def _new_cluster(context):
    template = objects.ClusterTemplate(context, project_id="p1", user_id="u1", name="t",
                                       image_id="img", coe="swarm-mode", server_type="vm",
                                       flavor_id="m1.small", master_flavor_id="m1.medium")
    template.create()
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id="p1",
                              user_id="u1", name="c1", cluster_template_id=template.uuid)
    cluster_operation.start_create(context, cluster, [
        {"name": "default-master", "project_id": "p1", "role": "master", "node_count": 1,
         "is_default": True},
        {"name": "default-worker", "project_id": "p1", "role": "worker", "node_count": 4,
         "is_default": True}])
    return cluster


def test_nothing_is_sent_without_a_driver(context, config):
    _impl_test.reset()
    assert not notifications.enabled()
    _new_cluster(context)
    assert _impl_test.NOTIFICATIONS == []


def test_a_create_sends_start_then_error_with_the_reason(context, sent):
    cluster = _new_cluster(context)
    cluster_operation.finish(context, cluster.uuid, Kind.CREATE,
                             fields.ClusterStatus.CREATE_FAILED, "Heat said no",
                             fault=states.Fault.CLOUD_ERROR)
    (p1, t1, start), (p2, t2, error) = sent()
    assert (p1, t1, start["outcome"]) == ("INFO", "magnum.cluster.create", "pending")
    assert (p2, t2, error["outcome"]) == ("ERROR", "magnum.cluster.create", "failure")
    assert error["reason"]["reasonCode"] == "cloud_error"
    content = data(error)
    assert (content["status"], content["operation"]["reason"], content["coe"],
            content["node_count"], content["master_count"]) == (
        "CREATE_FAILED", "Heat said no", "swarm-mode", 4, 1)
    assert data(start)["operation"]["uuid"] == content["operation"]["uuid"]


def test_a_delete_ends_with_the_counts_of_the_rows_it_removed(context, sent):
    cluster = _new_cluster(context)
    cluster_operation.finish(context, cluster.uuid, Kind.CREATE,
                             fields.ClusterStatus.CREATE_COMPLETE, None)
    cluster = objects.Cluster.get_by_uuid(context, cluster.uuid)
    cluster_operation.start(context, cluster, Kind.DELETE, "cluster.delete")
    cluster_operation.finish(context, cluster.uuid, Kind.DELETE,
                             fields.ClusterStatus.DELETE_COMPLETE, None)
    assert [(t, p["outcome"]) for _prio, t, p in sent()] == [
        ("magnum.cluster.create", "pending"), ("magnum.cluster.create", "success"),
        ("magnum.cluster.delete", "pending"), ("magnum.cluster.delete", "success")]
    assert data(sent()[-1][2])["node_count"] == 4


def test_the_token_is_not_sent_with_the_context(context, sent):
    _new_cluster(context)
    (ctxt, message, _prio, _retry), = _impl_test.NOTIFICATIONS
    assert "secret-token" not in json.dumps(ctxt) + json.dumps(message)
    assert (ctxt["user"], ctxt["project_id"], ctxt["request_id"]) == ("u1", "p1", "req-1")


def test_a_broker_that_is_down_is_retried_a_few_times_not_for_ever():
    """oslo.messaging retries a notification for ever by default, which would hold the
    request or conductor thread that sends it."""
    from oslo_messaging.serializer import NoOpSerializer

    from magnum_lite.common import rpc

    assert rpc.get_notifier("container-infra", NoOpSerializer()).retry == \
        rpc.NOTIFICATION_RETRIES > 0
