"""Auto-healing of a Kubernetes master of three in the sandbox: its quorum kept, its API
reachable throughout."""

from __future__ import annotations

import time

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters, upgrades
from tests.integration.test_health import (
    AUTO_HEALING,
    REPAIR_TIMEOUT,
    _cluster,
    _health,
    _server_ids,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


def test_a_stopped_master_of_three_is_healed_and_the_api_stays_reachable(openstack_cli, heat):
    sandbox = openstack_cli.sandbox
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 AUTO_HEALING)
    name = clusters.create(openstack_cli, template, "--master-count", "3", "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        healthy = _health(sandbox, cluster["uuid"], "HEALTHY")
        before = _server_ids(heat, cluster["uuid"])
        master = sorted(n for n in before if "-master-" in n)[1]
        faults.stop(master)
        _health(sandbox, cluster["uuid"], "UNHEALTHY", **{f"{master}.Ready": "False"})
        # The API (through its load balancer) answers all along: every finding until the
        # cluster is HEALTHY again says "api": "ok".
        seen_api = set()
        began = time.monotonic()
        while time.monotonic() - began < REPAIR_TIMEOUT:
            shown = _cluster(sandbox, cluster["uuid"])
            if shown["status"] != "UPDATE_IN_PROGRESS":
                seen_api.add((shown.get("health_status_reason") or {}).get("api"))
            if shown["version"] > healthy["version"] and shown["status"] == "UPDATE_COMPLETE" \
                    and shown.get("health_status") == "HEALTHY":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"{master} was not healed within {REPAIR_TIMEOUT:.0f} s")
        assert seen_api == {"ok"}, seen_api
        after = _server_ids(heat, cluster["uuid"])
        assert {n for n in before if after.get(n) != before[n]} == {master}
    finally:
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
