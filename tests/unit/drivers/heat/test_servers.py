"""The servers a cluster should have (drivers/heat/servers.py) from the fake Heat's stack
outputs, and their Nova status from a fake Nova on a real HTTP server answering in Nova's
shape (GET /servers/{id}: 200 with the server, 404 itemNotFound)."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import pytest

from magnum_lite.common import clients, exception
from magnum_lite.common import context as ml_context
from magnum_lite.drivers import base
from tests import local_http
from tests.unit.drivers.heat.test_driver import Cluster, no_cleanup  # noqa: F401 - fixture
from tests.unit.drivers.heat.test_repair import _ids, _names


@pytest.fixture
def cluster(context, heat):
    c = Cluster(context, heat, masters=3, workers=(4,))
    c.built()
    return c


# -- the servers a cluster should have ---------------------------------------------------------

def test_the_expected_nodes_are_every_server_the_stacks_name_with_its_id_and_role(
        cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    masters = _names(heat, cluster.cluster_stack_name, "master_names")
    master_ids = _ids(heat, cluster.cluster_stack_name, "master_ids")
    workers, worker_ids = _names(heat, chunk.id), _ids(heat, chunk.id)
    expected = cluster.driver.expected_nodes(cluster.context, cluster.cluster,
                                             cluster.nodegroups)
    assert [(n.name, n.server_id, n.role, n.nodegroup) for n in expected] == [
        (masters[m], master_ids[m], "master", cluster.masters.uuid) for m in ("0", "1", "2")
    ] + [(workers[m], worker_ids[m], "worker", cluster.workers[0].uuid)
         for m in ("0", "1", "2", "3")]


def test_a_replaced_server_is_expected_with_its_new_id(cluster, heat):
    [chunk] = cluster.chunk_stacks(cluster.workers[0])
    name = _names(heat, chunk.id)["1"]
    [repair] = cluster.driver.plan_repair(cluster.context, cluster.cluster,
                                          cluster.nodegroups, [name])
    cluster.driver.repair(cluster.context, repair)
    heat.complete(chunk.id)
    expected = {n.name: n.server_id for n in cluster.driver.expected_nodes(
        cluster.context, cluster.cluster, cluster.nodegroups)}
    assert expected[name] == _ids(heat, chunk.id)["1"] != repair["servers"]["1"]


def test_the_expected_nodes_of_a_cluster_whose_stack_is_gone_are_a_cloud_error(cluster, heat):
    heat.client_for(cluster.context).stacks.delete(heat.stack(cluster.cluster_stack_name).id)
    heat.complete(cluster.cluster_stack_name)
    with pytest.raises(exception.CloudError, match="is gone"):
        cluster.driver.expected_nodes(cluster.context, cluster.cluster, cluster.nodegroups)


# -- their state in Nova ---------------------------------------------------------------------

class FakeNova:
    """GET /compute/v2.1/servers/{id}: `servers` id -> status; an id in `hang` answers
    only once `release` is set (a Nova that does not answer in time)."""

    def __init__(self) -> None:
        self.servers: dict[str, str] = {}
        self.hang: set[str] = set()
        self.release = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        nova = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                nova.requests.append((self.path, self.headers.get("X-Auth-Token")))
                server_id = self.path.rsplit("/", 1)[1]
                if server_id in nova.hang:
                    nova.release.wait(10)
                if server_id in nova.servers:
                    status, body = 200, {"server": {
                        "id": server_id, "name": f"node-{server_id}",
                        "status": nova.servers[server_id], "tenant_id": "p1",
                        "OS-EXT-STS:vm_state": "stopped" if nova.servers[server_id] ==
                        "SHUTOFF" else "active"}}
                else:
                    status, body = 404, {"itemNotFound": {
                        "code": 404, "message": f"Instance {server_id} could not be found."}}
                local_http.send_json(self, status, body)

        self._http = local_http.LocalHTTPServer(Handler)
        self.base = self._http.base

    def __enter__(self) -> FakeNova:
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._http.__exit__(*exc)


@pytest.fixture
def nova(config):
    clients.reset_sessions()
    with FakeNova() as fake:
        config.set_override("endpoint_override", f"{fake.base}/compute/v2.1", group="nova")
        yield fake
    clients.reset_sessions()


def _user():
    return ml_context.RequestContext(auth_token="user-token", project_id="p1",
                                     overwrite=False)


def test_each_server_s_nova_status_and_a_missing_one_is_gone(cluster, nova):
    nova.servers = {"m0": "SHUTOFF", "m1": "ACTIVE", "m2": "ERROR"}
    states = cluster.driver.server_states(_user(), ["m0", "m1", "m2", "m3"], timeout=10)
    assert states == {"m0": "SHUTOFF", "m1": "ACTIVE", "m2": "ERROR", "m3": base.SERVER_GONE}
    assert [p for p, _token in nova.requests] == [
        f"/compute/v2.1/servers/{s}" for s in ("m0", "m1", "m2", "m3")]
    assert {token for _path, token in nova.requests} == {"user-token"}


def test_a_server_nova_does_not_answer_for_in_time_is_unknown(cluster, nova):
    nova.servers = {"m0": "SHUTOFF", "m1": "SHUTOFF"}
    nova.hang = {"m0"}
    states = cluster.driver.server_states(_user(), ["m0", "m1"], timeout=0.3)
    assert states["m0"] is None
    # What is left of the total after m0's wait is not enough for m1 either.
    assert states["m1"] is None
    assert [p for p, _token in nova.requests] == ["/compute/v2.1/servers/m0"]


def test_a_nova_that_cannot_be_reached_says_nothing(cluster, config):
    clients.reset_sessions()
    with FakeNova() as gone:
        base_url = gone.base
    config.set_override("endpoint_override", f"{base_url}/compute/v2.1", group="nova")
    assert cluster.driver.server_states(_user(), ["m0"], timeout=5) == {"m0": None}
