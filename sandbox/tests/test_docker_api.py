"""The sandbox's Docker Engine API for one swarm-mode cluster, used over TLS with a client
certificate of the cluster CA as a Docker client configured by `openstack coe cluster config`
would (DOCKER_TLS_VERIFY=1): the shapes of /_ping, /version, /info and /nodes."""

from __future__ import annotations

import functools
import http.client
import json
import ssl
import tempfile

import pytest

from magnum_lite.common import x509
from magnum_lite_sandbox import docker_api, kube_api

CLUSTER = "7e1f4c2a-3b5d-4e6f-8a9b-0c1d2e3f4a5b"
MANAGERS = ("swarm-7e1f4c-master-0", "swarm-7e1f4c-master-1", "swarm-7e1f4c-master-2")
WORKERS = ("swarm-7e1f4c-default-worker-0-0", "swarm-7e1f4c-default-worker-0-1")


def _view(workers: tuple[str, ...] = WORKERS) -> docker_api.DockerView:
    nodes = [kube_api.Node(name, "master", f"10.0.0.{10 + i}", f"srv-m{i}",
                           "2026-11-21T18:00:00Z") for i, name in enumerate(MANAGERS)]
    nodes += [kube_api.Node(name, "worker", f"10.0.0.{20 + i}", f"srv-w{i}")
              for i, name in enumerate(workers)]
    return docker_api.DockerView(CLUSTER, tuple(nodes), "27.3.1", "2026-11-21T18:00:00Z")


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("swarm")


@pytest.fixture
def api(ca):
    server = docker_api.DockerAPI(_view(), ca, port=0)
    server.serve(["127.0.0.1"])
    yield server
    server.close()


@functools.cache
def _client_pair(ca: x509.KeyPair) -> x509.KeyPair:
    return x509.issue_certificate(ca, "admin", organizations=["system:masters"], server=False,
                                  client=True)


def _context(ca: x509.KeyPair, client: x509.KeyPair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.certificate)
    if client is not None:
        with tempfile.TemporaryDirectory() as tmp:
            with open(f"{tmp}/cert.pem", "w") as f:
                f.write(client.certificate)
            with open(f"{tmp}/key.pem", "w") as f:
                f.write(client.private_key)
            context.load_cert_chain(f"{tmp}/cert.pem", f"{tmp}/key.pem")
    return context


def get(api, ca, path: str, method: str = "GET", client: x509.KeyPair | None = None,
        server_ca: x509.KeyPair | None = None) -> tuple[int, str, object]:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", api.addresses["127.0.0.1"], timeout=10,
        context=_context(server_ca or ca, client or _client_pair(ca)))
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        data = resp.read().decode()
        kind = resp.getheader("Content-Type") or ""
        return resp.status, kind, json.loads(data) if "json" in kind else data
    finally:
        conn.close()


def test_ping_and_version_with_and_without_the_version_prefix(api, ca):
    assert get(api, ca, "/_ping")[::2] == (200, "OK")
    assert get(api, ca, "/v1.43/_ping")[::2] == (200, "OK")
    code, _, version = get(api, ca, "/v1.43/version")
    assert code == 200
    assert version["Version"] == "27.3.1" and version["ApiVersion"] == docker_api.API_VERSION
    assert version["Os"] == "linux"


@pytest.mark.parametrize("prefix", ["", "/v1.43"])
def test_info_shows_an_active_swarm(api, ca, prefix):
    code, kind, info = get(api, ca, f"{prefix}/info")
    assert code == 200 and kind == "application/json"
    swarm = info["Swarm"]
    assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
    assert (swarm["Nodes"], swarm["Managers"]) == (5, 3)
    assert swarm["Cluster"]["ID"] and len(swarm["NodeID"]) == 25
    assert swarm["RemoteManagers"][0]["Addr"] == "10.0.0.10:2377"
    assert info["Name"] == MANAGERS[0] and info["ServerVersion"] == "27.3.1"


def test_nodes_one_per_server_all_ready(api, ca):
    code, _, nodes = get(api, ca, "/v1.43/nodes")
    assert code == 200
    assert [n["Description"]["Hostname"] for n in nodes] == [*MANAGERS, *WORKERS]
    assert [n["Spec"]["Role"] for n in nodes] == ["manager"] * 3 + ["worker"] * 2
    assert {n["Status"]["State"] for n in nodes} == {"ready"}
    assert len({n["ID"] for n in nodes}) == 5
    managers = [n for n in nodes if "ManagerStatus" in n]
    assert [m["ManagerStatus"]["Leader"] for m in managers] == [True, False, False]
    assert all("ManagerStatus" not in n for n in nodes[3:])
    code, _, one = get(api, ca, f"/nodes/{nodes[4]['ID']}")
    assert code == 200 and one["Description"]["Hostname"] == WORKERS[1]
    filtered = get(api, ca, '/nodes?filters={"role":["manager"]}'.replace('"', "%22"))[2]
    assert [n["Spec"]["Role"] for n in filtered] == ["manager"] * 3


def test_errors_are_docker_messages(api, ca):
    assert get(api, ca, "/nodes/nope")[::2] == (404, {"message": "node nope not found"})
    assert get(api, ca, "/v1.43/nothing-here")[0] == 404
    code, _, body = get(api, ca, "/v1.43/swarm/leave", method="POST")
    assert code == 405 and "message" in body


def test_a_new_view_shows_at_once(api, ca):
    api.set_view(_view(workers=WORKERS[:1]))
    assert get(api, ca, "/info")[2]["Swarm"]["Nodes"] == 4


def test_a_client_certificate_of_the_cluster_ca_is_required(api, ca):
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        conn = http.client.HTTPSConnection("127.0.0.1", api.addresses["127.0.0.1"],
                                           timeout=10, context=_context(ca, None))
        try:
            conn.request("GET", "/_ping")
            conn.getresponse().read()
        finally:
            conn.close()
    other = x509.generate_ca("another")
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        get(api, ca, "/_ping", client=_client_pair(other))


def test_after_a_ca_switch_the_new_ca_works(api, ca):
    new = x509.generate_ca("swarm-2")
    api.set_ca(new)
    assert get(api, new, "/_ping")[::2] == (200, "OK")


def test_join_tokens_have_dockers_form():
    token = docker_api.join_token(CLUSTER)
    assert token.startswith("SWMTKN-1-") and len(token) == len("SWMTKN-1-") + 50 + 1 + 25
    assert token == docker_api.join_token(CLUSTER)
    assert token != docker_api.join_token(CLUSTER, "manager")
    assert token.rsplit("-", 1)[0] == docker_api.join_token(CLUSTER, "manager").rsplit("-", 1)[0]
