"""Two conductors share the health checks by the hash ring; when the one that checks a
cluster dies (SIGKILL), the other checks it: a worker stopped afterwards shows UNHEALTHY
once the survivor sees its peer gone (its `service_down_time`) plus two intervals."""

from __future__ import annotations

import signal

import pytest

from magnum_lite.conductor import hashring
from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import faults, processes
from magnum_lite_sandbox import magnum as sandbox_magnum
from tests.integration import clusters, upgrades
from tests.integration.test_cluster_faults import _restart_missing
from tests.integration.test_conductor_takeover import _kill
from tests.integration.test_health import INTERVAL, _health

pytestmark = [pytest.mark.sandbox, pytest.mark.service,
              pytest.mark.disruptive]  # replaces the sandbox's conductor

HOSTS = ("health-a", "health-b")
#: Both conductors heartbeat every second and count a peer down after 6 s without one.
OPTIONS = {"CONDUCTOR__HEARTBEAT_INTERVAL": "1", "CONDUCTOR__SERVICE_DOWN_TIME": "6",
           "CONDUCTOR__HASH_RING_REFRESH_INTERVAL": "1"}
SECOND = f"{sandbox_magnum.CONDUCTOR}-b"


def _start(name: str, host: str) -> int:
    state_dir = sandbox_config.default_state_dir()
    env = {"OS_DEFAULT__HOST": host, **{f"OS_{k}": v for k, v in OPTIONS.items()}}
    return processes.spawn(state_dir, name, [
        str(sandbox_magnum.project_bin() / sandbox_magnum.CONDUCTOR), "--config-file",
        str(sandbox_magnum.conf_path(state_dir))], env=env)


def test_a_dead_conductor_s_clusters_are_checked_by_the_other(openstack_cli, heat):
    state_dir = sandbox_config.default_state_dir()
    processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
    pids = {HOSTS[0]: _start(sandbox_magnum.CONDUCTOR, HOSTS[0]),
            HOSTS[1]: _start(SECOND, HOSTS[1])}
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 f"kube_tag={upgrades.OLD}")
    cluster = None
    try:
        name = clusters.create(openstack_cli, template, "--master-count", "1",
                               "--node-count", "2")
        cluster = clusters.settle(openstack_cli, name)
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        _health(openstack_cli.sandbox, cluster["uuid"], "HEALTHY", timeout=30)
        owner = hashring.HashRing(HOSTS).owner(cluster["uuid"])
        _kill(pids.pop(owner), signal.SIGKILL)
        worker = sorted(clusters.worker_servers(heat, cluster["uuid"]))[-1]
        faults.stop(worker)
        try:
            down_time = float(OPTIONS["CONDUCTOR__SERVICE_DOWN_TIME"])
            _health(openstack_cli.sandbox, cluster["uuid"], "UNHEALTHY",
                    timeout=down_time + 2 * INTERVAL + 6, **{f"{worker}.Ready": "False"})
        finally:
            faults.start(worker)
    finally:
        processes.stop(state_dir, SECOND)
        processes.stop(state_dir, sandbox_magnum.CONDUCTOR)
        _restart_missing()  # the sandbox's own conductor again
        if cluster is not None:
            clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
