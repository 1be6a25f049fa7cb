"""The shared TLS client of the COE APIs: who it trusts, who it says it is, what it raises."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import stat
import tempfile
import threading

import pytest

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base, coe_http
from tests.unit.drivers import coe_servers


@pytest.fixture(autouse=True)
def fresh_contexts(config):
    config.set_override("key_type", "ec", group="x509")  # fast keys; RSA in the plugins' tests
    coe_http.forget_contexts()
    yield
    coe_http.forget_contexts()


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("cluster CA", key_type="ec")


@pytest.fixture(scope="module")
def other_ca() -> x509.KeyPair:
    return x509.generate_ca("someone else's CA", key_type="ec")


class Echo(coe_servers.FakeApi):
    """Answers every request with what it saw; a path /status/NNN answers NNN."""

    def handle(self, request):
        if request.path.startswith("/status/"):
            code = int(request.path.rsplit("/", 1)[1])
            return code, {"kind": "Status", "message": f"refused with {code}"}, None
        if request.path == "/text":
            return 400, "Machine 'x' is not in DRAINING mode", None
        if request.path == "/not-json":
            return 200, "plain", None
        if request.path == "/moved":
            return 307, "", {"Location": f"//127.0.0.1:{self.port}/here"}
        if request.path == "/loop":
            return 307, "", {"Location": "/loop"}
        return 200, {"path": request.path, "query": request.query, "body": request.body,
                     "subject": request.subject, "not_after": request.not_after}, None


def client(port: int, ca: x509.KeyPair, **kwargs) -> coe_http.CoeHttpClient:
    return coe_http.CoeHttpClient("Test", f"https://127.0.0.1:{port}", lambda: ca, **kwargs)


def test_a_request_reaches_the_api_with_a_minted_client_certificate(ca):
    identity = coe_http.ClientIdentity("magnum-lite-conductor", ("system:masters",))
    with Echo(ca, client_certs=ssl.CERT_REQUIRED) as server:
        api = client(server.port, ca, identity=identity)
        seen = api.request("POST", "/a/b", query={"x": "1 2"}, body={"k": [1]}).json()
    assert seen["path"] == "/a/b" and seen["query"] == {"x": "1 2"}
    assert seen["body"] == {"k": [1]}
    assert seen["subject"] == {"CN": ["magnum-lite-conductor"], "O": ["system:masters"]}
    # A short life: a day at most (x509's unit), backdated a little for clock skew.
    not_after = datetime.datetime.strptime(seen["not_after"], "%b %d %H:%M:%S %Y %Z")
    assert not_after.replace(tzinfo=datetime.UTC) <= datetime.datetime.now(datetime.UTC) + \
        datetime.timedelta(days=1, minutes=1)


def test_a_server_of_another_ca_is_refused(ca, other_ca):
    with Echo(other_ca) as server:
        with pytest.raises(exception.CoeError) as caught:
            client(server.port, ca).request("GET", "/version")
    assert not isinstance(caught.value, exception.CoeUnreachable)
    assert "GET /version" in str(caught.value)
    assert "does not verify against the cluster CA" in str(caught.value)


def test_the_public_trust_store_is_not_used(ca, monkeypatch):
    """Only the cluster CA: a context that also loaded the system's CAs would still refuse
    another CA's server here, so look at what the context holds."""
    context = coe_http.client_context(ca, None)
    assert len(context.get_ca_certs()) == 1
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_certificate_for_another_address_is_refused(ca):
    with Echo(ca, names=("10.9.9.9", "kubernetes")) as server:
        with pytest.raises(exception.CoeError, match="does not verify"):
            client(server.port, ca).request("GET", "/")


