"""Docker swarm-mode clusters (swarm_fedora_v2) through the whole stack: the `openstack coe`
CLI, magnum-lite-api, the conductor, real Heat building the stacks, and the sandbox's guest
agent playing the managers: it reports the worker join token from manager 0's join step and
serves the Docker API that `openstack coe cluster config` points DOCKER_HOST at."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
import ssl
import urllib.parse
import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

FEDORA_IMAGE = "fedora-40"  # the stand-in Glance's Fedora image (os_distro fedora)


@pytest.fixture(scope="module")
def swarm_template(openstack_cli):
    name = f"it-swarm-{uuid.uuid4().hex[:8]}"
    result = openstack_cli("sandbox", "coe", "cluster", "template", "create", name,
                           "--coe", "swarm-mode", "--image", FEDORA_IMAGE,
                           "--server-type", "vm", "--external-network", "public",
                           "--flavor", "m1.small", "--master-flavor", "m1.medium",
                           "--network-driver", "docker", "--docker-volume-size", "5",
                           "--docker-storage-driver", "overlay2", "-f", "json", check=False)
    if result.returncode != 0 and "no installed driver" in result.stdout + result.stderr:
        pytest.skip("the swarm_fedora_v2 plugin is not installed (setup.cfg entry point)")
    assert result.returncode == 0, result.stdout + result.stderr
    template = clusters.parse_json(result)
    yield template
    openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                  check=False)


def _docker_get(env: dict[str, str], path: str) -> dict:
    """GET on the Docker API as a Docker client does with DOCKER_TLS_VERIFY=1."""
    address = urllib.parse.urlsplit(env["DOCKER_HOST"])
    certs = Path(env["DOCKER_CERT_PATH"])
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
    conn = http.client.HTTPSConnection(address.hostname, address.port, context=context,
                                       timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        conn.close()


def test_create_use_resize_and_delete_a_swarm(openstack_cli, heat, swarm_template, tmp_path):
    name = clusters.create(openstack_cli, swarm_template, "--master-count", "1",
                           "--node-count", "2")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert cluster["api_address"].startswith("tcp://")
    assert cluster["api_address"].endswith(":2376")
    assert len(cluster["master_addresses"]) == 1 and len(cluster["node_addresses"]) == 2
    assert cluster["coe_version"]
    stacks = clusters.stacks_of(heat, cluster["uuid"])
    assert len(stacks) == 2
    [cluster_stack] = [s for n, s in stacks.items() if "-ng-" not in n]
    token = clusters.outputs(heat, cluster_stack.id)["worker_join_token"]
    assert token.startswith("SWMTKN-1-")
    assert token not in json.dumps(cluster)  # never through Magnum's API

    # The Docker TLS environment from `cluster config` reaches the swarm's API.
    out = openstack_cli("sandbox", "coe", "cluster", "config", cluster["uuid"], "--dir",
                        str(tmp_path), "--force", "--output-certs").stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines()
               if line.startswith("export "))
    assert env["DOCKER_HOST"] == cluster["api_address"]
    assert env["DOCKER_TLS_VERIFY"] == "True" or env["DOCKER_TLS_VERIFY"] == "1"
    assert {p.name for p in tmp_path.iterdir()} >= {"ca.pem", "cert.pem", "key.pem"}
    info = _docker_get(env, "/v1.43/info")
    assert info["Swarm"]["LocalNodeState"] == "active"
    assert (info["Swarm"]["Nodes"], info["Swarm"]["Managers"]) == (3, 1)
    nodes = _docker_get(env, "/nodes")
    assert sorted(n["Spec"]["Role"] for n in nodes) == ["manager", "worker", "worker"]

    openstack_cli("sandbox", "coe", "cluster", "resize", name, "3")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    servers = clusters.worker_servers(heat, cluster["uuid"])
    assert len(servers) == 3 and len(cluster["node_addresses"]) == 3

    victim = sorted(servers)[0]
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "1", "--nodes-to-remove",
                  victim)
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    left = clusters.worker_servers(heat, cluster["uuid"])
    assert len(left) == 1 and victim not in left

    clusters.delete(openstack_cli, heat, cluster)


def test_an_even_manager_count_is_refused(openstack_cli, swarm_template):
    name = f"it-{uuid.uuid4().hex[:8]}"
    result = openstack_cli("sandbox", "coe", "cluster", "create", name, "--cluster-template",
                           swarm_template["uuid"], "--master-count", "2",
                           "--master-lb-enabled", check=False)
    # The API answers 400 once it consults the plugin's validate_cluster; until then the
    # conductor fails the cluster with the same reason.
    if result.returncode == 0:
        cluster = clusters.settle(openstack_cli, name)
        assert cluster["status"] == "CREATE_FAILED"
        assert "odd number of managers" in cluster["status_reason"]
        openstack_cli("sandbox", "coe", "cluster", "delete", name, check=False)
        clusters.settle(openstack_cli, name)
    else:
        assert "(HTTP 400)" in result.stdout + result.stderr
        assert "odd number of managers" in result.stdout + result.stderr
