"""Operation notifications on a real RabbitMQ: what an accounting consumer reads off the bus.

Operations run through the conductor's manager (in process, on SQLite, the cluster's driver a
fake plugin whose answers each test sets) with `[oslo_messaging_notifications] driver =
messagingv2` on a fresh vhost. A queue of our own, bound to the notifications topic of the
control exchange, receives them as Ceilometer or a billing system would: messagingv2 envelopes
with Magnum's event types and CADF payloads. Each operation must send its start and its end,
or its error with the reason, with the node counts, flavors, COE and driver of the cluster.
"""

# The conductor tier's fixtures are imported, and the tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import json
import time
from typing import Any

import kombu
from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import exception, rpc, states
from magnum_lite.drivers import base as drivers_base
from magnum_lite.objects import cluster_operation, fields
from tests.functional import deployment as dep
from tests.unit.conductor.conftest import (  # noqa: F401 (fixtures)
    context,
    fake_driver,
    fake_transport,
    manager,
    template,
)
from tests.unit.conductor.helpers import settle
from tests.unit.conftest import credentials_key  # noqa: F401 (autouse fixture)
from tests.unit.drivers import fake_plugin

Kind = states.Kind
Status = fields.ClusterStatus
State = drivers_base.ClusterState
NGState = drivers_base.NodeGroupState
WAIT = 30


class RotatingDriver(fake_plugin.FakeDriver):
    """The fake plugin, whose CA rotation the cloud finishes at once."""

    def rotate_ca_certificate(self, context, cluster, cluster_template, nodegroups, *,
                              credentials):
        super().rotate_ca_certificate(context, cluster, cluster_template, nodegroups,
                                      credentials=credentials)
        return State(status=Status.UPDATE_COMPLETE)


@pytest.fixture
def bus(config):
    """A fresh vhost the notifier sends to, and a queue bound to its notifications topic;
    yields a function that returns the next `count` notifications (decoded)."""
    with dep.rabbitmq_vhost() as url:
        config.set_override("driver", ["messagingv2"], group="oslo_messaging_notifications")
        config.set_override("transport_url", url, group="oslo_messaging_notifications")
        config.set_override("retry", 3, group="oslo_messaging_notifications")
        rpc.cleanup()
        with kombu.Connection(url.replace("rabbit://", "amqp://", 1)) as conn:
            # The control exchange as oslo.messaging declares it.
            exchange = kombu.Exchange(rpc.CONTROL_EXCHANGE, type="topic", durable=False,
                                      auto_delete=False)
            queue = kombu.Queue("accounting", exchange, routing_key="notifications.*",
                                durable=False)(conn.channel())
            queue.declare()

            def received(count: int) -> list[dict]:
                messages, deadline = [], time.monotonic() + WAIT
                while len(messages) < count:
                    assert time.monotonic() < deadline, f"{len(messages)} of {count}"
                    message = queue.get(no_ack=True)
                    if message is None:
                        time.sleep(0.05)
                        continue
                    envelope = json.loads(message.body)
                    assert envelope["oslo.version"] == "2.0"
                    messages.append(json.loads(envelope["oslo.message"]))
                return messages

            yield received
            assert queue.get(no_ack=True) is None, "a notification more than expected"
        rpc.cleanup()


@pytest.fixture
def driver(fake_driver):
    fake_plugin.install(fake=RotatingDriver)
    yield RotatingDriver


def _data(message: dict) -> dict:
    (attached,) = message["payload"]["target"]["attachments"]
    return attached["content"]


def _summary(messages: list[dict]) -> list[tuple]:
    return [(m["event_type"], m["priority"], m["payload"]["outcome"],
             _data(m)["operation"]["kind"], _data(m)["operation"]["phase"]) for m in messages]


def _nodegroups(context, cluster_uuid: str) -> dict[str, Any]:
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(context, [cluster_uuid])}


def _start(context, kind: str, cluster_uuid: str, params: dict | None = None) -> None:
    """Start an operation as the API does."""
    cluster = objects.Cluster.get_by_uuid(context, cluster_uuid)
    cluster_operation.start(context, cluster, kind, f"test.{kind}", params)


