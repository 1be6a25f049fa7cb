"""Draining Kubernetes nodes through a faithful API server over TLS: cordon, evictions under
PodDisruptionBudgets, what a drain leaves alone, uncordon."""

from __future__ import annotations

import types

import pytest

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base, coe_http
from magnum_lite.drivers.k8s_ubuntu_v1 import coe
from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s_driver
from tests.unit.drivers import coe_servers
from tests.unit.drivers.coe_servers import Pod

NODES = "/api/v1/nodes"
PODS_OF = "GET /api/v1/pods?fieldSelector=spec.nodeName%3D{}&limit=500"
EVICT = "POST /api/v1/namespaces/{}/pods/{}/eviction"


@pytest.fixture(autouse=True)
def fresh_contexts():
    coe_http.forget_contexts()
    yield
    coe_http.forget_contexts()


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA test", key_type="rsa", key_size=2048)  # as clusters have


@pytest.fixture
def api(ca):
    with coe_servers.FakeKubernetes(ca) as server:
        server.add_node("k-master-0")
        server.add_node("k-worker-0")
        server.add_node("k-worker-1", ready=False, version="v1.29.8")
        yield server


def nodes_of(server, ca) -> coe.KubernetesNodes:
    return coe.KubernetesNodes(f"https://127.0.0.1:{server.port}",
                               lambda: base.ClusterCredentials(cas={"ca": ca}))


def test_nodes_with_readiness_version_and_cordon(api, ca):
    api.nodes["k-worker-0"]["unschedulable"] = True
    found = nodes_of(api, ca).nodes()
    assert found == {
        "k-master-0": base.NodeHealth("k-master-0", True, "v1.30.4", True, None),
        "k-worker-0": base.NodeHealth("k-worker-0", True, "v1.30.4", False, None),
        "k-worker-1": base.NodeHealth("k-worker-1", False, "v1.29.8", True,
                                      "Kubelet stopped posting node status."),
    }
    assert api.seen() == ["GET /api/v1/nodes?limit=500"]


def test_lists_are_read_page_by_page(api, ca, monkeypatch):
    monkeypatch.setattr(coe, "PAGE_SIZE", 2)
    assert len(nodes_of(api, ca).nodes()) == 3
    assert api.seen() == ["GET /api/v1/nodes?limit=2", "GET /api/v1/nodes?limit=2&continue=2"]


def test_the_client_certificate_is_a_cluster_admins(api, ca):
    nodes_of(api, ca).drain(["k-worker-0"])
    assert {r.subject["CN"][0] for r in api.requests} == {"magnum-lite-conductor"}
    assert {tuple(r.subject["O"]) for r in api.requests} == {("system:masters",)}


def test_drain_cordons_evicts_and_is_done_once_the_pods_are_gone(api, ca):
    api.pods = [Pod("web-1", "k-worker-0"), Pod("db-0", "k-worker-0", namespace="data",
                                                owner="StatefulSet"),
                Pod("web-2", "k-worker-1")]
    nodes = nodes_of(api, ca)
    assert nodes.drain(["k-worker-0"]) is False  # evicted, still terminating
    assert api.seen() == [f"PATCH {NODES}/k-worker-0", PODS_OF.format("k-worker-0"),
                          EVICT.format("default", "web-1"), EVICT.format("data", "db-0")]
    assert api.nodes["k-worker-0"]["unschedulable"] is True
    assert api.nodes["k-worker-1"]["unschedulable"] is False
    # A terminating pod is not evicted again; the drain waits for it.
    assert nodes.drain(["k-worker-0"]) is False
    assert api.seen() == [f"PATCH {NODES}/k-worker-0", PODS_OF.format("k-worker-0")]
    api.finish_terminations()
    assert nodes.drain(["k-worker-0"]) is True
    assert [p.name for p in api.pods] == ["web-2"]


def test_the_cordon_is_a_merge_patch_of_unschedulable(api, ca):
    nodes_of(api, ca).drain(["k-worker-0"])
    patch = api.requests[0]
    assert patch.headers["content-type"] == "application/merge-patch+json"
    assert patch.body == {"spec": {"unschedulable": True}}


def test_the_eviction_is_a_policy_v1_eviction_of_the_pod(api, ca):
    api.pods = [Pod("web-1", "k-worker-0", namespace="shop")]
    nodes_of(api, ca).drain(["k-worker-0"])
    assert api.requests[-1].body == {"apiVersion": "policy/v1", "kind": "Eviction",
                                     "metadata": {"name": "web-1", "namespace": "shop"}}


