"""The swarm_fedora_v2 plugin on the shared Heat driver, against the fake Heat: the join
step on manager 0 and the worker token's way to the workers (Heat only), the Docker API's
address and ports, the CA files per role, and what it refuses."""

from __future__ import annotations

import types

import pytest

from magnum_lite.common import exception, x509
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import driver as heat_driver
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm_driver
from magnum_lite.drivers.swarm_fedora_v2.driver import SwarmFedoraV2
from magnum_lite_sandbox import user_data
from tests.unit.drivers.heat.test_driver import Cluster, build, no_cleanup  # noqa: F401
from tests.unit.drivers.k8s_ubuntu_v1.test_userdata import files

TOKEN = "SWMTKN-1-" + "3" * 50 + "-" + "q" * 25
SWARM_TEMPLATE = dict(template_coe="swarm-mode", template_cluster_distro="fedora",
                      template_image_id="fedora-40", template_network_driver="docker")


@pytest.fixture
def swarm(build):  # noqa: F811 - the fixture imported above
    def swarm(**kwargs):
        c = build(**{**SWARM_TEMPLATE, **kwargs})
        c.driver = SwarmFedoraV2()
        return c
    return swarm


@pytest.fixture(scope="module")
def ca():
    return x509.generate_ca("swarm")


def credentials(ca) -> base.ClusterCredentials:
    return base.ClusterCredentials(cas={"ca": types.SimpleNamespace(
        certificate=ca.certificate, private_key=ca.private_key)})


def test_provides_swarm_mode_on_fedora_vms_and_baremetal():
    assert SwarmFedoraV2.provides == [("vm", "fedora", "swarm-mode"),
                                      ("bm", "fedora", "swarm-mode")]
    assert SwarmFedoraV2.api_port == 2376


def test_create_switches_on_the_join_step_for_the_cluster_stack_only(swarm, heat):
    c = swarm()
    state = c.create()
    stack = heat.stack(c.cluster_stack_name)
    assert stack.registry["Magnum::Optional::JoinTokens"].endswith(
        "swarm_fedora_v2/templates/join_tokens.yaml")
    assert state.join_token is None  # Docker makes the swarm's tokens, not the conductor
    assert state.coe_version == "27.3.1"
    assert stack.parameters["api_port"] == 2376
    # Only the API port (and ssh) is public; 2377 and the overlay stay inside the network.
    assert stack.parameters["public_tcp_ports"] == "22,2376"
    env = user_data.parse_env(files(stack.parameters["master_user_data"])
                              ["/etc/magnum-lite/node.env"]["content"])
    assert env["ROLE"] == "master"
    workers_env = c.driver._environments(c.cluster, c.template, masters=False)
    assert swarm_driver.ENV not in workers_env


def test_kubernetes_leaves_the_join_step_off(build, heat):  # noqa: F811
    c = build()
    c.create()
    stack = heat.stack(c.cluster_stack_name)
    assert stack.registry["Magnum::Optional::JoinTokens"] == "OS::Heat::None"
    assert K8sUbuntuV1.api_scheme == "https"


def test_the_worker_token_travels_from_manager_0_to_the_workers_through_heat(swarm, heat, ca):
    c = swarm(workers=(2,))
    c.credentials = lambda: credentials(ca)
    heat.deployment_outputs["worker_token"] = TOKEN  # what manager 0's join step reports
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    assert outputs["worker_join_token"] == TOKEN
    [worker_stack] = c.chunk_stacks(c.workers[0])
    data = worker_stack.parameters["user_data"]
    written = files(data)
    assert TOKEN in written["/etc/magnum-lite/join.env"]["content"]
    env = user_data.parse_env(written["/etc/magnum-lite/node.env"]["content"])
    assert env["MANAGER_ADDRESSES"] == outputs["master_private_addresses"]["0"]
    # Workers hold the CA certificate only; managers its key too.
    assert "/etc/docker/tls/ca.key" not in written
    assert written["/etc/docker/tls/ca.crt"]["content"] == ca.certificate
    master = files(heat.stack(c.cluster_stack_name).parameters["master_user_data"])
    assert master["/etc/docker/tls/ca.key"]["content"] == ca.private_key
    assert "/etc/magnum-lite/join.env" not in master
    # The token is hidden from Heat's API readers of the parameters, and not in the state.
    assert heat.client_for(c.context).stacks.get(worker_stack.id).parameters[
        "user_data"] == "******"
    assert TOKEN not in repr(state)
    # Docker's address form: tcp://<host>:2376 (DOCKER_HOST).
    assert state.api_address == f"tcp://{outputs['master_floating_addresses']['0']}:2376"


def test_without_a_token_from_manager_0_the_workers_are_not_built(swarm, heat):
    c = swarm(workers=(2,))
    c.create()
    heat.complete(c.cluster_stack_name)
    state = c.status()
    assert state.status == "CREATE_FAILED"
    assert "worker_join_token" in state.status_reason
    assert c.chunk_stacks(c.workers[0]) == []


