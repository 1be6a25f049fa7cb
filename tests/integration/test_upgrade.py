"""Rolling upgrades through the whole stack: `openstack coe cluster upgrade`, the API's
operation, the conductor's plan and its batches as real Heat stack updates, and the
sandbox's nodes booting the version their new user data asks for."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import faults, processes, timeline
from magnum_lite_sandbox import magnum as sandbox_magnum
from tests.integration import clusters
from tests.integration.test_cluster_faults import _restart_missing
from tests.integration.test_conductor_takeover import (
    _conductor_with,
    _kill,
    _reached,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

OLD, NEW = "v1.30.4", "v1.31.1"
#: An upgrade replaces every node one batch after another: minutes, not a create's seconds.
UPGRADE_TIMEOUT = 900.0


@pytest.fixture(scope="module")
def k8s_templates(openstack_cli):
    """Two Kubernetes templates of the demo project, one minor version apart."""
    made = []

    def make(tag: str) -> dict:
        template = _template(openstack_cli, "kubernetes", clusters.IMAGE, "flannel",
                             f"kube_tag={tag}")
        made.append(template["uuid"])
        return template

    yield make(OLD), make(NEW)
    for template_uuid in made:
        openstack_cli("sandbox", "coe", "cluster", "template", "delete", template_uuid,
                      check=False)


def _events(sandbox, cluster_uuid: str) -> list[dict]:
    response = clusters.rest(sandbox, "GET", f"v1/clusters/{cluster_uuid}/events?limit=100")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def check_timeline(cluster_uuid: str, max_batch_size: int, target: str,
                   until: float | None = None, agentless_masters: bool = False) -> None:
    """What the cluster's nodes lived through (the sandbox's timeline, not the service's
    word): masters one at a time, at most `max_batch_size` workers out of service at once,
    every node drained before its rebuild, the workload never without a ready replica, and
    every node at `target` in the end (at `until`, by default now).

    With `agentless_masters` (Mesos: masters are no agents and run no tasks) a master has
    nothing to drain before its rebuild."""
    until = time.time() if until is None else until
    entries = [e for e in timeline.read(cluster_uuid) if e["time"] <= until]
    start = next(i for i, e in enumerate(entries) if e["event"] in ("cordoned", "drained")
                 or (e["event"] == "down" and e.get("reason") == "rebuilt"))
    state: dict[str, tuple[bool, bool]] = {}
    for entry in entries[:start]:
        state[entry["node"]] = (entry["ready"], entry["schedulable"])
    drained: set[str] = set()
    peak = {"master": 0, "worker": 0}
    running = any(e["ready_replicas"] > 0 for e in entries[:start])
    for entry in entries[start:]:
        node, event = entry["node"], entry["event"]
        if event == "drained" or (event == "down" and entry.get("reason") == "maintenance"):
            drained.add(node)  # Mesos: a machine taken down for maintenance is drained
        if event == "down" and entry.get("reason") == "rebuilt":
            # Mesos masters run no tasks and are no agents: nothing of them to drain.
            assert node in drained or (agentless_masters and "-master-" in node), \
                f"{node} went down before it was drained"
            drained.discard(node)
        if event == "removed":
            state.pop(node, None)
            continue
        state[node] = (entry["ready"], entry["schedulable"])
        running = running or entry["ready_replicas"] > 0  # once the workload started
        assert entry["ready_replicas"] > 0 or not running, \
            f"the workload lost every replica at {entry}"
        out = [n for n, (ready, schedulable) in state.items() if not (ready and schedulable)]
        for role in peak:
            peak[role] = max(peak[role], sum(1 for n in out if ("-master-" in n)
                                             == (role == "master")))
    assert peak["master"] == 1, peak
    assert 1 <= peak["worker"] <= max_batch_size, peak
    versions = {}
    for entry in entries:
        if entry["event"] == "removed":
            versions.pop(entry["node"], None)
        elif entry.get("version"):
            versions[entry["node"]] = entry["version"]
    assert set(versions.values()) == {target}, versions
    assert entries[-1]["ready_replicas"] == 3, entries[-1]


def _stack_parameters(heat, cluster_uuid: str) -> dict[str, dict]:
    return {name: heat.stacks.get(stack.id).parameters
            for name, stack in clusters.stacks_of(heat, cluster_uuid).items()}


def _heat_state(heat, cluster_uuid: str) -> dict[str, tuple]:
    """Each stack's status, last update and parameters: what any change in Heat moves."""
    return {name: (got.stack_status, got.updated_time, got.parameters)
            for name, stack in clusters.stacks_of(heat, cluster_uuid).items()
            for got in [heat.stacks.get(stack.id)]}


