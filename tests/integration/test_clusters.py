"""Kubernetes clusters through the whole stack: the `openstack coe` CLI, magnum-lite-api with
real Keystone tokens, the conductor and its reconciler, the k8s_ubuntu_v1 driver, and real Heat
building the stacks (the sandbox simulates the servers inside them).

Each test checks both what the API says and what Heat holds: the cluster's stacks, the
servers in their outputs, and that nothing of a deleted cluster is left in Heat.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

def test_create_resize_and_delete_a_cluster(openstack_cli, heat, make_template):
    template = make_template()
    name = clusters.create(openstack_cli, template, "--master-count", "1", "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["api_address"].startswith("https://") and ":6443" in cluster["api_address"]
    assert len(cluster["master_addresses"]) == 1 and len(cluster["node_addresses"]) == 2
    assert cluster["coe_version"]
    stacks = clusters.stacks_of(heat, cluster["uuid"])
    assert len(stacks) == 2 and all(s.stack_status == "CREATE_COMPLETE"
                                    for s in stacks.values())
    assert len(clusters.worker_servers(heat, cluster["uuid"])) == 2

    openstack_cli("sandbox", "coe", "cluster", "resize", name, "4")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["node_count"] == 4 and len(cluster["node_addresses"]) == 4
    servers = clusters.worker_servers(heat, cluster["uuid"])
    assert len(servers) == 4

    victim = sorted(servers)[1]
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "1", "--nodes-to-remove",
                  victim)
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    assert cluster["node_count"] == 1
    left = clusters.worker_servers(heat, cluster["uuid"])
    assert len(left) == 1 and victim not in left
    assert cluster["node_addresses"] == list(left.values())

    clusters.delete(openstack_cli, heat, cluster)


def test_three_masters_sit_behind_a_load_balancer(openstack_cli, heat, make_template):
    template = make_template(master_lb=True)
    name = clusters.create(openstack_cli, template, "--master-count", "3", "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert len(cluster["master_addresses"]) == 3
    cluster_stack = next(s for n, s in clusters.stacks_of(heat, cluster["uuid"]).items()
                         if "-ng-" not in n)
    outputs = clusters.outputs(heat, cluster_stack.id)
    assert outputs["lb_vip"] and outputs["lb_floating_ip"]
    # Users reach the API through the load balancer's floating IP, not through a master.
    assert cluster["api_address"] == f"https://{outputs['lb_floating_ip']}:6443"
    assert outputs["lb_floating_ip"] not in cluster["master_addresses"]
    clusters.delete(openstack_cli, heat, cluster)


@pytest.mark.disruptive  # loads Heat so that sandbox tests beside it time out
def test_a_fifty_node_cluster(openstack_cli, heat, make_template):
    template = make_template()
    name = clusters.create(openstack_cli, template, "--node-count", "50")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["node_count"] == 50 and len(set(cluster["node_addresses"])) == 50
    assert len(clusters.worker_servers(heat, cluster["uuid"])) == 50
    clusters.delete(openstack_cli, heat, cluster)


def test_a_failing_server_fails_the_cluster_naming_the_resource(openstack_cli, heat,
                                                                  make_template):
    template = make_template(flavor="sandbox.fail")
    name = clusters.create(openstack_cli, template, "--node-count", "1")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_FAILED"
    reason = cluster["status_reason"]
    assert "no_valid_host" in reason and "Test Resource failed" in reason, reason
    clusters.delete(openstack_cli, heat, cluster)


@pytest.mark.disruptive  # loads Heat so that sandbox tests beside it time out
def test_a_thousand_node_cluster_passes_heats_preview(sandbox):
    """Chunked into stacks under Heat's default max_resources_per_stack (1,000), a 1,000-node
    cluster is accepted by Heat's preview: the cluster stack and every chunk."""
    from magnum_lite.common import context as ml_context
    from magnum_lite.conf import CONF
    from magnum_lite.drivers.heat import chunks
    from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
    from magnum_lite.objects import Cluster, ClusterTemplate, NodeGroup

    session = clusters.session(sandbox)
    auth = session.auth
    CONF.set_override("region_name", sandbox["region"], "heat")
    try:
        context = ml_context.RequestContext(
            auth_token=session.get_token(), project_id=session.get_project_id(),
            user_id=session.get_user_id(), roles=["member"],
            service_catalog=auth.get_access(session).service_catalog.catalog)
        cluster = Cluster(uuid=str(uuid.uuid4()), name="preview-1000", labels={},
                          join_token=None, master_count=3, master_lb_enabled=True,
                          floating_ip_enabled=True, docker_volume_size=5, keypair=None,
                          fixed_network=None, fixed_subnet=None, master_flavor_id=None,
                          flavor_id=None, create_timeout=60, project_id=context.project_id)
        template = ClusterTemplate(labels={}, network_driver="flannel", image_id=clusters.IMAGE,
                                   external_network_id="public", floating_ip_enabled=True,
                                   flavor_id="m1.small", master_flavor_id="m1.medium",
                                   dns_nameserver="8.8.8.8", docker_volume_size=5,
                                   keypair_id=None, fixed_network=None, fixed_subnet=None,
                                   http_proxy=None, https_proxy=None, no_proxy=None,
                                   server_type="vm")
        masters = NodeGroup(uuid=str(uuid.uuid4()), name="default-master", role="master",
                            node_count=3, image_id=clusters.IMAGE, flavor_id=None,
                            node_labels={}, node_taints=[], server_type=None,
                            availability_zone=None)
        workers = NodeGroup(uuid=str(uuid.uuid4()), name="default-worker", role="worker",
                            node_count=1000, image_id=clusters.IMAGE, flavor_id=None,
                            node_labels={}, node_taints=[], server_type=None,
                            availability_zone=None)
        previews = k8s.K8sUbuntuV1().create_dry_run(context, cluster, template,
                                                    [masters, workers])
    finally:
        CONF.clear_override("region_name", "heat")
    per_stack = chunks.nodes_per_stack(1000)
    assert len(previews) == 1 + -(-1000 // per_stack)
    chunk_previews = [p.get("stack", p) for name, p in previews.items() if "-ng-" in name]
    # Each chunk's preview holds its ResourceGroup's members (a list, one entry per node)
    # beside the credentials' software config.
    assert sum(len(r) for p in chunk_previews for r in p["resources"]
               if isinstance(r, list)) == 1000
