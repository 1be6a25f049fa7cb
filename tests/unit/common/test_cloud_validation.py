"""The cloud resource validator against a fake Glance, Nova and Neutron on a real HTTP server.

The fake answers with the real APIs' shapes (Glance v2 image documents and HTML errors, Nova
flavor/keypair bodies with `itemNotFound`, Neutron lists and `NeutronError`), serves them under
devstack-style endpoint paths, pages like the real services and insists on the user's token.
"""

from collections.abc import Iterator
import contextlib
import http.server
import json
import socket
import time
from typing import Any
from urllib import parse
import uuid

from keystoneauth1 import access
from keystoneauth1 import fixture as ks_fixture
from keystonemiddleware.auth_token import _user_plugin
import pytest

from magnum_lite.common import clients, cloud_validation, exception
from magnum_lite.common import context as ml_context
from tests import local_http

TOKEN = "gAAAAABuser-token"
PROJECT = "5e2b7c1d0f5a4c6b9a1f2e3d4c5b6a79"
USER = "9a8b7c6d5e4f43219a8b7c6d5e4f4321"

IMAGE_ACTIVE = "3b8d0f44-6c0a-4d3e-9c6a-1f7f1b2a9e11"
IMAGE_QUEUED = "a1c2e3f4-0b1d-4e2f-8a9b-0c1d2e3f4a5b"
IMAGE_DUP_1 = "c0ffee00-1111-4222-8333-444455556666"
IMAGE_DUP_2 = "c0ffee00-7777-4888-9999-aaaabbbbcccc"
NET_PRIVATE = "6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"
NET_PUBLIC = "0e9d8c7b-6a59-4847-9a3b-2c1d0e9f8a7b"
NET_DUP_1 = "11111111-2222-4333-8444-555555555555"
NET_DUP_2 = "66666666-7777-4888-9999-000000000000"
SUBNET_PRIVATE = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"

GLANCE_500 = ("<html>\n <head>\n  <title>500 Internal Server Error</title>\n </head>\n <body>\n"
              "  <h1>500 Internal Server Error</h1>\n  The server has either erred or is "
              "incapable of performing the requested operation.<br /><br />\n\n\n\n </body>\n"
              "</html>")
NOVA_500 = {"computeFault": {
    "code": 500,
    "message": "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
               "and attach the Nova API log if possible.\n"
               "<class 'oslo_db.exception.DBConnectionError'>"}}
NEUTRON_500 = {"NeutronError": {
    "type": "HTTPInternalServerError",
    "message": "Request Failed: internal server error while processing your request.",
    "detail": ""}}


def glance_image(image_id: str, name: str, status: str = "active",
                 os_distro: str | None = "fedora-coreos") -> dict:
    """A Glance v2 image document; custom properties such as os_distro sit at top level."""
    image = {
        "id": image_id, "name": name, "status": status, "visibility": "public",
        "protected": False, "os_hidden": False, "checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "os_hash_algo": "sha512", "os_hash_value": "cf83e1357eefb8bd", "owner": PROJECT,
        "size": 734003200 if status == "active" else None, "virtual_size": None,
        "min_ram": 0, "min_disk": 0, "disk_format": "qcow2", "container_format": "bare",
        "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:02:00Z", "tags": [],
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    if os_distro is not None:
        image["os_distro"] = os_distro
    return image


def nova_flavor(flavor_id: str, name: str, base: str) -> dict:
    return {
        "id": flavor_id, "name": name, "ram": 2048, "vcpus": 1, "disk": 20, "swap": 0,
        "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True, "rxtx_factor": 1.0,
        "links": [{"href": f"{base}/flavors/{flavor_id}", "rel": "self"}],
    }


def neutron_network(net_id: str, name: str, external: bool = False) -> dict:
    return {
        "id": net_id, "name": name, "tenant_id": PROJECT, "project_id": PROJECT,
        "admin_state_up": True, "status": "ACTIVE", "shared": external, "mtu": 1450,
        "router:external": external, "subnets": [], "availability_zones": ["nova"],
        "ipv4_address_scope": None, "ipv6_address_scope": None, "port_security_enabled": True,
        "description": "", "tags": [], "revision_number": 3,
        "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:05Z",
    }


def neutron_subnet(subnet_id: str, name: str, network_id: str) -> dict:
    return {
        "id": subnet_id, "name": name, "network_id": network_id, "tenant_id": PROJECT,
        "project_id": PROJECT, "ip_version": 4, "cidr": "10.0.0.0/24",
        "gateway_ip": "10.0.0.1", "enable_dhcp": True, "dns_nameservers": [],
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}], "host_routes": [],
        "subnetpool_id": None, "description": "", "tags": [], "revision_number": 0,
    }


