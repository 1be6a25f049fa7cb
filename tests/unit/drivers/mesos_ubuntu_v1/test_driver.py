"""The mesos_ubuntu_v1 plugin on the shared Heat driver, against the fake Heat."""

from __future__ import annotations

import json

import pytest

from magnum_lite import objects
from magnum_lite.common import exception, x509
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import cleanup
from magnum_lite.drivers.mesos_ubuntu_v1 import userdata
from magnum_lite.drivers.mesos_ubuntu_v1.driver import MesosUbuntuV1
from tests.unit.drivers.heat.test_driver import Cluster
from tests.unit.drivers.k8s_ubuntu_v1.test_userdata import files


@pytest.fixture
def build(context, heat):
    def build(**kwargs):
        kwargs.setdefault("template_coe", "mesos")
        kwargs.setdefault("template_network_driver", "docker")
        c = Cluster(context, heat, **kwargs)
        c.driver = MesosUbuntuV1()
        return c
    return build


@pytest.fixture(autouse=True)
def no_cleanup(monkeypatch):
    monkeypatch.setattr(cleanup, "remove_coe_leftovers", lambda context, cluster, timeout: None)


@pytest.fixture(scope="module")
def ca() -> x509.KeyPair:
    return x509.generate_ca("ca CA", key_type="ec", key_size=256)


def _env(user_data: str) -> str:
    return files(user_data)["/etc/magnum-lite/node.env"]["content"]


def test_the_plugin_provides_mesos_on_ubuntu_vms_and_baremetal():
    assert MesosUbuntuV1.provides == [("vm", "ubuntu", "mesos"), ("bm", "ubuntu", "mesos")]
    assert MesosUbuntuV1.get_default_config() == {
        "mesos_version": userdata.DEFAULT_MESOS_VERSION,
        "marathon_version": userdata.DEFAULT_MARATHON_VERSION,
        "zookeeper_version": userdata.DEFAULT_ZOOKEEPER_VERSION}
    MesosUbuntuV1.validate_config({"mesos_version": "1.11.0"})


@pytest.mark.parametrize(("config", "field"), [
    ({"kube_tag": "v1.30.4"}, "config: unknown keys kube_tag"),
    ({"mesos_version": "latest"}, "mesos_version: "),
    ({"zookeeper_version": "3.4.14"}, "zookeeper_version: "),
])
def test_bad_driver_config_is_refused_naming_it(config, field):
    with pytest.raises(exception.InvalidParameterValue, match=field):
        MesosUbuntuV1.validate_config(config)


def test_create_sends_the_mesos_api_port_and_coe_version(build, heat):
    c = build(masters=3, labels={"mesos_version": "1.11.0"})
    state = c.create()
    params = heat.stack(c.cluster_stack_name).parameters
    assert params["api_port"] == 5050
    assert params["public_tcp_ports"] == "22,5050,8443"  # and Marathon's
    assert params["master_count"] == 3
    assert state.coe_version == "1.11.0"
    assert len(c.cluster.join_token) == 64 and int(c.cluster.join_token, 16) >= 0
    data = params["master_user_data"]
    assert "__NODE_INDEX__" in data and "__CONTROL_PLANE_HOST__" in data
    assert "control-plane-host.invalid" not in data
    env = _env(data)
    assert "MESOS_MASTER_IMAGE='mesosphere/mesos-master:1.11.0'" in env
    assert "QUORUM='2'" in env


def test_workers_get_every_master_for_their_zookeeper_url(build, heat):
    c = build(masters=3, workers=(2,))
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    masters = [outputs["master_private_addresses"][k] for k in ("0", "1", "2")]
    worker = c.chunk_stacks(c.workers[0])[0]
    assert worker.parameters["control_plane_host"] == outputs["lb_vip"]
    booted = heat.server_user_data(worker.id, "1")
    url = "zk://" + ",".join(f"{m}:2181" for m in masters) + "/mesos"
    assert f"ZOOKEEPER_URL='{url}'" in _env(booted)
    assert "NODE_INDEX='1'" in _env(booted)
    # The master behind the load balancer reaches the API (and the leader) through its VIP.
    assert f"CONTROL_PLANE_HOST='{outputs['lb_vip']}'" in _env(
        heat.server_user_data(c.cluster_stack_name, "0"))
    assert state.api_address == f"https://{outputs['lb_floating_ip']}:5050"
    # The masters' certificate names that address (the API_PUBLIC_ADDRESS SAN).
    assert f"API_PUBLIC_ADDRESS='{outputs['lb_floating_ip']}'" in _env(
        heat.server_user_data(c.cluster_stack_name, "2"))


