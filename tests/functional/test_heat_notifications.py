"""Heat's stack notifications on a real RabbitMQ, read by the conductor's listener.

A notifier configured as Heat's is (its own configuration: control_exchange `heat`,
`messagingv2`, topic `notifications`, publisher `orchestration.<host>`) publishes payloads
shaped as Heat 27's `format_notification_body` makes them, on a fresh vhost. The listener
(conductor/heat_events.py, `[heat_notifications]` at its defaults but the transport) must
hand the cluster of each `.end`/`.error` of a cluster or nodegroup chunk stack to its sync
once, drop the rest, and survive bad messages and a sync that fails; conductors in one
pool share the stream; and with the real reconciler the named cluster is recorded complete
without a round.
"""

# The conductor tier's fixtures are imported, and the tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable, Iterator
import threading
import time
from typing import Any

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging import opts as messaging_opts
from oslo_utils import uuidutils
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ml_context
from magnum_lite.common import rpc
from magnum_lite.conductor import hashring, heat_events, rpcapi
from magnum_lite.conductor import reconciler as conductor_reconciler
from magnum_lite.conductor import service as conductor_service
from magnum_lite.drivers import base as drivers_base
from magnum_lite.drivers.heat import names
from magnum_lite.objects import fields
from tests.functional import deployment as dep
from tests.unit.conductor.conftest import (  # noqa: F401 (fixtures)
    context,
    fake_driver,
    fake_transport,
    template,
)
from tests.unit.conductor.helpers import in_flight, wait_for
from tests.unit.conftest import credentials_key  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.service

Status = fields.ClusterStatus
WAIT = 30


class Recorder:
    """A sync that records the clusters it is given; one named in `failing` raises."""

    def __init__(self) -> None:
        self.synced: list[str] = []
        self.failing: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, cluster_uuid: str) -> bool:
        if cluster_uuid in self.failing:
            raise RuntimeError("the database is down")
        with self._lock:
            self.synced.append(cluster_uuid)
        return True

    def until(self, count: int) -> list[str]:
        return wait_for(lambda: len(self.synced) >= count and list(self.synced), WAIT,
                        f"{count} clusters synced")


def heat_payload(stack_name: str, state: str, *, tags: Any = None) -> dict[str, Any]:
    """What Heat 27's engine/api.py format_notification_body sends."""
    return {"tenant_id": "project-a", "user_id": "demo", "user_identity": "user-a",
            "username": "demo", "stack_identity": uuidutils.generate_uuid(),
            "stack_name": stack_name, "state": state, "state_reason": f"Stack {state}",
            "create_at": "2026-12-07T13:00:00Z", "tags": tags or [names.STACK_TAG],
            "updated_at": None, "description": "magnum-lite cluster"}


@pytest.fixture
def heat_bus(config) -> Iterator[Callable[..., None]]:
    """A fresh vhost the listener is configured on, and a function sending a notification as
    Heat's engine does: `send(action, suffix, payload)` (`.error` at the error priority)."""
    with dep.rabbitmq_vhost() as url:
        config.set_override("transport_url", url, group="heat_notifications")
        config.set_override("workers", 1, group="heat_notifications")  # in order
        heat_conf = cfg.ConfigOpts()
        heat_conf([], project="heat", default_config_files=[], default_config_dirs=[])
        # Heat's control exchange, on a configuration of its own (read when the transport
        # is made).
        heat_conf.register_opts([opt for group, opts in messaging_opts.list_opts()
                                 if group in (None, "DEFAULT") for opt in opts
                                 if opt.name == "control_exchange"])
        heat_conf.set_override("control_exchange", "heat")
        transport = messaging.get_notification_transport(heat_conf, url=url)
        notifier = messaging.Notifier(transport, publisher_id="orchestration.heat-host",
                                      driver="messagingv2", topics=["notifications"])

        def send(action: str, suffix: str, payload: Any) -> None:
            level = notifier.error if suffix == "error" else notifier.info
            level({}, f"orchestration.stack.{action}.{suffix}", payload)

        send.url = url  # type: ignore[attr-defined]
        yield send
        transport.cleanup()


