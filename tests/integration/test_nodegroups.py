"""Nodegroups through the whole stack: `openstack coe nodegroup` and the REST API against
magnum-lite in the sandbox, and what real Heat holds for each group (its own stack with its
own flavor, image and availability zone)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

# The seeded ubuntu-22.04 image by id: a group's own image, written differently from the
# template's (by name).
IMAGE_ID = "7f1c4d2a-93b6-4e0f-a8d5-1b2c3d4e5f60"


def _ng(openstack_cli, cluster: str, *args: str, check: bool = True) -> Any:
    return openstack_cli("sandbox", "coe", "nodegroup", *args[:1], cluster, *args[1:],
                         check=check)


def _groups(openstack_cli, cluster: str) -> dict[str, dict]:
    listed = clusters.parse_json(_ng(openstack_cli, cluster, "list", "-f", "json"))
    return {ng["name"]: ng for ng in listed}


def _show(openstack_cli, cluster: str, name: str) -> dict:
    return clusters.parse_json(_ng(openstack_cli, cluster, "show", name, "-f", "json"))


def _settled(openstack_cli, ident: str, status: str | None) -> dict | None:
    """The cluster once it is no longer *_IN_PROGRESS, which must be `status` (None: gone)."""
    cluster = clusters.settle(openstack_cli, ident)
    assert (cluster["status"] if cluster else None) == status, cluster
    return cluster


def _group_stacks(heat, cluster_uuid: str, nodegroup_uuid: str) -> list[Any]:
    return [heat.stacks.get(s.id) for name, s in clusters.stacks_of(heat, cluster_uuid).items()
            if f"-ng-{nodegroup_uuid}-" in name]


def test_nodegroups_with_their_own_flavor_image_zone_and_server_type(
        openstack_cli, heat, make_template, sandbox):
    started = time.monotonic()
    template = make_template()
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "1")
    cluster = _settled(openstack_cli, name, "CREATE_COMPLETE")

    # A VM group in zone az-1 through the CLI (its zone from the label, as Magnum reads it).
    _ng(openstack_cli, name, "create", "ng-a", "--node-count", "2", "--flavor", "m1.large",
        "--image", IMAGE_ID, "--min-nodes", "1", "--max-nodes", "3",
        "--labels", "availability_zone=az-1,tier=batch", "--merge-labels")
    _settled(openstack_cli, name, "UPDATE_COMPLETE")
    # A baremetal group in zone az-2 through the REST API (server_type is ours).
    answer = clusters.rest(sandbox, "POST", f"v1/clusters/{cluster['uuid']}/nodegroups",
                           json={"name": "ng-b", "node_count": 1, "flavor_id": "bm.small",
                                 "server_type": "bm", "availability_zone": "az-2"})
    assert answer.status_code == 202, answer.text
    assert (answer.json()["server_type"], answer.json()["status"]) == ("bm",
                                                                       "CREATE_IN_PROGRESS")
    cluster = _settled(openstack_cli, name, "UPDATE_COMPLETE")

    groups = _groups(openstack_cli, name)
    assert set(groups) == {"default-master", "default-worker", "ng-a", "ng-b"}
    ng_a = _show(openstack_cli, name, "ng-a")
    assert (ng_a["status"], ng_a["node_count"], ng_a["flavor_id"], ng_a["image_id"],
            ng_a["min_node_count"], ng_a["max_node_count"]) == (
        "CREATE_COMPLETE", 2, "m1.large", IMAGE_ID, 1, 3)
    assert ng_a["labels"]["availability_zone"] == "az-1" and len(ng_a["node_addresses"]) == 2
    ng_b = clusters.rest(sandbox, "GET", f"v1/clusters/{cluster['uuid']}/nodegroups/ng-b").json()
    assert (ng_b["status"], ng_b["availability_zone"], ng_b["server_type"]) == (
        "CREATE_COMPLETE", "az-2", "bm")

    # Heat: each group its own stack, with its own flavor, image and zone.
    [stack_a] = _group_stacks(heat, cluster["uuid"], ng_a["uuid"])
    assert stack_a.stack_status == "CREATE_COMPLETE"
    assert (stack_a.parameters["flavor"], stack_a.parameters["image"],
            stack_a.parameters["availability_zone"], stack_a.parameters["node_count"]) == (
        "m1.large", IMAGE_ID, "az-1", "2")
    [stack_b] = _group_stacks(heat, cluster["uuid"], ng_b["uuid"])
    assert (stack_b.parameters["flavor"], stack_b.parameters["availability_zone"]) == (
        "bm.small", "az-2")
    default = groups["default-worker"]
    [stack_default] = _group_stacks(heat, cluster["uuid"], default["uuid"])
    assert stack_default.parameters["availability_zone"] == ""

    # Bounds through the CLI; a resize of the group through the cluster's resize action.
    _ng(openstack_cli, name, "update", "ng-a", "--max-nodes", "4")
    ng_path = f"v1/clusters/{cluster['uuid']}/nodegroups/ng-a"
    assert clusters.rest(sandbox, "GET", ng_path).json()["max_node_count"] == 4
    bad = _ng(openstack_cli, name, "update", "ng-a", "--min-nodes", "5", check=False)
    # Magnum's NodeGroupInvalidInput is a conflict with the group's bounds: 409.
    assert bad.returncode != 0 and "(HTTP 409)" in bad.stderr + bad.stdout
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "--nodegroup", "ng-a", "3")
    _settled(openstack_cli, name, "UPDATE_COMPLETE")
    assert clusters.rest(sandbox, "GET", ng_path).json()["node_count"] == 3
    [stack_a] = _group_stacks(heat, cluster["uuid"], ng_a["uuid"])
    assert stack_a.parameters["node_count"] == "3"
    too_many = openstack_cli("sandbox", "coe", "cluster", "resize", name, "--nodegroup",
                             "ng-a", "5", check=False)
    assert too_many.returncode != 0 and "(HTTP 400)" in too_many.stderr + too_many.stdout

    # The default groups stay; ng-a goes, with its stack, and nothing else.
    refused = _ng(openstack_cli, name, "delete", "default-worker", check=False)
    assert refused.returncode != 0 and "(HTTP 400)" in refused.stderr + refused.stdout
    _ng(openstack_cli, name, "delete", "ng-a")
    cluster = _settled(openstack_cli, name, "UPDATE_COMPLETE")
    listed = clusters.rest(sandbox, "GET", f"v1/clusters/{cluster['uuid']}/nodegroups").json()
    assert {ng["name"] for ng in listed["nodegroups"]} == {"default-master", "default-worker",
                                                           "ng-b"}
    assert _group_stacks(heat, cluster["uuid"], ng_a["uuid"]) == []
    assert len(_group_stacks(heat, cluster["uuid"], ng_b["uuid"])) == 1
    assert len(_group_stacks(heat, cluster["uuid"], default["uuid"])) == 1

    openstack_cli("sandbox", "coe", "cluster", "delete", cluster["uuid"])
    assert _settled(openstack_cli, cluster["uuid"], None) is None
    assert clusters.stacks_of(heat, cluster["uuid"]) == {}
    print(f"nodegroups integration test: {time.monotonic() - started:.1f} s")
