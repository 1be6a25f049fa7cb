"""Health monitoring and auto-healing in the sandbox, with real Keystone and Heat: the
sandbox's faults (a node's server stopped, the cluster's API unreachable) as the
conductors' health checks see them, and the repairs they start or a user asks for.

The sandbox checks every `[health] interval` = 2 s (sandbox/magnum_lite_sandbox/magnum.py).
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

import pytest

from magnum_lite_sandbox import faults
from tests.integration import clusters, upgrades

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

INTERVAL = 2.0
#: A change shows within two checks; the slack covers a round's own time on a busy machine.
SEEN_WITHIN = 2 * INTERVAL + 4.0
#: A repair replaces a node through a stack update: tens of seconds.
REPAIR_TIMEOUT = 240.0
AUTO_HEALING = ("auto_healing_enabled=true,auto_healing_grace=3,"
                f"kube_tag={upgrades.OLD}")


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not so within {timeout:.0f} s")
        time.sleep(0.5)


def _cluster(sandbox: dict, uuid: str) -> dict:
    answer = clusters.rest(sandbox, "GET", f"v1/clusters/{uuid}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _health(sandbox: dict, uuid: str, status: str, timeout: float = SEEN_WITHIN,
            **reason: str) -> dict:
    """Wait until the cluster's health is `status` with `reason`'s entries; its record."""
    def reached() -> dict | None:
        cluster = _cluster(sandbox, uuid)
        shown = cluster.get("health_status_reason") or {}
        if cluster.get("health_status") == status and all(
                shown.get(key) == value for key, value in reason.items()):
            return cluster
        return None

    return _wait(f"cluster {uuid} {status} with {reason}", reached, timeout)


def _server_ids(heat, cluster_uuid: str) -> dict[str, str]:
    """Every server's name -> Nova id, masters and workers (a replaced server gets a new
    id)."""
    ids = {}
    for _name, stack in clusters.stacks_of(heat, cluster_uuid).items():
        out = clusters.outputs(heat, stack.id)
        for names_key, ids_key in (("master_names", "master_ids"), ("node_names", "node_ids")):
            names = out.get(names_key) or {}
            for index, server in (names.items() if isinstance(names, dict)
                                  else enumerate(names)):
                found = out.get(ids_key) or {}
                ids[server] = found[index] if isinstance(found, dict) else found[int(index)]
    return ids


def _events(sandbox: dict, uuid: str, prefix: str) -> list[dict]:
    return [e for e in upgrades.events(sandbox, uuid) if e["event_type"].startswith(prefix)]


def _repaired(openstack_cli, uuid: str, version: int) -> dict:
    """Wait for the repair that follows `version` to end; the cluster."""
    sandbox = openstack_cli.sandbox

    def ended() -> dict | None:
        cluster = _cluster(sandbox, uuid)
        if cluster["version"] > version and cluster["status"] != "UPDATE_IN_PROGRESS":
            return cluster
        return None

    return _wait(f"the repair of {uuid}", ended, REPAIR_TIMEOUT)


@pytest.fixture(scope="module")
def watched(openstack_cli, heat):
    """A Kubernetes cluster (1 master, 2 workers) without auto-healing, HEALTHY."""
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 f"kube_tag={upgrades.OLD}")
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        yield _health(openstack_cli.sandbox, cluster["uuid"], "HEALTHY")
    finally:
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)


def test_a_stopped_worker_makes_the_cluster_unhealthy_and_nothing_is_replaced(
        openstack_cli, heat, watched):
    sandbox = openstack_cli.sandbox
    uuid = watched["uuid"]
    servers = _server_ids(heat, uuid)
    worker = sorted(clusters.worker_servers(heat, uuid))[-1]
    faults.stop(worker)
    try:
        sick = _health(sandbox, uuid, "UNHEALTHY", **{f"{worker}.Ready": "False"})
        assert sick["health_status_reason"]["api"] == "ok"
        assert sick["version"] == watched["version"]  # no operation, no new version
        time.sleep(3 * INTERVAL)  # auto-healing is off: nothing happens, however long
        still = _cluster(sandbox, uuid)
        assert (still["health_status"], still["status"]) == ("UNHEALTHY", "CREATE_COMPLETE")
        assert _server_ids(heat, uuid) == servers
    finally:
        faults.start(worker)
    _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10, **{f"{worker}.Ready": "True"})
    kinds = [e["status_reason"].split(":")[0] for e in _events(sandbox, uuid,
                                                                  "cluster.health")]
    assert kinds[:3] == ["HEALTHY", "UNHEALTHY", "HEALTHY"]  # newest first
    assert not _events(sandbox, uuid, "cluster.repair")


def test_an_unreachable_api_is_unknown_with_its_cause(openstack_cli, heat, watched):
    sandbox = openstack_cli.sandbox
    uuid = watched["uuid"]
    faults.unreachable(uuid)
    try:
        unknown = _health(sandbox, uuid, "UNKNOWN")
        assert "unreachable" in unknown["health_status_reason"]["api"], unknown
    finally:
        faults.reachable(uuid)
    _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)


def test_an_unreachable_api_with_its_lone_master_shut_off_is_unhealthy_naming_it(
        openstack_cli, heat, watched):
    """Unreachable, and Nova shows every master SHUTOFF: the masters are down (issue 15),
    not merely out of reach."""
    sandbox = openstack_cli.sandbox
    uuid = watched["uuid"]
    [master] = [n for n in _server_ids(heat, uuid) if "-master-" in n]
    faults.stop(master)
    faults.unreachable(uuid)
    try:
        sick = _health(sandbox, uuid, "UNHEALTHY", **{f"{master}.server": "SHUTOFF"})
        assert "unreachable" in sick["health_status_reason"]["api"], sick
        assert sick["version"] == watched["version"]
    finally:
        faults.reachable(uuid)
        faults.start(master)
    _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)
