"""The swarm_fedora_v2 boot configuration is valid cloud-init user data (checked by
`cloud-init schema` and shellcheck with tests.unit.drivers.boot_helpers, as for k8s_ubuntu_v1)
that writes what the scripts read, gives secrets only to the nodes that need them, and
refuses bad values naming the field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from magnum_lite.drivers.swarm_fedora_v2 import userdata
from magnum_lite.drivers.swarm_fedora_v2.userdata import NodeBootConfig, render_user_data
from magnum_lite_sandbox import user_data
from tests.unit.drivers import boot_helpers
from tests.unit.drivers.boot_helpers import boot, cloud_config, files

UUID = "5d12f6fd-a196-4bf0-ae4c-1f639a523a52"
TOKEN = "SWMTKN-1-" + "a1" * 25 + "-" + "b2c3d" * 5
CA_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def make(role: str = "master", **overrides) -> NodeBootConfig:
    values = dict(role=role, cluster_uuid=UUID, cluster_name="swarm", docker_version="27.3.1",
                  control_plane_host="10.0.0.5", master_count=3,
                  credential_files={"/etc/docker/tls/ca.crt": CA_CERT,
                                    **({"/etc/docker/tls/ca.key": CA_KEY}
                                       if role == "master" else {})})
    if role == "worker":
        values.update(join_token=TOKEN, manager_addresses=("10.0.0.10", "10.0.0.11"))
    return NodeBootConfig(**{**values, **overrides})


CONFIGS = {
    "minimal": {},
    "everything": dict(docker_volume_size=20, docker_storage_driver="btrfs",
                       api_public_address="203.0.113.7", http_proxy="http://proxy:3128",
                       https_proxy="http://proxy:3128", no_proxy="example.com,10.0.0.0/8",
                       node_labels={"zone": "az-1", "magnum.openstack.org/gpu": "none"}),
}
NODES = [(name, role, index) for name in CONFIGS for role in ("master", "worker")
         for index in (0, 1)]
NODE_IDS = [f"{name}-{role}{index}" for name, role, index in NODES]


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], str]:
    return {(name, role): render_user_data(make(role, **CONFIGS[name]))
            for name in CONFIGS for role in ("master", "worker")}


@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_cloud_config_passes_cloud_init_schema(rendered, tmp_path, name, role, index):
    boot_helpers.check_cloud_init_schema(boot(rendered[name, role], index), tmp_path)


@pytest.mark.parametrize(("name", "role", "index"), NODES, ids=NODE_IDS)
def test_scripts_pass_shellcheck(rendered, tmp_path, name, role, index):
    script = "swarm-manager.sh" if role == "master" else "swarm-worker.sh"
    boot_helpers.check_scripts_with_shellcheck(boot(rendered[name, role], index), tmp_path,
                                               ["10-prepare-node.sh", f"20-{script}"])


@pytest.mark.parametrize("name", ["apply-credentials.sh", "join-tokens.sh"])
def test_the_deployment_scripts_pass_shellcheck(name):
    boot_helpers.shellcheck(userdata.BOOT_DIR / name)


def test_boot_files_are_ascii():
    boot_helpers.check_boot_files(userdata.BOOT_DIR, [
        ".shellcheckrc", "apply-credentials.sh", "cloud-config.yaml", "join-tokens.sh",
        "prepare-node.sh", "swarm-manager.sh", "swarm-worker.sh"])


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_node_env_and_daemon_json(rendered, name, role):
    data = rendered[name, role]
    written = files(data)
    env = user_data.parse_env(written["/etc/magnum-lite/node.env"]["content"])
    assert "COE" not in env and env["ROLE"] == role
    assert env["NODE_INDEX"] == userdata.NODE_INDEX_PLACEHOLDER
    assert env["DOCKER_VERSION"] == "27.3.1" and env["API_PORT"] == "2376"
    daemon = json.loads(written["/etc/docker/daemon.json"]["content"])
    config = make(role, **CONFIGS[name])
    assert daemon["storage-driver"] == config.docker_storage_driver
    if role == "master":
        assert daemon["hosts"] == ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
        assert daemon["tlsverify"] is True
        assert daemon["tlscacert"] == "/etc/docker/tls/ca.crt"
    else:
        # Workers serve no TCP API: nothing to protect with a certificate.
        assert daemon["hosts"] == ["unix:///var/run/docker.sock"]
        assert "tlsverify" not in daemon
        assert env["MANAGER_ADDRESSES"] == "10.0.0.10 10.0.0.11"
    for key, value in config.node_labels.items():
        assert f"{key}={value}" in daemon["labels"]
    assert len(data.encode()) < userdata.MAX_USER_DATA_BYTES * 3 // 4


def test_secrets_only_where_needed(rendered):
    master, worker = files(rendered["minimal", "master"]), files(rendered["minimal", "worker"])
    assert master["/etc/docker/tls/ca.key"]["permissions"] == "0600"
    assert "/etc/docker/tls/ca.key" not in worker
    assert worker["/etc/docker/tls/ca.crt"]["content"] == CA_CERT
    # The worker join token: only on workers, root only, never in node.env.
    assert "/etc/magnum-lite/join.env" not in master
    assert worker["/etc/magnum-lite/join.env"]["permissions"] == "0600"
    assert TOKEN in worker["/etc/magnum-lite/join.env"]["content"]
    assert TOKEN not in worker["/etc/magnum-lite/node.env"]["content"]
    proxies = files(rendered["everything", "worker"])
    assert proxies["/etc/systemd/system/docker.service.d/http-proxy.conf"][
        "permissions"] == "0600"


def test_the_volume_and_the_docker_unit(rendered):
    config = cloud_config(rendered["everything", "master"])
    unit = {f["path"]: f for f in config["write_files"]}[
        "/etc/systemd/system/docker.service.d/magnum-lite.conf"]["content"]
    assert "ExecStart=\n" in unit  # daemon.json's hosts and the unit's -H fd:// would clash
    env = user_data.parse_env(files(rendered["everything", "master"])
                              ["/etc/magnum-lite/node.env"]["content"])
    assert env["DOCKER_VOLUME_SIZE"] == "20" and env["DOCKER_STORAGE_DRIVER"] == "btrfs"
    assert env["API_PUBLIC_ADDRESS"] == "203.0.113.7"


def test_rendering_is_deterministic():
    assert render_user_data(make()) == render_user_data(make())


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("role", ["master", "worker"])
def test_mime_layout_and_size(rendered, name, role):
    boot_helpers.check_layout_and_size(rendered[name, role],
                                       render_user_data(make(role, **CONFIGS[name])))


@pytest.mark.parametrize(("overrides", "field"), [
    (dict(master_count=2), "master_count: swarm-mode needs an odd number of managers"),
    (dict(docker_storage_driver="devicemapper"), "docker_storage_driver: must be one of"),
    (dict(docker_version="latest"), "docker_version:"),
    (dict(docker_version="20.10.24"), "docker_version: 20.10.24 is older"),
    (dict(cluster_uuid="NOT-A-UUID"), "cluster_uuid:"),
    (dict(control_plane_host="bad host"), "control_plane_host:"),
    (dict(http_proxy="ftp://x"), "http_proxy:"),
    (dict(no_proxy="a b"), "no_proxy:"),
    (dict(node_labels={"bad key": "x"}), "node_labels:"),
    (dict(node_labels={"k": "it's"}), "node_labels:"),
    (dict(api_port=2377), "api_port:"),
    (dict(join_token=TOKEN), "join_token: managers fetch theirs"),
    (dict(credential_files={"/etc/passwd": "x"}), "credential_files:"),
])
def test_bad_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        render_user_data(make(**overrides))


@pytest.mark.parametrize(("overrides", "field"), [
    (dict(join_token="abcdef.0123456789abcdef"), "join_token: must be a Docker swarm token"),
    (dict(manager_addresses=()), "manager_addresses:"),
    (dict(manager_addresses=("manager.example",)), "manager_addresses:"),
    (dict(credential_files={"/etc/docker/tls/ca.key": CA_KEY}), "credential_files:"),
])
def test_bad_worker_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        render_user_data(make("worker", **overrides))


def test_too_large_names_the_field():
    labels = {f"label{i}": "v" * 200 for i in range(300)}
    with pytest.raises(ValueError, match="^node_labels: the user data would be"):
        render_user_data(make(node_labels=labels))


def test_the_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().role = "worker"  # type: ignore[misc]