def test_a_resize_gives_new_chunks_the_token(swarm, heat, monkeypatch):
    monkeypatch.setattr(SwarmFedoraV2, "nodes_per_stack", classmethod(lambda cls: 2))
    c = swarm(workers=(2,))
    heat.deployment_outputs["worker_token"] = TOKEN
    c.built()
    c.resize(c.workers[0], 3)
    chunks = c.chunk_stacks(c.workers[0])
    assert len(chunks) == 2
    assert TOKEN in files(chunks[1].parameters["user_data"])[
        "/etc/magnum-lite/join.env"]["content"]


def test_more_than_one_manager_sits_behind_the_load_balancer(swarm, heat):
    c = swarm(masters=3, master_lb_enabled=True, workers=(1,))
    heat.deployment_outputs["worker_token"] = TOKEN
    state = c.built()
    outputs = heat.outputs(c.cluster_stack_name)
    assert state.api_address == f"tcp://{outputs['lb_floating_ip']}:2376"
    [worker_stack] = c.chunk_stacks(c.workers[0])
    env = user_data.parse_env(files(worker_stack.parameters["user_data"])
                              ["/etc/magnum-lite/node.env"]["content"])
    assert env["MANAGER_ADDRESSES"].split() == [
        outputs["master_private_addresses"][k] for k in ("0", "1", "2")]
    assert env["CONTROL_PLANE_HOST"] == outputs["lb_vip"]
    # Each manager's Docker API certificate names the address clients use (the LB's).
    manager = user_data.parse_env(files(heat.server_user_data(c.cluster_stack_name, "1"))
                                  ["/etc/magnum-lite/node.env"]["content"])
    assert manager["API_PUBLIC_ADDRESS"] == outputs["lb_floating_ip"]
    assert manager["CONTROL_PLANE_HOST"] == outputs["lb_vip"]


@pytest.mark.parametrize("masters", [2, 4])
def test_an_even_manager_count_is_refused_before_anything_is_built(swarm, heat, masters):
    c = swarm(masters=masters, master_lb_enabled=True)
    message = ("master_count: swarm-mode needs an odd number of managers for its Raft "
               "quorum")
    with pytest.raises(exception.InvalidParameterValue, match=f"^{message}$"):
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)
    with pytest.raises(exception.InvalidParameterValue, match="^master_count:"):
        c.create()
    with pytest.raises(exception.InvalidParameterValue, match="^master_count:"):
        c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    assert heat.live_stacks() == []


@pytest.mark.parametrize(("template", "labels", "field"), [
    (dict(docker_storage_driver="devicemapper"), {}, "docker_storage_driver:"),
    ({}, {"docker_version": "19.03.1"}, "labels.docker_version:"),
    ({}, {"docker_version": "stable"}, "docker_version:"),
])
def test_bad_docker_settings_name_the_field(swarm, template, labels, field):
    c = swarm(**{f"template_{k}": v for k, v in template.items()}, labels=labels)
    with pytest.raises(exception.InvalidParameterValue, match=f"^{field}"):
        c.driver.validate_cluster(c.cluster, c.template, c.nodegroups)


def test_settings_come_from_config_template_and_labels(swarm):
    c = swarm(template_docker_storage_driver="btrfs", labels={"docker_version": "26.1.4"})
    driver = SwarmFedoraV2({"docker_version": "25.0.5"})
    assert driver.coe_version(c.cluster, c.template) == "26.1.4"
    c.cluster.labels = {}
    assert driver.coe_version(c.cluster, c.template) == "25.0.5"
    data = driver.master_user_data(c.cluster, c.template, c.masters,
                                   base.ClusterCredentials())
    env = user_data.parse_env(files(data)["/etc/magnum-lite/node.env"]["content"])
    assert env["DOCKER_STORAGE_DRIVER"] == "btrfs"
    assert env["CONTROL_PLANE_HOST"] == heat_driver.CONTROL_PLANE_HOST
    assert env["API_PUBLIC_ADDRESS"] == "__PUBLIC_HOST__"


def test_validate_config():
    SwarmFedoraV2.validate_config(SwarmFedoraV2.get_default_config())
    with pytest.raises(exception.InvalidParameterValue, match="^config: unknown keys kube_tag"):
        SwarmFedoraV2.validate_config({"kube_tag": "v1.30.4"})
    with pytest.raises(exception.InvalidParameterValue, match="^docker_storage_driver:"):
        SwarmFedoraV2.validate_config({"docker_storage_driver": "aufs"})
    with pytest.raises(exception.InvalidParameterValue, match="^docker_version:"):
        SwarmFedoraV2.validate_config({"docker_version": "x"})


def test_the_dry_run_previews_every_stack(swarm, heat):
    c = swarm(workers=(2,))
    previews = c.driver.create_dry_run(c.context, c.cluster, c.template, c.nodegroups)
    assert len(previews) == 2
    assert heat.live_stacks() == []


def test_credential_files_per_role(ca):
    driver = SwarmFedoraV2()
    cluster = types.SimpleNamespace(uuid="x")
    assert driver.credential_files(cluster, "master", credentials(ca)) == {
        "/etc/docker/tls/ca.crt": ca.certificate, "/etc/docker/tls/ca.key": ca.private_key}
    assert driver.credential_files(cluster, "worker", credentials(ca)) == {
        "/etc/docker/tls/ca.crt": ca.certificate}
    assert driver.credential_files(cluster, "worker", base.ClusterCredentials()) == {}
    assert "/etc/docker/tls/ca.crt" in driver.credentials_script()
