"""Which clusters the sandbox serves a COE API for, where and with which CA, as Heat's stacks
change: ClusterServers against a fake heatclient (see fakes), with real Kubernetes APIs where
the test is about what a client sees and recording stand-ins where it is about decisions."""

from contextlib import closing
import logging
import socket

import pytest

from fakes import (
    CLUSTER_STACK,
    CLUSTER_UUID,
    LIST_TAGGED,
    NG_UUID,
    FakeHeat,
    RecordingAPI,
    add_cluster,
    add_workers,
    admin_pair,
    change,
    kube_client,
    rotation_credentials,
)
from magnum_lite.common import x509
from magnum_lite_sandbox import cluster_apis


@pytest.fixture
def heat():
    return FakeHeat()


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("kubernetes")


@pytest.fixture
def servers():
    with closing(cluster_apis.ClusterServers()) as made:
        yield made


@pytest.fixture
def recorded():
    with closing(cluster_apis.ClusterServers(api_factory=RecordingAPI)) as made:
        yield made


def test_a_complete_cluster_is_served_with_its_masters_ca(heat, servers, ca, tmp_path):
    add_cluster(heat, ca, masters=2, workers=3)
    servers.sweep(heat)
    api = servers.clusters[CLUSTER_UUID].api
    # The LB's floating IP (the api_address) first, then every master's.
    assert list(api.addresses) == ["127.88.1.2", "127.88.2.3", "127.88.2.4"]
    core = kube_client(api, "127.88.1.2", tmp_path, ca.certificate, admin_pair(ca))
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == [
        "demo-0f6c2a-master-0", "demo-0f6c2a-master-1", "demo-0f6c2a-default-worker-0-0",
        "demo-0f6c2a-default-worker-0-1", "demo-0f6c2a-default-worker-0-2"]
    assert all([c.status for c in n.status.conditions if c.type == "Ready"] == ["True"]
               for n in nodes)
    assert nodes[0].status.node_info.kubelet_version == "v1.31.2"  # node.env KUBE_VERSION
    assert nodes[2].status.addresses[0].address == "10.0.1.10"
    # Found with one tagged listing, one GET per stack and one per server for its user data
    # (through the master_ids and node_ids outputs), plus one deployment listing for
    # earlier rotations.
    assert heat.calls == [LIST_TAGGED, ("stacks.get", f"{CLUSTER_STACK}/cs-1"),
                          ("stacks.get", "srv-m0"), ("stacks.get", "srv-m1"),
                          ("stacks.get", f"{CLUSTER_STACK}-ng-{NG_UUID}-0/ws-0"),
                          *[("stacks.get", f"srv-w0-{i}") for i in range(3)],
                          ("software_deployments.list", {})]


def test_a_cluster_is_not_served_before_its_stack_completes(heat, recorded, ca):
    add_cluster(heat, ca, status="CREATE_IN_PROGRESS")
    recorded.sweep(heat)
    assert recorded.clusters == {}
    assert "stacks.get" not in [c[0] for c in heat.calls]
    change(heat, "cs-1", "CREATE_COMPLETE", when=None)
    recorded.sweep(heat)
    assert recorded.clusters[CLUSTER_UUID].api.hosts[0] == "127.88.1.2"


def test_an_update_keeps_serving_and_rereads_only_what_changed(heat, recorded, ca):
    add_cluster(heat, ca, workers=2)
    recorded.sweep(heat)
    api = recorded.clusters[CLUSTER_UUID].api
    heat.calls.clear()
    # A resize: Heat updates the cluster stack and makes a second worker chunk.
    change(heat, "cs-1", "UPDATE_IN_PROGRESS")
    add_workers(heat, 1, 2, status="CREATE_IN_PROGRESS", ca=ca)
    recorded.sweep(heat)
    assert recorded.clusters[CLUSTER_UUID].api is api and not api.closed
    assert [c for c in heat.calls if c[0] == "stacks.get"] == []  # nothing read mid-build
    assert len(api.view.nodes) == 4
    change(heat, "cs-1", "UPDATE_COMPLETE", when="2026-11-21T18:11:00Z")
    change(heat, "ws-1", "CREATE_COMPLETE", when=None)
    heat.calls.clear()
    recorded.sweep(heat)
    # The two stacks that changed, and their servers (the masters' and the new chunk's);
    # chunk 0 did not change: neither it nor its servers are read.
    assert [c for c in heat.calls if c[0] == "stacks.get"] == [
        ("stacks.get", f"{CLUSTER_STACK}/cs-1"), ("stacks.get", "srv-m0"),
        ("stacks.get", "srv-m1"), ("stacks.get", f"{CLUSTER_STACK}-ng-{NG_UUID}-1/ws-1"),
        ("stacks.get", "srv-w1-0"), ("stacks.get", "srv-w1-1")]
    assert recorded.clusters[CLUSTER_UUID].api is api
    assert len(api.view.nodes) == 6


