"""The sandbox's Mesos master API for one cluster, read as a Mesos client would: HTTPS
verified against the cluster CA, the Mesos 1.x shapes of /master/state and friends, open
reads, refused writes, and a CA switch."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest

from magnum_lite.common import x509
from magnum_lite.drivers.mesos_ubuntu_v1 import userdata
from magnum_lite_sandbox import kube_api, mesos_api, user_data

CLUSTER = "5d3c0b9e-6a8f-4f1e-9c42-1b7d2e3f4a5b"
MASTERS = ("demo-5d3c0b-master-0", "demo-5d3c0b-master-1", "demo-5d3c0b-master-2")
WORKERS = ("demo-5d3c0b-default-worker-0-0", "demo-5d3c0b-default-worker-0-1")


def _view(workers: tuple[str, ...] = WORKERS, version: str = "1.7.1") -> mesos_api.MesosView:
    nodes = [kube_api.Node(name, "master", f"10.0.0.{10 + i}", f"srv-m{i}",
                           "2026-11-21T18:00:00Z") for i, name in enumerate(MASTERS)]
    nodes += [kube_api.Node(name, "worker", f"10.0.0.{20 + i}", f"srv-w{i}",
                            "2026-11-21T18:01:00.123456") for i, name in enumerate(workers)]
    return mesos_api.MesosView(CLUSTER, tuple(nodes), version, "2026-11-21T18:00:00Z")


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA mesos")


@pytest.fixture
def api(ca):
    server = mesos_api.MesosAPI(_view(), ca, port=0)  # port 0: an ephemeral port
    server.serve(["127.0.0.1"])
    yield server
    server.close()


def _request(api, ca_cert: str, method: str = "GET", path: str = "/master/state",
             headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    """A request over TLS verified against `ca_cert`, the address checked as clients do
    (redirects are not followed): status, body and the response's headers."""
    context = ssl.create_default_context(cadata=ca_cert)
    conn = http.client.HTTPSConnection("127.0.0.1", api.addresses["127.0.0.1"],
                                       context=context, timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def _get(api, ca, path: str) -> dict:
    code, body, headers = _request(api, ca.certificate, path=path)
    assert code == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_defaults_and_interface_match_the_kubernetes_api():
    assert mesos_api.MesosAPI.__init__.__defaults__[0] == 5050
    for name in ("serve", "set_view", "set_ca", "close", "addresses", "ca_certificate",
                 "tick"):
        assert hasattr(mesos_api.MesosAPI, name)


def test_state_has_the_leader_the_agents_and_marathon(api, ca):
    state = _get(api, ca, "/master/state")
    assert state["version"] == "1.7.1"
    assert state["leader"] == "master@10.0.0.10:5050" == state["pid"]
    assert state["leader_info"]["hostname"] == "10.0.0.10"
    assert state["leader_info"]["address"] == {"hostname": "10.0.0.10", "ip": "10.0.0.10",
                                               "port": 5050}
    assert state["activated_slaves"] == 2 and state["deactivated_slaves"] == 0
    agents = state["slaves"]
    assert [a["hostname"] for a in agents] == ["10.0.0.20", "10.0.0.21"]
    assert all(a["active"] for a in agents)
    assert [a["id"] for a in agents] == [f"{state['id']}-S0", f"{state['id']}-S1"]
    assert agents[0]["pid"] == "slave(1)@10.0.0.20:5051"
    assert agents[0]["resources"]["cpus"] == 2.0
    [marathon] = state["frameworks"]
    assert marathon["name"] == "marathon" and marathon["active"] and marathon["connected"]
    assert marathon["principal"] == "marathon"
    assert marathon["webui_url"] == "https://10.0.0.10:8443"  # --disable_http
    assert state["flags"]["quorum"] == "2"
    assert _get(api, ca, "/master/state.json") == state  # the deprecated name still answers


def test_the_other_endpoints(api, ca):
    assert [a["hostname"] for a in _get(api, ca, "/master/slaves")["slaves"]] == [
        "10.0.0.20", "10.0.0.21"]
    assert [f["name"] for f in _get(api, ca, "/master/frameworks")["frameworks"]] == [
        "marathon"]
    assert _get(api, ca, "/version")["version"] == "1.7.1"
    code, body, _ = _request(api, ca.certificate, path="/master/health")
    assert (code, body) == (200, b"")
    code, body, _ = _request(api, ca.certificate, path="/master/nothing")
    assert code == 404


def test_redirect_sends_clients_to_the_leader_of_master_state(api, ca):
    """307 to the leading master's base URL, scheme-relative (the client keeps https) and
    without a path, from /master/redirect and /redirect, as real mesos-master answers even on
    the leader; the host and port are /master/state's leader_info."""
    leader = _get(api, ca, "/master/state")["leader_info"]
    assert f"//{leader['hostname']}:{leader['port']}" == "//10.0.0.10:5050"
    for method, path in (("GET", "/master/redirect"), ("GET", "/redirect"),
                         ("GET", "/master/redirect?jsonp=x"), ("HEAD", "/master/redirect")):
        code, body, headers = _request(api, ca.certificate, method, path)
        assert (code, body) == (307, b""), path
        assert headers["Location"] == "//10.0.0.10:5050", path
        assert headers["Content-Length"] == "0"
    # Below the redirect path there is nothing (so no redirect loop), as in Mesos.
    code, _, headers = _request(api, ca.certificate, path="/master/redirect/master/state")
    assert code == 404 and "Location" not in headers
    # Master 0 leads whatever the view: another set of masters moves the redirect with it.
    api.set_view(mesos_api.MesosView(CLUSTER, (kube_api.Node(
        "m", "master", "10.0.0.99", "srv", None),), "1.7.1", None))
    assert _get(api, ca, "/master/state")["leader_info"]["hostname"] == "10.0.0.99"
    _, _, headers = _request(api, ca.certificate, path="/master/redirect")
    assert headers["Location"] == "//10.0.0.99:5050"


def test_redirect_without_a_leader_is_unavailable(ca):
    server = mesos_api.MesosAPI(mesos_api.MesosView(CLUSTER, (), "1.7.1", None), ca, port=0)
    server.serve(["127.0.0.1"])
    try:
        code, body, headers = _request(server, ca.certificate, path="/master/redirect")
    finally:
        server.close()
    assert (code, body) == (503, b"No leader elected") and "Location" not in headers
    assert mesos_api.leader_location(server.view) is None


def test_writes_need_credentials_and_are_refused(api, ca):
    code, _, _ = _request(api, ca.certificate, "POST", "/master/teardown")
    assert code == 401
    code, body, _ = _request(api, ca.certificate, "POST", "/api/v1",
                             headers={"Authorization": "Basic bWFnbnVtOng="})
    assert code == 405 and b"read-only" in body


def test_a_new_view_shows_the_resized_cluster(api, ca):
    api.set_view(_view(workers=WORKERS + ("demo-5d3c0b-default-worker-0-2",),
                       version="1.11.0"))
    state = _get(api, ca, "/master/state")
    assert state["activated_slaves"] == 3
    assert state["version"] == "1.11.0"


def test_another_ca_is_not_trusted_and_a_switch_changes_the_certificate(api, ca):
    other = x509.generate_ca("other")
    with pytest.raises(ssl.SSLError):
        _request(api, other.certificate)
    api.set_ca(other)
    assert _get(api, other, "/version")["version"] == "1.7.1"
    with pytest.raises(ssl.SSLError):
        _request(api, ca.certificate)


def test_a_cluster_without_masters_or_workers(ca):
    view = mesos_api.MesosView(CLUSTER, (), "1.7.1", None)
    state = mesos_api.state(view)
    assert state["slaves"] == [] and state["activated_slaves"] == 0
    assert "leader" not in state and state["frameworks"] == []


def test_the_agent_reads_what_it_dispatches_on_from_a_mesos_master_s_user_data(ca):
    """What the guest agent needs to pick this API: COE and version in node.env, and the
    CA where the Mesos masters hold it (drivers/mesos_ubuntu_v1)."""
    config = userdata.MesosBootConfig(
        role="master", cluster_uuid=CLUSTER, cluster_name="demo", control_plane_host="10.0.0.1",
        join_token="ab" * 32, master_count=3, mesos_version="1.11.0",
        credential_files={userdata.CA_CERT_PATH: ca.certificate,
                          userdata.CA_KEY_PATH: ca.private_key})
    data = userdata.render_user_data(config)
    info = user_data.boot_info(data)
    assert info.coe == user_data.MESOS
    assert info.env["MESOS_VERSION"] == "1.11.0"
    written = user_data.cloud_config_files(data)
    assert user_data.ca_of({user_data.CA_CERT_PATH: written[userdata.CA_CERT_PATH],
                            user_data.CA_KEY_PATH: written[userdata.CA_KEY_PATH]}) == ca