def test_a_lone_master_is_the_api_address_and_the_ensemble(build, heat):
    c = build(masters=1, workers=(1,))
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    master_ip = outputs["master_private_addresses"]["0"]
    assert state.api_address == f"https://{outputs['master_floating_addresses']['0']}:5050"
    booted = heat.server_user_data(c.chunk_stacks(c.workers[0])[0].id, "0")
    assert f"ZOOKEEPER_URL='zk://{master_ip}:2181/mesos'" in _env(booted)
    # Heat puts master 0's own address where its user data names the control plane.
    assert f"CONTROL_PLANE_HOST='{master_ip}'" in _env(
        heat.server_user_data(c.cluster_stack_name, "0"))
    floating = outputs["master_floating_addresses"]["0"]
    assert f"API_PUBLIC_ADDRESS='{floating}'" in _env(
        heat.server_user_data(c.cluster_stack_name, "0"))


def test_node_labels_become_agent_attributes(build, heat):
    c = build(masters=1, workers=(1,))
    c.workers[0].node_labels = {"pool": "gpu"}
    c.built()
    booted = heat.server_user_data(c.chunk_stacks(c.workers[0])[0].id, "0")
    assert "AGENT_ATTRIBUTES='pool:gpu'" in _env(booted)


def test_masters_hold_the_ca_key_and_workers_only_its_certificate(build, heat, ca):
    c = build(masters=1, workers=(1,))
    c.credentials = lambda: base.ClusterCredentials(cas={"ca": ca})
    c.built()
    master = files(heat.server_user_data(c.cluster_stack_name, "0"))
    worker = files(heat.server_user_data(c.chunk_stacks(c.workers[0])[0].id, "0"))
    assert master[userdata.CA_CERT_PATH]["content"] == ca.certificate
    assert master[userdata.CA_KEY_PATH]["content"] == ca.private_key
    assert master[userdata.CA_KEY_PATH]["permissions"] == "0600"
    assert worker[userdata.CA_CERT_PATH]["content"] == ca.certificate
    assert userdata.CA_KEY_PATH not in worker
    # The rotation path: the same files as the software deployments' input.
    stack = heat.stack(c.cluster_stack_name)
    assert json.loads(stack.parameters["credentials"]) == {
        userdata.CA_CERT_PATH: ca.certificate, userdata.CA_KEY_PATH: ca.private_key}
    assert "/etc/mesos/ssl/ca.crt" in stack.parameters["credentials_script"]


def test_an_even_master_count_is_refused_with_the_reason(build):
    c = build(masters=2)
    with pytest.raises(exception.InvalidParameterValue) as err:
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)
    assert str(err.value) == (
        "master_count: mesos needs an odd number of masters for its ZooKeeper quorum")


@pytest.mark.parametrize(("values", "field"), [
    ({"template_network_driver": "flannel"}, "network_driver: 'flannel'"),
    ({"labels": {"mesos_version": "latest"}}, "mesos_version: "),
    ({"template_labels": {"marathon_version": "1.6"}}, "marathon_version: "),
])
def test_validate_cluster_names_the_bad_field(build, values, field):
    c = build(masters=3, **values)
    with pytest.raises(exception.InvalidParameterValue, match=field):
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)


def test_validate_cluster_checks_node_labels(build):
    c = build(masters=1)
    c.workers[0].node_labels = {"bad:key": "v"}
    with pytest.raises(exception.InvalidParameterValue, match="^.*attributes: "):
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)


def test_validate_cluster_accepts_a_good_cluster(build):
    for masters in (1, 3, 5):
        c = build(masters=masters)
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)
    c = build(masters=1, template_network_driver=None)
    c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)


