"""The baremetal variant (server_type bm) of each driver (Kubernetes, Swarm, Mesos) through
the whole stack: the `openstack coe` CLI, magnum-lite-api, the conductor and real Heat. Each
cluster (1 master + 2 workers) is created, resized up and down (naming the node to remove)
and deleted. The nodes boot on an
existing flat network (the project's `private` network stands in for the provisioning one),
with Ironic flavors (the stand-in's bm.*), no Cinder volume and no floating IP; the sandbox
simulates OS::Nova::Server whatever the flavor."""

from __future__ import annotations

import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

FLAT_NETWORK = "private"  # an existing network of the demo project


# (COE, image, network driver) of each driver's baremetal variant.
VARIANTS = {"kubernetes": (clusters.IMAGE, "flannel"), "swarm-mode": ("fedora-40", None),
            "mesos": (clusters.IMAGE, "docker")}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def bm_template(request, openstack_cli):
    coe = request.param
    image, network_driver = VARIANTS[coe]
    args = ["--coe", coe, "--image", image, "--server-type", "bm", "--fixed-network",
            FLAT_NETWORK, "--external-network", "public", "--flavor", "bm.small",
            "--master-flavor", "bm.small", "--floating-ip-disabled", "-f", "json"]
    if network_driver:
        args += ["--network-driver", network_driver]
    template = clusters.parse_json(openstack_cli(
        "sandbox", "coe", "cluster", "template", "create",
        f"it-{coe}-bm-{uuid.uuid4().hex[:8]}", *args))
    yield template
    openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                  check=False)


def test_a_template_asking_for_what_baremetal_cannot_do_is_refused(openstack_cli):
    result = openstack_cli(
        "sandbox", "coe", "cluster", "template", "create", f"it-bad-{uuid.uuid4().hex[:8]}",
        "--coe", "kubernetes", "--image", clusters.IMAGE, "--server-type", "bm",
        "--fixed-network", FLAT_NETWORK, "--external-network", "public", "--flavor",
        "bm.small", "--floating-ip-disabled", "--docker-volume-size", "5", check=False)
    assert result.returncode != 0
    assert "docker_volume_size: baremetal nodes use their local disks" in (
        result.stdout + result.stderr)


def test_create_resize_and_delete_a_baremetal_cluster(openstack_cli, heat, bm_template):
    name = clusters.create(openstack_cli, bm_template, "--master-count", "1",
                           "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["api_address"]
    assert len(cluster["master_addresses"]) == 1 and len(cluster["node_addresses"]) == 2
    stacks = clusters.stacks_of(heat, cluster["uuid"])
    assert len(stacks) == 2 and all(s.stack_status == "CREATE_COMPLETE"
                                    for s in stacks.values())
    for stack in stacks.values():
        out = clusters.outputs(heat, stack.id)
        floating = out.get("node_floating_addresses") or out.get("master_floating_addresses")
        assert not any((floating or {}).values())  # a flat network: no floating IPs
    cluster_stack = next(s for n, s in stacks.items() if "-ng-" not in n)
    parameters = heat.stacks.get(cluster_stack.id).parameters
    assert parameters["master_flavor"] == "bm.small"
    assert parameters["docker_volume_size"] == "0"
    assert clusters.outputs(heat, cluster_stack.id)["network"] == FLAT_NETWORK

    openstack_cli("sandbox", "coe", "cluster", "resize", name, "3")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["node_count"] == 3 and len(cluster["node_addresses"]) == 3
    servers = clusters.worker_servers(heat, cluster["uuid"])
    assert len(servers) == 3

    victim = sorted(servers)[0]
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "1", "--nodes-to-remove",
                  victim)
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    left = clusters.worker_servers(heat, cluster["uuid"])
    assert len(left) == 1 and victim not in left

    clusters.delete(openstack_cli, heat, cluster)