def test_serving_stops_when_the_cluster_is_deleted(heat, recorded, ca):
    add_cluster(heat, ca)
    recorded.sweep(heat)
    api = recorded.clusters[CLUSTER_UUID].api
    change(heat, "cs-1", "DELETE_IN_PROGRESS")
    recorded.sweep(heat)
    assert api.closed and CLUSTER_UUID not in recorded.clusters


def test_serving_stops_when_the_stacks_are_gone(heat, servers, ca):
    add_cluster(heat, ca)
    servers.sweep(heat)
    api = servers.clusters[CLUSTER_UUID].api
    port = api.addresses["127.88.1.2"]
    for sid in ("cs-1", "ws-0"):
        del heat.stacks_by_id[sid]
    servers.sweep(heat)
    assert servers.clusters == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.88.1.2", port), timeout=2).close()


def test_a_cluster_without_a_loopback_address_is_told_once(heat, recorded, ca, caplog):
    add_cluster(heat, ca, lb_fip=None, master_fips=False)
    with caplog.at_level(logging.INFO, logger="magnum_lite_sandbox.cluster_apis"):
        recorded.sweep(heat)
        change(heat, "cs-1", "UPDATE_COMPLETE")
        recorded.sweep(heat)
    told = [r for r in caplog.records if "no loopback address" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO
    assert recorded.clusters[CLUSTER_UUID].api is None


def test_without_master_ids_the_servers_are_found_among_the_resources(heat, recorded, ca):
    add_cluster(heat, ca, master_ids=False)
    recorded.sweep(heat)
    assert ("resources.list", "cs-1") in heat.calls
    assert recorded.clusters[CLUSTER_UUID].api.ca == ca


def test_applied_credentials_switch_the_ca_and_outlast_the_user_data(heat, recorded, ca):
    add_cluster(heat, ca)
    recorded.sweep(heat)
    new_ca = x509.generate_ca("kubernetes")
    recorded.apply_credentials(CLUSTER_UUID, rotation_credentials(new_ca))
    assert recorded.clusters[CLUSTER_UUID].api.ca == new_ca
    with pytest.raises(ValueError):
        recorded.apply_credentials(CLUSTER_UUID, "{not json")
    # The stack update completes; master 0's user data still holds the old CA.
    change(heat, "cs-1", "UPDATE_COMPLETE")
    recorded.sweep(heat)
    assert recorded.clusters[CLUSTER_UUID].api.ca == new_ca


def test_after_a_restart_the_newest_applied_credentials_win(heat, recorded, ca):
    add_cluster(heat, ca)
    older, newer = x509.generate_ca("kubernetes"), x509.generate_ca("kubernetes")
    for dep, rotated, when in (("d1", newer, "2026-11-21T19:00:00Z"),
                               ("d0", older, "2026-11-21T18:30:00Z")):
        heat.deployments[dep] = {"status": "COMPLETE", "action": "UPDATE",
                                 "updated_time": when, "input_values": {
                                     "cluster_uuid": CLUSTER_UUID,
                                     "credentials": rotation_credentials(rotated)}}
    heat.deployments["other-cluster"] = {
        "status": "COMPLETE", "action": "UPDATE", "updated_time": "2026-11-21T20:00:00Z",
        "input_values": {"cluster_uuid": "another", "credentials": rotation_credentials(older)}}
    recorded.sweep(heat)
    assert recorded.clusters[CLUSTER_UUID].api.ca == newer


def test_api_hosts_follow_the_drivers_api_address_order():
    outputs = {"lb_floating_ip": None, "lb_vip": "10.0.0.5",
               "master_floating_addresses": {"0": "127.1.2.3", "1": "127.1.2.4"},
               "master_private_addresses": {"0": "10.0.0.10"}}
    assert cluster_apis.api_hosts(outputs) == ["127.1.2.3", "127.1.2.4"]
    assert cluster_apis.api_hosts({**outputs, "lb_floating_ip": "127.9.9.9"})[0] == "127.9.9.9"
    assert cluster_apis.api_hosts({"lb_vip": "10.0.0.5",
                                   "master_private_addresses": {"0": "10.0.0.10"}}) == []


