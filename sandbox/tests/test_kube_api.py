"""The sandbox's Kubernetes API for one cluster, used through the official ``kubernetes``
client as `openstack coe cluster config` users would: TLS against the cluster CA, client
certificates, the shapes the client's models require, and a CA switch."""

import functools
import http.client
import json
import socket
import ssl
import tempfile

import kubernetes.client as k8s
from kubernetes.client.exceptions import ApiException
import pytest
import urllib3

from magnum_lite.common import x509
from magnum_lite_sandbox import kube_api, kube_sim

CLUSTER = "5d3c0b9e-6a8f-4f1e-9c42-1b7d2e3f4a5b"
MASTERS = ("demo-5d3c0b-master-0", "demo-5d3c0b-master-1", "demo-5d3c0b-master-2")
WORKERS = ("demo-5d3c0b-default-worker-0-0", "demo-5d3c0b-default-worker-0-1")


def _view(kube_version: str = "v1.31.2", workers: tuple[str, ...] = WORKERS
          ) -> kube_api.ClusterView:
    nodes = [kube_api.Node(name, "master", f"10.0.0.{10 + i}", f"srv-m{i}",
                           "2026-11-21T18:00:00Z") for i, name in enumerate(MASTERS)]
    nodes += [kube_api.Node(name, "worker", f"10.0.0.{20 + i}", f"srv-w{i}",
                            "2026-11-21T18:01:00.123456") for i, name in enumerate(workers)]
    return kube_api.ClusterView(CLUSTER, tuple(nodes), kube_version, "2026-11-21T18:00:00Z")


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("kubernetes")


@pytest.fixture
def api(ca):
    server = kube_api.ClusterAPI(_view(), ca, port=0)  # port 0: an ephemeral port
    server.serve(["127.0.0.1"])
    yield server
    server.close()


def _url(api: kube_api.ClusterAPI) -> str:
    return f"https://127.0.0.1:{api.addresses['127.0.0.1']}"


def _client(api, tmp_path, ca_cert: str, client: x509.KeyPair | None = None,
            name: str = "c") -> k8s.ApiClient:
    """A kubernetes client configured as a kubeconfig from the cluster config would be."""
    conf = k8s.Configuration()
    conf.host = _url(api)
    conf.retries = 0  # a refused handshake is reported at once
    (tmp_path / f"{name}-ca.crt").write_text(ca_cert)
    conf.ssl_ca_cert = str(tmp_path / f"{name}-ca.crt")
    if client is not None:
        (tmp_path / f"{name}.crt").write_text(client.certificate)
        (tmp_path / f"{name}.key").write_text(client.private_key)
        conf.cert_file = str(tmp_path / f"{name}.crt")
        conf.key_file = str(tmp_path / f"{name}.key")
    return k8s.ApiClient(conf)


@functools.cache  # one key generation per CA keeps the tests quick
def _admin(ca: x509.KeyPair) -> x509.KeyPair:
    return x509.issue_certificate(ca, "admin", organizations=["system:masters"], server=False,
                                  client=True)


def _refused(call) -> Exception:
    """The call fails at TLS: urllib3 reports it as an SSL or protocol error."""
    with pytest.raises(urllib3.exceptions.HTTPError) as caught:
        call()
    reason = getattr(caught.value, "reason", caught.value)
    assert isinstance(reason, (urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError,
                               ssl.SSLError, ConnectionError)), repr(reason)
    return caught.value


def test_lists_the_nodes_all_ready(api, ca, tmp_path):
    core = k8s.CoreV1Api(_client(api, tmp_path, ca.certificate, _admin(ca)))
    nodes = core.list_node()
    assert [n.metadata.name for n in nodes.items] == [*MASTERS, *WORKERS]
    for node in nodes.items:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert [c.status for c in ready] == ["True"]
        assert node.status.node_info.kubelet_version == "v1.31.2"
        assert node.metadata.labels["kubernetes.io/hostname"] == node.metadata.name
    masters = [n for n in nodes.items
               if "node-role.kubernetes.io/control-plane" in n.metadata.labels]
    assert [n.metadata.name for n in masters] == list(MASTERS)
    assert masters[0].metadata.labels["magnum.openstack.org/role"] == "master"
    assert masters[0].spec.taints[0].effect == "NoSchedule"
    worker = core.read_node(WORKERS[1])
    assert worker.metadata.labels["magnum.openstack.org/role"] == "worker"
    assert {a.type: a.address for a in worker.status.addresses} == {
        "InternalIP": "10.0.0.21", "Hostname": WORKERS[1]}
    assert worker.spec.provider_id == "openstack:///srv-w1"
    assert worker.metadata.creation_timestamp.isoformat() == "2026-11-21T18:01:00+00:00"
    assert len({n.metadata.uid for n in nodes.items}) == len(nodes.items)


