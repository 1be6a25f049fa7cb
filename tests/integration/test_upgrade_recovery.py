"""A rolling upgrade that fails, resumes, is called back while it runs, or is rolled back, in
the sandbox."""

from __future__ import annotations

import time
import uuid

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters, upgrades
from tests.integration.upgrades import NEW, OLD

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


def test_a_node_that_never_comes_back_fails_the_upgrade_and_a_new_call_finishes_it(
        openstack_cli, heat, k8s_templates):
    old, new = k8s_templates
    name = clusters.create(openstack_cli, old, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    held = sorted(clusters.worker_servers(heat, cluster["uuid"]))[1]
    faults.never_ready(held)
    try:
        openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
        cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_FAILED"
        assert f"node {held} is not back healthy at version {NEW}" in \
            cluster["status_reason"]
        assert cluster["cluster_template_id"] == old["uuid"]  # not done
    finally:
        faults.clear(held)
    # The node can come back now: a new call plans what is left and waits for it.
    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
    cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == NEW
    batches = [e["status_reason"] for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"]
    assert len(batches) == 2  # the master and the first worker; the held one not twice
    # A resize after the failed (then finished) upgrade works.
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "3")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    clusters.delete(openstack_cli, heat, cluster)


def _cluster_counts(sandbox, name: str) -> dict[int, int]:
    answer = clusters.rest(sandbox, "GET", f"v1/drivers/{name}/versions", user="admin")
    assert answer.status_code == 200, answer.text
    return {v["version"]: v["cluster_count"] for v in answer.json()["drivers"]}


def _worker_ids(heat, cluster_uuid: str) -> dict[str, str]:
    """Worker server name -> its Nova id (a replaced server gets a new one)."""
    ids = {}
    for name, stack in clusters.stacks_of(heat, cluster_uuid).items():
        if "-ng-" in name:
            out = clusters.outputs(heat, stack.id)
            for index, server in (out.get("node_names") or {}).items():
                ids[server] = out["node_ids"][index]
    return ids


def _cancelled_midway(openstack_cli, heat, cluster: dict, cluster_name: str) -> None:
    """Upgrade to driver version 2, and ask for the rollback as soon as the master's batch
    is done: the upgrade stops after the batch in progress and takes back what it moved,
    in one operation; the last worker, never moved, keeps its server."""
    sandbox = openstack_cli.sandbox
    last_worker = sorted(clusters.worker_servers(heat, cluster["uuid"]))[-1]
    server_before = _worker_ids(heat, cluster["uuid"])[last_worker]
    answer = clusters.rest(sandbox, "POST", f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                           json={"driver_version": 2, "max_batch_size": 1})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + upgrades.UPGRADE_TIMEOUT
    while not any(e["event_type"] == "cluster.upgrade.batch"
                  for e in upgrades.events(sandbox, cluster["uuid"])):
        assert time.monotonic() < deadline, "the master's batch never finished"
        time.sleep(1)
    answer = clusters.rest(sandbox, "POST", f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                           json={"rollback": True})
    assert answer.status_code == 202, answer.text
    cancelled = clusters.settle(openstack_cli, cluster_name, upgrades.UPGRADE_TIMEOUT)
    assert cancelled["status"] == "UPDATE_COMPLETE", cancelled["status_reason"]
    assert cancelled["status_reason"].startswith(f"rolled back to {OLD}")
    assert (cancelled["driver_version"], cancelled["coe_version"]) == (1, OLD)
    assert cancelled["version"] == cluster["version"] + 1  # one operation
    assert _worker_ids(heat, cluster["uuid"])[last_worker] == server_before
    reasons = [e["status_reason"] for e in upgrades.events(sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.rollback"]
    assert any("taking back" in r for r in reasons), reasons
    assert last_worker not in next(r for r in reasons if "taking back" in r)


def test_a_driver_version_upgrade_then_its_rollback(openstack_cli, heat):
    """The seeds' flow: an operator publishes a driver version with a new COE version, a
    cluster moves to it (driver_version) but is called back midway (a rollback while it
    runs), moves to it again, then goes back (rollback)."""
    sandbox = openstack_cli.sandbox
    name = f"it-drv-{uuid.uuid4().hex[:8]}"
    answer = clusters.rest(sandbox, "POST", "v1/drivers", user="admin", json={
        "name": name, "plugin_name": "k8s_ubuntu_v1", "public": True,
        "config": {"kube_tag": OLD}})
    assert answer.status_code == 201, answer.text
    template = clusters.rest(sandbox, "POST", "v1/clustertemplates", json={
        "name": f"it-up-{uuid.uuid4().hex[:8]}", "coe": "kubernetes", "driver": name,
        "image_id": clusters.IMAGE, "external_network_id": "public", "flavor_id": "m1.small",
        "master_flavor_id": "m1.medium", "network_driver": "flannel"})
    assert template.status_code == 201, template.text
    template = template.json()
    try:
        cluster_name = clusters.create(openstack_cli, template, "--master-count", "1",
                                       "--node-count", "2")
        cluster = clusters.settle(openstack_cli, cluster_name)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (1, OLD)

        answer = clusters.rest(sandbox, "PATCH", f"v1/drivers/{name}", user="admin", json=[
            {"op": "replace", "path": "/config/kube_tag", "value": NEW}])
        assert answer.status_code == 200 and answer.json()["version"] == 2, answer.text
        _cancelled_midway(openstack_cli, heat, cluster, cluster_name)
        assert _cluster_counts(sandbox, name) == {1: 1, 2: 0}

        answer = clusters.rest(sandbox, "POST",
                               f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                               json={"driver_version": 2, "max_batch_size": 1})
        assert answer.status_code == 202, answer.text
        cluster = clusters.settle(openstack_cli, cluster_name, upgrades.UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (2, NEW)
        assert _cluster_counts(sandbox, name) == {1: 0, 2: 1}

        answer = clusters.rest(sandbox, "POST",
                               f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                               json={"rollback": True})
        assert answer.status_code == 202, answer.text
        cluster = clusters.settle(openstack_cli, cluster_name, upgrades.UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (1, OLD)
        assert _cluster_counts(sandbox, name) == {1: 1, 2: 0}
        upgrades.check_timeline(cluster["uuid"], 1, OLD)
        clusters.delete(openstack_cli, heat, cluster)
    finally:
        clusters.rest(sandbox, "DELETE", f"v1/clustertemplates/{template['uuid']}")
        clusters.rest(sandbox, "DELETE", f"v1/drivers/{name}", user="admin")