class FakeCloud:
    """Glance under /image, Nova under /compute/v2.1, Neutron under /networking."""

    def __init__(self) -> None:
        self.images = [
            glance_image(IMAGE_ACTIVE, "fedora-coreos-38"),
            glance_image(IMAGE_QUEUED, "half-uploaded", status="queued"),
            glance_image(IMAGE_DUP_1, "fedora"),
            glance_image(IMAGE_DUP_2, "fedora", os_distro=None),
            glance_image("d1d2d3d4-0000-4000-8000-000000000001", "ubuntu", os_distro="ubuntu"),
        ]
        self.flavors_raw = [("1", "m1.tiny"), ("2", "m1.small"), ("3", "m1.medium"),
                            ("4", "m1.large"), ("c1", "c1.custom")]
        self.keypairs = {"default": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKey user@host"}
        self.networks = [
            neutron_network(NET_PRIVATE, "private"),
            neutron_network(NET_PUBLIC, "public", external=True),
            neutron_network(NET_DUP_1, "shared-name"),
            neutron_network(NET_DUP_2, "shared-name"),
        ]
        self.subnets = [neutron_subnet(SUBNET_PRIVATE, "private-subnet", NET_PRIVATE)]
        self.glance_page_size = 25       # Glance's default limit
        self.nova_page_size = 1000       # Nova's default max_limit
        self.fail: dict[str, int] = {}   # prefix ("image", "compute", "networking") -> status
        self.requests: list[tuple[str, str, dict]] = []
        self._http = local_http.LocalHTTPServer(self._handler_class())
        self.port = self._http.port
        self.base = self._http.base

    def __enter__(self) -> "FakeCloud":
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.__exit__(*exc)

    def endpoints(self) -> dict[str, str]:
        return {"glance": f"{self.base}/image", "nova": f"{self.base}/compute/v2.1",
                "neutron": f"{self.base}/networking"}

    def _handler_class(self) -> type:
        cloud = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                cloud.requests.append(("GET", self.path, dict(self.headers)))
                split = parse.urlsplit(self.path)
                query = parse.parse_qs(split.query)
                parts = [parse.unquote(p) for p in split.path.strip("/").split("/")]
                prefix = parts[0] if parts else ""
                if self.headers.get("X-Auth-Token") != TOKEN:
                    return self._send(401, {"error": {"code": 401, "title": "Unauthorized",
                                                      "message": "The request you have made "
                                                                 "requires authentication."}})
                if prefix in cloud.fail:
                    status = cloud.fail[prefix]
                    if prefix == "image":
                        return self._send(status, GLANCE_500, html=True)
                    return self._send(status, NOVA_500 if prefix == "compute" else NEUTRON_500)
                if prefix == "image" and parts[1:3] == ["v2", "images"]:
                    return self._glance(parts[3:], query)
                if prefix == "compute" and parts[1] == "v2.1":
                    return self._nova(parts[2:], query)
                if prefix == "networking" and parts[1] == "v2.0":
                    return self._neutron(parts[2:], query)
                return self._send(404, "404 Not Found\n\nThe resource could not be found.",
                                  html=True)

            def _send(self, status: int, body: Any, html: bool = False) -> None:
                if html:
                    data = body.encode()
                    ctype = "text/html; charset=UTF-8"
                else:
                    data = json.dumps(body).encode()
                    ctype = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Openstack-Request-Id", f"req-{uuid.uuid4()}")
                self.end_headers()
                self.wfile.write(data)

            def _glance(self, rest: list[str], query: dict) -> None:
                if rest:
                    for image in cloud.images:
                        if image["id"] == rest[0]:
                            return self._send(200, image)
                    return self._send(
                        404, "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n"
                             f" <body>\n  <h1>404 Not Found</h1>\n  No image found with ID "
                             f"{rest[0]}<br /><br />\n\n\n\n </body>\n</html>", html=True)
                images = cloud.images
                if "name" in query:
                    images = [i for i in images if i["name"] == query["name"][0]]
                if "marker" in query:
                    ids = [i["id"] for i in images]
                    images = images[ids.index(query["marker"][0]) + 1:]
                limit = int(query.get("limit", [cloud.glance_page_size])[0])
                page = images[:limit]
                params = {k: v[0] for k, v in query.items() if k != "marker"}
                body = {"images": page, "schema": "/v2/schemas/images",
                        "first": "/v2/images?" + parse.urlencode(params)}
                if len(images) > limit:
                    params["marker"] = page[-1]["id"]
                    body["next"] = "/v2/images?" + parse.urlencode(params)
                return self._send(200, body)

            def _nova(self, rest: list[str], query: dict) -> None:
                base = f"{cloud.base}/compute/v2.1"
                flavors = [nova_flavor(i, n, base) for i, n in cloud.flavors_raw]
                if rest == ["flavors", "detail"]:
                    if "marker" in query:
                        ids = [f["id"] for f in flavors]
                        flavors = flavors[ids.index(query["marker"][0]) + 1:]
                    limit = cloud.nova_page_size
                    page = flavors[:limit]
                    body: dict = {"flavors": page}
                    if len(page) == limit:
                        body["flavors_links"] = [{
                            "href": f"{base}/flavors/detail?is_public=None&limit={limit}"
                                    f"&marker={page[-1]['id']}", "rel": "next"}]
                    return self._send(200, body)
                if rest[0] == "flavors" and len(rest) == 2:
                    for flavor in flavors:
                        if flavor["id"] == rest[1]:
                            return self._send(200, {"flavor": flavor})
                    return self._send(404, {"itemNotFound": {
                        "code": 404, "message": f"Flavor {rest[1]} could not be found."}})
                if rest[0] == "os-keypairs" and len(rest) == 2:
                    if rest[1] in cloud.keypairs:
                        return self._send(200, {"keypair": {
                            "name": rest[1], "public_key": cloud.keypairs[rest[1]],
                            "fingerprint": "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c",
                            "user_id": USER, "type": "ssh", "deleted": False, "id": 7,
                            "created_at": "2024-05-01T10:00:00.000000",
                            "updated_at": None, "deleted_at": None}})
                    return self._send(404, {"itemNotFound": {
                        "code": 404, "message": f"Keypair {rest[1]} not found for user {USER}"}})
                return self._send(404, {"itemNotFound": {
                    "code": 404, "message": "The resource could not be found."}})

            def _neutron(self, rest: list[str], query: dict) -> None:
                collections = {"networks": (cloud.networks, "network", "Network"),
                               "subnets": (cloud.subnets, "subnet", "Subnet")}
                if not rest or rest[0] not in collections:
                    return self._send(404, "404 Not Found\n\nThe resource could not be found.",
                                      html=True)
                items, member, title = collections[rest[0]]
                if len(rest) == 2:
                    for item in items:
                        if item["id"] == rest[1]:
                            return self._send(200, {member: item})
                    return self._send(404, {"NeutronError": {
                        "type": f"{title}NotFound", "detail": "",
                        "message": f"{title} {rest[1]} could not be found."}})
                if "name" in query:
                    items = [i for i in items if i["name"] in query["name"]]
                return self._send(200, {rest[0]: items})

        return Handler


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    clients.reset_sessions()
    yield
    clients.reset_sessions()


@pytest.fixture
def cloud(config) -> Iterator[FakeCloud]:
    with FakeCloud() as fake:
        for group, url in fake.endpoints().items():
            config.set_override("endpoint_override", url, group=group)
        yield fake


@pytest.fixture
def ctx() -> ml_context.RequestContext:
    return ml_context.RequestContext(auth_token=TOKEN, project_id=PROJECT, user_id=USER,
                                     roles=["member"], overwrite=False)


@pytest.fixture
def validator() -> cloud_validation.CloudValidator:
    return cloud_validation.CloudValidator()


def _invalid(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(exception.InvalidParameterValue) as info:
        call(*args, **kwargs)
    assert info.value.code == 400
    return str(info.value)


def _refused(error: type[exception.MagnumLiteException], code: int, call: Any, *args: Any,
             **kwargs: Any) -> str:
    """The message of Magnum's exception `error` (with its status `code`) the call raised."""
    with pytest.raises(error) as info:
        call(*args, **kwargs)
    assert type(info.value) is error
    assert info.value.code == code
    return str(info.value)


# Glance


def test_image_by_id(cloud, ctx, validator):
    info = validator.image(ctx, IMAGE_ACTIVE)
    assert info == cloud_validation.ImageInfo(id=IMAGE_ACTIVE, os_distro="fedora-coreos")
    assert [r[1] for r in cloud.requests] == [f"/image/v2/images/{IMAGE_ACTIVE}"]


def test_image_by_name(cloud, ctx, validator):
    info = validator.image(ctx, "ubuntu")
    assert info.id == "d1d2d3d4-0000-4000-8000-000000000001"
    assert info.os_distro == "ubuntu"
    assert cloud.requests[0][1] == "/image/v2/images?name=ubuntu"


def test_image_without_os_distro(cloud, ctx, validator):
    cloud.images.append(glance_image("e1e2e3e4-0000-4000-8000-000000000002", "plain",
                                     os_distro=None))
    assert validator.image(ctx, "plain").os_distro is None


def test_image_not_found(cloud, ctx, validator):
    # Magnum's ImageNotFound: 400, "Image %(image_id)s could not be found."
    assert _refused(exception.ImageNotFound, 400, validator.image, ctx, "centos") == (
        "image_id: Image centos could not be found.")
    missing = "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d"
    assert _refused(exception.ImageNotFound, 400, validator.image, ctx, missing) == (
        f"image_id: Image {missing} could not be found.")
    # The id was asked for first, then (Glance 404) the name.
    assert [r[1] for r in cloud.requests[-2:]] == [
        f"/image/v2/images/{missing}", f"/image/v2/images?name={missing}"]


def test_image_duplicate_names(cloud, ctx, validator):
    # Magnum: a Conflict (409) for a name several images share.
    assert _refused(exception.Conflict, 409, validator.image, ctx, "fedora") == (
        "image_id: Multiple images exist with same name 'fedora'. Please use the image ID "
        "instead.")
    assert validator.image(ctx, IMAGE_DUP_2).id == IMAGE_DUP_2


def test_image_duplicates_counted_across_pages(cloud, ctx, validator):
    cloud.glance_page_size = 1
    cloud.images.append(glance_image("f0f0f0f0-0000-4000-8000-000000000003", "fedora"))
    assert "Multiple images" in _refused(exception.Conflict, 409, validator.image, ctx,
                                         "fedora")
    # Glance's `next` ("/v2/images?...") was followed under the endpoint's /image path.
    assert all(r[1].startswith("/image/v2/images?") for r in cloud.requests)
    assert len(cloud.requests) == 3


def test_image_inactive(cloud, ctx, validator):
    assert _invalid(validator.image, ctx, IMAGE_QUEUED) == (
        f"image_id: image '{IMAGE_QUEUED}' is not active (status queued).")
    assert _invalid(validator.image, ctx, "half-uploaded") == (
        "image_id: image 'half-uploaded' is not active (status queued).")


def test_image_empty_ident(cloud, ctx, validator):
    assert "image_id:" in _invalid(validator.image, ctx, "")
    assert cloud.requests == []


def test_request_carries_token_and_request_id(cloud, ctx, validator):
    validator.image(ctx, IMAGE_ACTIVE)
    headers = cloud.requests[0][2]
    assert headers["X-Auth-Token"] == TOKEN
    assert headers["X-OpenStack-Request-ID"] == ctx.request_id
    assert "magnum-lite" in headers["User-Agent"]


# Nova


def test_flavor_by_id(cloud, ctx, validator):
    validator.flavor(ctx, "2", "flavor_id")
    assert [r[1] for r in cloud.requests] == ["/compute/v2.1/flavors/2"]


def test_flavor_by_name(cloud, ctx, validator):
    validator.flavor(ctx, "m1.small", "master_flavor_id")
    assert [r[1] for r in cloud.requests] == [
        "/compute/v2.1/flavors/m1.small", "/compute/v2.1/flavors/detail?is_public=None"]


def test_flavor_by_name_on_a_later_page(cloud, ctx, validator):
    cloud.nova_page_size = 2
    validator.flavor(ctx, "c1.custom", "flavor_id")
    assert cloud.requests[-1][1] == "/compute/v2.1/flavors/detail?is_public=None&marker=4"


def test_flavor_not_found(cloud, ctx, validator):
    cloud.nova_page_size = 2
    # Magnum's FlavorNotFound: 400, "Unable to find flavor %(flavor)s."
    assert _refused(exception.FlavorNotFound, 400, validator.flavor, ctx, "m1.huge",
                    "flavor_id") == "flavor_id: Unable to find flavor m1.huge."


def test_flavor_named_like_a_collection(cloud, ctx, validator):
    # GET /flavors/detail answers 200 with a list: that is not a flavor called "detail".
    assert _refused(exception.FlavorNotFound, 400, validator.flavor, ctx, "detail",
                    "flavor_id") == "flavor_id: Unable to find flavor detail."


def test_keypair(cloud, ctx, validator):
    validator.keypair(ctx, "default", "keypair_id")
    assert [r[1] for r in cloud.requests] == ["/compute/v2.1/os-keypairs/default"]
    # Magnum's KeyPairNotFound: 404, "Unable to find keypair %(keypair)s."
    assert _refused(exception.KeyPairNotFound, 404, validator.keypair, ctx, "other",
                    "keypair") == "keypair: Unable to find keypair other."


def test_keypair_name_is_quoted(cloud, ctx, validator):
    cloud.keypairs["my key/1"] = "ssh-rsa AAAA"
    validator.keypair(ctx, "my key/1", "keypair_id")
    assert cloud.requests[-1][1] == "/compute/v2.1/os-keypairs/my%20key%2F1"


# Neutron


def test_network_by_id_and_name(cloud, ctx, validator):
    validator.network(ctx, NET_PRIVATE, "fixed_network")
    validator.network(ctx, "private", "fixed_network")
    assert [r[1] for r in cloud.requests] == [
        f"/networking/v2.0/networks/{NET_PRIVATE}", "/networking/v2.0/networks?name=private"]


def test_network_not_found(cloud, ctx, validator):
    # Magnum's FixedNetworkNotFound: 400, "Unable to find fixed network %(network)s."
    assert _refused(exception.FixedNetworkNotFound, 400, validator.network, ctx, "nope",
                    "fixed_network") == "fixed_network: Unable to find fixed network nope."
    missing = "99999999-8888-4777-8666-555555555555"
    assert _refused(exception.FixedNetworkNotFound, 400, validator.network, ctx, missing,
                    "fixed_network") == (
        f"fixed_network: Unable to find fixed network {missing}.")
    # Magnum's ExternalNetworkNotFound: 400 too.
    assert _refused(exception.ExternalNetworkNotFound, 400, validator.network, ctx, "nope",
                    "external_network_id", external=True) == (
        "external_network_id: Unable to find external network nope.")


def test_network_duplicate_names(cloud, ctx, validator):
    # Magnum: a Conflict (409), "Multiple networks exist with same name ...".
    assert _refused(exception.Conflict, 409, validator.network, ctx, "shared-name",
                    "fixed_network") == (
        "fixed_network: Multiple networks exist with same name 'shared-name'. Please use "
        "the network ID instead.")
    validator.network(ctx, NET_DUP_1, "fixed_network")


def test_external_network(cloud, ctx, validator):
    validator.network(ctx, "public", "external_network_id", external=True)
    validator.network(ctx, NET_PUBLIC, "external_network_id", external=True)
    # Magnum looks among external networks only: an internal one is not found (400).
    assert _refused(exception.ExternalNetworkNotFound, 400, validator.network, ctx,
                    "private", "external_network_id", external=True) == (
        "external_network_id: Unable to find external network private. Network 'private' "
        "is not external (router:external is false).")


def test_subnet(cloud, ctx, validator):
    validator.subnet(ctx, SUBNET_PRIVATE, "fixed_subnet")
    validator.subnet(ctx, "private-subnet", "fixed_subnet")
    # Magnum's FixedSubnetNotFound: 400, "Unable to find fixed subnet %(subnet)s."
    assert _refused(exception.FixedSubnetNotFound, 400, validator.subnet, ctx,
                    "other-subnet", "fixed_subnet") == (
        "fixed_subnet: Unable to find fixed subnet other-subnet.")


# The cloud unavailable


@pytest.mark.parametrize(("prefix", "what", "call", "reason"), [
    ("image", "Glance", lambda v, c: v.image(c, IMAGE_ACTIVE),
     "The server has either erred or is incapable of performing the requested operation."),
    ("compute", "Nova", lambda v, c: v.flavor(c, "2", "flavor_id"),
     "Unexpected API Error."),
    ("networking", "Neutron", lambda v, c: v.subnet(c, "x", "fixed_subnet"),
     "Request Failed: internal server error while processing your request."),
])
def test_server_error_is_service_unavailable(cloud, ctx, validator, prefix, what, call, reason):
    cloud.fail[prefix] = 500
    with pytest.raises(exception.ServiceUnavailable) as info:
        call(validator, ctx)
    assert info.value.code == 503
    assert str(info.value).startswith(f"{what} is unavailable: GET ")
    assert "answered 500: " in str(info.value)
    assert reason in str(info.value)


def test_503_is_service_unavailable(cloud, ctx, validator):
    cloud.fail["networking"] = 503
    with pytest.raises(exception.ServiceUnavailable, match="Neutron is unavailable"):
        validator.network(ctx, "private", "fixed_network")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused(config, ctx, validator):
    config.set_override("endpoint_override", f"http://127.0.0.1:{_free_port()}/image",
                        group="glance")
    with pytest.raises(exception.ServiceUnavailable, match="^Glance is unavailable: "):
        validator.image(ctx, IMAGE_ACTIVE)


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A socket that listens (the kernel completes connects) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_server_that_never_answers_times_out(config, ctx, validator):
    with _silent_server() as port:
        config.set_override("endpoint_override", f"http://127.0.0.1:{port}/compute/v2.1",
                            group="nova")
        config.set_override("timeout", 1, group="nova")
        start = time.monotonic()
        with pytest.raises(exception.ServiceUnavailable, match="^Nova is unavailable: "):
            validator.keypair(ctx, "default", "keypair_id")
        assert time.monotonic() - start < 5


def test_default_timeout_applies_when_unset(config):
    assert config.glance.timeout is None
    assert clients.get_session("glance").timeout == clients.DEFAULT_TIMEOUT


def test_no_endpoint_is_service_unavailable(config, ctx, validator):
    # Neither endpoint_override nor a catalog: EndpointNotFound → 503, not a 500.
    with pytest.raises(exception.ServiceUnavailable, match="^Neutron is unavailable: "):
        validator.network(ctx, "private", "fixed_network")


def test_rejected_token_is_service_unavailable(cloud, validator):
    other = ml_context.RequestContext(auth_token="expired", project_id=PROJECT, overwrite=False)
    with pytest.raises(exception.ServiceUnavailable, match="answered 401"):
        validator.image(other, IMAGE_ACTIVE)


# Endpoints from the user's catalog instead of endpoint_override


def test_endpoint_from_v2_service_catalog(config, ctx, validator):
    """keystonemiddleware's X-Service-Catalog layout, a region filter and valid_interfaces."""
    with FakeCloud() as fake:
        dead = f"http://127.0.0.1:{_free_port()}/image"
        ctx.service_catalog = [{
            "type": "image", "name": "glance",
            "endpoints": [
                {"region": "RegionOne", "publicURL": dead, "internalURL": dead,
                 "adminURL": dead},
                {"region": "RegionTwo", "publicURL": dead,
                 "internalURL": f"{fake.base}/image", "adminURL": dead},
            ]}]
        config.set_override("region_name", "RegionTwo", group="glance")
        assert validator.image(ctx, IMAGE_ACTIVE).id == IMAGE_ACTIVE
        config.set_override("valid_interfaces", ["public"], group="glance")
        with pytest.raises(exception.ServiceUnavailable):
            validator.image(ctx, IMAGE_ACTIVE)


def test_endpoint_from_catalog_header_json(config, ctx, validator):
    with FakeCloud() as fake:
        ctx.service_catalog = json.dumps([{
            "type": "network", "name": "neutron",
            "endpoints": [{"region": "RegionOne", "publicURL": f"{fake.base}/networking"}]}])
        validator.network(ctx, "private", "fixed_network")


def test_endpoint_from_keystonemiddleware_user_plugin(config, validator):
    """The plugin keystonemiddleware puts in environ['keystone.token_auth']."""
    with FakeCloud() as fake:
        token = ks_fixture.V3Token(user_id=USER, project_id=PROJECT)
        service = token.add_service("compute")
        service.add_standard_endpoints(public=f"{fake.base}/compute/v2.1",
                                       internal=f"{fake.base}/compute/v2.1",
                                       region="RegionOne")
        auth_ref = access.create(body=token, auth_token=TOKEN)
        ctx = ml_context.RequestContext(auth_token=TOKEN, project_id=PROJECT, overwrite=False)
        ctx.user_auth_plugin = _user_plugin.UserAuthPlugin(auth_ref, None)
        validator.flavor(ctx, "m1.tiny", "flavor_id")
        assert fake.requests[0][2]["X-Auth-Token"] == TOKEN


# get_validator's switch


def test_noauth_gets_the_noop_validator(config):
    config.set_override("auth_strategy", "noauth", group="api")
    validator = cloud_validation.get_validator()
    assert isinstance(validator, cloud_validation.NoopValidator)
    ctx = ml_context.RequestContext(overwrite=False)
    assert validator.image(ctx, "anything") == cloud_validation.ImageInfo("anything", None)
    validator.flavor(ctx, "m1.huge", "flavor_id")
    validator.keypair(ctx, "k", "keypair_id")
    validator.network(ctx, "n", "fixed_network", external=True)
    validator.subnet(ctx, "s", "fixed_subnet")


def test_validation_turned_off_gets_the_noop_validator(config):
    config.set_override("auth_strategy", "keystone", group="api")
    config.set_override("validate_resources", False, group="cloud")
    assert isinstance(cloud_validation.get_validator(), cloud_validation.NoopValidator)


def test_keystone_with_validation_gets_the_cloud_validator(config):
    config.set_override("auth_strategy", "keystone", group="api")
    config.set_override("validate_resources", True, group="cloud")
    validator = cloud_validation.get_validator()
    assert isinstance(validator, cloud_validation.CloudValidator)
    assert isinstance(validator, cloud_validation.ResourceValidator)


def test_image_info_is_frozen():
    info = cloud_validation.ImageInfo(id="x", os_distro=None)
    with pytest.raises(AttributeError):
        info.id = "y"  # type: ignore[misc]