def test_a_kubernetes_cluster_rolls_to_the_next_minor_batch_by_batch(
        openstack_cli, heat, k8s_templates):
    old, new = k8s_templates
    name = clusters.create(openstack_cli, old, "--master-count", "3", "--node-count", "4")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == OLD
    version = cluster["version"]

    # A dry run answers the plan and changes nothing, in the database or in Heat.
    before = (clusters.show(openstack_cli, name), _events(openstack_cli.sandbox,
                                                          cluster["uuid"]),
              _heat_state(heat, cluster["uuid"]))
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
    assert (clusters.show(openstack_cli, name), _events(openstack_cli.sandbox,
                                                        cluster["uuid"]),
            _heat_state(heat, cluster["uuid"])) == before

    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"],
                  "--max-batch-size", "2")
    cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["cluster_template_id"] == new["uuid"]
    assert cluster["coe_version"] == NEW
    assert cluster["labels"]["kube_tag"] == NEW
    assert cluster["version"] == version + 1  # one operation, one version

    # One event per batch, newest first: masters one at a time, then workers two by two.
    batches = [e["status_reason"] for e in _events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"][::-1]
    assert [b.split(" (")[0] for b in batches] == [f"batch {i} of 5" for i in range(1, 6)]
    assert all("masters of nodegroup default-master" in b for b in batches[:3])
    assert all("workers of nodegroup default-worker" in b for b in batches[3:])
    assert all(f"{OLD} -> {NEW}" in b for b in batches)
    check_timeline(cluster["uuid"], 2, NEW)

    # Every stack is settled: its own image and user data are the target's, none listed.
    for stack_name, parameters in _stack_parameters(heat, cluster["uuid"]).items():
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
        cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
    finally:
        processes.stop(sandbox_config.default_state_dir(), sandbox_magnum.CONDUCTOR)
        _restart_missing()
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == NEW
    batches = [e["status_reason"].split(" (")[0]
               for e in _events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"][::-1]
    assert batches == [f"batch {i} of 4" for i in range(1, 5)]  # each once, in order
    clusters.delete(openstack_cli, heat, cluster)


# COE -> (image, network driver, version label, from, to) of the other COEs' upgrades.
OTHER_COES = {
    "swarm-mode": ("fedora-40", "docker", "docker_version", "27.3.1", "27.5.1"),
    "mesos": (clusters.IMAGE, "docker", "mesos_version", "1.7.1", "1.8.1"),
}


def _template(openstack_cli, coe: str, image: str, network_driver: str, label: str,
              server_type: str = "vm") -> dict:
    args = ["--coe", coe, "--image", image, "--network-driver", network_driver,
            "--external-network", "public", "--labels", label, "-f", "json"]
    if server_type == "bm":
        args += ["--server-type", "bm", "--fixed-network", "private", "--flavor", "bm.small",
                 "--master-flavor", "bm.small", "--floating-ip-disabled"]
    else:
        args += ["--flavor", "m1.small", "--master-flavor", "m1.medium",
                 "--master-lb-enabled"]
    return clusters.parse_json(openstack_cli(
        "sandbox", "coe", "cluster", "template", "create",
        f"it-up-{uuid.uuid4().hex[:8]}", *args))


def _upgrade_keeps_the_invariants(openstack_cli, heat, old: dict, new: dict, masters: int,
                                  workers: int, versions: tuple[str, str],
                                  agentless_masters: bool = False) -> None:
    name = clusters.create(openstack_cli, old, "--master-count", str(masters),
                           "--node-count", str(workers))
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == versions[0]
    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
    cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert (cluster["cluster_template_id"], cluster["coe_version"]) == (new["uuid"],
                                                                        versions[1])
    batches = [e for e in _events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"]
    assert len(batches) == masters + workers
    check_timeline(cluster["uuid"], 1, versions[1], agentless_masters=agentless_masters)
    clusters.delete(openstack_cli, heat, cluster)


@pytest.mark.parametrize("coe", sorted(OTHER_COES))
def test_swarm_and_mesos_roll_their_managers_one_at_a_time_and_keep_their_tasks(
        openstack_cli, heat, coe):
    image, network_driver, label, old_version, new_version = OTHER_COES[coe]
    old = _template(openstack_cli, coe, image, network_driver, f"{label}={old_version}")
    new = _template(openstack_cli, coe, image, network_driver, f"{label}={new_version}")
    try:
        _upgrade_keeps_the_invariants(openstack_cli, heat, old, new, 3, 2,
                                      (old_version, new_version),
                                      agentless_masters=coe == "mesos")
    finally:
        for template in (old, new):
            openstack_cli("sandbox", "coe", "cluster", "template", "delete",
                          template["uuid"], check=False)


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
    cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    batches = [e["status_reason"] for e in _events(openstack_cli.sandbox, cluster["uuid"])
               if e["event_type"] == "cluster.upgrade.batch"]
    assert any("nodegroup ng-bm" in b for b in batches), batches
    policies = {n: p["upgrade_policy"]
                for n, p in _stack_parameters(heat, cluster["uuid"]).items() if "-ng-" in n}
    assert sorted(policies.values()) == ["REBUILD", "REPLACE"], policies
    check_timeline(cluster["uuid"], 1, NEW)
    clusters.delete(openstack_cli, heat, cluster)


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
        cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_FAILED"
        assert f"node {held} is not back healthy at version {NEW}" in \
            cluster["status_reason"]
        assert cluster["cluster_template_id"] == old["uuid"]  # not done
    finally:
        faults.clear(held)
    # The node can come back now: a new call plans what is left and waits for it.
    openstack_cli("sandbox", "coe", "cluster", "upgrade", name, new["uuid"])
    cluster = clusters.settle(openstack_cli, name, UPGRADE_TIMEOUT)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["coe_version"] == NEW
    batches = [e["status_reason"] for e in _events(openstack_cli.sandbox, cluster["uuid"])
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


def test_a_driver_version_upgrade_then_its_rollback(openstack_cli, heat):
    """The seeds' flow: an operator publishes a driver version with a new COE version, a
    cluster moves to it (driver_version), then goes back (rollback)."""
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
        answer = clusters.rest(sandbox, "POST",
                               f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                               json={"driver_version": 2, "max_batch_size": 1})
        assert answer.status_code == 202, answer.text
        cluster = clusters.settle(openstack_cli, cluster_name, UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (2, NEW)
        assert _cluster_counts(sandbox, name) == {1: 0, 2: 1}

        answer = clusters.rest(sandbox, "POST",
                               f"v1/clusters/{cluster['uuid']}/actions/upgrade",
                               json={"rollback": True})
        assert answer.status_code == 202, answer.text
        cluster = clusters.settle(openstack_cli, cluster_name, UPGRADE_TIMEOUT)
        assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
        assert (cluster["driver_version"], cluster["coe_version"]) == (1, OLD)
        assert _cluster_counts(sandbox, name) == {1: 1, 2: 0}
        check_timeline(cluster["uuid"], 1, OLD)
        clusters.delete(openstack_cli, heat, cluster)
    finally:
        clusters.rest(sandbox, "DELETE", f"v1/clustertemplates/{template['uuid']}")
        clusters.rest(sandbox, "DELETE", f"v1/drivers/{name}", user="admin")
