"""The baremetal variant (server_type bm) of the shared Heat driver, against the fake Heat:
which environments each stack gets, per nodegroup, and what validate_cluster refuses."""

from __future__ import annotations

from typing import Any

import pytest

from magnum_lite.common import exception
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from magnum_lite.drivers.mesos_ubuntu_v1.driver import MesosUbuntuV1
from magnum_lite.drivers.swarm_fedora_v2.driver import SwarmFedoraV2
from tests.fakes.heat import FakeHeatCloud, FakeStack
from tests.unit.drivers.heat.conftest import make_cluster, make_template
from tests.unit.drivers.heat.test_driver import Cluster

NONE = "OS::Heat::None"
BAREMETAL = dict(template_server_type="bm", template_fixed_network="provisioning",
                 template_floating_ip_enabled=False, floating_ip_enabled=None)


def _mapped(stack: FakeStack, rtype: str) -> str:
    """The fragment `rtype` maps to in the stack's environment (its file name, or None)."""
    target = stack.registry[rtype]
    return target if target == NONE else target.rsplit("/", 1)[-1]


@pytest.mark.parametrize("plugin", [K8sUbuntuV1, SwarmFedoraV2, MesosUbuntuV1])
def test_every_plugin_provides_its_baremetal_variant(plugin: Any) -> None:
    server_types = {server_type for server_type, _, _ in plugin.provides}
    assert server_types == {"vm", "bm"}
    assert len({(os, coe) for _, os, coe in plugin.provides}) == 1  # same OS, same COE


def test_a_baremetal_cluster_uses_the_flat_network_and_no_volume_or_floating_ip(
        context: Any, heat: FakeHeatCloud) -> None:
    c = Cluster(context, heat, workers=(2,), **BAREMETAL)
    c.built()
    cluster_stack = heat.stack(c.cluster_stack_name)
    worker_stack = c.chunk_stacks(c.workers[0])[0]
    assert _mapped(cluster_stack, "Magnum::Network") == "existing_network.yaml"
    assert cluster_stack.parameters["fixed_network"] == "provisioning"
    for stack in (cluster_stack, worker_stack):
        assert _mapped(stack, "Magnum::Optional::Volume") == NONE
        assert _mapped(stack, "Magnum::Optional::NodeFloatingIP") == NONE
        assert _mapped(stack, "Magnum::Optional::LbFloatingIP") == NONE
    assert worker_stack.parameters["docker_volume_size"] == 0


def test_mixed_cluster_environments_follow_each_nodegroup_s_server_type(
        context: Any, heat: FakeHeatCloud) -> None:
    """A VM template with volumes and floating IPs: its VM group keeps them, a group whose
    server_type is bm gets neither (its nodes use their local disk on a flat network)."""
    c = Cluster(context, heat, workers=(1, 2), docker_volume_size=20)
    vm_group, bm_group = c.workers
    bm_group.server_type, bm_group.flavor_id = "bm", "bm.small"
    c.built()
    vm_stack, bm_stack = c.chunk_stacks(vm_group)[0], c.chunk_stacks(bm_group)[0]
    assert _mapped(vm_stack, "Magnum::Optional::Volume") == "volume.yaml"
    assert _mapped(vm_stack, "Magnum::Optional::NodeFloatingIP") == "floating_ip.yaml"
    assert vm_stack.parameters["docker_volume_size"] == 20
    assert _mapped(bm_stack, "Magnum::Optional::Volume") == NONE
    assert _mapped(bm_stack, "Magnum::Optional::NodeFloatingIP") == NONE
    assert bm_stack.parameters["docker_volume_size"] == 0
    assert bm_stack.parameters["flavor"] == "bm.small"
    # Nor does its boot configuration look for a volume to mount.
    assert "DOCKER_VOLUME_SIZE='0'" in heat.server_user_data(bm_stack.id, "0")
    assert "DOCKER_VOLUME_SIZE='20'" in heat.server_user_data(vm_stack.id, "0")
    assert _mapped(heat.stack(c.cluster_stack_name),
                   "Magnum::Optional::Volume") == "volume.yaml"  # VM masters


def test_a_nodegroup_without_a_server_type_has_the_template_s(
        context: Any, heat: FakeHeatCloud) -> None:
    """None on a nodegroup means the template's server type."""
    c = Cluster(context, heat, workers=(1,), **BAREMETAL)
    c.workers[0].server_type = None
    assert c.driver._server_type(c.template, c.workers[0]) == "bm"
    c.workers[0].server_type = "vm"
    assert c.driver._server_type(c.template, c.workers[0]) == "vm"


@pytest.mark.parametrize("plugin", [K8sUbuntuV1, SwarmFedoraV2, MesosUbuntuV1])
@pytest.mark.parametrize(("overrides", "field"), [
    ({"docker_volume_size": 10}, "docker_volume_size"),
    ({"floating_ip_enabled": True}, "floating_ip_enabled"),
])
def test_validate_cluster_refuses_baremetal_overrides(plugin: Any, overrides: dict,
                                                      field: str) -> None:
    template = make_template(server_type="bm", fixed_network="provisioning",
                             floating_ip_enabled=False, network_driver=None,
                             cluster_distro=plugin.provides[0][1], coe=plugin.provides[0][2])
    cluster = make_cluster(**{"floating_ip_enabled": None, **overrides})
    with pytest.raises(exception.InvalidParameterValue) as raised:
        plugin().validate_cluster(cluster, template, [])
    assert str(raised.value).startswith(f"{field}: ")


def test_validate_cluster_accepts_a_baremetal_cluster_and_ignores_vm_ones() -> None:
    template = make_template(server_type="bm", fixed_network="provisioning",
                             floating_ip_enabled=False)
    K8sUbuntuV1().validate_cluster(make_cluster(floating_ip_enabled=None), template, [])
    vm = make_template(docker_volume_size=10)  # VM: volumes and floating IPs are fine
    K8sUbuntuV1().validate_cluster(make_cluster(), vm, [])
