"""Rolling upgrades through the whole stack: `openstack coe cluster upgrade`, the API's
operation, the conductor's plan and its batches as real Heat stack updates, and the
sandbox's nodes booting the version their new user data asks for. Kubernetes on VMs and
on baremetal here; Swarm and Mesos in test_upgrade_other_coes.py; failures, cancels and
rollbacks in test_upgrade_recovery.py (separate modules so that they run side by side)."""

from __future__ import annotations

import json

import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes
from tests.integration import clusters, upgrades
from tests.integration.test_cluster_faults import _restart_missing
from tests.integration.test_conductor_takeover import (
    _conductor_with,
    _kill,
    _reached,
)
from tests.integration.upgrades import NEW, OLD

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


def test_a_kubernetes_cluster_rolls_to_the_next_minor_batch_by_batch(
        openstack_cli, heat, k8s_templates):
    old, new = k8s_templates
    name = clusters.create(openstack_cli, old, "--master-count", "3", "--node-count", "4")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == OLD
    version = cluster["version"]

    # A dry run answers the plan and changes nothing, in the database or in Heat. (The
    # health monitor may judge the new cluster meanwhile: what it writes is left out.)
    def state() -> tuple:
        shown = {k: v for k, v in clusters.show(openstack_cli, name).items()
                 if k not in ("health_status", "health_status_reason", "updated_at")}
        return (shown, [e for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
                        if e["event_type"] != "cluster.health"],
                upgrades.heat_state(heat, cluster["uuid"]))

    before = state()
    answer = clusters.rest(openstack_cli.sandbox, "POST",
                           f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                           json={"cluster_template": new["uuid"], "max_batch_size": 2,
                                 "dry_run": True})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert (plan["from_version"], plan["to_version"]) == (OLD, NEW)
    assert [len(b["nodes"]) for b in plan["batches"]] == [1, 1, 1, 2, 2]
    assert all(n["from"] == OLD and n["to"] == NEW for b in plan["batches"]
               for n in b["nodes"])
    assert state() == before

    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"],
                  "--max-batch-size", "2")
    cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["cluster_template_id"] == new["uuid"]
    assert cluster["coe_version"] == NEW
    assert cluster["labels"]["kube_tag"] == NEW
    assert cluster["version"] == version + 1  # one operation, one version

    # One event per batch, newest first: masters one at a time, then workers two by two.
    batches = [e["status_reason"] for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"][::-1]
    assert [b.split(" (")[0] for b in batches] == [f"batch {i} of 5" for i in range(1, 6)]
    assert all("masters of nodegroup default-master" in b for b in batches[:3])
    assert all("workers of nodegroup default-worker" in b for b in batches[3:])
    assert all(f"{OLD} -> {NEW}" in b for b in batches)
    upgrades.check_timeline(cluster["uuid"], 2, NEW)

    # Every stack is settled: its own image and user data are the target's, none listed.
    for stack_name, parameters in upgrades.stack_parameters(heat, cluster["uuid"]).items():
        assert json.loads(parameters["upgraded_members"]) == [], stack_name
        assert parameters["upgrade_target"] == "", stack_name

    # Asked again for the same template: nothing to do, nothing changes.
    again = openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"],
                          check=False)
    assert again.returncode != 0 and "nothing to upgrade" in again.stderr
    assert clusters.show(openstack_cli, name)["version"] == version + 1

    # A resize afterwards adds nodes of the new version.
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "5")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]

    clusters.delete(openstack_cli, heat, cluster)


@pytest.mark.disruptive  # replaces the sandbox's conductor
def test_a_conductor_killed_mid_batch_is_followed_from_that_batch_and_none_is_redone(
        openstack_cli, heat, k8s_templates, tmp_path):
    old, new = k8s_templates
    name = clusters.create(openstack_cli, old, "--master-count", "1", "--node-count", "3")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    # Batches: the master, then the three workers one by one; killed once the second
    # worker's update is sent (batch index 2), before anything of it is recorded.
    pid = _conductor_with(tmp_path, "conductor.upgrade.batch_2.sent=pause")
    try:
        openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
        _reached(tmp_path, "conductor.upgrade.batch_2.sent")
        _kill(pid)
        _restart_missing()
        cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
    finally:
        processes.stop(sandbox_config.default_state_dir(), sandbox_magnum.CONDUCTOR)
        _restart_missing()
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == NEW
    batches = [e["status_reason"].split(" (")[0]
               for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"][::-1]
    assert batches == [f"batch {i} of 4" for i in range(1, 5)]  # each once, in order
    clusters.delete(openstack_cli, heat, cluster)


# COE -> (image, network driver, version label, from, to) of the other COEs' upgrades.


def test_a_baremetal_nodegroup_is_rebuilt_in_place_batch_by_batch(
        openstack_cli, heat, k8s_templates):
    """Baremetal workers (Ironic nodes are not spare) beside VM masters, whose API the
    conductor reaches (a cluster all on baremetal has its API on the flat network only)."""
    old, new = k8s_templates
    name = clusters.create(openstack_cli, old, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    answer = clusters.rest(openstack_cli.sandbox, "POST",
                           f"v1/clusters/{cluster['uuid']}/nodegroups",
                           json={"name": "ng-bm", "node_count": 1, "flavor_id": "bm.small",
                                 "server_type": "bm"})
    assert answer.status_code == 202, answer.text
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
    cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    batches = [e["status_reason"] for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"]
    assert any("nodegroup ng-bm" in b for b in batches), batches
    policies = {n: p["upgrade_policy"]
                for n, p in upgrades.stack_parameters(heat, cluster["uuid"]).items() if "-ng-" in n}
    assert sorted(policies.values()) == ["REBUILD", "REPLACE"], policies
    upgrades.check_timeline(cluster["uuid"], 1, NEW)
    clusters.delete(openstack_cli, heat, cluster)
