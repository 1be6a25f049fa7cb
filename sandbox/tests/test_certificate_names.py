"""The sandbox's serving certificates name what a real master's would: the names its boot
configuration lists (kubeadm's certSANs; node.env's CONTROL_PLANE_HOST and
API_PUBLIC_ADDRESS) and the node's own, not whatever address the sandbox serves on, so a
client reaching the API by an address a real certificate would not name fails hostname
verification here too. Without such names (older user data) the served addresses are named."""

from __future__ import annotations

from contextlib import closing
import http.client
import ssl
import types

import pytest

from fakes import (
    CLUSTER_UUID,
    FakeHeat,
    RecordingAPI,
    add_cluster,
    admin_pair,
    change,
    master_user_data,
)
from magnum_lite.common import x509
from magnum_lite.drivers import base
from magnum_lite.drivers.k8s_ubuntu_v1 import userdata as k8s_userdata
from magnum_lite.drivers.mesos_ubuntu_v1 import userdata as mesos_userdata
from magnum_lite.drivers.mesos_ubuntu_v1.driver import MesosUbuntuV1
from magnum_lite_sandbox import cluster_apis, docker_api, kube_api, mesos_api, user_data
from test_agent_swarm import swarm_master_user_data
from tests.unit.drivers.heat.conftest import make_cluster, make_nodegroup, make_template

LB_VIP, LB_FIP = "10.0.0.5", "127.88.1.2"  # fakes.add_cluster's load balancer
MASTER_IP, MASTER_FIP, MASTER_NAME = "10.0.0.10", "127.88.2.3", "demo-0f6c2a-master-0"
NAMED, UNNAMED = "127.88.9.1", "127.88.9.2"  # loopback addresses a test API serves on


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("certificate names")


def k8s_master_user_data(ca: x509.KeyPair, public: str | None = LB_FIP) -> str:
    """A Kubernetes master's user data as k8s_ubuntu_v1 renders it, with what Heat puts in."""
    config = k8s_userdata.NodeBootConfig(
        role="master", cluster_uuid=CLUSTER_UUID, cluster_name="demo", kube_tag="v1.30.4",
        network_driver="flannel", pod_network_cidr="10.100.0.0/16",
        service_cluster_ip_range="10.254.0.0/16", control_plane_endpoint=f"{LB_VIP}:6443",
        api_public_address=public, join_token="abcdef.0123456789abcdef",
        certificate_key="0" * 64, master_count=1,
        credential_files={user_data.CA_CERT_PATH: ca.certificate,
                          user_data.CA_KEY_PATH: ca.private_key})
    return k8s_userdata.render_user_data(config).replace(
        k8s_userdata.NODE_INDEX_PLACEHOLDER, "0")


def mesos_master_user_data(ca: x509.KeyPair, public: str | None = LB_FIP) -> str:
    """A Mesos master's user data as the mesos_ubuntu_v1 plugin renders it."""
    cluster = make_cluster(uuid=CLUSTER_UUID, name="demo", master_count=1)
    template = make_template(coe="mesos", cluster_distro="ubuntu", image_id="ubuntu-22.04")
    masters = make_nodegroup(cluster, "default-master", "master", 1)
    creds = base.ClusterCredentials(cas={"ca": types.SimpleNamespace(
        certificate=ca.certificate, private_key=ca.private_key)})
    plugin = MesosUbuntuV1()
    plugin.join_token = lambda cluster: "ab" * 32  # what the conductor stored at create
    return plugin.render_user_data(cluster, template, masters, LB_VIP, public, creds)


# -- what the boot configuration names ---------------------------------------------------------
def test_kubernetes_names_are_kubeadm_s_cert_sans(ca):
    info = user_data.boot_info(k8s_master_user_data(ca))
    assert info.certificate_names == (LB_VIP, LB_FIP)
    # Without a public address Heat knows of, kubeadm names the control plane's only.
    assert user_data.boot_info(k8s_master_user_data(ca, None)).certificate_names == (LB_VIP,)


def test_swarm_names_are_node_env_s_hosts(ca):
    assert user_data.boot_info(swarm_master_user_data(ca)).certificate_names == (
        LB_VIP, LB_FIP)
    assert user_data.boot_info(swarm_master_user_data(ca, None)).certificate_names == (
        LB_VIP,)


def test_mesos_names_are_node_env_s_hosts(ca):
    info = user_data.boot_info(mesos_master_user_data(ca))
    assert info.coe == user_data.MESOS
    assert info.certificate_names == (LB_VIP, LB_FIP)
    config = mesos_userdata.MesosBootConfig(
        role="master", cluster_uuid=CLUSTER_UUID, cluster_name="demo",
        control_plane_host="10.0.0.1", join_token="ab" * 32, master_count=1)
    assert user_data.boot_info(mesos_userdata.render_user_data(config)).certificate_names \
        == ("10.0.0.1",)


def test_user_data_that_names_nothing_gives_no_names(ca):
    assert user_data.boot_info(master_user_data(ca)).certificate_names == ()
    assert user_data.boot_info("").certificate_names == ()
    broken = "#cloud-config\n" + "write_files:\n- path: " + user_data.KUBEADM_INIT_PATH + \
        "\n  content: '[not: yaml'\n"
    assert user_data.boot_info(broken).certificate_names == ()


