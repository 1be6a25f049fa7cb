"""The conductor RPC client: versions, pins, and what each method sends."""

import os
import threading
from unittest import mock

import oslo_messaging as messaging
import pytest

from magnum_lite.common import context as ml_context
from magnum_lite.common import rpc
from magnum_lite.conductor import hashring, manager, rpcapi
from magnum_lite.conf import CONF

UUID = "9a8ec2b5-8f4b-4a8e-9f41-0e6f4b2d5a11"


def test_client_and_server_declare_the_same_version():
    assert rpcapi.ConductorAPI.RPC_API_VERSION == manager.RPC_API_VERSION
    assert manager.ConductorManager.target.version == manager.RPC_API_VERSION


def test_version_history_names_the_current_version():
    assert f"{rpcapi.ConductorAPI.RPC_API_VERSION} - " in rpcapi.ConductorAPI.__doc__


def test_constructing_the_client_touches_no_transport():
    rpcapi.ConductorAPI()
    assert rpc._TRANSPORTS == {}


def test_unpinned_client_can_send_any_version():
    assert rpcapi.ConductorAPI().can_send_version("1.99")


def test_version_cap_from_upgrade_levels_refuses_newer_versions():
    CONF.set_override("conductor", "1.0", group="upgrade_levels")
    try:
        api = rpcapi.ConductorAPI()
        assert api.can_send_version("1.0")
        assert not api.can_send_version("1.1")
        assert not api.can_send_version("2.0")
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")


def test_client_targets_the_configured_topic():
    CONF.set_override("topic", "elsewhere", group="conductor")
    try:
        assert rpcapi.ConductorAPI().client.target.topic == "elsewhere"
    finally:
        CONF.clear_override("topic", group="conductor")


def test_client_is_cached_in_a_process_and_made_again_after_fork():
    api = rpcapi.ConductorAPI()
    first = api.client
    assert api.client is first
    with mock.patch.object(os, "getpid", return_value=os.getpid() + 1):
        assert api.client is not first


def _pinned_prepare(api):
    """Mock the client's prepare, keeping what the pin allows (which prepare computes)."""
    allowed = {version: api.can_send_version(version) for version in ("1.0", "1.1")}
    return (mock.patch.object(api.client, "prepare"),
            mock.patch.object(api, "can_send_version", side_effect=allowed.__getitem__))


@pytest.mark.parametrize(("method", "kwargs"), [
    ("cluster_create", {"cluster_uuid": UUID, "create_timeout": 60}),
    ("cluster_delete", {"cluster_uuid": UUID}),
])
def test_each_method_casts_version_1_0_with_keyword_arguments(method, kwargs):
    api = rpcapi.ConductorAPI()
    context = ml_context.RequestContext(project_id="p", user_id="u")
    with mock.patch.object(api.client, "prepare") as prepare:
        getattr(api, method)(context, **kwargs)
    prepare.assert_called_once_with(version="1.0")
    prepare.return_value.cast.assert_called_once_with(context, method, **kwargs)
    prepare.return_value.call.assert_not_called()


def test_update_casts_version_1_1_with_the_nodegroup_and_the_nodes_to_remove():
    api = rpcapi.ConductorAPI()
    context = ml_context.RequestContext(project_id="p", user_id="u")
    patch_prepare, patch_pin = _pinned_prepare(api)
    with patch_prepare as prepare, patch_pin:
        api.cluster_update(context, cluster_uuid=UUID, node_count=3, rollback=True,
                           nodegroup_uuid="ng-1", nodes_to_remove=["node-1"])
    prepare.assert_called_once_with(version="1.1")
    prepare.return_value.cast.assert_called_once_with(
        context, "cluster_update", cluster_uuid=UUID, node_count=3, rollback=True,
        nodegroup_uuid="ng-1", nodes_to_remove=["node-1"])
    prepare.return_value.call.assert_not_called()


def test_update_defaults_to_no_rollback_and_the_default_nodegroup():
    api = rpcapi.ConductorAPI()
    patch_prepare, patch_pin = _pinned_prepare(api)
    with patch_prepare as prepare, patch_pin:
        api.cluster_update(ml_context.RequestContext(), UUID, 2)
    prepare.return_value.cast.assert_called_once_with(mock.ANY, "cluster_update",
                                                      cluster_uuid=UUID, node_count=2,
                                                      rollback=False, nodegroup_uuid=None,
                                                      nodes_to_remove=None)