@pytest.fixture
def listen(heat_bus) -> Iterator[Callable[[Callable[[str], bool]], heat_events.HeatEventListener]]:
    started: list[heat_events.HeatEventListener] = []

    def listen(sync: Callable[[str], bool]) -> heat_events.HeatEventListener:
        listener = heat_events.HeatEventListener(sync)
        listener.start()
        started.append(listener)
        return listener

    yield listen
    for listener in started:
        listener.stop()


def test_the_cluster_of_each_stack_that_ended_a_step_is_synced_once(heat_bus, listen):
    recorder = Recorder()
    listener = listen(recorder)
    cluster, resized, failed, broken, last = (uuidutils.generate_uuid() for _ in range(5))
    nodegroup = uuidutils.generate_uuid()
    recorder.failing.add(broken)
    sends = [
        ("create", "start", heat_payload(f"k8s-{cluster}", "CREATE_IN_PROGRESS")),  # a start
        ("create", "end", heat_payload(f"k8s-{cluster}", "CREATE_COMPLETE")),
        ("update", "end", heat_payload(f"my-k8s-{resized}-ng-{nodegroup}-2",
                                       "UPDATE_COMPLETE")),
        ("delete", "error", heat_payload(f"c-{failed}", "DELETE_FAILED")),
        # Stacks of others: a plain name, a nested stack of a resource group, ours by name
        # but not tagged as ours.
        ("create", "end", heat_payload("wordpress", "CREATE_COMPLETE")),
        ("create", "end", heat_payload(f"k8s-{cluster}-kube_masters-abc123def",
                                       "CREATE_COMPLETE")),
        ("create", "end", heat_payload(f"k8s-{cluster}", "CREATE_COMPLETE", tags=["other"])),
        # Bad messages: no payload to speak of, no name, a name that is no string.
        ("create", "end", "not a dict"),
        ("create", "end", {"state": "CREATE_COMPLETE"}),
        ("create", "end", {"stack_name": ["k8s", cluster]}),
        # A sync that fails (the database down) is dropped like the others.
        ("create", "end", heat_payload(f"k8s-{broken}", "CREATE_COMPLETE")),
        ("update", "end", heat_payload(f"k8s-{last}", "UPDATE_COMPLETE")),
    ]
    for action, suffix, payload in sends:
        heat_bus(action, suffix, payload)
    # One worker takes them in order: once the last is synced, every other was handled.
    assert recorder.until(4) == [cluster, resized, failed, last]
    assert listener.endpoint.handled == 4
    heat_bus("create", "end", heat_payload(f"k8s-{cluster}", "CREATE_COMPLETE"))
    assert recorder.until(5)[4] == cluster  # the listener goes on


def test_conductors_in_one_pool_share_the_stream(config, heat_bus, listen):
    config.set_override("workers", 2, group="heat_notifications")
    first, second = Recorder(), Recorder()
    listen(first)
    listen(second)
    clusters = [uuidutils.generate_uuid() for _ in range(40)]
    for cluster in clusters:
        heat_bus("create", "end", heat_payload(f"k8s-{cluster}", "CREATE_COMPLETE"))
    wait_for(lambda: len(first.synced) + len(second.synced) >= len(clusters), WAIT,
             "every notification handled")
    time.sleep(0.5)  # a duplicate delivery would show now
    assert sorted(first.synced + second.synced) == sorted(clusters)
    assert first.synced and second.synced  # both took their share


def _cluster(context: Any, template: Any, name: str, uuid: str | None = None,
             **values: Any) -> objects.Cluster:
    """A cluster of one master being created, stored with its nodegroup."""
    cluster = objects.Cluster(
        context, uuid=uuid or uuidutils.generate_uuid(), project_id="project-a",
        user_id="user-a", name=name, cluster_template_id=template.uuid,
        status=Status.CREATE_IN_PROGRESS, version=1, **values)
    cluster.create_with_nodegroups([
        {"name": "default-master", "project_id": "project-a", "role": "master",
         "node_count": 1, "is_default": True},
    ], context)
    return cluster