def test_version_pods_namespaces_and_selectors(api, ca, tmp_path):
    client = _client(api, tmp_path, ca.certificate, _admin(ca))
    core = k8s.CoreV1Api(client)
    info = k8s.VersionApi(client).get_code()
    assert (info.git_version, info.major, info.minor) == ("v1.31.2", "1", "31")
    pods = core.list_namespaced_pod("default").items
    assert len(pods) == 3 and {p.metadata.labels["app"] for p in pods} == {"demo"}
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces().items] == [
        p.metadata.name for p in pods]
    assert core.list_namespaced_pod("kube-system").items == []
    assert "kube-system" in [n.metadata.name for n in core.list_namespace().items]
    masters = core.list_node(label_selector="node-role.kubernetes.io/control-plane")
    assert len(masters.items) == len(MASTERS)
    workers = core.list_node(label_selector="magnum.openstack.org/role=worker")
    assert [n.metadata.name for n in workers.items] == list(WORKERS)
    named = core.list_node(field_selector=f"metadata.name={MASTERS[1]}")
    assert [n.metadata.name for n in named.items] == [MASTERS[1]]


def test_limit_pages_the_list(api, ca, tmp_path):
    core = k8s.CoreV1Api(_client(api, tmp_path, ca.certificate, _admin(ca)))
    first = core.list_node(limit=2)
    assert [n.metadata.name for n in first.items] == list(MASTERS[:2])
    assert first.metadata.remaining_item_count == 3
    rest = core.list_node(limit=10, _continue=first.metadata._continue)
    assert [n.metadata.name for n in rest.items] == [MASTERS[2], *WORKERS]
    assert rest.metadata._continue is None


def test_the_client_certificate_is_the_identity(api, ca, tmp_path):
    user = x509.issue_certificate(ca, "jane", organizations=["devs", "ops"], server=False,
                                  client=True)
    authn = k8s.AuthenticationV1Api(_client(api, tmp_path, ca.certificate, user))
    review = authn.create_self_subject_review(k8s.V1SelfSubjectReview())
    assert review.status.user_info.username == "jane"
    assert review.status.user_info.groups == ["devs", "ops", "system:authenticated"]


