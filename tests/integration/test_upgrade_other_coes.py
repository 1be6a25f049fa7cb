"""Rolling upgrades of Swarm and Mesos clusters in the sandbox: managers or masters one at a
time, workers one by one, the workload kept."""

from __future__ import annotations

import pytest

from tests.integration import clusters, upgrades

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


OTHER_COES = {
    "swarm-mode": ("fedora-40", "docker", "docker_version", "27.3.1", "27.5.1"),
    "mesos": (clusters.IMAGE, "docker", "mesos_version", "1.7.1", "1.8.1"),
}


def _upgrade_keeps_the_invariants(openstack_cli, heat, old: dict, new: dict, masters: int,
                                  workers: int, versions: tuple[str, str],
                                  agentless_masters: bool = False) -> None:
    name = clusters.create(openstack_cli, old, "--master-count", str(masters),
                           "--node-count", str(workers))
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == versions[0]
    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
    cluster = clusters.settle(openstack_cli, name, upgrades.UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert (cluster["cluster_template_id"], cluster["coe_version"]) == (new["uuid"],
                                                                        versions[1])
    batches = [e for e in upgrades.events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"]
    assert len(batches) == masters + workers
    upgrades.check_timeline(cluster["uuid"], 1, versions[1],
                            agentless_masters=agentless_masters)
    clusters.delete(openstack_cli, heat, cluster)


@pytest.mark.parametrize("coe", sorted(OTHER_COES))
def test_swarm_and_mesos_roll_their_managers_one_at_a_time_and_keep_their_tasks(
        openstack_cli, heat, coe):
    image, network_driver, label, old_version, new_version = OTHER_COES[coe]
    old = upgrades.template(openstack_cli, coe, image, network_driver, f"{label}={old_version}")
    new = upgrades.template(openstack_cli, coe, image, network_driver, f"{label}={new_version}")
    try:
        _upgrade_keeps_the_invariants(openstack_cli, heat, old, new, 3, 2,
                                      (old_version, new_version),
                                      agentless_masters=coe == "mesos")
    finally:
        for template in (old, new):
            openstack_cli("sandbox", "coe", "cluster", "template", "delete",
                          template["uuid"], check=False)
