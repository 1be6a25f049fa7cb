"""The sandbox's magnum-lite notifies as devstack's does (`messagingv2`): a consumer bound to
the control exchange on the sandbox's own vhost reads a cluster's create and delete, start
and end, from the API and the conductor processes."""

from __future__ import annotations

import configparser
import json
import time
import uuid

import kombu
import pytest

from magnum_lite.common import rpc
from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from tests.integration import clusters, upgrades

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

WAIT = 120.0


@pytest.fixture
def accounting():
    """A queue of our own on the sandbox's vhost, bound to its notifications; yields a
    function that returns what arrived for one cluster so far."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(sandbox_magnum.conf_path(sandbox_config.default_state_dir()))
    url = parser["DEFAULT"]["transport_url"].replace("rabbit://", "amqp://", 1)
    with kombu.Connection(url) as conn:
        exchange = kombu.Exchange(rpc.CONTROL_EXCHANGE, type="topic", durable=False,
                                  auto_delete=False)
        queue = kombu.Queue(f"it-accounting-{uuid.uuid4().hex[:8]}", exchange,
                            routing_key="notifications.*", durable=False,
                            auto_delete=True)(conn.channel())
        queue.declare()
        seen: list[dict] = []

        def of(cluster_uuid: str) -> list[dict]:
            while (message := queue.get(no_ack=True)) is not None:
                seen.append(json.loads(json.loads(message.body)["oslo.message"]))
            return [m for m in seen if m["payload"]["target"]["id"] == cluster_uuid]

        yield of
        queue.delete()


def _until(of, cluster_uuid: str, count: int) -> list[dict]:
    deadline = time.monotonic() + WAIT
    while len(found := of(cluster_uuid)) < count:
        assert time.monotonic() < deadline, [m["event_type"] for m in found]
        time.sleep(0.5)
    return found


def test_a_cluster_s_create_and_delete_are_notified(openstack_cli, heat, accounting):
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 f"kube_tag={upgrades.OLD}")
    try:
        name = clusters.create(openstack_cli, template, "--master-count", "1",
                               "--node-count", "1")
        cluster = clusters.settle(openstack_cli, name)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        clusters.delete(openstack_cli, heat, cluster)
        messages = _until(accounting, cluster["uuid"], 4)
        assert [(m["event_type"], m["payload"]["outcome"]) for m in messages] == [
            ("magnum.cluster.create", "pending"), ("magnum.cluster.create", "success"),
            ("magnum.cluster.delete", "pending"), ("magnum.cluster.delete", "success")]
        created = messages[1]
        assert created["publisher_id"].startswith("container-infra.")
        data = created["payload"]["target"]["attachments"][0]["content"]
        assert (data["coe"], data["node_count"], data["master_count"]) == ("kubernetes", 1, 1)
    finally:
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
