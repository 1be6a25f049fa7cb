"""Auto-healing of baremetal Kubernetes workers in the sandbox: the stopped worker is rebuilt
in place through Nova (same server id; Nova leaves it shut off, so it is started), and Heat
is not asked to change anything (helpers: test_health.py). The workers are a baremetal
nodegroup beside VM masters, whose API the conductor reaches (a cluster all on baremetal has
its API on the flat network only)."""

from __future__ import annotations

import pytest

from magnum_lite_sandbox import faults, rebuilds
from tests.integration import clusters, upgrades
from tests.integration.test_health import (
    AUTO_HEALING,
    SEEN_WITHIN,
    _events,
    _health,
    _repaired,
    _server_ids,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.service]


def _stack_updates(heat, uuid: str) -> dict[str, str | None]:
    return {n: heat.stacks.get(s.id).updated_time
            for n, s in clusters.stacks_of(heat, uuid).items()}


def test_a_stopped_baremetal_worker_is_rebuilt_in_place(openstack_cli, heat):
    sandbox = openstack_cli.sandbox
    template = upgrades.template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                                 AUTO_HEALING)
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    worker = None
    try:
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        uuid = cluster["uuid"]
        answer = clusters.rest(sandbox, "POST", f"v1/clusters/{uuid}/nodegroups",
                               json={"name": "ng-bm", "node_count": 2, "flavor_id": "bm.small",
                                     "server_type": "bm"})
        assert answer.status_code == 202, answer.text
        cluster = clusters.settle(openstack_cli, name)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        healthy = _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)
        before, updates = _server_ids(heat, uuid), _stack_updates(heat, uuid)
        worker = sorted(n for n in clusters.worker_servers(heat, uuid) if "ng-bm" in n)[0]
        faults.stop(worker)
        _health(sandbox, uuid, "UNHEALTHY", **{f"{worker}.Ready": "False"})
        done = _repaired(openstack_cli, uuid, healthy["version"])
        assert done["status"] == "UPDATE_COMPLETE", done["status_reason"]
        assert _server_ids(heat, uuid) == before  # rebuilt in place: the same servers
        assert _stack_updates(heat, uuid) == updates  # Heat was not asked
        rebuilt = rebuilds.read()
        assert set(rebuilt) & set(before.values()) == {before[worker]}
        assert rebuilt[before[worker]]["user_data"] is None  # Nova kept the node's own
        assert before[worker] not in faults.Faults(None).active().stopped  # started again
        _health(sandbox, uuid, "HEALTHY", timeout=SEEN_WITHIN + 10)
        [node_event] = _events(sandbox, uuid, "cluster.repair.node")
        assert node_event["status_reason"].startswith(f"repair 1 of 1: {worker} replaced ")
    finally:
        if worker is not None:
            faults.start(worker)
        clusters.delete(openstack_cli, heat, cluster)
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                      check=False)