def test_update_pinned_to_1_0_sends_what_1_0_knows():
    CONF.set_override("conductor", "1.0", group="upgrade_levels")
    try:
        api = rpcapi.ConductorAPI()
        patch_prepare, patch_pin = _pinned_prepare(api)
        with patch_prepare as prepare, patch_pin:
            api.cluster_update(ml_context.RequestContext(), UUID, 2, rollback=True)
        prepare.assert_called_once_with(version="1.0")
        prepare.return_value.cast.assert_called_once_with(
            mock.ANY, "cluster_update", cluster_uuid=UUID, node_count=2, rollback=True)
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")


@pytest.mark.parametrize(("kwargs", "what"), [
    ({"nodegroup_uuid": "ng-1"}, "other than the default worker nodegroup"),
    ({"nodes_to_remove": ["node-1"]}, "with nodes_to_remove"),
])
def test_update_pinned_to_1_0_refuses_what_1_0_cannot_do(kwargs, what):
    CONF.set_override("conductor", "1.0", group="upgrade_levels")
    try:
        api = rpcapi.ConductorAPI()
        patch_prepare, patch_pin = _pinned_prepare(api)
        with patch_prepare as prepare, patch_pin:
            with pytest.raises(rpcapi.ConductorTooOld) as raised:
                api.cluster_update(ml_context.RequestContext(), UUID, 2, **kwargs)
        prepare.assert_not_called()
        assert what in str(raised.value)
        assert "1.1" in str(raised.value) and "[upgrade_levels] conductor" in str(raised.value)
        assert raised.value.code == 400
        with pytest.raises(rpcapi.ConductorTooOld):
            api.check_cluster_update(**kwargs)
        api.check_cluster_update()  # a plain resize is fine
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")


class _Recorder:
    target = messaging.Target(version="1.0")

    def __init__(self) -> None:
        self.calls: list = []
        self.done = threading.Event()

    def cluster_create(self, context, cluster_uuid, create_timeout):
        if cluster_uuid == UUID:  # not a message another test left in the fake exchange
            self.calls.append((context, cluster_uuid, create_timeout))
            self.done.set()


def test_cast_reaches_a_server_over_the_in_process_transport_with_the_context():
    recorder = _Recorder()
    server = messaging.get_rpc_server(
        rpc.get_transport(), messaging.Target(topic=CONF.conductor.topic, server="h1"),
        [recorder], executor="threading", serializer=rpcapi.serializer())
    server.start()
    try:
        context = ml_context.RequestContext(project_id="p", user_id="u", request_id="req-1",
                                            all_projects=True, is_admin=True)
        rpcapi.ConductorAPI().cluster_create(context, UUID, 60)
        assert recorder.done.wait(5)
    finally:
        server.stop()
        server.wait()
    received, cluster_uuid, timeout = recorder.calls[0]
    assert (cluster_uuid, timeout) == (UUID, 60)
    assert isinstance(received, ml_context.RequestContext)
    assert (received.project_id, received.user_id, received.request_id) == ("p", "u", "req-1")
    assert received.all_projects is True


def test_embedded_transport_without_transport_url():
    assert rpc.is_embedded()
    assert rpc.configured_transport_url() is None
    assert type(rpc.get_transport()._driver).__name__ == "FakeDriver"


def test_configured_transport_url_is_reported():
    CONF.set_override("transport_url", "rabbit://u:p@127.0.0.1:5672/v")
    try:
        assert rpc.configured_transport_url() == "rabbit://u:p@127.0.0.1:5672/v"
        assert not rpc.is_embedded()
    finally:
        CONF.clear_override("transport_url")
    assert rpc.is_embedded()


def test_transport_is_made_once_per_process():
    transport = rpc.get_transport()
    assert rpc.get_transport() is transport
    with mock.patch.object(os, "getpid", return_value=os.getpid() + 1):
        assert rpc.get_transport() is not transport


def test_casts_give_up_on_an_unreachable_broker_instead_of_hanging():
    api = rpcapi.ConductorAPI()
    assert api.client.prepare(version="1.0").retry == rpcapi.CAST_RETRY == 1