def test_a_disruption_budget_holds_the_drain_until_it_allows_the_eviction(api, ca):
    api.pods = [Pod("web-1", "k-worker-0", budget_refusals=1)]
    nodes = nodes_of(api, ca)
    assert nodes.drain(["k-worker-0"]) is False  # 429: not now
    assert api.pods[0].terminating is False
    assert nodes.drain(["k-worker-0"]) is False  # granted: terminating
    assert api.pods[0].terminating is True
    api.finish_terminations()
    assert nodes.drain(["k-worker-0"]) is True
    assert api.seen().count(EVICT.format("default", "web-1")) == 2


def test_daemonset_mirror_and_finished_pods_stay(api, ca):
    api.pods = [Pod("fluentd-x", "k-worker-0", owner="DaemonSet"),
                Pod("kube-proxy-static", "k-worker-0", owner="Node", mirror=True),
                Pod("job-done", "k-worker-0", owner="Job", phase="Succeeded"),
                Pod("job-failed", "k-worker-0", owner=None, phase="Failed")]
    assert nodes_of(api, ca).drain(["k-worker-0"]) is True
    assert not any("eviction" in line for line in api.seen())


def test_a_bare_pod_is_evicted_too(api, ca):
    """No controller recreates it, but the node is being replaced: it would die anyway."""
    api.pods = [Pod("debug", "k-worker-0", owner=None)]
    assert nodes_of(api, ca).drain(["k-worker-0"]) is False
    assert api.pods[0].terminating


def test_a_node_the_api_does_not_know_counts_as_drained(api, ca):
    assert nodes_of(api, ca).drain(["k-gone-3", "k-worker-0"]) is True
    assert api.seen() == [f"PATCH {NODES}/k-gone-3", f"PATCH {NODES}/k-worker-0",
                          PODS_OF.format("k-worker-0")]


def test_several_nodes_are_drained_in_one_round(api, ca):
    api.pods = [Pod("a", "k-worker-0"), Pod("b", "k-worker-1", budget_refusals=5)]
    nodes = nodes_of(api, ca)
    assert nodes.drain(["k-worker-0", "k-worker-1"]) is False
    api.finish_terminations()
    assert nodes.drain(["k-worker-0", "k-worker-1"]) is False  # b's budget still holds
    assert api.nodes["k-worker-0"]["unschedulable"] and api.nodes["k-worker-1"]["unschedulable"]


def test_uncordon(api, ca):
    api.nodes["k-worker-0"]["unschedulable"] = True
    nodes_of(api, ca).uncordon(["k-worker-0", "k-gone-3"])
    assert api.nodes["k-worker-0"]["unschedulable"] is False
    assert api.requests[0].body == {"spec": {"unschedulable": False}}
    assert api.seen() == [f"PATCH {NODES}/k-worker-0", f"PATCH {NODES}/k-gone-3"]


def test_an_api_error_names_the_request_and_the_message(api, ca, monkeypatch):
    monkeypatch.setattr(coe, "IDENTITY", coe_http.ClientIdentity("viewer", ("readers",)))
    with pytest.raises(exception.CoeError) as caught:
        nodes_of(api, ca).drain(["k-worker-0"])
    assert str(caught.value) == ('the cluster\'s Kubernetes API: PATCH /api/v1/nodes/k-worker-0:'
                                 ' 403 Forbidden: User "viewer" cannot patch resource')


def test_an_unreachable_api(ca):
    nodes = coe.KubernetesNodes(f"https://127.0.0.1:{coe_servers.free_port()}",
                                lambda: base.ClusterCredentials(cas={"ca": ca}))
    with pytest.raises(exception.CoeUnreachable, match="Kubernetes"):
        nodes.drain(["k-worker-0"])


def test_an_api_server_of_another_ca_is_refused(ca):
    other = x509.generate_ca("other", key_type="ec")
    with coe_servers.FakeKubernetes(other) as server:
        with pytest.raises(exception.CoeError, match="does not verify against the cluster CA"):
            nodes_of(server, ca).nodes()
        assert server.requests == []


def test_the_driver_gives_its_client_without_decrypting_anything():
    calls = []
    cluster = types.SimpleNamespace(api_address="https://192.0.2.7:6443")
    template = types.SimpleNamespace(tls_disabled=False)
    driver = k8s_driver.K8sUbuntuV1({})
    nodes = driver.coe_nodes(cluster, template, credentials=lambda: calls.append(1))
    assert isinstance(nodes, coe.KubernetesNodes) and calls == []
    assert (nodes._api.host, nodes._api.port) == ("192.0.2.7", 6443)
    with pytest.raises(exception.NotSupported):
        driver.coe_nodes(cluster, types.SimpleNamespace(tls_disabled=True),
                         credentials=lambda: None)
