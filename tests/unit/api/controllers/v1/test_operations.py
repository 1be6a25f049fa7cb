"""Every API call that starts an operation goes through the transition table: a cluster busy
with another operation answers 409 (Magnum's error shape) and nothing changes, no cast; a
delete supersedes the operation in flight."""

from __future__ import annotations

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.conductor import credentials, rpcapi
from tests.unit.api.conftest import TEMPLATE, CastRecorder, db_snapshot, error_of
from tests.unit.api.controllers.v1.test_nodegroups import NodeGroupRecorder


def _admin() -> ctx.RequestContext:
    admin = ctx.get_admin_context()
    admin.all_projects = True
    return admin


def _cluster(uuid: str) -> objects.Cluster:
    return objects.Cluster.get_by_uuid(_admin(), uuid)


def _resize(member: Any, uuid: str, count: int, status: int) -> Any:
    return member.patch(f"/v1/clusters/{uuid}", [{"op": "replace", "path": "/node_count",
                                                  "value": count}], status=status)


# Each call that starts an operation: (name, how to make it, expecting `status`).
STARTS = {
    "update": lambda m, u, s: _resize(m, u, 4, s),
    "resize action": lambda m, u, s: m.post(f"/v1/clusters/{u}/actions/resize",
                                            {"node_count": 4}, status=s),
    "nodegroup create": lambda m, u, s: m.post(f"/v1/clusters/{u}/nodegroups",
                                               {"name": "extra", "node_count": 1},
                                               status=s),
    "nodegroup resize": lambda m, u, s: m.patch(
        f"/v1/clusters/{u}/nodegroups/gpu",
        [{"op": "replace", "path": "/node_count", "value": 2}], status=s),
    "nodegroup delete": lambda m, u, s: m.delete(f"/v1/clusters/{u}/nodegroups/gpu",
                                                 status=s),
    "CA rotation": lambda m, u, s: m.patch(f"/v1/certificates/{u}", {}, status=s),
    "credentials rotation": lambda m, u, s: m.patch(f"/v1/credentials/{u}", {}, status=s),
    "upgrade action": lambda m, u, s: m.post(f"/v1/clusters/{u}/actions/upgrade",
                                             {"cluster_template": "k8s-next"}, status=s),
}


@pytest.fixture
def casts(casts, monkeypatch):
    """The recorder of every cast, the nodegroup ones (RPC 1.3) too."""
    monkeypatch.setattr(rpcapi, "ConductorAPI", NodeGroupRecorder)
    monkeypatch.setattr(NodeGroupRecorder, "pinned_to_1_2", False)
    return casts


@pytest.fixture
def ready(member, cluster) -> dict:
    """The cluster with its CAs, a second worker nodegroup `gpu` and a template to upgrade
    it to (`k8s-next`)."""
    member.post("/v1/clustertemplates", {**TEMPLATE, "name": "k8s-next"}, status=201)
    credentials.ensure_cas(_admin(), _cluster(cluster["uuid"]), "kubernetes")
    objects.NodeGroup(_admin(), name="gpu", cluster_id=cluster["uuid"],
                      project_id=cluster["project_id"], role="worker", node_count=3,
                      min_node_count=1, max_node_count=5, status="CREATE_COMPLETE").create()
    return cluster


@pytest.mark.parametrize("call", list(STARTS))
def test_every_start_on_a_cluster_being_resized_is_a_409(member, ready, casts, db, call):
    uuid = ready["uuid"]
    _resize(member, uuid, 3, 202)
    casts.clear()
    before = db_snapshot(db)
    error = error_of(STARTS[call](member, uuid, 409))
    assert error["status"] == 409 and error["code"] == "client"
    assert uuid in error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


@pytest.mark.parametrize("call", list(STARTS))
def test_every_start_refuses_a_cluster_whose_record_shows_an_operation_in_flight(
        member, ready, casts, db, call):
    # The status alone would allow it (written back by hand, a race): the record decides.
    uuid = ready["uuid"]
    _resize(member, uuid, 3, 202)
    casts.clear()

    def looks_idle(c: objects.Cluster) -> None:
        c.status = "UPDATE_COMPLETE"

    objects.Cluster.update_with_retry(_admin(), uuid, looks_idle)
    before = db_snapshot(db)
    error = error_of(STARTS[call](member, uuid, 409))
    if call != "credentials rotation":  # an update's own refusal: the trust still works
        assert "busy with another operation (resize)" in error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


def test_a_delete_supersedes_the_operation_in_flight(member, ready, casts):
    uuid = ready["uuid"]
    _resize(member, uuid, 3, 202)
    resize = _cluster(uuid).operation_uuid
    member.delete(f"/v1/clusters/{uuid}", status=204)
    after = _cluster(uuid)
    assert after.status == "DELETE_IN_PROGRESS"
    assert objects.ClusterOperation.get(_admin(), resize).outcome == "superseded"
    delete = objects.ClusterOperation.get(_admin(), after.operation_uuid)
    assert (delete.kind, delete.step, delete.outcome) == ("delete", "queued", None)
    assert [name for name, _ in casts][-1] == "cluster_delete"


def test_each_start_records_its_kind_and_parameters(member, ready, casts):
    uuid = ready["uuid"]
    _resize(member, uuid, 5, 202)
    operation = objects.ClusterOperation.get(_admin(), _cluster(uuid).operation_uuid)
    assert (operation.kind, operation.params) == ("resize", {"node_count": 5,
                                                             "rollback": False})
    assert operation.request_id is not None and operation.user_id == ready["user_id"]


def test_a_failed_cast_ends_the_operation_with_its_fault(member, ready, casts, monkeypatch):
    uuid = ready["uuid"]
    monkeypatch.setattr(CastRecorder, "fail", True)
    _resize(member, uuid, 3, 503)
    [operation] = [op for op in objects.ClusterOperation.list(_admin(), uuid)
                   if op.kind == "resize"]
    assert (operation.outcome, operation.fault) == ("failed", "conductor_unreachable")
    assert _cluster(uuid).operation_uuid is None