def test_a_refused_client_certificate_is_an_error_not_unreachable(ca, other_ca):
    """dockerd with --tlsverify and a certificate of another CA (after a CA rotation), or
    none: refused at the handshake (TLS 1.2 here, so that the refusal is the handshake's)."""
    stale = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    stale.load_verify_locations(cadata=ca.certificate)
    coe_http._load_pair(stale, x509.issue_certificate(other_ca, "magnum-lite-conductor",
                                                      server=False, client=True))
    with Echo(ca, client_certs=ssl.CERT_REQUIRED, tls12=True) as server:
        for context in (stale, coe_http.client_context(ca, None)):  # the old CA's; none
            api = client(server.port, ca)
            api._context = context
            with pytest.raises(exception.CoeError) as caught:
                api.request("GET", "/")
            assert not isinstance(caught.value, exception.CoeUnreachable), caught.value
            assert "TLS refused" in str(caught.value)


def test_nothing_listening_is_unreachable(ca):
    port = coe_servers.free_port()
    with pytest.raises(exception.CoeUnreachable) as caught:
        client(port, ca).request("GET", "/api/v1/nodes")
    assert caught.value.kwargs["coe"] == "Test"
    assert f"GET /api/v1/nodes to 127.0.0.1:{port}" in str(caught.value)


def test_a_server_that_never_answers_is_unreachable_after_the_timeout(ca, config):
    config.set_override("coe_api_timeout", 0.3, group="conductor")
    with socket.socket() as silent:  # accepts connections (backlog), never speaks TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(exception.CoeUnreachable, match="no answer within 0.3 s"):
            client(silent.getsockname()[1], ca).request("GET", "/")


def test_a_thread_s_deadline_shortens_each_request_s_wait(ca, config):
    config.set_override("coe_api_timeout", 30, group="conductor")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with coe_http.deadline(0.25), pytest.raises(exception.CoeUnreachable,
                                                    match=r"no answer within 0\.2\d* s"):
            client(silent.getsockname()[1], ca).request("GET", "/")
    assert coe_http.time_left() is None  # the block's end lifts it


def test_no_request_starts_once_the_deadline_passed_nor_in_another_thread_s_block(ca):
    with Echo(ca) as server:
        api = client(server.port, ca)
        api.request("GET", "/1")
        with coe_http.deadline(0):
            with pytest.raises(exception.CoeUnreachable, match="deadline passed"):
                api.request("GET", "/2")
            other = []
            thread = threading.Thread(target=lambda: other.append(
                client(server.port, ca).request("GET", "/3").status))
            thread.start()
            thread.join()
        assert other == [200]
        assert api.request("GET", "/4").status == 200
        assert [r.path for r in server.requests] == ["/1", "/3", "/4"]


def test_nested_deadlines_keep_the_earlier_one():
    with coe_http.deadline(100):
        with coe_http.deadline(1000):
            assert coe_http.time_left() <= 100
        with coe_http.deadline(None):
            assert coe_http.time_left() <= 100
        with coe_http.deadline(0):
            assert coe_http.time_left() <= 0


def test_http_errors_name_the_request_and_the_coes_message(ca):
    with Echo(ca) as server:
        api = client(server.port, ca)
        with pytest.raises(exception.CoeError) as caught:
            api.request("PATCH", "/status/403")
        assert str(caught.value) == ("the cluster's Test API: PATCH /status/403: 403 Forbidden: "
                                     "refused with 403")
        assert caught.value.code == 502
        with pytest.raises(exception.CoeError, match="400 Bad Request: Machine 'x' is not in "
                                                     "DRAINING mode"):
            api.request("POST", "/text")
        # Statuses the caller expects come back as answers.
        assert api.request("POST", "/status/429", allow=(429,)).status == 429
        with pytest.raises(exception.CoeError, match="GET /not-json: the answer is not JSON"):
            api.get_json("/not-json")


def test_one_connection_serves_many_requests_and_a_closed_one_is_reopened(ca):
    with Echo(ca) as server:
        api = client(server.port, ca)
        api.request("GET", "/1")
        first = api._conn
        api.request("GET", "/2")
        assert api._conn is first
        first.sock.shutdown(socket.SHUT_RDWR)  # as a server closing an idle connection
        assert api.request("GET", "/3").json()["path"] == "/3"
        assert [r.path for r in server.requests] == ["/1", "/2", "/3"]


