"""Worker stacks made while the cluster stack still builds its masters (early_workers.py)."""

from __future__ import annotations

import datetime

from keystoneauth1 import exceptions as ks_exceptions
from oslo_utils import timeutils
import pytest

from magnum_lite.drivers.heat import early_workers, names, parameters
from magnum_lite.drivers.k8s_ubuntu_v1.driver import K8sUbuntuV1
from magnum_lite.drivers.mesos_ubuntu_v1.driver import MesosUbuntuV1
from magnum_lite.drivers.swarm_fedora_v2 import userdata as swarm_userdata
from magnum_lite.drivers.swarm_fedora_v2.driver import SwarmFedoraV2
from tests.unit.drivers.heat.test_driver import Cluster, no_cleanup  # noqa: F401 (fixture)

#: What the workers do not wait for: the masters' group (all the rest must be done).
MASTERS_ONLY = ("masters",)


@pytest.fixture
def build(context, heat):
    def build(**kwargs):
        return Cluster(context, heat, **kwargs)
    return build


def _chunks(c):
    return [chunk for ng in c.workers for chunk in c.chunk_stacks(ng)]


def _resource_lists(heat):
    return [call for call in heat.calls if call[0] == "resources.list"]


def test_nothing_made_yet_no_worker_stack_and_the_driver_asks_to_look_again_soon(build, heat,
                                                                                config):
    c = build(workers=(2, 1))
    c.create()
    state = c.status()
    assert _chunks(c) == []
    assert state.status is None and state.stack_id == c.cluster.stack_id
    assert state.look_again == config.heat_driver.early_workers_check_interval == 1.0


def test_workers_start_beside_the_masters_once_what_they_need_exists(build, heat):
    c = build(workers=(2, 1))
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    state = c.status()
    assert heat.stack(c.cluster_stack_name).in_progress  # the masters still build
    made = _chunks(c)
    assert [len(c.chunk_stacks(ng)) for ng in c.workers] == [1, 1]
    assert all(s.in_progress for s in made)
    assert state.status is None and state.look_again is None
    assert {uuid: ng.status for uuid, ng in state.nodegroups.items()} == {
        ng.uuid: "CREATE_IN_PROGRESS" for ng in c.workers}
    # Built from the outputs the finished cluster stack gives: the same parameters as the
    # worker stacks made after it (so a later resize or upgrade replaces nothing).
    outputs = heat.outputs(c.cluster_stack_name)
    for ng, stack in zip(c.workers, made, strict=True):
        expected = c.driver.nodegroup_parameters(c.cluster, c.template, ng, 0, ng.node_count,
                                                 outputs, _no_credentials())
        assert stack.parameters == expected
    # Looked at again: nothing made twice.
    c.status()
    assert len(_chunks(c)) == 2
    heat.complete(c.cluster_stack_name)
    assert c.status().status is None  # the workers still build
    heat.complete_all()
    assert c.status().status == "CREATE_COMPLETE"
    assert len(heat.live_stacks(c.cluster.project_id)) == 3


@pytest.mark.parametrize("building", ["network", "security_group", "api_lb",
                                      "api_lb_floating_ip"])
def test_a_resource_the_workers_need_still_building_holds_them(build, heat, building):
    c = build(master_lb_enabled=True)
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=(*MASTERS_ONLY, building))
    assert c.status().look_again is not None
    assert _chunks(c) == []
    heat.resources_done(c.cluster_stack_name, building)
    c.status()
    assert len(_chunks(c)) == 1


def test_a_cluster_stack_that_fails_after_the_workers_started_fails_the_create(build, heat):
    c = build()
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    c.status()
    heat.fail(c.cluster_stack_name, "masters", "Quota exceeded for instances")
    state = c.status()
    assert state.status == "CREATE_FAILED"
    assert "Quota exceeded for instances" in state.status_reason
    # Nothing deleted behind the user's back: the cluster's delete removes them all.
    assert len(heat.live_stacks(c.cluster.project_id)) == 2


def test_off_the_workers_wait_for_the_complete_cluster_stack(build, heat, config):
    config.set_override("early_workers_check_interval", 0, group="heat_driver")
    c = build()
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    state = c.status()
    assert state.look_again is None and _chunks(c) == []
    assert _resource_lists(heat) == []


def test_a_cluster_created_moments_ago_is_not_looked_at_in_heat(build, heat):
    c = build()
    c.cluster.created_at = timeutils.utcnow()
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    assert c.status().look_again is not None
    assert _resource_lists(heat) == [] and _chunks(c) == []
    c.cluster.created_at -= datetime.timedelta(seconds=early_workers.FIRST_LOOK)
    c.status()
    assert len(_resource_lists(heat)) == 1 and len(_chunks(c)) == 1


def test_heat_failing_the_look_is_only_a_later_look(build, heat):
    c = build()
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    for _ in range(2):  # a read is sent twice when its connection fails
        heat.inject("resources.list", ks_exceptions.ConnectFailure("Connection refused"))
    state = c.status()
    assert state.status is None and state.look_again is not None and _chunks(c) == []
    c.status()
    assert len(_chunks(c)) == 1