def test_a_notified_cluster_is_recorded_complete_without_a_round(
        db, context, template, fake_driver, heat_bus, listen):
    reconciler = conductor_reconciler.Reconciler("host-a", workers=2)  # no rounds started
    try:
        cluster = _cluster(context, template, "My K8s", stack_id="stack-1")
        in_flight(context, cluster, step="following")
        fake_driver.statuses[cluster.uuid] = drivers_base.ClusterState(
            status=Status.CREATE_COMPLETE)
        listener = listen(reconciler.sync_now)
        heat_bus("create", "end", heat_payload(names.cluster_stack_name(cluster),
                                               "CREATE_COMPLETE"))
        admin = ml_context.get_admin_context()
        admin.all_projects = True
        wait_for(lambda: objects.Cluster.get_by_uuid(admin, cluster.uuid).status
                 == Status.CREATE_COMPLETE, WAIT, "the cluster recorded complete")
        assert listener.endpoint.handled == 1
        assert fake_driver.snapshot_calls == []  # no round listed the project
    finally:
        reconciler.stop()


def test_the_conductor_service_listens_when_enabled_beside_its_rpc(
        config, db, context, template, fake_driver, heat_bus):
    """As in the sandbox: Heat, the conductor's RPC and the listener on one vhost."""
    rpc.configured_transport_url()  # registers [DEFAULT] transport_url
    config.set_override("transport_url", heat_bus.url)
    config.clear_override("transport_url", group="heat_notifications")
    config.set_override("enabled", True, group="heat_notifications")
    rpc.cleanup()
    # Its rounds follow only the clusters the ring gives it: the notification alone can
    # have it check one another conductor owns.
    ring = hashring.ConductorRing("notified-host",
                                  list_hosts=lambda: {"notified-host", "other-host"})
    service = conductor_service.ConductorService(
        host="notified-host", reconciler=conductor_reconciler.Reconciler("notified-host",
                                                                         ring=ring))
    owned_by_other = (uuid for uuid in iter(uuidutils.generate_uuid, None)
                      if hashring.HashRing({"notified-host", "other-host"}).owner(uuid)
                      == "other-host")
    service.start()
    try:
        assert service.reconciler.notified
        notified = []
        for index in range(5):
            cluster = _cluster(context, template, f"c{index}", next(owned_by_other),
                               stack_id="stack-1")
            in_flight(context, cluster, step="following")
            fake_driver.statuses[cluster.uuid] = drivers_base.ClusterState(
                status=Status.CREATE_COMPLETE)
            notified.append(cluster)
        # A cast on the same vhost, to the conductor's RPC server.
        cast = _cluster(context, template, "cast")
        in_flight(context, cast)
        rpcapi.ConductorAPI().cluster_create(context, cast.uuid, 60)
        for cluster in notified:
            heat_bus("create", "end", heat_payload(names.cluster_stack_name(cluster),
                                                   "CREATE_COMPLETE"))
        admin = ml_context.get_admin_context()
        admin.all_projects = True
        for cluster in notified:
            wait_for(lambda cluster=cluster: objects.Cluster.get_by_uuid(
                admin, cluster.uuid).status == Status.CREATE_COMPLETE, WAIT,
                "the cluster recorded complete")
        wait_for(lambda: [call for call in fake_driver.calls if call[0] == "create"], WAIT,
                 "the cast served")
        assert fake_driver.snapshot_calls == []  # no round checked the notified clusters
        assert service.heat_events.endpoint.handled == len(notified)
    finally:
        assert service.stop()
    assert service.heat_events is None


def test_a_pool_named_as_the_rpc_topic_is_refused(config):
    config.set_override("pool", config.conductor.topic, group="heat_notifications")
    with pytest.raises(ValueError, match="is \\[conductor\\] topic"):
        heat_events.HeatEventListener(lambda uuid: True).start()