@pytest.mark.service
def test_every_operation_sends_its_start_and_its_end_or_error(bus, driver, manager,
                                                              context, template):
    template.flavor_id, template.master_flavor_id = "m1.small", "m1.medium"
    template.save()
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id="project-a",
                              user_id="user-a", name="acct", cluster_template_id=template.uuid)
    uuid = cluster.uuid

    # create: the API's start, the conductor's end.
    driver.create_state = State(status=Status.CREATE_COMPLETE, stack_id="stack-1")
    cluster_operation.start_create(context, cluster, [
        {"name": "default-master", "project_id": "project-a", "role": "master",
         "node_count": 1, "is_default": True},
        {"name": "default-worker", "project_id": "project-a", "role": "worker",
         "node_count": 2, "is_default": True}], params={"create_timeout": 60})
    manager.cluster_create(context, cluster_uuid=uuid, create_timeout=60)
    settle()
    start, end = bus(2)
    assert _summary([start, end]) == [
        ("magnum.cluster.create", "INFO", "pending", Kind.CREATE, "start"),
        ("magnum.cluster.create", "INFO", "success", Kind.CREATE, "end")]
    assert start["publisher_id"].startswith("container-infra.")
    payload = end["payload"]
    assert (payload["initiator"]["user_id"], payload["initiator"]["project_id"]) == (
        "user-a", "project-a")
    assert (payload["target"]["id"], payload["target"]["name"]) == (uuid, "acct")
    data = _data(end)
    assert (data["status"], data["coe"], data["server_type"], data["master_count"],
            data["node_count"], data["master_flavor_id"], data["flavor_id"]) == (
        Status.CREATE_COMPLETE, "kubernetes", "vm", 1, 2, "m1.medium", "m1.small")
    assert _data(start)["operation"]["uuid"] == data["operation"]["uuid"]

    # A resize the cloud refuses: its error names the reason.
    driver.fail_with = exception.MagnumLiteException("the cloud refused: quota exceeded")
    _start(context, Kind.RESIZE, uuid, {"node_count": 5, "rollback": False})
    manager.cluster_update(context, cluster_uuid=uuid, node_count=5)
    settle()
    start, error = bus(2)
    assert _summary([start, error]) == [
        ("magnum.cluster.update", "INFO", "pending", Kind.RESIZE, "start"),
        ("magnum.cluster.update", "ERROR", "failure", Kind.RESIZE, "error")]
    assert error["payload"]["reason"]["reasonCode"] == states.Fault.QUOTA_EXCEEDED
    assert _data(error)["operation"]["reason"] == "the cloud refused: quota exceeded"
    assert _data(error)["status_reason"] == "the cloud refused: quota exceeded"
    driver.fail_with = None

    # The resize again, from UPDATE_FAILED: its end counts the new nodes.
    worker = _nodegroups(context, uuid)["default-worker"]
    driver.update_state = State(status=Status.UPDATE_COMPLETE, nodegroups={
        worker.uuid: NGState(status=Status.UPDATE_COMPLETE, node_count=5)})
    _start(context, Kind.RESIZE, uuid, {"node_count": 5, "rollback": False})
    manager.cluster_update(context, cluster_uuid=uuid, node_count=5)
    settle()
    start, end = bus(2)
    assert [s[2] for s in _summary([start, end])] == ["pending", "success"]
    assert (_data(start)["node_count"], _data(end)["node_count"]) == (2, 5)

    # nodegroup create and delete: updates of the cluster, the nodegroup named.
    gpu = objects.NodeGroup(context, uuid=uuidutils.generate_uuid(), name="gpu",
                            cluster_id=uuid, project_id="project-a", role="worker",
                            node_count=3, flavor_id="g1.xlarge",
                            status=Status.CREATE_IN_PROGRESS)
    gpu.create()
    driver.nodegroup_create_state = State(status=Status.UPDATE_COMPLETE, nodegroups={
        gpu.uuid: NGState(status=Status.CREATE_COMPLETE)})
    _start(context, Kind.NODEGROUP_CREATE, uuid, {"nodegroup_uuid": gpu.uuid})
    manager.nodegroup_create(context, cluster_uuid=uuid, nodegroup_uuid=gpu.uuid)
    settle()
    driver.nodegroup_delete_state = State(status=Status.UPDATE_COMPLETE, nodegroups={
        gpu.uuid: NGState(status=Status.DELETE_COMPLETE)})
    _start(context, Kind.NODEGROUP_DELETE, uuid, {"nodegroup_uuid": gpu.uuid})
    manager.nodegroup_delete(context, cluster_uuid=uuid, nodegroup_uuid=gpu.uuid)
    settle()
    messages = bus(4)
    assert _summary(messages) == [
        ("magnum.cluster.update", "INFO", "pending", Kind.NODEGROUP_CREATE, "start"),
        ("magnum.cluster.update", "INFO", "success", Kind.NODEGROUP_CREATE, "end"),
        ("magnum.cluster.update", "INFO", "pending", Kind.NODEGROUP_DELETE, "start"),
        ("magnum.cluster.update", "INFO", "success", Kind.NODEGROUP_DELETE, "end")]
    assert {_data(m)["operation"]["nodegroup_uuid"] for m in messages} == {gpu.uuid}
    created = _data(messages[1])
    assert created["node_count"] == 8
    assert [(ng["name"], ng["flavor_id"]) for ng in created["nodegroups"]] == [
        ("default-master", "m1.medium"), ("default-worker", "m1.small"), ("gpu", "g1.xlarge")]
    assert _data(messages[3])["node_count"] == 5  # the gpu group is gone

    # CA rotation.
    _start(context, Kind.CA_ROTATION, uuid)
    manager.rotate_ca_certificate(context, cluster_uuid=uuid)
    settle()
    assert _summary(bus(2)) == [
        ("magnum.cluster.update", "INFO", "pending", Kind.CA_ROTATION, "start"),
        ("magnum.cluster.update", "INFO", "success", Kind.CA_ROTATION, "end")]

    # An upgrade whose target template is gone fails in the conductor, with the reason.
    _start(context, Kind.UPGRADE, uuid, {"cluster_template_uuid": uuidutils.generate_uuid(),
                                         "max_batch_size": 1})
    manager.cluster_upgrade(context, cluster_uuid=uuid)
    settle()
    start, error = bus(2)
    assert _summary([start, error]) == [
        ("magnum.cluster.update", "INFO", "pending", Kind.UPGRADE, "start"),
        ("magnum.cluster.update", "ERROR", "failure", Kind.UPGRADE, "error")]
    reason = _data(error)["operation"]["reason"]
    assert reason and reason == objects.Cluster.get_by_uuid(context, uuid).status_reason

    # delete: its end still tells what was removed.
    driver.delete_state = State(status=Status.DELETE_COMPLETE)
    _start(context, Kind.DELETE, uuid)
    manager.cluster_delete(context, cluster_uuid=uuid)
    settle()
    start, end = bus(2)
    assert _summary([start, end]) == [
        ("magnum.cluster.delete", "INFO", "pending", Kind.DELETE, "start"),
        ("magnum.cluster.delete", "INFO", "success", Kind.DELETE, "end")]
    assert (_data(end)["status"], _data(end)["node_count"]) == (Status.DELETE_COMPLETE, 5)
    with pytest.raises(exception.ClusterNotFound):
        objects.Cluster.get_by_uuid(context, uuid)


@pytest.mark.service
def test_a_delete_started_during_an_update_ends_the_update_as_superseded(
        bus, driver, context, template):
    cluster = objects.Cluster(context, uuid=uuidutils.generate_uuid(), project_id="project-a",
                              user_id="user-a", name="sup", cluster_template_id=template.uuid)
    cluster_operation.start_create(context, cluster, [], params={"create_timeout": 60})
    cluster_operation.finish(context, cluster.uuid, Kind.CREATE, Status.CREATE_COMPLETE, None)
    _start(context, Kind.RESIZE, cluster.uuid, {"node_count": 1, "rollback": False})
    _start(context, Kind.DELETE, cluster.uuid)
    assert _summary(bus(5)) == [
        ("magnum.cluster.create", "INFO", "pending", Kind.CREATE, "start"),
        ("magnum.cluster.create", "INFO", "success", Kind.CREATE, "end"),
        ("magnum.cluster.update", "INFO", "pending", Kind.RESIZE, "start"),
        ("magnum.cluster.update", "INFO", "unknown", Kind.RESIZE, "end"),
        ("magnum.cluster.delete", "INFO", "pending", Kind.DELETE, "start")]
