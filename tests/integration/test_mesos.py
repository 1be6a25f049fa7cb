"""Mesos clusters (mesos_ubuntu_v1) through the whole stack: the `openstack coe` CLI,
magnum-lite-api, the conductor, real Heat building the stacks, and the sandbox's guest agent
playing the masters: it serves the Mesos master API (`/master/state`) at the cluster's
api_address over TLS with the cluster's CA, listing the worker servers Heat holds as agents."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

# How long the guest agent may take to follow a cluster's servers after a resize.
AGENT_FOLLOW_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def mesos_template(openstack_cli):
    name = f"it-mesos-{uuid.uuid4().hex[:8]}"
    result = openstack_cli("sandbox", "coe", "cluster", "template", "create", name,
                           "--coe", "mesos", "--image", clusters.IMAGE,
                           "--server-type", "vm", "--external-network", "public",
                           "--flavor", "m1.small", "--master-flavor", "m1.medium",
                           "--network-driver", "docker", "--docker-volume-size", "5",
                           "-f", "json", check=False)
    if result.returncode != 0 and "no installed driver" in result.stdout + result.stderr:
        pytest.skip("the mesos_ubuntu_v1 plugin is not installed (setup.cfg entry point)")
    assert result.returncode == 0, result.stdout + result.stderr
    template = clusters.parse_json(result)
    yield template
    openstack_cli("sandbox", "coe", "cluster", "template", "delete", template["uuid"],
                  check=False)


@pytest.fixture
def cleanup(openstack_cli):
    """Names of clusters to delete should the test stop before deleting them itself."""
    names: list[str] = []
    yield names
    for name in names:
        if clusters.show(openstack_cli, name) is not None:
            openstack_cli("sandbox", "coe", "cluster", "delete", name, check=False)
            clusters.settle(openstack_cli, name)


def _master_state(api_address: str, ca_file: str) -> dict:
    """GET /master/state at the cluster's api_address, verifying the server with the CA."""
    address = urllib.parse.urlsplit(api_address)
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(address.hostname, address.port, context=context,
                                       timeout=10)
    try:
        conn.request("GET", "/master/state")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body)
    finally:
        conn.close()


def _wait_for_agents(api_address: str, ca_file: str, hosts: set[str]) -> dict:
    """/master/state once its activated agents are exactly `hosts` (the workers' addresses)."""
    deadline = time.monotonic() + AGENT_FOLLOW_TIMEOUT
    while True:
        state = _master_state(api_address, ca_file)
        seen = {s["hostname"] for s in state["slaves"] if s["active"]}
        if state["activated_slaves"] == len(hosts) and seen == hosts:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"/master/state lists agents {sorted(seen)} "
                        f"({state['activated_slaves']} activated), not {sorted(hosts)}, "
                        f"after {AGENT_FOLLOW_TIMEOUT}s")
        time.sleep(0.5)


def _private_addresses(heat, cluster_uuid: str) -> set[str]:
    """The private addresses of the workers Heat holds: the agents' Mesos hostnames."""
    addresses = set()
    for name, stack in clusters.stacks_of(heat, cluster_uuid).items():
        if "-ng-" in name:
            addresses |= set((clusters.outputs(heat, stack.id)
                              .get("node_private_addresses") or {}).values())
    return addresses


def test_create_use_resize_and_delete_a_mesos_cluster(openstack_cli, heat, mesos_template,
                                                      tmp_path, cleanup):
    name = clusters.create(openstack_cli, mesos_template, "--master-count", "1",
                           "--node-count", "2")
    cleanup.append(name)
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    api = urllib.parse.urlsplit(cluster["api_address"])
    assert (api.scheme, api.port) == ("https", 5050), cluster["api_address"]
    assert api.hostname.startswith("127.")
    assert len(cluster["master_addresses"]) == 1 and len(cluster["node_addresses"]) == 2
    assert cluster["coe_version"]
    stacks = clusters.stacks_of(heat, cluster["uuid"])
    assert len(stacks) == 2

    # The Mesos master API at api_address, its certificate verified with the cluster CA.
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(clusters.pem_of(
        openstack_cli("sandbox", "coe", "ca", "show", cluster["uuid"]).stdout))
    state = _wait_for_agents(cluster["api_address"], str(ca_file),
                             _private_addresses(heat, cluster["uuid"]))
    assert state["activated_slaves"] == 2 and len(state["slaves"]) == 2
    assert state["leader_info"]["port"] == 5050
    assert [f["name"] for f in state["frameworks"]] == ["marathon"]

    openstack_cli("sandbox", "coe", "cluster", "resize", name, "3")
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    servers = clusters.worker_servers(heat, cluster["uuid"])
    assert len(servers) == 3 and len(cluster["node_addresses"]) == 3
    _wait_for_agents(cluster["api_address"], str(ca_file),
                     _private_addresses(heat, cluster["uuid"]))

    victim = sorted(servers)[0]
    openstack_cli("sandbox", "coe", "cluster", "resize", name, "1", "--nodes-to-remove",
                  victim)
    cluster = clusters.settle(openstack_cli, name)
    assert cluster["status"] == "UPDATE_COMPLETE", cluster["status_reason"]
    left = clusters.worker_servers(heat, cluster["uuid"])
    assert len(left) == 1 and victim not in left
    assert len(cluster["node_addresses"]) == 1
    state = _wait_for_agents(cluster["api_address"], str(ca_file),
                             _private_addresses(heat, cluster["uuid"]))
    assert state["activated_slaves"] == 1

    clusters.delete(openstack_cli, heat, cluster)


def test_an_even_master_count_is_refused(openstack_cli, mesos_template, cleanup):
    name = f"it-{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    result = openstack_cli("sandbox", "coe", "cluster", "create", name, "--cluster-template",
                           mesos_template["uuid"], "--master-count", "2",
                           "--master-lb-enabled", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "(HTTP 400)" in output and "master_count" in output, output
    assert clusters.show(openstack_cli, name) is None  # nothing was made