@pytest.mark.parametrize("method", ["nodegroup_create", "nodegroup_delete"])
def test_nodegroup_methods_cast_version_1_3(method):
    api = rpcapi.ConductorAPI()
    context = ml_context.RequestContext(project_id="p", user_id="u")
    with mock.patch.object(api.client, "prepare") as prepare:
        getattr(api, method)(context, cluster_uuid=UUID, nodegroup_uuid="ng-1")
    prepare.assert_called_once_with(version="1.3")
    prepare.return_value.cast.assert_called_once_with(context, method, cluster_uuid=UUID,
                                                      nodegroup_uuid="ng-1")


def test_nodegroup_api_is_refused_while_conductors_are_pinned_below_1_3():
    CONF.set_override("conductor", "1.2", group="upgrade_levels")
    try:
        with pytest.raises(rpcapi.ConductorTooOld) as raised:
            rpcapi.ConductorAPI().check_nodegroup_api()
        assert "1.3" in str(raised.value) and raised.value.code == 400
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")
    rpcapi.ConductorAPI().check_nodegroup_api()  # unpinned: fine


# -- casts to the owner on the ring -------------------------------------------------------------

@pytest.mark.parametrize(("method", "kwargs"), [
    ("cluster_create", {"create_timeout": 60}),
    ("cluster_delete", {}),
    ("rotate_ca_certificate", {}),
    ("nodegroup_create", {"nodegroup_uuid": UUID}),
])
def test_each_cast_goes_to_the_cluster_s_owner_on_the_ring(method, kwargs):
    live = {"conductor-1", "conductor-2", "conductor-3"}
    api = rpcapi.ConductorAPI()
    api._ring = hashring.ConductorRing(rpcapi.NO_OWNER, refresh_interval=0,
                                       list_hosts=lambda: set(live))
    ring = hashring.HashRing(live)
    context = ml_context.RequestContext(project_id="p", user_id="u")
    servers = set()
    for uuid in [f"9a8ec2b5-8f4b-4a8e-9f41-0e6f4b2d5a{i:02d}" for i in range(12)]:
        with mock.patch.object(api.client, "prepare") as prepare:
            getattr(api, method)(context, cluster_uuid=uuid, **kwargs)
        owner = ring.owner(uuid)
        prepare.assert_called_once_with(version=mock.ANY, server=owner)
        prepare.return_value.cast.assert_called_once_with(context, method, cluster_uuid=uuid,
                                                          **kwargs)
        servers.add(owner)
    assert len(servers) > 1  # the clusters are shared


def test_without_a_live_conductor_a_cast_goes_to_the_topic():
    api = rpcapi.ConductorAPI()
    api._ring = hashring.ConductorRing(rpcapi.NO_OWNER, refresh_interval=0,
                                       list_hosts=set)
    context = ml_context.RequestContext(project_id="p", user_id="u")
    with mock.patch.object(api.client, "prepare") as prepare:
        api.cluster_delete(context, cluster_uuid=UUID)
    prepare.assert_called_once_with(version="1.0")


def test_a_cast_to_the_owner_reaches_only_that_conductor():
    """Over the in-process transport: two servers on the topic, the cast lands on the one
    the ring names."""
    seen = {"h1": [], "h2": []}

    class Endpoint:
        target = messaging.Target(version="1.3")

        def __init__(self, host):
            self.host = host

        def cluster_delete(self, ctxt, cluster_uuid):
            seen[self.host].append(cluster_uuid)

    servers = [messaging.get_rpc_server(
        rpc.get_transport(), messaging.Target(topic=CONF.conductor.topic, server=host),
        [Endpoint(host)], executor="threading") for host in ("h1", "h2")]
    for server in servers:
        server.start()
    try:
        api = rpcapi.ConductorAPI()
        api._ring = hashring.ConductorRing(rpcapi.NO_OWNER, refresh_interval=0,
                                           list_hosts=lambda: {"h1", "h2"})
        ring = hashring.HashRing({"h1", "h2"})
        uuids = [f"9a8ec2b5-8f4b-4a8e-9f41-0e6f4b2d5a{i:02d}" for i in range(8)]
        for uuid in uuids:
            api.cluster_delete(ml_context.RequestContext(project_id="p"), cluster_uuid=uuid)
        done = threading.Event()
        for _ in range(500):
            if sum(map(len, seen.values())) == len(uuids):
                done.set()
                break
            threading.Event().wait(0.01)
        assert done.is_set()
        assert {host: sorted(got) for host, got in seen.items()} == {
            host: sorted(u for u in uuids if ring.owner(u) == host) for host in ("h1", "h2")}
    finally:
        for server in servers:
            server.stop()
            server.wait()
