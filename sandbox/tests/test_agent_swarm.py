"""The guest agent plays a swarm-mode cluster: it reads the COE from master 0's node.env
(swarm_fedora_v2's user data), serves a Docker API at the stack's api_port with the CA the
managers hold, and reports the worker join token from manager 0's join step."""

from __future__ import annotations

import http.client
import json
import types

import pytest

from fakes import (
    CLUSTER_UUID,
    MEMBER_TEMPLATE,
    FakeHeat,
    RecordingAPI,
    add_cluster,
    res,
)
from magnum_lite.common import x509
from magnum_lite.drivers import base
from magnum_lite.drivers.swarm_fedora_v2.driver import SwarmFedoraV2
from magnum_lite_sandbox import agent, cluster_apis, docker_api, user_data
from test_docker_api import _client_pair, _context
from tests.unit.drivers.heat.conftest import make_cluster, make_nodegroup, make_template


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("swarm")


def swarm_master_user_data(ca: x509.KeyPair, public: str | None = "127.88.1.2") -> str:
    """Manager user data exactly as the plugin renders it, with what Heat puts in for the
    control plane's address (the load balancer's VIP) and the public one (by default the
    load balancer's floating IP, fakes.add_cluster's api_address)."""
    cluster = make_cluster(uuid=CLUSTER_UUID, name="swarm", master_count=1)
    template = make_template(coe="swarm-mode", cluster_distro="fedora", image_id="fedora-40",
                             labels={"docker_version": "26.1.4"})
    masters = make_nodegroup(cluster, "default-master", "master", 1)
    creds = base.ClusterCredentials(cas={"ca": types.SimpleNamespace(
        certificate=ca.certificate, private_key=ca.private_key)})
    return SwarmFedoraV2().render_user_data(cluster, template, masters, "10.0.0.5", public,
                                            creds)


def test_boot_info_reads_the_coe_and_the_managers_ca(ca):
    boot = user_data.boot_info(swarm_master_user_data(ca))
    assert boot.coe == user_data.SWARM_MODE and boot.env["DOCKER_VERSION"] == "26.1.4"
    assert boot.ca == x509.KeyPair(certificate=ca.certificate, private_key=ca.private_key)


def test_a_swarm_cluster_gets_a_docker_api_at_its_api_port(ca):
    heat = FakeHeat()
    kube, docker = [], []
    servers = cluster_apis.ClusterServers(
        api_factory=lambda *a: kube.append(RecordingAPI(*a)) or kube[-1],
        docker_factory=lambda *a: docker.append(RecordingAPI(*a)) or docker[-1])
    add_cluster(heat, ca, masters=1, workers=2, user_data=swarm_master_user_data(ca),
                port="2376")
    servers.sweep(heat)
    assert not kube and len(docker) == 1
    api = docker[0]
    assert api.port == 2376 and isinstance(api.view, docker_api.DockerView)
    assert api.view.docker_version == "26.1.4"
    assert [n.role for n in api.view.nodes] == ["master", "worker", "worker"]
    assert api.hosts[0] == "127.88.1.2"


def test_the_docker_api_serves_what_the_cluster_has(ca):
    heat = FakeHeat()
    servers = cluster_apis.ClusterServers()
    try:
        add_cluster(heat, ca, masters=1, workers=2, user_data=swarm_master_user_data(ca))
        servers.sweep(heat)
        api = servers.clusters[CLUSTER_UUID].api
        assert isinstance(api, docker_api.DockerAPI)
        host = "127.88.1.2"  # the load balancer's simulated floating IP: the api_address
        conn = http.client.HTTPSConnection(host, api.addresses[host], timeout=10,
                                           context=_context(ca, _client_pair(ca)))
        try:
            conn.request("GET", "/v1.43/info")
            info = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        assert (info["Swarm"]["Nodes"], info["Swarm"]["Managers"]) == (3, 1)
        assert info["ServerVersion"] == "26.1.4"
    finally:
        servers.close()


def test_a_kubernetes_cluster_stays_on_the_kube_api(ca):
    heat = FakeHeat()
    kube, docker = [], []
    servers = cluster_apis.ClusterServers(
        api_factory=lambda *a: kube.append(RecordingAPI(*a)) or kube[-1],
        docker_factory=lambda *a: docker.append(RecordingAPI(*a)) or docker[-1])
    add_cluster(heat, ca, masters=1, workers=1)
    servers.sweep(heat)
    assert len(kube) == 1 and not docker


def test_the_join_step_reports_the_worker_token():
    heat = FakeHeat()
    heat.add_stack("m1", "cluster-join_tokens-abc", MEMBER_TEMPLATE, {
        "deployment": res("OS::Heat::SoftwareDeployment", "CREATE_IN_PROGRESS", "dep-1")})
    heat.deployments["dep-1"] = {"status": "IN_PROGRESS", "action": "CREATE",
                                 "input_values": {"swarm_cluster_uuid": CLUSTER_UUID}}
    heat.deployments["dep-2"] = {"status": "IN_PROGRESS", "action": "CREATE",
                                 "input_values": {}}
    agent.Agent(heat, lambda *a: None).sweep()
    outputs = {c[1]: c[2]["output_values"] for c in heat.calls
               if c[0] == "software_deployments.update"}
    assert outputs["dep-1"]["worker_token"] == docker_api.join_token(CLUSTER_UUID)
    assert outputs["dep-1"]["deploy_status_code"] == 0
    assert "worker_token" not in outputs["dep-2"]
