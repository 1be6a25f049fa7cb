"""magnum-lite's own `openstack coe` commands (the magnum-lite-osc plugin) in the sandbox,
with Keystone's password authentication: an operator publishes a driver version, a user
plans the upgrade to it (--dry-run), runs it, reads the cluster's events and rolls it back,
each step through the real `openstack` command.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

OLD, NEW = "v1.30.4", "v1.31.1"
#: An upgrade replaces every node one batch after another: minutes, not a create's seconds.
UPGRADE_TIMEOUT = 900.0


def _json(openstack_cli, cloud: str, *args: str):
    return clusters.parse_json(openstack_cli(cloud, *args, "-f", "json"))


def _versions(openstack_cli, name: str) -> dict[int, int]:
    listed = _json(openstack_cli, "sandbox-admin", "coe", "driver", "version", "list", name)
    return {v["version"]: v["cluster_count"] for v in listed}


def test_a_driver_version_upgrade_planned_run_and_rolled_back_with_the_cli(openstack_cli,
                                                                            heat):
    name = f"it-osc-{uuid.uuid4().hex[:8]}"
    driver = _json(openstack_cli, "sandbox-admin", "coe", "driver", "create", name,
                   "--plugin", "k8s_ubuntu_v1", "--config", f"kube_tag={OLD}", "--public")
    assert (driver["version"], driver["config"]) == (1, {"kube_tag": OLD})
    # A user sees the public driver, not its management.
    shown = _json(openstack_cli, "sandbox", "coe", "driver", "show", name)
    assert shown["uuid"] == driver["uuid"]
    refused = openstack_cli("sandbox", "coe", "driver", "update", name, "--disable",
                            check=False)
    assert refused.returncode == 1 and "(HTTP 403)" in refused.stderr, refused.stderr

    template = _json(openstack_cli, "sandbox", "coe", "cluster", "template", "create",
                     f"it-osc-{uuid.uuid4().hex[:8]}", "--coe", "kubernetes", "--driver", name,
                     "--image", clusters.IMAGE, "--external-network", "public", "--flavor",
                     "m1.small", "--master-flavor", "m1.medium", "--network-driver", "flannel")
    cluster_name = None
    try:
        # A master alone (1.10+): each upgrade is one batch; the upgrades of clusters with
        # workers are test_upgrade*.py's.
        cluster_name = clusters.create(openstack_cli, template, "--master-count", "1",
                                       "--node-count", "0")
        cluster = clusters.settle(openstack_cli, cluster_name)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (1, OLD)

        published = _json(openstack_cli, "sandbox-admin", "coe", "driver", "update", name,
                          "--config", f"kube_tag={NEW}")
        assert (published["version"], published["config"]) == (2, {"kube_tag": NEW})
        assert _versions(openstack_cli, name) == {1: 1, 2: 0}

        # The plan: every node from OLD to NEW, nothing done.
        plan = _json(openstack_cli, "sandbox", "coe", "cluster", "upgrade", cluster_name,
                     "--driver-version", "2", "--dry-run")
        assert plan["dry_run"] is True and plan["rollback"] is False
        assert (plan["from"]["driver_version"], plan["to"]["driver_version"]) == (1, 2)
        assert (plan["from_version"], plan["to_version"]) == (OLD, NEW)
        nodes = [node for batch in plan["batches"] for node in batch["nodes"]]
        assert len(nodes) == 1, plan["batches"]
        assert {(node["from"], node["to"]) for node in nodes} == {(OLD, NEW)}, nodes
        assert clusters.show(openstack_cli, cluster_name)["version"] == cluster["version"]

        accepted = openstack_cli("sandbox", "coe", "cluster", "upgrade", cluster_name,
                                 "--driver-version", "latest")
        assert accepted.stdout.strip() == \
            f"Request to upgrade cluster {cluster_name} has been accepted."
        cluster = clusters.settle(openstack_cli, cluster_name, UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (2, NEW)
        assert _versions(openstack_cli, name) == {1: 0, 2: 1}

        # The history, newest first: the upgrade's batches after the create.
        events = _json(openstack_cli, "sandbox", "coe", "cluster", "event", "list",
                       cluster_name, "--long")
        kinds = [e["event_type"] for e in events]
        assert kinds[-1] == "cluster.create" and "cluster.upgrade.batch" in kinds, kinds
        assert events[0]["status"] == "UPDATE_COMPLETE", events[0]
        batches = [e["status_reason"] for e in events if e["event_type"] ==
                   "cluster.upgrade.batch"]
        assert batches and all(f"{OLD} -> {NEW}" in reason for reason in batches), batches
        oldest = _json(openstack_cli, "sandbox", "coe", "cluster", "event", "list",
                       cluster_name, "--sort-dir", "asc", "--limit", "1")
        assert oldest[0]["status"] == "CREATE_IN_PROGRESS", oldest

        # Back to version 1: planned, then done.
        plan = _json(openstack_cli, "sandbox", "coe", "cluster", "upgrade", cluster_name,
                     "--rollback", "--dry-run")
        assert plan["rollback"] is True
        assert (plan["from"]["driver_version"], plan["to"]["driver_version"]) == (2, 1)
        # With -f, the API's answer instead of python-magnumclient's line.
        accepted = openstack_cli("sandbox", "coe", "cluster", "upgrade", cluster_name,
                                 "--rollback", "-f", "value", "-c", "uuid")
        assert accepted.stdout.strip() == cluster["uuid"]
        cluster = clusters.settle(openstack_cli, cluster_name, UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (1, OLD)
        assert _versions(openstack_cli, name) == {1: 1, 2: 0}

        # A version in use cannot be deleted; the error is the API's.
        refused = openstack_cli("sandbox-admin", "coe", "driver", "delete", driver["uuid"],
                                check=False)
        assert refused.returncode == 1 and "1 of 1 drivers failed to delete." in \
            refused.stderr, refused.stderr
        clusters.delete(openstack_cli, heat, cluster)
        cluster_name = None
    finally:
        if cluster_name is not None:  # a failure above: the cluster goes, the test's result stays
            openstack_cli("sandbox", "coe", "cluster", "delete", cluster_name, check=False)
            clusters.settle(openstack_cli, cluster_name)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
        openstack_cli("sandbox-admin", "coe", "driver", "delete", name, check=False)
    assert name not in {d["name"] for d in _json(openstack_cli, "sandbox-admin", "coe",
                                                 "driver", "list")}
