"""The stand-in as a server: real cheroot threads, keystonemiddleware, and magnum-lite's client.

magnum-lite's own CloudValidator, pointed at the stand-in with `endpoint_override`, must find the
seeded catalog and refuse what does not exist: that proves the stand-in speaks what magnum-lite's
client expects. Tokens are checked by the real auth_token middleware, with keystonemiddleware's
AuthTokenFixture standing in for Keystone's token validation.
"""

from collections.abc import Iterator
import json
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from keystonemiddleware import fixture as ksm_fixture
import pytest
import requests

from magnum_lite.common import clients, cloud_validation, exception
from magnum_lite.common import context as ml_context
from magnum_lite_sandbox.cloud_api import server, store

DEMO_TOKEN = "demo-token"
ALT_TOKEN = "alt-token"
DEMO = "1a1a1a1a1a1a4a1a8a1a1a1a1a1a1a1a"
ALT = "2b2b2b2b2b2b4b2b8b2b2b2b2b2b2b2b"
DEMO_USER = "d0d0d0d0d0d04d0d8d0d0d0d0d0d0d0d"
ALT_USER = "e0e0e0e0e0e04e0e8e0e0e0e0e0e0e0e"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
              "demo@sandbox")
SANDBOX = {
    "keystone_url": "http://127.0.0.1:9/v3",  # never reached: the fixture validates tokens
    "region": "RegionOne",
    "users": {"sandbox-cloud": {"username": "sandbox-cloud", "password": "secret",
                                "project_name": "service", "user_domain_name": "Default",
                                "project_domain_name": "Default"}},
}
ANY_PORT = {"image": "http://127.0.0.1:0", "compute": "http://127.0.0.1:0/v2.1",
            "network": "http://127.0.0.1:0", "load-balancer": "http://127.0.0.1:0"}


class Running:
    """A started CloudApiServer and the base URL of each service."""

    def __init__(self, cloud_server: server.CloudApiServer) -> None:
        self.server = cloud_server
        self.urls = {name: f"http://127.0.0.1:{port}"
                     for name, port in cloud_server.ports().items()}


@pytest.fixture
def tokens() -> Iterator[ksm_fixture.AuthTokenFixture]:
    with ksm_fixture.AuthTokenFixture() as auth:
        auth.add_token_data(token_id=DEMO_TOKEN, user_id=DEMO_USER, project_id=DEMO,
                            role_list=["member", "reader"])
        auth.add_token_data(token_id=ALT_TOKEN, user_id=ALT_USER, project_id=ALT,
                            role_list=["member", "reader"])
        yield auth


@pytest.fixture
def running(tokens) -> Iterator[Running]:
    apps = server.build_apps(store.Store(lb_delay=0), server.auth_settings(SANDBOX))
    cloud_server = server.CloudApiServer(apps, ANY_PORT)
    cloud_server.start()
    try:
        yield Running(cloud_server)
    finally:
        cloud_server.stop()


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    clients.reset_sessions()
    yield
    clients.reset_sessions()


@pytest.fixture
def overrides(config, running) -> Running:
    """magnum-lite's [glance]/[nova]/[neutron] pointed at the stand-in."""
    config.set_override("endpoint_override", running.urls["image"], group="glance")
    config.set_override("endpoint_override", running.urls["compute"] + "/v2.1", group="nova")
    config.set_override("endpoint_override", running.urls["network"], group="neutron")
    return running


def context(token: str, project: str, user: str) -> ml_context.RequestContext:
    return ml_context.RequestContext(auth_token=token, project_id=project, user_id=user,
                                     roles=["member"], overwrite=False)


@pytest.fixture
def demo() -> ml_context.RequestContext:
    return context(DEMO_TOKEN, DEMO, DEMO_USER)


@pytest.fixture
def alt() -> ml_context.RequestContext:
    return context(ALT_TOKEN, ALT, ALT_USER)


@pytest.fixture
def validator() -> cloud_validation.CloudValidator:
    return cloud_validation.CloudValidator()