def test_without_a_client_certificate_only_public_paths_answer(api, ca, tmp_path):
    client = _client(api, tmp_path, ca.certificate)
    assert k8s.VersionApi(client).get_code().git_version == "v1.31.2"
    with pytest.raises(ApiException) as caught:
        k8s.CoreV1Api(client).list_node()
    assert caught.value.status == 401
    assert json.loads(caught.value.body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_another_cas_client_certificate_is_refused(api, ca, tmp_path):
    other = x509.generate_ca("kubernetes")
    core = k8s.CoreV1Api(_client(api, tmp_path, ca.certificate, _admin(other)))
    _refused(core.list_node)


def test_the_serving_certificate_names_the_address_and_the_service(api, ca, tmp_path):
    context = ssl.create_default_context(cadata=ca.certificate)
    with context.wrap_socket(socket.create_connection(
            ("127.0.0.1", api.addresses["127.0.0.1"])), server_hostname="127.0.0.1") as tls:
        sans = dict.fromkeys(v for _, v in tls.getpeercert()["subjectAltName"])
    assert "127.0.0.1" in sans and "kubernetes.default" in sans and "kubernetes" in sans


def test_after_a_ca_switch_old_certificates_fail_and_new_ones_work(api, ca, tmp_path):
    old_client = _client(api, tmp_path, ca.certificate, _admin(ca), "old")
    old_core = k8s.CoreV1Api(old_client)
    assert len(old_core.list_node().items) == 5  # and the connection is kept alive
    new_ca = x509.generate_ca("kubernetes")
    api.set_ca(new_ca)
    # The kept-alive connection was dropped; reconnecting with the old pair fails, both
    # ways: the server is not signed by the old CA, and the old client cert is refused.
    _refused(old_core.list_node)
    mixed = k8s.CoreV1Api(_client(api, tmp_path, new_ca.certificate, _admin(ca), "mixed"))
    _refused(mixed.list_node)
    new_core = k8s.CoreV1Api(_client(api, tmp_path, new_ca.certificate, _admin(new_ca), "new"))
    assert len(new_core.list_node().items) == 5


def test_a_new_view_shows_at_once(api, ca, tmp_path):
    core = k8s.CoreV1Api(_client(api, tmp_path, ca.certificate, _admin(ca)))
    assert len(core.list_node().items) == 5
    api.set_view(_view(workers=WORKERS + ("demo-5d3c0b-default-worker-0-2",)))
    assert len(core.list_node().items) == 6


def _raw(api, ca, method: str, path: str, body: bytes | None = None
         ) -> tuple[int, str, dict | str]:
    admin = _admin(ca)
    context = ssl.create_default_context(cadata=ca.certificate)
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/c.crt", "w") as f:
            f.write(admin.certificate)
        with open(f"{tmp}/c.key", "w") as f:
            f.write(admin.private_key)
        context.load_cert_chain(f"{tmp}/c.crt", f"{tmp}/c.key")
    conn = http.client.HTTPSConnection("127.0.0.1", api.addresses["127.0.0.1"],
                                       context=context, timeout=10)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        data = resp.read().decode()
        kind = resp.getheader("Content-Type")
        return resp.status, kind, json.loads(data) if kind == "application/json" else data
    finally:
        conn.close()


def test_error_shapes(api, ca):
    code, kind, body = _raw(api, ca, "GET", "/api/v1/nodes/no-such-node")
    assert (code, kind) == (404, "application/json")
    assert body["reason"] == "NotFound" and body["message"] == 'nodes "no-such-node" not found'
    assert body["details"] == {"name": "no-such-node", "kind": "nodes"}
    code, _, body = _raw(api, ca, "GET", "/apis/apps/v1/deployments")
    assert code == 404 and body["kind"] == "Status" and body["code"] == 404
    code, _, body = _raw(api, ca, "POST", "/api/v1/namespaces/default/pods", b"{}")
    assert code == 405 and body["reason"] == "MethodNotAllowed" and body["status"] == "Failure"
    code, _, body = _raw(api, ca, "DELETE", "/api/v1/nodes/" + MASTERS[0])
    assert code == 405
    code, _, body = _raw(api, ca, "GET", "/api/v1/nodes?watch=true")
    assert code == 400 and body["reason"] == "BadRequest"
    assert _raw(api, ca, "GET", "/healthz")[:3] == (200, "text/plain; charset=utf-8", "ok")
    assert _raw(api, ca, "GET", "/readyz")[2] == "ok"
    code, _, body = _raw(api, ca, "GET", "/api")
    assert code == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    code, _, body = _raw(api, ca, "GET", "/api/v1")
    assert {r["name"] for r in body["resources"]} >= {"nodes", "pods"}


def _required(model) -> set[str]:
    """The JSON names of a client model's required fields."""
    return {model.attribute_map[name] for name, field in model.model_fields.items()
            if field.is_required()}


def test_every_field_the_client_requires_is_present(ca):
    """The client's models (pydantic) name their required fields: the node and version
    objects carry every one, so deserialization never falls back to a partial object."""
    node = kube_sim.node_object(_view(), _view().nodes[0], "2026-11-21T18:05:00Z")
    assert _required(k8s.V1NodeSystemInfo) <= set(node["status"]["nodeInfo"])
    condition_fields = {"type", "status", "lastHeartbeatTime", "lastTransitionTime", "reason",
                        "message"}
    assert all(condition_fields <= set(c) for c in node["status"]["conditions"])
    assert _required(k8s.VersionInfo) <= set(kube_api.version_info("v1.30.4"))
    assert {"kernelVersion", "osImage", "machineID"} <= _required(k8s.V1NodeSystemInfo)


def test_an_address_in_use_is_left_out_and_retried(ca):
    first = kube_api.ClusterAPI(_view(), ca, port=0)
    try:
        port = first.serve(["127.0.0.1"])["127.0.0.1"]
        second = kube_api.ClusterAPI(_view(), ca, port=port)
        try:
            assert second.serve(["127.0.0.1"]) == {}
            first.close()
            assert second.serve(["127.0.0.1"]) == {"127.0.0.1": port}
        finally:
            second.close()
    finally:
        first.close()


def test_servable_addresses_are_loopback():
    assert kube_api.servable("127.86.161.175")
    assert not kube_api.servable("10.0.0.5")
    assert not kube_api.servable("172.24.4.10")
    assert not kube_api.servable(None)
    assert not kube_api.servable("not-an-ip")
