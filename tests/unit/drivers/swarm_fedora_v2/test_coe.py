"""Draining swarm nodes through a faithful Docker Engine API over TLS (client certificates
required): availability drain with the version index, waiting for the tasks, uncordon."""

from __future__ import annotations

import json
import types
import urllib.parse

import pytest

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base, coe_http
from magnum_lite.drivers.swarm_fedora_v2 import coe
from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm_driver
from tests.unit.drivers import coe_servers


@pytest.fixture(autouse=True)
def fresh_contexts(config):
    config.set_override("key_type", "ec", group="x509")
    coe_http.forget_contexts()
    yield
    coe_http.forget_contexts()


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA test", key_type="ec")


@pytest.fixture
def docker(ca):
    with coe_servers.FakeDocker(ca) as server:
        server.add_node("s-master-0", role="manager")
        server.add_node("s-worker-0")
        server.add_node("s-worker-1", state="down", engine="24.0.9")
        yield server


def nodes_of(server, ca) -> coe.SwarmNodes:
    return coe.SwarmNodes(f"tcp://127.0.0.1:{server.port}",
                          lambda: base.ClusterCredentials(cas={"ca": ca}))


def tasks_of(node_id: str) -> str:
    return "GET /v1.41/tasks?" + urllib.parse.urlencode(
        {"filters": json.dumps({"node": [node_id]})})


def test_nodes_by_hostname(docker, ca):
    docker.node("s-worker-0")["Spec"]["Availability"] = "drain"
    assert nodes_of(docker, ca).nodes() == {
        "s-master-0": base.NodeHealth("s-master-0", True, "27.3.1", True, None),
        "s-worker-0": base.NodeHealth("s-worker-0", True, "27.3.1", False, None),
        "s-worker-1": base.NodeHealth("s-worker-1", False, "24.0.9", True, "the node is down"),
    }
    assert docker.seen() == ["GET /v1.41/nodes"]
    assert docker.requests == []


def test_drain_sets_availability_with_the_version_and_waits_for_the_tasks(docker, ca):
    worker = docker.node("s-worker-0")
    docker.add_task(worker["ID"])
    docker.add_task(worker["ID"], desired="shutdown", state="complete")  # history
    nodes = nodes_of(docker, ca)
    assert nodes.drain(["s-worker-0"]) is False  # told to stop, still running
    assert docker.seen() == [
        "GET /v1.41/nodes", f"POST /v1.41/nodes/{worker['ID']}/update?version=11",
        tasks_of(worker["ID"])]
    assert worker["Spec"] == {"Labels": {"magnum.openstack.org/role": "worker"},
                              "Role": "worker", "Availability": "drain"}
    docker.settle()
    assert nodes.drain(["s-worker-0"]) is True
    # Already drained: no second update.
    assert docker.seen() == ["GET /v1.41/nodes", tasks_of(worker["ID"])]


def test_a_manager_keeps_its_role(docker, ca):
    nodes_of(docker, ca).drain(["s-master-0"])
    assert docker.node("s-master-0")["Spec"]["Role"] == "manager"
    assert docker.node("s-master-0")["Spec"]["Availability"] == "drain"


def test_a_stale_version_index_is_read_again_next_round(docker, ca):
    docker.conflicts = 1  # someone else updated the node between our read and our write
    nodes = nodes_of(docker, ca)
    assert nodes.drain(["s-worker-0"]) is False
    assert docker.node("s-worker-0")["Spec"]["Availability"] == "active"
    assert nodes.drain(["s-worker-0"]) is True
    lines = docker.seen()
    worker_id = docker.node("s-worker-0")["ID"]
    assert lines == ["GET /v1.41/nodes", f"POST /v1.41/nodes/{worker_id}/update?version=11",
                     "GET /v1.41/nodes", f"POST /v1.41/nodes/{worker_id}/update?version=12",
                     tasks_of(worker_id)]