def invalid(call: Any, *args: Any, code: int = 400, **kwargs: Any) -> str:
    """The message of the refusal (Magnum's exceptions: 400s but a missing keypair's 404)."""
    with pytest.raises(exception.MagnumLiteException) as info:
        call(*args, **kwargs)
    assert info.value.code == code
    return str(info.value)


def get(url: str, token: str | None = DEMO_TOKEN, **headers: str) -> requests.Response:
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.get(url, headers=headers, timeout=5)


# Keystone auth


def test_requests_without_a_token_are_401(running):
    paths = {"image": "/v2/images", "compute": "/v2.1/flavors", "network": "/v2.0/networks",
             "load-balancer": "/v2/lbaas/loadbalancers"}
    for name, path in paths.items():
        response = get(running.urls[name] + path, token=None)
        assert response.status_code == 401, name
        assert "Keystone uri" in response.headers["WWW-Authenticate"]
        assert response.json()["error"]["code"] == 401


def test_version_documents_need_no_token(running):
    assert get(f"{running.urls['image']}/", token=None).status_code == 300
    assert get(f"{running.urls['image']}/versions", token=None).status_code == 200
    assert get(f"{running.urls['compute']}/v2.1", token=None).json()["version"]["id"] == "v2.1"
    for name in ("network", "load-balancer"):
        assert "versions" in get(f"{running.urls[name]}/", token=None).json()


def test_a_bad_token_is_401(running):
    assert get(f"{running.urls['network']}/v2.0/networks", token="forged").status_code == 401


def test_identity_comes_from_the_token_not_the_headers(running):
    # keystonemiddleware replaces identity headers a client sends with the token's.
    networks = get(f"{running.urls['network']}/v2.0/networks",
                   **{"X-Project-Id": ALT, "X-Roles": "admin"}).json()["networks"]
    assert {n["project_id"] for n in networks if n["name"] == "private"} == {DEMO}


def test_auth_settings_need_the_service_user():
    with pytest.raises(SystemExit, match="sandbox-cloud"):
        server.auth_settings({"keystone_url": "http://127.0.0.1:5000/v3", "users": {}})


def test_auth_settings_from_sandbox_json():
    settings = server.auth_settings(SANDBOX)
    assert settings["www_authenticate_uri"] == SANDBOX["keystone_url"]
    assert settings["delay_auth_decision"] is False
    assert settings["interface"] == "public"  # the sandbox catalog has no internal endpoints
    plugin = settings["oslo_config_config"][server.AUTH_GROUP]
    assert plugin.auth_url == SANDBOX["keystone_url"]
    assert plugin.username == "sandbox-cloud" and plugin.project_name == "service"


# magnum-lite's validator against the stand-in


def test_validator_finds_seeded_images_with_os_distro(overrides, demo, validator):
    coreos = validator.image(demo, "fedora-coreos-40")
    assert coreos.os_distro == "fedora-coreos"
    ubuntu_id = store.SEED_IMAGES[0][0]
    assert validator.image(demo, ubuntu_id) == cloud_validation.ImageInfo(ubuntu_id, "ubuntu")
    assert validator.image(demo, "fedora-40").os_distro == "fedora"


def test_validator_rejects_unknown_and_inactive_images(overrides, demo, validator):
    assert invalid(validator.image, demo, "windows-11") == (
        "image_id: Image windows-11 could not be found.")
    message = invalid(validator.image, demo, "ubuntu-24.04-uploading")
    assert message.startswith("image_id: ") and "not active (status queued)" in message
    missing_id = "00000000-0000-4000-8000-000000000000"
    assert invalid(validator.image, demo, missing_id).startswith("image_id: Image ")


def test_validator_finds_vm_and_baremetal_flavors(overrides, demo, validator):
    for ident in ("m1.small", "m1.medium", "m1.large", "bm.small", "bm.large", "2", "bm1"):
        validator.flavor(demo, ident, "flavor_id")
    message = invalid(validator.flavor, demo, "m1.huge", "master_flavor_id")
    assert message == "master_flavor_id: Unable to find flavor m1.huge."


