"""Auto-healing and user-asked repairs of a Kubernetes cluster in the sandbox (helpers and
the sandbox's health interval: test_health.py; separate modules run side by side)."""

from __future__ import annotations

import time

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters, upgrades
from tests.integration.test_health import (
    AUTO_HEALING,
    INTERVAL,
    SEEN_WITHIN,
    _cluster,
    _events,
    _health,
    _repaired,
    _server_ids,
    _wait,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


@pytest.fixture(scope="module")
def healing(openstack_cli, heat):
    """A Kubernetes cluster (1 master, 3 workers) that heals itself after 3 s, HEALTHY."""
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 AUTO_HEALING)
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "3")
    cluster = clusters.settle(openstack_cli, name)
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        yield _health(openstack_cli.sandbox, cluster["uuid"], "HEALTHY")
    finally:
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)


def test_a_stopped_worker_alone_is_replaced_and_the_cluster_heals(
        openstack_cli, heat, healing):
    sandbox = openstack_cli.sandbox
    uuid = healing["uuid"]
    before = _server_ids(heat, uuid)
    worker = sorted(clusters.worker_servers(heat, uuid))[0]
    faults.stop(worker)  # tied to this server: its replacement boots healthy
    _health(sandbox, uuid, "UNHEALTHY", **{f"{worker}.Ready": "False"})
    done = _repaired(openstack_cli, uuid, healing["version"])
    assert done["status"] == "UPDATE_COMPLETE", done["status_reason"]
    assert done["version"] == healing["version"] + 1
    after = _server_ids(heat, uuid)
    assert {n for n in before if after.get(n) != before[n]} == {worker}
    _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)
    [node_event] = _events(sandbox, uuid, "cluster.repair.node")
    assert node_event["status_reason"].startswith(f"repair 1 of 1: {worker} replaced "
                                                  f"(auto-healing: {worker}:")


def test_half_of_the_workers_down_is_no_case_for_healing(openstack_cli, heat, healing):
    sandbox = openstack_cli.sandbox
    uuid = healing["uuid"]
    version = _cluster(sandbox, uuid)["version"]
    before = _server_ids(heat, uuid)
    workers = sorted(clusters.worker_servers(heat, uuid))[:2]
    for worker in workers:
        faults.stop(worker)
    try:
        held = _health(sandbox, uuid, "UNHEALTHY", **{f"{w}.Ready": "False" for w in workers})
        held = _wait("healing held back", lambda: (
            c := _cluster(sandbox, uuid))["health_status_reason"].get("healing") and c,
            SEEN_WITHIN)
        assert "2 of 3 workers are unhealthy" in held["health_status_reason"]["healing"]
        time.sleep(3 + 2 * INTERVAL)  # past the grace: still nothing
        assert _cluster(sandbox, uuid)["version"] == version
        assert _server_ids(heat, uuid) == before
    finally:
        for worker in workers:
            faults.start(worker)
    _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)


def test_a_user_asks_for_a_repair(openstack_cli, heat, healing):
    sandbox = openstack_cli.sandbox
    uuid = healing["uuid"]
    version = _cluster(sandbox, uuid)["version"]
    before = _server_ids(heat, uuid)
    worker = sorted(clusters.worker_servers(heat, uuid))[-1]
    refused = clusters.rest(sandbox, "POST", f"v1/clusters/{uuid}/actions/repair",
                            json={"nodes": [worker]})
    assert refused.status_code == 400 and "healthy" in refused.text, refused.text
    answer = clusters.rest(sandbox, "POST", f"v1/clusters/{uuid}/actions/repair",
                           json={"nodes": [worker], "force": True})
    assert answer.status_code == 202, answer.text
    done = _repaired(openstack_cli, uuid, version)
    assert done["status"] == "UPDATE_COMPLETE", done["status_reason"]
    after = _server_ids(heat, uuid)
    assert {n for n in before if after.get(n) != before[n]} == {worker}
