"""keystoneauth sessions (shared per service group) and adapters (per request, as the user)."""

from collections.abc import Iterator
import http.server
import threading
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import identity as ks_identity
from keystoneauth1 import session as ks_session
import pytest

from magnum_lite.common import clients
from magnum_lite.common import context as ml_context
from tests import local_http

TOKEN = "gAAAAABuser-token"
PROJECT = "5e2b7c1d0f5a4c6b9a1f2e3d4c5b6a79"


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    clients.reset_sessions()
    yield
    clients.reset_sessions()


@pytest.fixture
def ctx() -> ml_context.RequestContext:
    return ml_context.RequestContext(auth_token=TOKEN, project_id=PROJECT, overwrite=False)


class EchoServer:
    """Answers every GET with the path and the headers it received."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                local_http.send_json(self, 200, {"path": self.path,
                                                 "headers": dict(self.headers)})

        self._http = local_http.LocalHTTPServer(Handler)
        self.base = self._http.base

    def __enter__(self) -> "EchoServer":
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.__exit__(*exc)


# Sessions


def test_session_is_shared_per_group(config):
    nova = clients.get_session("nova")
    assert isinstance(nova, ks_session.Session)
    assert clients.get_session("nova") is nova
    assert clients.get_session("glance") is not nova
    assert nova.auth is None  # auth comes with each request's adapter


def test_session_timeout_default_and_configured(config):
    default = clients.get_session("neutron")
    assert default.timeout == clients.DEFAULT_TIMEOUT
    config.set_override("timeout", 3, group="neutron")
    session = clients.get_session("neutron")
    assert session.timeout == 3
    # A changed option (a reloaded config) gives a new session, shared from then on.
    assert session is not default
    assert clients.get_session("neutron") is session


def test_session_tls_options(config, tmp_path):
    config.set_override("insecure", True, group="glance")
    assert clients.get_session("glance").verify is False
    cafile = tmp_path / "ca.pem"
    cafile.write_text("not read until a request")
    config.set_override("insecure", False, group="glance")
    config.set_override("cafile", str(cafile), group="glance")
    assert clients.get_session("glance").verify == str(cafile)


def test_reset_sessions(config):
    first = clients.get_session("heat")
    clients.reset_sessions()
    assert clients.get_session("heat") is not first


def test_session_creation_is_thread_safe(config):
    barrier = threading.Barrier(16)
    results: list[ks_session.Session] = []

    def worker() -> None:
        barrier.wait()
        results.append(clients.get_session("nova"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert len({id(s) for s in results}) == 1


# Adapters


def test_adapter_per_request_with_group_options(config, ctx):
    config.set_override("region_name", "RegionTwo", group="nova")
    adapter = clients.get_adapter(ctx, "nova")
    assert adapter.service_type == "compute"
    assert adapter.interface == ["internal", "public"]
    assert adapter.region_name == "RegionTwo"
    assert adapter.session is clients.get_session("nova")
    assert clients.get_adapter(ctx, "nova") is not adapter


@pytest.mark.parametrize(("group", "service_type"), [
    ("nova", "compute"), ("glance", "image"), ("neutron", "network"), ("heat", "orchestration")])
def test_adapter_service_types(config, ctx, group, service_type):
    assert clients.get_adapter(ctx, group).service_type == service_type


def test_configured_service_type_and_interfaces_win(config, ctx):
    config.set_override("service_type", "image-v2", group="glance")
    config.set_override("valid_interfaces", ["admin"], group="glance")
    adapter = clients.get_adapter(ctx, "glance")
    assert adapter.service_type == "image-v2"
    assert adapter.interface == ["admin"]


def test_adapter_sends_token_and_request_id_to_endpoint_override(config, ctx):
    with EchoServer() as server:
        config.set_override("endpoint_override", f"{server.base}/compute/v2.1",
                            group="nova")
        body = clients.get_adapter(ctx, "nova").get("/flavors/1").json()
    assert body["path"] == "/compute/v2.1/flavors/1"
    assert body["headers"]["X-Auth-Token"] == TOKEN
    assert body["headers"]["X-OpenStack-Request-ID"] == ctx.request_id


def test_endpoint_override_with_project_id(config, ctx):
    with EchoServer() as server:
        config.set_override("endpoint_override", f"{server.base}/v1/%(project_id)s",
                            group="heat")
        body = clients.get_adapter(ctx, "heat").get("/stacks").json()
    assert body["path"] == f"/v1/{PROJECT}/stacks"


def test_endpoint_from_v3_catalog(config, ctx):
    with EchoServer() as server:
        ctx.service_catalog = [{
            "type": "orchestration", "name": "heat", "id": "1",
            "endpoints": [
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                 "url": f"{server.base}/heat-api/v1/{PROJECT}", "id": "2"},
            ]}]
        body = clients.get_adapter(ctx, "heat").get("/stacks").json()
    assert body["path"] == f"/heat-api/v1/{PROJECT}/stacks"


@pytest.mark.parametrize("listed", ["/identity", "/identity/", "/identity/v3"])
def test_identity_from_the_catalog_is_keystone_v3(config, ctx, listed):
    # devstack's catalog lists Keystone unversioned; the trust API is under /v3.
    with EchoServer() as server:
        ctx.service_catalog = [{
            "type": "identity", "name": "keystone", "id": "1",
            "endpoints": [{"interface": "public", "region": "RegionOne",
                           "region_id": "RegionOne", "url": f"{server.base}{listed}",
                           "id": "2"}]}]
        session = ks_session.Session(auth=clients.get_user_auth(ctx))
        body = session.get("/OS-TRUST/trusts", endpoint_filter={
            "service_type": "identity", "interface": "public"}).json()
    assert body["path"] == "/identity/v3/OS-TRUST/trusts"
    assert body["headers"]["X-Auth-Token"] == TOKEN


def test_no_endpoint_anywhere(config, ctx):
    with pytest.raises(ks_exceptions.EndpointNotFound, match="no endpoint_override"):
        clients.get_adapter(ctx, "glance").get("/v2/images")


# Auth


def test_user_auth_plugin_is_preferred(ctx):
    sentinel = object()
    ctx.user_auth_plugin = sentinel
    assert clients.get_user_auth(ctx) is sentinel


def test_context_auth_plugin(ctx):
    plugin = clients.get_user_auth(ctx)
    assert isinstance(plugin, clients.ContextAuthPlugin)
    session = ks_session.Session()
    assert plugin.get_headers(session) == {"X-Auth-Token": TOKEN}
    assert plugin.get_project_id(session) == PROJECT


def test_a_token_without_its_catalog_is_scoped_again_by_keystone(config):
    # A create taken over from its record has the requester's token and no catalog.
    config.set_override("auth_url", "http://keystone.example:5000", group="trust")
    ctx = ml_context.RequestContext(project_id=PROJECT, auth_token=TOKEN, overwrite=False)
    plugin = clients.get_user_auth(ctx)
    assert isinstance(plugin, ks_identity.v3.Token)
    assert plugin.auth_url == "http://keystone.example:5000/v3"
    assert plugin.project_id == PROJECT


def test_context_without_token(config):
    ctx = ml_context.RequestContext(project_id=PROJECT, overwrite=False)
    with pytest.raises(ks_exceptions.AuthorizationFailure, match="no token"):
        clients.get_adapter(ctx, "nova")
