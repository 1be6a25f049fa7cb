"""POST /v1/clusters/{id}/actions/repair (1.19, ours): the nodes it replaces (named, or the
ones the health monitor shows unhealthy), its operation, and every refusal with the
database unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import CastRecorder, db_snapshot, error_of, record_status

URL = "/v1/clusters"
V1_18 = {"OpenStack-API-Version": "container-infra 1.18"}


def _admin() -> ctx.RequestContext:
    admin = ctx.get_admin_context()
    admin.all_projects = True
    return admin


def _repair(client: Any, ident: str, body: Any, status: int | str = "*", **kwargs: Any):
    return client.post(f"{URL}/{ident}/actions/repair", body, status=status, **kwargs)


def _health(uuid: str, **ready: bool) -> None:
    """What the health monitor found: each node ready or not."""
    status = "HEALTHY" if all(ready.values()) else "UNHEALTHY"
    objects.Cluster.set_health(uuid, status, {"api": "ok", **{
        f"{name}.Ready": "True" if ok else "False" for name, ok in ready.items()}})


def _operation(uuid: str) -> objects.ClusterOperation:
    cluster = objects.Cluster.get_by_uuid(_admin(), uuid)
    return objects.ClusterOperation.get(_admin(), cluster.operation_uuid)


@pytest.fixture
def sick(cluster) -> dict:
    """The cluster with its second worker shown not ready."""
    _health(cluster["uuid"], **{"default-master-0": True, "default-worker-0": True,
                                "default-worker-1": False})
    return cluster


def test_without_nodes_the_unhealthy_ones_are_replaced(member, sick, casts):
    version = objects.Cluster.get_by_uuid(_admin(), sick["uuid"]).version
    answer = _repair(member, "c1", {}, status=202)
    assert answer.json == {"uuid": sick["uuid"]}
    assert [name for name, _ in casts] == ["repair_plan", "cluster_repair"]
    operation = _operation(sick["uuid"])
    assert operation.kind == "repair"
    assert operation.params["nodes"] == ["default-worker-1"]
    cluster = objects.Cluster.get_by_uuid(_admin(), sick["uuid"])
    assert (cluster.status, cluster.version) == ("UPDATE_IN_PROGRESS", version + 1)
    assert objects.ClusterEvent.list(_admin(), sick["uuid"])[-1].event_type == \
        "cluster.repair"


def test_without_nodes_a_master_nova_shows_down_is_replaced(member, cluster, casts):
    """The API could not be reached and Nova shows the master shut off: the health check
    names its server, and that master is what a repair without nodes takes."""
    objects.Cluster.set_health(cluster["uuid"], "UNHEALTHY", {
        "api": "unreachable: connection refused", "default-master-0.server": "SHUTOFF"})
    _repair(member, "c1", {}, status=202)
    assert _operation(cluster["uuid"]).params["nodes"] == ["default-master-0"]


def test_an_empty_body_is_the_same(member, sick, casts):
    member.app.post(f"{URL}/c1/actions/repair", "", status=202,
                    headers=member._headers({"Content-Type": "application/json"}))
    assert _operation(sick["uuid"]).params["nodes"] == ["default-worker-1"]


def test_named_nodes_are_replaced_healthy_ones_with_force(member, sick, casts):
    _repair(member, "c1", {"nodes": ["default-worker-0"], "force": True}, status=202)
    assert _operation(sick["uuid"]).params["nodes"] == ["default-worker-0"]
    assert _operation(sick["uuid"]).params["force"] is True


def _refused(client: Any, db: Any, ident: str, body: Any, status: int) -> dict:
    before = db_snapshot(db)
    CastRecorder.calls.clear()
    error = error_of(_repair(client, ident, body, status=status))
    assert db_snapshot(db) == before
    assert [name for name, _ in CastRecorder.calls if name != "repair_plan"] == []
    return error


def test_a_healthy_node_without_force_is_a_400(member, sick, casts, db):
    error = _refused(member, db, "c1", {"nodes": ["default-worker-0"]}, 400)
    assert error["detail"].startswith("nodes: default-worker-0 is healthy")


def test_nothing_unhealthy_and_no_nodes_is_a_400(member, cluster, casts, db):
    _health(cluster["uuid"], **{"default-master-0": True})
    error = _refused(member, db, "c1", {}, 400)
    assert error["detail"].startswith("nodes:") and "no node" in error["detail"]


def test_an_unknown_node_is_a_400_from_the_conductor(member, sick, casts, db):
    error = _refused(member, db, "c1", {"nodes": ["nope-7"], "force": True}, 400)
    assert "nope-7" in error["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"nodes": []}, "nodes"), ({"nodes": "default-worker-1"}, "nodes"),
    ({"nodes": [3]}, "nodes"), ({"nodes": [""]}, "nodes"),
    ({"force": "maybe"}, "force"), ({"node": ["x"]}, "node")])
def test_a_bad_body_is_a_400_naming_the_field(member, sick, casts, db, body, field):
    error = _refused(member, db, "c1", body, 400)
    assert error["detail"].startswith(f"{field}:")


def test_a_cluster_in_another_operation_is_a_409(member, sick, casts, db):
    member.post(f"{URL}/c1/actions/resize", {"node_count": 3}, status=202)
    _refused(member, db, "c1", {}, 409)


def test_an_unknown_cluster_is_a_404_before_the_policy_and_the_body(reader, casts, db):
    _refused(reader, db, "nope", "not json", 404)


def test_the_policy_comes_before_the_body(reader, sick, casts, db):
    _refused(reader, db, "c1", "not json", 403)


def test_below_1_19_there_is_no_repair(member, sick, casts, db):
    before = db_snapshot(db)
    _repair(member, "c1", {}, status=406, headers=V1_18)
    assert db_snapshot(db) == before and casts == []


def test_conductors_pinned_below_rpc_1_6_refuse_it(member, sick, casts, db, monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_5", True)
    error = _refused(member, db, "c1", {}, 400)
    assert "1.6" in error["detail"]


def test_an_admin_may_repair_another_project_s_cluster(admin, sick, casts):
    _repair(admin, sick["uuid"], {}, status=202)
    assert _operation(sick["uuid"]).params["nodes"] == ["default-worker-1"]


def test_the_repair_ends_like_any_operation(member, sick, casts):
    _repair(member, "c1", {}, status=202)
    record_status(sick["uuid"], "UPDATE_COMPLETE")
    assert objects.Cluster.get_by_uuid(_admin(), sick["uuid"]).status == "UPDATE_COMPLETE"
