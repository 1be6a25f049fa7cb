"""Pre-delete cleanup against the sandbox's stand-in Octavia and Neutron, served in-process."""

from __future__ import annotations

import socket
import uuid

import pytest
import requests

from magnum_lite.common import clients, exception
from magnum_lite.common import context as ml_context
from magnum_lite.drivers.heat import cleanup, names
from magnum_lite_sandbox.cloud_api import base, server
from magnum_lite_sandbox.cloud_api.store import Store, derived_id
from tests.unit.drivers.heat.conftest import make_cluster

PROJECT = base.DEFAULT_PROJECT_ID  # the stand-in without Keystone acts for this project
OTHER_PROJECT = "0123456789abcdef0123456789abcdef"


class Recorder:
    """WSGI middleware noting (method, path, query) of every request; its app can be
    swapped so one server (slow to stop) serves every test of the module."""

    def __init__(self):
        self.app, self.requests = None, []

    def __call__(self, environ, start_response):
        self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                              environ.get("QUERY_STRING", "")))
        return self.app(environ, start_response)


class CloudApi:
    def __init__(self, store, apps, srv):
        self.store, self.apps, self.server = store, apps, srv
        ports = srv.ports()
        self.octavia = f"http://127.0.0.1:{ports['load-balancer']}"
        self.neutron = f"http://127.0.0.1:{ports['network']}"

    def _post(self, url, body, project=PROJECT):
        response = requests.post(url, json=body, headers={"X-Project-Id": project},
                                 timeout=5)
        assert response.status_code == 201, response.text
        return next(iter(response.json().values()))

    def load_balancer(self, name, project=PROJECT):
        self.store.ensure_project(project)
        return self._post(f"{self.octavia}/v2/lbaas/loadbalancers", {"loadbalancer": {
            "name": name, "vip_network_id": derived_id("private-network", project)}},
            project)

    def port(self, name, project=PROJECT):
        self.store.ensure_project(project)
        return self._post(f"{self.neutron}/v2.0/ports", {"port": {
            "name": name, "network_id": derived_id("private-network", project)}}, project)

    def deletes(self, service):
        return [(path, query) for method, path, query in self.apps[service].requests
                if method == "DELETE"]


SERVICES = ("network", "load-balancer")


@pytest.fixture(scope="module")
def served():
    apps = {stype: Recorder() for stype in SERVICES}
    srv = server.CloudApiServer(apps, {stype: "http://127.0.0.1:0" for stype in SERVICES})
    srv.start()
    yield apps, srv
    srv.stop()


@pytest.fixture
def cloud_api(config, served):
    apps, srv = served
    store = Store(lb_delay=0)
    fresh = server.build_apps(store, None)  # no Keystone: identity from X-Project-Id
    for stype, recorder in apps.items():
        recorder.app, recorder.requests = fresh[stype], []
    api = CloudApi(store, apps, srv)
    config.set_override("endpoint_override", api.octavia, group="octavia")
    config.set_override("endpoint_override", api.neutron, group="neutron")
    clients.reset_sessions()
    yield api
    clients.reset_sessions()


@pytest.fixture
def context():
    return ml_context.RequestContext(auth_token="user-token", project_id=PROJECT,
                                     user_id="u1", overwrite=False)


@pytest.fixture
def cluster():
    return make_cluster(project_id=PROJECT, uuid=str(uuid.uuid4()))