# -- what each plugin's workers need from the outputs ------------------------------------------

def _no_credentials():
    return parameters.load_credentials(None)


def _outputs(masters=("10.0.0.5",), floating=("172.24.4.9",), **extra):
    return {"network": "n", "subnet": "s", "security_group": "g",
            "master_private_addresses": {str(i): a for i, a in enumerate(masters)},
            "master_floating_addresses": {str(i): a for i, a in enumerate(floating)},
            **extra}


def test_kubernetes_workers_need_the_control_plane_only(build, heat):
    c = build()
    c.create()  # the cluster's join token, which the user data holds
    ready = c.driver.workers_may_start
    assert ready(c.cluster, c.template, c.masters, _outputs())
    assert not ready(c.cluster, c.template, c.masters, _outputs(masters=(None,)))
    # The public address is only a SAN of the masters' certificate: kubelets join privately.
    assert ready(c.cluster, c.template, c.masters, _outputs(floating=(None,)))
    assert ready(c.cluster, c.template, c.masters, _outputs(masters=(None,), lb_vip="10.0.0.9"))
    worker = c.workers[0]
    render = c.driver.render_user_data
    assert (render(c.cluster, c.template, worker, "10.0.0.5", None, _no_credentials())
            == render(c.cluster, c.template, worker, "10.0.0.5", "172.24.4.9",
                      _no_credentials()))


def test_mesos_agents_need_the_public_address_where_the_masters_have_one(build):
    c = build()
    ready = MesosUbuntuV1().workers_may_start
    assert ready(c.cluster, c.template, c.masters, _outputs())
    assert not ready(c.cluster, c.template, c.masters, _outputs(floating=(None,)))
    assert ready(c.cluster, c.template, c.masters, _outputs(floating=(None,),
                                                           lb_floating_ip="172.24.4.7"))
    c.cluster.floating_ip_enabled = False
    assert ready(c.cluster, c.template, c.masters, _outputs(floating=(None,)))
    c.cluster.floating_ip_enabled = True
    c.template.server_type = "bm"  # baremetal masters get no floating IP
    assert ready(c.cluster, c.template, c.masters, _outputs(floating=(None,)))


def test_mesos_agents_need_every_master_of_the_ensemble(build):
    c = build(masters=3)
    ready = MesosUbuntuV1().workers_may_start
    three = ("10.0.0.5", "10.0.0.6", "10.0.0.7")
    assert ready(c.cluster, c.template, c.masters, _outputs(masters=three))
    assert not ready(c.cluster, c.template, c.masters,
                     _outputs(masters=("10.0.0.5", None, "10.0.0.7")))


def test_swarm_workers_need_manager_zero_s_join_token(build):
    c = build()
    ready = SwarmFedoraV2().workers_may_start
    token = "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25
    assert swarm_userdata.SWARM_TOKEN_RE.fullmatch(token)
    assert ready(c.cluster, c.template, c.masters, _outputs(worker_join_token=token))
    assert not ready(c.cluster, c.template, c.masters, _outputs(worker_join_token=None))
    assert not ready(c.cluster, c.template, c.masters, _outputs())


def test_the_worker_stack_names_are_those_made_after_the_cluster_stack(build, heat):
    c = build(workers=(3,))
    c.create()
    heat.resources_done(c.cluster_stack_name, all_but=MASTERS_ONLY)
    c.status()
    assert [s.name for s in _chunks(c)] == [
        names.nodegroup_stack_name(c.cluster, c.workers[0], 0)]


@pytest.mark.parametrize(("plugin", "coe", "distro", "network"), [
    (K8sUbuntuV1, "kubernetes", "ubuntu", "flannel"),
    (SwarmFedoraV2, "swarm-mode", "fedora", "docker"),
    (MesosUbuntuV1, "mesos", "ubuntu", "docker")])
def test_a_worker_s_user_data_holds_no_address_heat_fills_in(build, heat, plugin, coe, distro,
                                                            network):
    """node.yaml lets a worker's server boot without waiting for its floating IP because no
    worker's user data holds __PUBLIC_HOST__ (nor __CONTROL_PLANE_HOST__): the driver renders
    it with the addresses themselves."""
    c = build(template_coe=coe, template_cluster_distro=distro,
              template_network_driver=network)
    c.driver = plugin()
    c.create()
    token = "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25
    params = c.driver.nodegroup_parameters(c.cluster, c.template, c.workers[0], 0, 2,
                                           _outputs(worker_join_token=token),
                                           _no_credentials())
    assert params["control_plane_host"] == "10.0.0.5"
    for placeholder in (parameters.PUBLIC_HOST, parameters.CONTROL_PLANE_HOST):
        assert placeholder not in params["user_data"]
    master = c.driver.master_user_data(c.cluster, c.template, c.masters, _no_credentials())
    assert parameters.STANDINS[parameters.PUBLIC_HOST] not in master  # replaced for Heat
    assert parameters.PUBLIC_HOST in master
