"""What a master's guest reads from its user data and from a rotation's credential files, as
cloud-init and the boot scripts would: written files (plain or encoded), node.env, the CA."""

import base64
import gzip
import json

import pytest
import yaml

from fakes import CLUSTER_UUID, master_user_data
from magnum_lite.common import x509
from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
from magnum_lite_sandbox import user_data


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("kubernetes")


def test_the_drivers_user_data_is_parsed(ca):
    config = userdata.NodeBootConfig(
        role="master", cluster_uuid=CLUSTER_UUID, cluster_name="demo", kube_tag="v1.30.4",
        network_driver="flannel", pod_network_cidr="10.100.0.0/16",
        service_cluster_ip_range="10.254.0.0/16", control_plane_endpoint="10.0.0.5:6443",
        api_public_address="127.88.1.2", join_token="abcdef.0123456789abcdef",
        certificate_key="0" * 64, master_count=1,
        credential_files={user_data.CA_CERT_PATH: ca.certificate,
                          user_data.CA_KEY_PATH: ca.private_key})
    text = userdata.render_user_data(config).replace(userdata.NODE_INDEX_PLACEHOLDER, "0")
    info = user_data.boot_info(text)
    assert info.env["CLUSTER_UUID"] == CLUSTER_UUID
    assert info.env["KUBE_VERSION"] == "1.30.4"
    assert info.ca == ca
    assert info.coe == user_data.DEFAULT_COE


def test_b64_encoded_ca_files_are_decoded(ca):
    info = user_data.boot_info(master_user_data(ca, encoding="b64"))
    assert info.ca == ca
    assert info.env["KUBE_VERSION"] == "1.31.2"


def test_a_plain_cloud_config_and_gzipped_files_are_read():
    packed = base64.b64encode(gzip.compress(b"MESOS_VERSION='1.11.0'\n")).decode()
    text = "#cloud-config\n" + yaml.safe_dump({"write_files": [
        {"path": user_data.NODE_ENV_PATH, "encoding": "gz+b64", "content": packed},
        {"path": "/etc/motd", "content": "hello"}]})
    assert user_data.cloud_config_files(text) == {
        user_data.NODE_ENV_PATH: "MESOS_VERSION='1.11.0'\n", "/etc/motd": "hello"}
    assert user_data.boot_info(text) == user_data.BootInfo(
        ca=None, env={"MESOS_VERSION": "1.11.0"}, coe=user_data.MESOS)
    assert user_data.cloud_config_files("#!/bin/sh\necho no cloud-config\n") == {}


def test_node_env_lines_are_read_as_the_scripts_source_them():
    env = user_data.parse_env("# comment\nexport A='1'\nB=\"two words\"\nC=3\nnot a line\n")
    assert env == {"A": "1", "B": "two words", "C": "3"}


def test_credentials_hold_a_new_ca_only_for_a_master(ca):
    master = {user_data.CA_CERT_PATH: ca.certificate, user_data.CA_KEY_PATH: ca.private_key}
    assert user_data.credentials_ca(json.dumps(master)) == ca
    assert user_data.credentials_ca(master) == ca  # already decoded
    assert user_data.credentials_ca({user_data.CA_CERT_PATH: ca.certificate}) is None
    assert user_data.credentials_ca({"/etc/kubernetes/cloud.conf": "[Global]\n"}) is None


@pytest.mark.parametrize("credentials", ["{not json", "[]", json.dumps(
    {user_data.MESOS_CA_CERT_PATH: "not PEM", user_data.MESOS_CA_KEY_PATH: "not PEM"})])
def test_unreadable_credentials_raise_without_naming_a_secret(credentials):
    with pytest.raises(ValueError) as raised:
        user_data.credentials_ca(credentials)
    assert "PEM" in str(raised.value) or "JSON" in str(raised.value)
    assert "not PEM" not in str(raised.value)


@pytest.mark.parametrize(("files", "env", "coe"), [
    ({user_data.KUBEADM_INIT_PATH: "kind: ClusterConfiguration\n"}, {"KUBE_VERSION": "1.31.2"},
     user_data.DEFAULT_COE),
    ({}, {}, user_data.DEFAULT_COE),
    ({user_data.MESOS_CA_CERT_PATH: "pem"}, {}, user_data.MESOS),
    ({"/etc/mesos/credentials.json": "{}"}, {}, user_data.MESOS),
    ({}, {"MESOS_VERSION": "1.11.0"}, user_data.MESOS),
    ({user_data.DOCKER_CA_CERT_PATH: "pem"}, {}, user_data.SWARM_MODE),
    ({user_data.SWARM_JOIN_PATH: "WORKER_JOIN_TOKEN='x'\n"}, {}, user_data.SWARM_MODE),
    ({}, {"SWARM_PORT": "2377"}, user_data.SWARM_MODE),
    # Both write Docker's daemon.json (Mesos runs its tasks in Docker): it tells nothing.
    ({"/etc/docker/daemon.json": "{}"}, {}, user_data.DEFAULT_COE),
])
def test_the_coe_is_what_only_its_boot_scripts_read(files, env, coe):
    assert user_data.coe_of(files, env) == coe


def test_each_node_reads_the_version_its_own_boot_installs(ca):
    """A worker's user data (k8s_ubuntu_v1 renders kube_tag into node.env's KUBE_VERSION)
    tells that worker's kubelet version, whatever master 0's says."""
    config = userdata.NodeBootConfig(
        role="worker", cluster_uuid=CLUSTER_UUID, cluster_name="demo", kube_tag="v1.31.2",
        network_driver="flannel", pod_network_cidr="10.100.0.0/16",
        service_cluster_ip_range="10.254.0.0/16", control_plane_endpoint="10.0.0.5:6443",
        api_public_address="127.88.1.2", join_token="abcdef.0123456789abcdef",
        certificate_key="0" * 64, master_count=1,
        credential_files={user_data.CA_CERT_PATH: ca.certificate})
    text = userdata.render_user_data(config).replace(userdata.NODE_INDEX_PLACEHOLDER, "1")
    boot = user_data.boot_info(text)
    assert user_data.node_version(boot, user_data.DEFAULT_COE) == "v1.31.2"
    docker = user_data.BootInfo(ca=None, env={"DOCKER_VERSION": "27.3.1"})
    assert user_data.node_version(docker, user_data.SWARM_MODE) == "27.3.1"
    assert user_data.node_version(docker, user_data.MESOS) is None


def test_a_mesos_masters_credentials_are_read():
    files = {"/etc/mesos/credentials.json": json.dumps({"credentials": [
        {"principal": "magnum-admin", "secret": "s"}, {"principal": "marathon",
                                                       "secret": "t"}]})}
    assert user_data.mesos_credentials(files) == (("magnum-admin", "s"), ("marathon", "t"))
    assert user_data.mesos_credentials({"/etc/mesos/credentials.json": "not json"}) == ()
    assert user_data.mesos_credentials({}) == ()