def test_validator_keypairs_are_per_user(overrides, demo, alt, validator, running):
    created = requests.post(f"{running.urls['compute']}/v2.1/os-keypairs",
                            json={"keypair": {"name": "demo-key", "public_key": PUBLIC_KEY}},
                            headers={"X-Auth-Token": DEMO_TOKEN}, timeout=5)
    assert created.status_code == 200
    assert created.json()["keypair"]["user_id"] == DEMO_USER
    validator.keypair(demo, "demo-key", "keypair_id")
    assert invalid(validator.keypair, alt, "demo-key", "keypair", code=404) == (
        "keypair: Unable to find keypair demo-key.")


def test_validator_finds_networks_and_subnets(overrides, demo, validator):
    validator.network(demo, "public", "external_network_id", external=True)
    validator.network(demo, store.PUBLIC_NETWORK_ID, "external_network_id", external=True)
    validator.network(demo, "private", "fixed_network")
    validator.subnet(demo, "private-subnet", "fixed_subnet")
    message = invalid(validator.network, demo, "private", "external_network_id", external=True)
    assert message.startswith("external_network_id: Unable to find external network private.")
    assert invalid(validator.network, demo, "nowhere", "fixed_network") == (
        "fixed_network: Unable to find fixed network nowhere.")
    assert invalid(validator.subnet, demo, "nowhere", "fixed_subnet") == (
        "fixed_subnet: Unable to find fixed subnet nowhere.")


def test_validator_cannot_use_another_projects_network(overrides, demo, alt, validator):
    demo_private = store.derived_id("private-network", DEMO)
    validator.network(demo, demo_private, "fixed_network")
    assert invalid(validator.network, alt, demo_private, "fixed_network").startswith(
        "fixed_network: Unable to find fixed network")


# The process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_process_serves_the_contract_and_stops_on_sigterm(tmp_path: pathlib.Path):
    ports = {name: free_port() for name in ANY_PORT}
    endpoints = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    endpoints["compute"] += "/v2.1"
    (tmp_path / "sandbox.json").write_text(json.dumps({"cloud_api": endpoints}))
    process = subprocess.Popen(
        [sys.executable, "-m", "magnum_lite_sandbox.cloud_api", "--state-dir", str(tmp_path),
         "--no-auth"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports["load-balancer"]), 0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the stand-in did not start"
                time.sleep(0.05)
        assert get(f"http://127.0.0.1:{ports['image']}/", None).status_code == 300
        assert get(endpoints["compute"], None).json()["version"]["id"] == "v2.1"
        images = get(f"http://127.0.0.1:{ports['image']}/v2/images", None).json()["images"]
        assert len(images) == len(store.SEED_IMAGES)
        lbs = get(f"http://127.0.0.1:{ports['load-balancer']}/v2/lbaas/loadbalancers", None)
        assert lbs.json() == {"loadbalancers": [], "loadbalancers_links": []}
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
        assert time.monotonic() - started < 2
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_main_without_the_service_user_asks_for_no_auth(tmp_path: pathlib.Path):
    (tmp_path / "sandbox.json").write_text(json.dumps({"keystone_url": "http://x/v3"}))
    with pytest.raises(SystemExit, match="--no-auth"):
        server.main(["--state-dir", str(tmp_path)])


def test_main_fails_when_a_port_is_taken(tmp_path: pathlib.Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoints = {**ANY_PORT, "network": f"http://127.0.0.1:{taken.getsockname()[1]}"}
        (tmp_path / "sandbox.json").write_text(json.dumps({"cloud_api": endpoints}))
        result: list[int] = []
        # In a thread: were the port not refused, main would serve until signalled.
        runner = threading.Thread(target=lambda: result.append(
            server.main(["--state-dir", str(tmp_path), "--no-auth"])), daemon=True)
        runner.start()
        runner.join(10)
        assert result == [1]