def test_validate_cluster_takes_nodegroups_the_api_has_not_stored(build):
    # The API checks a new cluster's default nodegroups before storing them: objects
    # built from the fields it sets, node_labels unset.
    c = build(masters=1)
    unstored = [objects.NodeGroup(name=ng.name, role=ng.role, node_count=ng.node_count)
                for ng in c.nodegroups]
    assert not unstored[0].obj_attr_is_set("node_labels")
    c.driver.validate_cluster(c.cluster, c.template, unstored)
    c.cluster.master_count = 2
    with pytest.raises(exception.InvalidParameterValue, match="^master_count: "):
        c.driver.validate_cluster(c.cluster, c.template, unstored)


def test_a_bad_label_is_refused_before_anything_is_built(build, heat):
    c = build(labels={"mesos_version": "latest"})
    with pytest.raises(exception.InvalidParameterValue, match="mesos_version"):
        c.create()
    assert heat.live_stacks() == []


def test_dry_run_renders_every_stack(build, heat):
    c = build(masters=3, workers=(2,))
    previews = c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    assert len(previews) == 2
    assert heat.live_stacks() == []
    assert c.cluster.join_token is None  # the throwaway token stayed on a copy


@pytest.mark.parametrize("operation", ["create", "dry_run"])
def test_create_refuses_an_even_master_count_before_anything_is_built(build, heat, operation):
    c = build(masters=2)
    with pytest.raises(exception.InvalidParameterValue, match="^master_count: "):
        if operation == "create":
            c.create()
        else:
            c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    assert heat.live_stacks() == []
    assert heat.calls == []


def test_a_ca_rotation_sends_the_new_ca_to_masters_and_workers(build, heat, ca):
    c = build(masters=3, workers=(1,))
    c.credentials = lambda: base.ClusterCredentials(cas={"ca": ca})
    c.built()
    new = x509.generate_ca("ca CA new", key_type="ec", key_size=256)
    c.cluster.status = "UPDATE_IN_PROGRESS"
    state = c.driver.rotate_ca_certificate(
        c.context, c.cluster, c.template, c.nodegroups,
        credentials=lambda: base.ClusterCredentials(cas={"ca": new}))
    assert state.status == "UPDATE_IN_PROGRESS"
    assert json.loads(heat.stack(c.cluster_stack_name).parameters["credentials"]) == {
        userdata.CA_CERT_PATH: new.certificate, userdata.CA_KEY_PATH: new.private_key}
    worker = c.chunk_stacks(c.workers[0])[0]
    assert json.loads(worker.parameters["credentials"]) == {
        userdata.CA_CERT_PATH: new.certificate}
    # The re-rendered worker user data still names every master.
    outputs = heat.outputs(c.cluster_stack_name)
    url = "zk://" + ",".join(f"{outputs['master_private_addresses'][k]}:2181"
                             for k in ("0", "1", "2")) + "/mesos"
    assert f"ZOOKEEPER_URL='{url}'" in _env(worker.parameters["user_data"].replace(
        "__NODE_INDEX__", "0"))


def test_the_masters_load_balancer_forwards_marathons_port_too(build, heat):
    c = build(masters=3)
    c.create()
    stack = heat.stack(c.cluster_stack_name)
    lb = heat.parse(stack.files[stack.registry["Magnum::Optional::ApiLoadBalancer"]])
    member = heat.parse(stack.files[stack.registry["Magnum::Optional::LbMember"]])
    assert lb["resources"]["marathon_listener"]["properties"]["protocol_port"] == {
        "get_param": "marathon_port"}
    assert lb["parameters"]["marathon_port"]["default"] == userdata.MARATHON_PORT
    assert member["parameters"]["marathon_port"]["default"] == userdata.MARATHON_PORT
    # Each master is a member of both pools: the Mesos API's and Marathon's.
    assert {r["type"] for r in member["resources"].values()} == {"OS::Octavia::PoolMember"}
    assert len(member["resources"]) == 2


def test_a_lone_master_without_load_balancer_keeps_the_shared_environment(build, heat):
    c = build(masters=1)
    c.create()
    registry = heat.stack(c.cluster_stack_name).registry
    assert registry["Magnum::Optional::ApiLoadBalancer"] == "OS::Heat::None"