# -- what the cluster's API is given -----------------------------------------------------------
def _recorded(heat: FakeHeat) -> tuple[cluster_apis.ClusterServers, RecordingAPI]:
    """The cluster's servers after a sweep, and the one API they made (a recording)."""
    made: list[RecordingAPI] = []

    def record(*args):
        made.append(RecordingAPI(*args))
        return made[-1]

    servers = cluster_apis.ClusterServers(api_factory=record, docker_factory=record,
                                          mesos_factory=record)
    servers.sweep(heat)
    [api] = made
    return servers, api


@pytest.mark.parametrize(("render", "own"), [
    (k8s_master_user_data, (MASTER_IP, MASTER_NAME)),
    (swarm_master_user_data, (MASTER_IP,)),
    (mesos_master_user_data, (MASTER_IP, MASTER_NAME, MASTER_FIP)),
])
def test_the_api_names_the_boot_names_and_the_node_s_own(ca, render, own):
    heat = FakeHeat()
    add_cluster(heat, ca, masters=2, workers=0, user_data=render(ca))
    servers, api = _recorded(heat)
    assert api.certificate_names == (LB_VIP, LB_FIP, *own)
    # Master 0 replaced by a resize: its new address is named from the next sweep on.
    heat.stacks_by_id["cs-1"]["outputs"]["master_private_addresses"]["0"] = "10.0.0.42"
    change(heat, "cs-1", "UPDATE_COMPLETE")
    servers.sweep(heat)
    assert "10.0.0.42" in api.certificate_names and MASTER_IP not in api.certificate_names


def test_an_older_cluster_s_api_names_what_it_serves(ca):
    heat = FakeHeat()
    add_cluster(heat, ca, masters=1, workers=0)
    _, api = _recorded(heat)
    assert api.certificate_names == ()
    assert api.hosts[0] == LB_FIP


# -- what a client that checks host names sees ---------------------------------------------------
APIS = [
    (lambda ca: kube_api.ClusterAPI(kube_api.ClusterView(CLUSTER_UUID), ca, port=0), "/version"),
    (lambda ca: docker_api.DockerAPI(docker_api.DockerView(CLUSTER_UUID), ca, port=0), "/_ping"),
    (lambda ca: mesos_api.MesosAPI(mesos_api.MesosView(CLUSTER_UUID), ca, port=0), "/version"),
]


def _status(api: kube_api.ClusterAPI, host: str, ca: x509.KeyPair, path: str,
            tmp_path) -> int:
    """A GET over TLS verified as clients do (cluster CA, host name checked), with a client
    certificate (the Docker API requires one)."""
    context = ssl.create_default_context(cadata=ca.certificate)
    assert context.check_hostname
    client = admin_pair(ca)
    (tmp_path / "c.crt").write_text(client.certificate)
    (tmp_path / "c.key").write_text(client.private_key)
    context.load_cert_chain(str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    conn = http.client.HTTPSConnection(host, api.addresses[host], context=context, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.parametrize(("make", "path"), APIS)
def test_an_address_the_boot_names_leave_out_fails_verification(ca, make, path, tmp_path):
    with closing(make(ca)) as api:
        api.set_certificate_names([LB_VIP, NAMED])
        api.serve([NAMED, UNNAMED])
        assert _status(api, NAMED, ca, path, tmp_path) == 200
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            _status(api, UNNAMED, ca, path, tmp_path)
        # A new CA re-issues the certificate with the same names.
        other = x509.generate_ca("certificate names 2")
        api.set_ca(other)
        assert _status(api, NAMED, other, path, tmp_path) == 200
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            _status(api, UNNAMED, other, path, tmp_path)
        # Names that come to include the address (a re-read boot configuration) do.
        api.set_certificate_names([NAMED, UNNAMED])
        assert _status(api, UNNAMED, other, path, tmp_path) == 200


@pytest.mark.parametrize(("make", "path"), APIS)
def test_without_boot_names_every_served_address_is_named(ca, make, path, tmp_path):
    with closing(make(ca)) as api:
        api.serve([NAMED, UNNAMED])
        for host in (NAMED, UNNAMED):
            assert _status(api, host, ca, path, tmp_path) == 200
        api.set_certificate_names([LB_VIP])
        with pytest.raises(ssl.SSLCertVerificationError):
            _status(api, NAMED, ca, path, tmp_path)
        api.set_certificate_names([])  # forgotten again: the served addresses
        assert _status(api, UNNAMED, ca, path, tmp_path) == 200


def test_a_served_kubernetes_cluster_answers_only_at_what_its_master_s_certificate_names(
        ca, tmp_path):
    """Behind a load balancer with a floating IP, kubeadm names the VIP and that floating IP
    (the api_address): master 0's own floating IP, also served, is not named."""
    heat = FakeHeat()
    add_cluster(heat, ca, masters=1, workers=0, user_data=k8s_master_user_data(ca))
    with closing(cluster_apis.ClusterServers()) as servers:
        servers.sweep(heat)
        api = servers.clusters[CLUSTER_UUID].api
        assert set(api.addresses) == {LB_FIP, MASTER_FIP}
        assert _status(api, LB_FIP, ca, "/version", tmp_path) == 200
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            _status(api, MASTER_FIP, ca, "/version", tmp_path)
