"""magnum-lite behind the sandbox's real Keystone: tokens, the catalog, the `openstack coe` CLI.

Every request here is authenticated for real: keystonemiddleware in magnum-lite-api validates
the token against the sandbox Keystone, and template create checks the image, flavors and
network against the cloud API stand-in found through the catalog.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from magnum_lite_sandbox import cli as sandbox_cli
from magnum_lite_sandbox import config as sandbox_config
from magnum_lite_sandbox import magnum as sandbox_magnum
from magnum_lite_sandbox import processes
from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

IMAGE = "ubuntu-22.04"
FLAVOR = "m1.small"
EXTERNAL_NETWORK = "public"


def _get(url: str, token: str | None) -> int:
    request = urllib.request.Request(url, headers={"X-Auth-Token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _template_args(name: str, image: str = IMAGE) -> list[str]:
    return ["coe", "cluster", "template", "create", name, "--image", image,
            "--external-network", EXTERNAL_NETWORK, "--coe", "kubernetes",
            "--flavor", FLAVOR, "--master-flavor", FLAVOR, "-f", "json"]


@pytest.fixture
def template(sandbox, openstack_cli):
    """A template of the demo project created with the CLI, deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    out = openstack_cli("sandbox", *_template_args(name)).stdout
    # magnumclient prints "Request to create ... accepted" before the JSON document.
    created = json.loads(out[out.index("{"):])
    yield created
    openstack_cli("sandbox", "coe", "cluster", "template", "delete", created["uuid"],
                  check=False)


def test_token_from_sandbox_keystone(sandbox):
    sess = clusters.session(sandbox, "demo")
    token = sess.get_token()
    assert token
    access = sess.auth.get_access(sess)
    assert access.project_name == "demo"
    assert {"member", "reader"} <= set(access.role_names)
    # The catalog sends clients to magnum-lite and the stand-ins.
    assert sess.get_endpoint(service_type="container-infra", interface="public",
                             region_name=sandbox["region"]) == sandbox["magnum_lite_url"]


def test_service_users_log_in(sandbox):
    for user in ("heat", "magnum-lite", "sandbox-cloud", "alt_demo", "admin"):
        assert clusters.session(sandbox, user).get_token()


def test_template_create_and_list_through_the_catalog(openstack_cli, template):
    assert template["image_id"] == IMAGE
    listed = json.loads(openstack_cli("sandbox", "coe", "cluster", "template", "list",
                                      "-f", "json").stdout)
    assert template["uuid"] in {t["uuid"] for t in listed}
    shown = json.loads(openstack_cli("sandbox", "coe", "cluster", "template", "show",
                                     template["uuid"], "-f", "json").stdout)
    assert shown["name"] == template["name"]


def test_unknown_image_is_refused_by_validation(openstack_cli):
    if not sandbox_magnum.optional_available(sandbox_magnum.CLOUD_API):
        pytest.skip("no cloud API stand-in: magnum-lite runs with validate_resources = false")
    result = openstack_cli("sandbox", *_template_args(f"it-{uuid.uuid4().hex[:8]}",
                                                       image="no-such-image"), check=False)
    assert result.returncode != 0
    assert "no-such-image" in result.stderr, result.stderr


def test_bad_token_is_401(sandbox):
    url = sandbox["magnum_lite_url"] + "/clustertemplates"
    assert _get(url, "not-a-token") == 401
    assert _get(url, None) == 401
    assert _get(url, clusters.session(sandbox, "demo").get_token()) == 200


def test_another_project_cannot_see_the_template(openstack_cli, template):
    listed = json.loads(openstack_cli("sandbox-alt", "coe", "cluster", "template", "list",
                                      "-f", "json").stdout)
    assert template["uuid"] not in {t["uuid"] for t in listed}
    shown = openstack_cli("sandbox-alt", "coe", "cluster", "template", "show",
                          template["uuid"], check=False)
    assert shown.returncode != 0
    assert "404" in shown.stderr or "not found" in shown.stderr.lower(), shown.stderr


@pytest.mark.disruptive  # were a component slow to answer, `start` would restart it
def test_start_again_is_quick_and_harmless(sandbox):
    before = clusters.session(sandbox, "demo")
    token = before.get_token()
    state_dir = sandbox_config.default_state_dir()
    running = {name: processes.read_pid(state_dir, name) for name in sandbox_cli.STOP_ORDER}
    result = subprocess.run([sys.executable, "-m", "magnum_lite_sandbox.cli", "start"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Quick because nothing was started again: each component is the same process.
    assert None not in running.values()
    assert running == {name: processes.read_pid(state_dir, name)
                       for name in sandbox_cli.STOP_ORDER}
    # Nothing was reset: a token issued before is still valid.
    assert _get(sandbox["magnum_lite_url"] + "/clustertemplates", token) == 200
    status = subprocess.run([sys.executable, "-m", "magnum_lite_sandbox.cli", "status"],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout
    assert "OS_CLIENT_CONFIG_FILE=" in status.stdout
