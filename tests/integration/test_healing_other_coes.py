"""Auto-healing of Swarm and Mesos workers in the sandbox."""

from __future__ import annotations

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters, upgrades
from tests.integration.test_health import (
    SEEN_WITHIN,
    _health,
    _repaired,
    _server_ids,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


# COE -> (image, network driver, the labels of its version) of the other COEs' clusters.
OTHER_COES = {
    "swarm-mode": ("fedora-40", "docker", "docker_version=27.3.1"),
    "mesos": (clusters.IMAGE, "docker", "mesos_version=1.7.1"),
}


@pytest.mark.parametrize("coe", sorted(OTHER_COES))
def test_swarm_and_mesos_name_a_stopped_worker_and_heal_it(openstack_cli, heat, coe):
    """A worker stopped shows by name (Swarm: down; Mesos: its agent inactive), then alone
    is replaced, and the cluster is HEALTHY again."""
    sandbox = openstack_cli.sandbox
    image, network_driver, version = OTHER_COES[coe]
    template = upgrades.template(openstack_cli, coe, image, network_driver,
                                 f"{version},auto_healing_enabled=true,auto_healing_grace=6")
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "3")
    cluster = clusters.settle(openstack_cli, name)
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        healthy = _health(sandbox, cluster["uuid"], "HEALTHY")
        before = _server_ids(heat, cluster["uuid"])
        worker = sorted(clusters.worker_servers(heat, cluster["uuid"]))[0]
        faults.stop(worker)
        _health(sandbox, cluster["uuid"], "UNHEALTHY", **{f"{worker}.Ready": "False"})
        done = _repaired(openstack_cli, cluster["uuid"], healthy["version"])
        assert done["status"] == "UPDATE_COMPLETE", done["status_reason"]
        after = _server_ids(heat, cluster["uuid"])
        assert {n for n in before if after.get(n) != before[n]} == {worker}
        _health(sandbox, cluster["uuid"], "HEALTHY", timeout=SEEN_WITHIN + 10)
    finally:
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