def test_removes_the_coe_s_load_balancers_and_ports_only(cloud_api, context, cluster):
    other = str(uuid.uuid4())
    coe_lbs = [cloud_api.load_balancer(f"kube_service_{cluster.uuid}_default_web"),
               cloud_api.load_balancer(f"kube_service_{cluster.uuid}_kube-system_ingress")]
    own_lb = cloud_api.load_balancer(f"{names.cluster_prefix(cluster)}-api-lb")
    other_lb = cloud_api.load_balancer(f"kube_service_{other}_default_web")
    coe_port = cloud_api.port(f"kubernetes-{cluster.uuid}-csi-port")
    own_port = cloud_api.port(f"{names.cluster_prefix(cluster)}-master-0-port")
    other_port = cloud_api.port(f"kubernetes-{other}-csi-port")

    cleanup.remove_coe_leftovers(context, cluster, timeout=30)

    assert set(cloud_api.store.loadbalancers) == {own_lb["id"], other_lb["id"]}
    assert sorted(cloud_api.deletes("load-balancer")) == sorted(
        (f"/v2/lbaas/loadbalancers/{lb['id']}", "cascade=true") for lb in coe_lbs)
    ports = cloud_api.store.ports
    assert coe_port["id"] not in ports
    assert own_port["id"] in ports and other_port["id"] in ports
    # The deleted load balancers' VIP ports went with them (cascade), the others' stayed.
    assert all(lb["vip_port_id"] not in ports for lb in coe_lbs)
    assert own_lb["vip_port_id"] in ports
    assert cloud_api.deletes("network") == [(f"/v2.0/ports/{coe_port['id']}", "")]


def test_nothing_to_remove(cloud_api, context, cluster):
    cleanup.remove_coe_leftovers(context, cluster, timeout=30)
    assert cloud_api.deletes("load-balancer") == []
    assert cloud_api.deletes("network") == []


def test_another_project_s_objects_are_not_seen(cloud_api, context, cluster):
    theirs = cloud_api.load_balancer(f"kube_service_{cluster.uuid}_x_y", project=OTHER_PROJECT)
    cleanup.remove_coe_leftovers(context, cluster, timeout=30)
    assert theirs["id"] in cloud_api.store.loadbalancers


def test_a_load_balancer_already_going_is_not_deleted_twice(cloud_api, context, cluster,
                                                            monkeypatch):
    lb = cloud_api.load_balancer(f"kube_service_{cluster.uuid}_default_web")
    cloud_api.store.lb_settle()
    cloud_api.store.lb_delay = 3600  # from now on nothing settles on its own
    requests.delete(f"{cloud_api.octavia}/v2/lbaas/loadbalancers/{lb['id']}",
                    headers={"X-Project-Id": PROJECT}, timeout=5)
    assert cloud_api.store.loadbalancers[lb["id"]]["provisioning_status"] == "PENDING_DELETE"
    before = len(cloud_api.deletes("load-balancer"))
    # A zero timeout: the cleanup does not wait for it, and goes on to the ports.
    port = cloud_api.port(f"x-{cluster.uuid}")
    cleanup.remove_coe_leftovers(context, cluster, timeout=0)
    assert len(cloud_api.deletes("load-balancer")) == before
    assert port["id"] not in cloud_api.store.ports


def test_a_cloud_without_octavia_is_skipped(cloud_api, config, cluster):
    # The token's catalog has Neutron only, and no endpoint_override for Octavia.
    config.clear_override("endpoint_override", group="octavia")
    config.clear_override("endpoint_override", group="neutron")
    catalog = [{"type": "network", "name": "neutron", "endpoints": [
        {"interface": "public", "region": "RegionOne", "url": cloud_api.neutron}]}]
    context = ml_context.RequestContext(auth_token="user-token", project_id=PROJECT,
                                        service_catalog=catalog, overwrite=False)
    port = cloud_api.port(f"x-{cluster.uuid}")
    cleanup.remove_coe_leftovers(context, cluster, timeout=30)
    assert cloud_api.apps["load-balancer"].requests == []
    assert port["id"] not in cloud_api.store.ports
    assert cleanup.coe_load_balancers(context, cluster) == []


def test_unreachable_octavia_is_cloud_unreachable(cloud_api, config, context, cluster):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    config.set_override("endpoint_override", f"http://127.0.0.1:{closed}", group="octavia")
    with pytest.raises(exception.CloudUnreachable, match="cannot reach Octavia"):
        cleanup.remove_coe_leftovers(context, cluster, timeout=30)


def test_no_credentials_to_act_with_is_a_cloud_error(cloud_api, cluster):
    # No token, no trust and no [keystone_auth]: nobody to act as.
    context = ml_context.RequestContext(project_id=PROJECT, overwrite=False)
    with pytest.raises(exception.CloudError, match="Octavia: .*keystone_auth"):
        cleanup.remove_coe_leftovers(context, cluster, timeout=30)