def test_a_down_nodes_stale_running_tasks_do_not_hold_the_drain(docker, ca):
    """A down node's tasks keep the state it last reported; what swarm means to run counts."""
    down = docker.node("s-worker-1")
    docker.add_task(down["ID"])
    assert nodes_of(docker, ca).drain(["s-worker-1"]) is True  # desired shutdown now


def test_a_node_swarm_does_not_know_counts_as_drained(docker, ca):
    assert nodes_of(docker, ca).drain(["s-gone-7"]) is True
    assert docker.seen() == ["GET /v1.41/nodes"]


def test_uncordon(docker, ca):
    nodes = nodes_of(docker, ca)
    nodes.drain(["s-worker-0", "s-master-0"])
    docker.seen()
    nodes.uncordon(["s-worker-0", "s-master-0", "s-gone-7"])
    assert docker.node("s-worker-0")["Spec"]["Availability"] == "active"
    assert docker.node("s-master-0")["Spec"] == {
        "Labels": {"magnum.openstack.org/role": "manager"}, "Role": "manager",
        "Availability": "active"}
    assert len([line for line in docker.seen() if "/update?" in line]) == 2


def test_uncordon_reads_a_stale_node_again_once(docker, ca):
    docker.node("s-worker-0")["Spec"]["Availability"] = "drain"
    docker.conflicts = 1
    nodes_of(docker, ca).uncordon(["s-worker-0"])
    worker_id = docker.node("s-worker-0")["ID"]
    assert docker.node("s-worker-0")["Spec"]["Availability"] == "active"
    assert docker.seen() == ["GET /v1.41/nodes",
                             f"POST /v1.41/nodes/{worker_id}/update?version=11",
                             f"GET /v1.41/nodes/{worker_id}",
                             f"POST /v1.41/nodes/{worker_id}/update?version=12"]
    docker.node("s-worker-0")["Spec"]["Availability"] = "drain"
    docker.conflicts = 2
    with pytest.raises(exception.CoeError, match="update out of sequence twice"):
        nodes_of(docker, ca).uncordon(["s-worker-0"])


def test_a_refused_update_names_the_request(docker, ca, monkeypatch):
    monkeypatch.setattr(coe, "OUT_OF_SEQUENCE", "something else")
    docker.conflicts = 1
    with pytest.raises(exception.CoeError, match=r"POST /v1\.41/nodes/.*/update: 500 Internal "
                                                 r"Server Error: rpc error: code = Unknown "
                                                 r"desc = update out of sequence"):
        nodes_of(docker, ca).drain(["s-worker-0"])


def test_the_client_certificate_is_the_conductors(docker, ca):
    nodes_of(docker, ca).nodes()
    assert docker.requests[0].subject == {"CN": ["magnum-lite-conductor"], "O": []}


def test_an_unreachable_api(ca):
    nodes = coe.SwarmNodes(f"tcp://127.0.0.1:{coe_servers.free_port()}",
                           lambda: base.ClusterCredentials(cas={"ca": ca}))
    with pytest.raises(exception.CoeUnreachable, match="Docker"):
        nodes.nodes()


def test_a_manager_of_another_ca_is_refused(ca):
    with coe_servers.FakeDocker(x509.generate_ca("other", key_type="ec")) as server:
        with pytest.raises(exception.CoeError, match="does not verify against the cluster CA"):
            nodes_of(server, ca).drain(["s-worker-0"])


def test_the_driver_gives_its_client_on_the_docker_port():
    cluster = types.SimpleNamespace(api_address="tcp://192.0.2.8:2376")
    nodes = swarm_driver.SwarmFedoraV2({}).coe_nodes(
        cluster, types.SimpleNamespace(tls_disabled=False), credentials=lambda: None)
    assert isinstance(nodes, coe.SwarmNodes)
    assert (nodes._api.host, nodes._api.port) == ("192.0.2.8", 2376)
