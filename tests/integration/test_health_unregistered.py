"""A node the COE no longer lists, in the sandbox: Mesos marks an agent inactive for 75 s
unreachable and forgets it (its simulated master, as mesos-master's defaults have it); the
health check still names that node, from the servers Heat holds for the cluster."""

from __future__ import annotations

import pytest

from magnum_lite_sandbox import faults, mesos_sim
from tests.integration import clusters, upgrades
from tests.integration.test_healing_other_coes import OTHER_COES
from tests.integration.test_health import SEEN_WITHIN, _health

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


def test_a_mesos_agent_forgotten_by_its_master_is_named_not_registered(openstack_cli, heat):
    sandbox = openstack_cli.sandbox
    image, network_driver, version = OTHER_COES["mesos"]
    template = upgrades.template(openstack_cli, "mesos", image, network_driver, version)
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        healthy = _health(sandbox, cluster["uuid"], "HEALTHY")
        worker = sorted(clusters.worker_servers(heat, cluster["uuid"]))[0]
        faults.stop(worker)
        try:
            _health(sandbox, cluster["uuid"], "UNHEALTHY", **{f"{worker}.Ready": "False"})
            forgotten = _health(sandbox, cluster["uuid"], "UNHEALTHY",
                                timeout=mesos_sim.MesosSim.unreachable_seconds + SEEN_WITHIN
                                + 10, **{f"{worker}.Ready": "NotRegistered"})
            assert forgotten["health_status_reason"]["nodes"] == "1 of 2 registered"
            assert forgotten["version"] == healthy["version"]  # no auto-healing: no repair
        finally:
            faults.start(worker)
        _health(sandbox, cluster["uuid"], "HEALTHY", timeout=SEEN_WITHIN + 30,
                **{f"{worker}.Ready": "True"})
    finally:
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