def test_redirects_are_followed_only_when_asked_with_the_headers(ca):
    with Echo(ca) as server:
        assert client(server.port, ca).request("GET", "/moved").status == 307
        api = client(server.port, ca, follow_redirects=True,
                     headers={"Authorization": coe_http.basic_auth("p", "s")})
        assert api.request("POST", "/moved", body=[1]).json()["path"] == "/here"
        assert server.requests[-1].headers["authorization"] == "Basic cDpz"
        assert server.requests[-1].body == [1]
        with pytest.raises(exception.CoeError, match="GET /loop: redirected more than 2 "
                                                     "times"):
            api.request("GET", "/loop")


def test_one_certificate_per_ca_and_identity_until_half_its_life(ca, monkeypatch):
    minted = []
    issue = x509.issue_certificate

    def counting(*args, **kwargs):
        minted.append(kwargs)
        return issue(*args, **kwargs)

    monkeypatch.setattr(x509, "issue_certificate", counting)
    identity = coe_http.ClientIdentity("magnum-lite-conductor", ("system:masters",))
    first = coe_http.client_context(ca, identity)
    assert coe_http.client_context(ca, identity) is first
    assert len(minted) == 1
    assert minted[0]["validity_days"] == 1 and minted[0]["client"] and \
        not minted[0]["server"]
    other = coe_http.client_context(ca, coe_http.ClientIdentity("someone"))
    assert other is not first and len(minted) == 2
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=13)
    monkeypatch.setattr(coe_http, "_now", lambda: later)
    assert coe_http.client_context(ca, identity) is not first
    assert len(minted) == 3


def test_the_key_touches_the_disk_only_in_a_private_file_removed_at_once(ca, monkeypatch,
                                                                          tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    modes = []
    load = ssl.SSLContext.load_cert_chain

    def watching(self, certfile, *args, **kwargs):
        modes.append((stat.S_IMODE(os.stat(certfile).st_mode),
                      stat.S_IMODE(os.stat(os.path.dirname(certfile)).st_mode)))
        return load(self, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", watching)
    coe_http.client_context(ca, coe_http.ClientIdentity())
    assert modes == [(0o600, 0o700)]
    assert list(scratch.iterdir()) == []


def test_the_cache_is_safe_across_threads(ca):
    identity = coe_http.ClientIdentity()
    got = []
    threads = [threading.Thread(target=lambda: got.append(coe_http.client_context(ca, identity)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4
    assert coe_http.client_context(ca, identity) in got


@pytest.mark.parametrize(("address", "host", "port"), [
    ("https://192.0.2.1:6443", "192.0.2.1", 6443),
    ("tcp://192.0.2.1:2376", "192.0.2.1", 2376),
    ("192.0.2.1", "192.0.2.1", 5050),
    ("https://[2001:db8::1]:6443", "2001:db8::1", 6443),
])
def test_api_addresses(ca, address, host, port):
    api = coe_http.CoeHttpClient("Test", address, lambda: ca, default_port=5050)
    assert (api.host, api.port) == (host, port)


def test_an_unusable_address(ca):
    with pytest.raises(exception.CoeUnreachable, match="has no API address"):
        coe_http.CoeHttpClient("Test", None, lambda: ca)
    with pytest.raises(exception.CoeError, match="is not an https or tcp URL"):
        coe_http.CoeHttpClient("Test", "http://192.0.2.1:8080", lambda: ca)


def test_the_ca_comes_from_the_credentials_only_when_a_request_is_made(ca):
    calls = []

    def credentials():
        calls.append(1)
        return base.ClusterCredentials(cas={"ca": ca})

    api = coe_http.CoeHttpClient("Test", "https://127.0.0.1:1",
                                 lambda: coe_http.cluster_ca(credentials, "Test"))
    assert calls == []
    with pytest.raises(exception.CoeUnreachable):
        api.request("GET", "/")
    assert calls == [1]
    with pytest.raises(exception.CoeError, match="the cluster has no CA"):
        coe_http.cluster_ca(lambda: base.ClusterCredentials(), "Test")
