"""What the shared templates are given, computed from the cluster alone (parameters.py)."""

import types

import pytest

from magnum_lite.common import baremetal
from magnum_lite.drivers import base
from magnum_lite.drivers.heat import parameters
from magnum_lite.drivers.heat.parameters import ENV


def _cluster(**values):
    defaults = dict(uuid="c1", fixed_network=None, fixed_subnet=None, floating_ip_enabled=None,
                    master_lb_enabled=False, master_count=1, docker_volume_size=None,
                    keypair=None, create_timeout=None)
    return types.SimpleNamespace(**{**defaults, **values})


def _template(**values):
    defaults = dict(fixed_network=None, fixed_subnet=None, floating_ip_enabled=True,
                    docker_volume_size=None, keypair_id="default", external_network_id=None,
                    dns_nameserver=None, server_type=None)
    return types.SimpleNamespace(**{**defaults, **values})


def test_resource_group_maps_are_read_in_member_order():
    # Heat's attribute maps are keyed by member index as text: "10" comes after "9".
    assert parameters.ordered({"10": "k", "9": "j", "0": "a"}) == ["a", "j", "k"]
    assert parameters.ordered(["x", "y"]) == ["x", "y"]
    assert parameters.ordered(None) == []


def test_a_node_s_floating_address_wins_over_its_private_one():
    assert parameters.addresses({"0": "203.0.113.5", "1": None},
                                {"0": "10.0.0.5", "1": "10.0.0.6"}) == [
        "203.0.113.5", "10.0.0.6"]
    assert parameters.addresses(None, ["10.0.0.5"]) == ["10.0.0.5"]


def test_the_load_balancer_is_the_control_plane_before_the_first_master():
    masters = {"master_private_addresses": {"0": "10.0.0.3"},
               "master_floating_addresses": {"0": "203.0.113.3"}}
    assert parameters.control_plane_host(masters) == "10.0.0.3"
    assert parameters.public_host(masters) == "203.0.113.3"
    balanced = {**masters, "lb_vip": "10.0.0.100", "lb_floating_ip": "203.0.113.100"}
    assert parameters.control_plane_host(balanced) == "10.0.0.100"
    assert parameters.public_host(balanced) == "203.0.113.100"
    assert parameters.control_plane_host({}) == ""
    assert parameters.public_host({"master_floating_addresses": {"0": None}}) is None


def test_the_cluster_s_own_choices_win_over_the_template_s():
    template = _template(floating_ip_enabled=True, fixed_network="tpl-net",
                         docker_volume_size=10)
    assert parameters.floating_ip_enabled(_cluster(), template) is True
    assert parameters.floating_ip_enabled(_cluster(floating_ip_enabled=False), template) is False
    assert parameters.fixed_network(_cluster(), template) == "tpl-net"
    assert parameters.fixed_network(_cluster(fixed_network="own"), template) == "own"
    assert parameters.fixed_network(_cluster(), _template()) == ""
    assert parameters.volume_size(_cluster(docker_volume_size=20), template) == 20
    assert parameters.volume_size(_cluster(), template) == 10
    assert parameters.volume_size(_cluster(), _template()) == 0


def test_unset_counts_and_types_have_their_defaults():
    assert parameters.master_count(_cluster(master_count=None)) == 1
    assert parameters.stack_timeout(_cluster()) == 60
    assert parameters.stack_timeout(_cluster(create_timeout=15)) == 15
    assert parameters.server_type(_template()) == "vm"
    assert parameters.server_type(_template(server_type=baremetal.BAREMETAL)) == baremetal.BAREMETAL
    group = types.SimpleNamespace(server_type=None)
    assert parameters.server_type(_template(server_type=baremetal.BAREMETAL), group) == "bm"
    group.server_type = "vm"
    assert parameters.server_type(_template(server_type=baremetal.BAREMETAL), group) == "vm"


@pytest.mark.parametrize(("cluster", "masters", "masters_count", "baremetal", "volume", "extra"), [
    (_cluster(), False, 1, False, 0, ["node_floating_ip.yaml"]),
    (_cluster(), True, 3, False, 0,
     ["master_lb.yaml", "master_lb_floating_ip.yaml", "node_floating_ip.yaml"]),
    (_cluster(master_lb_enabled=True, floating_ip_enabled=False), True, 1, False, 0,
     ["master_lb.yaml"]),
    (_cluster(), False, 3, False, 5, ["node_floating_ip.yaml", "volume.yaml"]),
    (_cluster(fixed_network="flat"), False, 1, True, 0, []),
])
def test_environments_follow_the_cluster_s_options(cluster, masters, masters_count, baremetal,
                                                     volume, extra):
    files = parameters.environments(cluster, _template(), masters=masters,
                                    masters_count=masters_count, baremetal=baremetal,
                                    node_volume_size=volume)
    expected = [ENV / "base.yaml"]
    if cluster.fixed_network:
        expected.append(ENV / "existing_network.yaml")
    assert files == expected + [ENV / name for name in extra]


def test_the_api_port_is_always_open_once():
    assert parameters.public_tcp_ports((22, 6443, 80), 6443) == "22,80,6443"
    assert parameters.public_tcp_ports((), 2376) == "2376"


def test_credentials_are_one_sorted_json_parameter():
    given = parameters.credentials_parameters(_cluster(), {"/b": "2", "/a": "1"}, "#!/bin/sh")
    assert given == {"cluster_uuid": "c1", "credentials_script": "#!/bin/sh",
                     "credentials": '{"/a": "1", "/b": "2"}'}


def test_lazy_credentials_are_loaded_once_and_only_when_asked():
    calls = []

    def loader():
        calls.append(1)
        return base.ClusterCredentials(join_token="t")

    lazy = parameters.LazyCredentials(loader)
    assert calls == []
    assert lazy().join_token == "t"
    assert lazy() is lazy()
    assert calls == [1]
    assert parameters.LazyCredentials(None)() == base.ClusterCredentials()
