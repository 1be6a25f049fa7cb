"""POST /v1/clusters/{id}/actions/resize (1.7+): Magnum's resize action."""

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.conductor import rpcapi
from tests.unit.api.conftest import CastRecorder, db_snapshot, error_of

URL = "/v1/clusters"


class ResizeRecorder(CastRecorder):
    """The cast recorder, with RPC 1.1's cluster_update and the version pin's check."""

    pinned_to_1_0 = False

    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False, **kwargs: Any) -> None:
        self._record("cluster_update", context, cluster_uuid=cluster_uuid,
                     node_count=node_count, rollback=rollback, **kwargs)

    def check_cluster_update(self, nodegroup_uuid=None, nodes_to_remove=None) -> None:
        if ResizeRecorder.pinned_to_1_0 and (nodegroup_uuid or nodes_to_remove):
            raise rpcapi.ConductorTooOld(what="A resize with nodes_to_remove",
                                         version="1.1", cap="1.0")


@pytest.fixture
def casts(casts, monkeypatch):
    monkeypatch.setattr(rpcapi, "ConductorAPI", ResizeRecorder)
    monkeypatch.setattr(ResizeRecorder, "pinned_to_1_0", False)
    return casts


def _admin():
    return ctx.get_admin_context()


def _nodegroups(uuid):
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(_admin(), [uuid])}


def _resize(client, ident, body, **kwargs):
    return client.post(f"{URL}/{ident}/actions/resize", body, **kwargs)


@pytest.fixture
def gpu(cluster):
    """A second worker nodegroup (3 nodes, 1 to 5) of the cluster."""
    nodegroup = objects.NodeGroup(_admin(), name="gpu", cluster_id=cluster["uuid"],
                                  project_id=cluster["project_id"], role="worker",
                                  node_count=3, min_node_count=1, max_node_count=5)
    nodegroup.create()
    return nodegroup


def test_resize_answers_202_and_casts_a_resize_of_the_default_workers(member, cluster, casts):
    response = _resize(member, "c1", {"node_count": 5}, status=202)
    assert response.json == {"uuid": cluster["uuid"]}
    assert casts == [("cluster_update", {"cluster_uuid": cluster["uuid"], "node_count": 5,
                                         "rollback": False})]
    after = objects.Cluster.get_by_uuid(_admin(), cluster["uuid"])
    assert (after.status, after.status_reason) == ("UPDATE_IN_PROGRESS", None)
    assert after.version == cluster["version"] + 1
    events = [(e.event_type, e.status) for e in objects.ClusterEvent.list(_admin(),
                                                                          cluster["uuid"])]
    assert events[-1] == ("cluster.resize", "UPDATE_IN_PROGRESS")


def test_resize_of_a_named_nodegroup_removing_nodes(member, cluster, gpu, casts):
    body = {"node_count": 1, "nodes_to_remove": ["gpu-node-1", "5b0e6d4c-node"],
            "nodegroup": "gpu"}
    _resize(member, cluster["uuid"], body, status=202)
    assert casts == [("cluster_update", {
        "cluster_uuid": cluster["uuid"], "node_count": 1, "rollback": False,
        "nodegroup_uuid": gpu.uuid, "nodes_to_remove": ["gpu-node-1", "5b0e6d4c-node"]})]


def test_a_nodegroup_may_be_named_by_uuid(member, cluster, gpu, casts):
    _resize(member, "c1", {"node_count": 4, "nodegroup": gpu.uuid}, status=202)
    assert casts[0][1]["nodegroup_uuid"] == gpu.uuid


def test_the_default_worker_nodegroup_named_travels_as_the_default(member, cluster, casts):
    worker = _nodegroups(cluster["uuid"])["default-worker"]
    _resize(member, "c1", {"node_count": 1, "nodegroup": "default-worker",
                           "nodes_to_remove": ["n1"]}, status=202)
    assert casts[0][1] == {"cluster_uuid": cluster["uuid"], "node_count": 1,
                           "rollback": False, "nodes_to_remove": ["n1"]}
    assert worker.node_count == 2


def test_python_magnumclient_sends_what_the_action_takes(member, cluster, casts):
    from magnumclient.v1 import clusters as client_clusters

    class Api:
        def json_request(self, method, url, body=None, **kwargs):
            response = member.post(url, body, status="*")
            return response, response.json

    manager = client_clusters.ClusterManager(Api())
    manager.resize(cluster["uuid"], 1, ["node-a"], "default-worker")
    assert casts[0][1]["nodes_to_remove"] == ["node-a"]
    assert casts[0][1]["node_count"] == 1


def test_zero_nodes_need_version_1_10(member, cluster, casts):
    old = {"OpenStack-API-Version": "container-infra 1.9"}
    error = error_of(_resize(member, "c1", {"node_count": 0}, headers=old, status=400))
    assert error["detail"].startswith("node_count:")
    _resize(member, "c1", {"node_count": 0}, status=202)


@pytest.mark.parametrize("version", ["1.1", "1.6"])
def test_before_1_7_there_is_no_resize(member, cluster, casts, version):
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    error = error_of(_resize(member, "c1", {"node_count": 3}, headers=headers, status=406))
    assert "1.7" in error["detail"]
    assert casts == []


def test_a_cluster_being_changed_cannot_be_resized(member, template, casts, db):
    uuid = member.post(URL, {"cluster_template_id": "k8s"}, status=202).json["uuid"]
    casts.clear()
    before = db_snapshot(db)
    error = error_of(_resize(member, uuid, {"node_count": 2}, status=409))
    assert "CREATE_IN_PROGRESS" in error["detail"]
    assert casts == [] and db_snapshot(db) == before


def test_an_unknown_cluster_is_not_found(member, template, casts):
    error_of(_resize(member, "nope", {"node_count": 2}, status=404))


def test_readers_and_other_projects_cannot_resize(reader, member_b, cluster, casts, db):
    before = db_snapshot(db)
    error_of(_resize(reader, "c1", {"node_count": 2}, status=403))
    error_of(_resize(member_b, cluster["uuid"], {"node_count": 2}, status=404))
    assert casts == [] and db_snapshot(db) == before


def test_an_admin_may_resize_another_projects_cluster(admin, cluster, casts):
    _resize(admin, cluster["uuid"], {"node_count": 3}, status=202)
    assert len(casts) == 1


def test_a_conductor_pinned_to_rpc_1_0_refuses_what_it_cannot_do(member, cluster, gpu,
                                                                 casts, db):
    ResizeRecorder.pinned_to_1_0 = True
    before = db_snapshot(db)
    error = error_of(_resize(member, "c1", {"node_count": 1, "nodes_to_remove": ["n"]},
                             status=400))
    assert "[upgrade_levels] conductor" in error["detail"]
    assert casts == [] and db_snapshot(db) == before
    _resize(member, "c1", {"node_count": 3}, status=202)  # a plain resize still works


def test_get_on_the_action_is_not_allowed(member, cluster):
    response = member.get(f"{URL}/c1/actions/resize", status=405)
    assert "POST" in response.headers["Allow"]


def test_an_unknown_action_is_not_found(member, cluster):
    member.post(f"{URL}/c1/actions/shrink", {"node_count": 1}, status=404)


BAD = [
    ("missing node_count", {}, "node_count"),
    ("null node_count", {"node_count": None}, "node_count"),
    ("negative", {"node_count": -1}, "node_count"),
    ("text", {"node_count": "many"}, "node_count"),
    ("float", {"node_count": 2.5}, "node_count"),
    ("bool", {"node_count": True}, "node_count"),
    ("too many", {"node_count": 1001}, "node_count"),
    ("list count", {"node_count": [1]}, "node_count"),
    ("unknown field", {"node_count": 1, "flavor_id": "m1.large"}, "flavor_id"),
    ("nodes not a list", {"node_count": 1, "nodes_to_remove": "n1"}, "nodes_to_remove"),
    ("nodes a dict", {"node_count": 1, "nodes_to_remove": {"a": 1}}, "nodes_to_remove"),
    ("empty node", {"node_count": 1, "nodes_to_remove": [""]}, "nodes_to_remove[0]"),
    ("number node", {"node_count": 1, "nodes_to_remove": ["a", 7]}, "nodes_to_remove[1]"),
    ("long node", {"node_count": 1, "nodes_to_remove": ["x" * 256]}, "nodes_to_remove[0]"),
    ("NUL node", {"node_count": 1, "nodes_to_remove": ["a\x00"]}, "nodes_to_remove[0]"),
    ("twice", {"node_count": 0, "nodes_to_remove": ["a", "a"]}, "nodes_to_remove"),
    ("grow and remove", {"node_count": 3, "nodes_to_remove": ["a"]}, "nodes_to_remove"),
    ("same and remove", {"node_count": 2, "nodes_to_remove": ["a"]}, "nodes_to_remove"),
    ("remove too many", {"node_count": 1, "nodes_to_remove": ["a", "b"]},
     "nodes_to_remove"),
    ("empty nodegroup", {"node_count": 1, "nodegroup": ""}, "nodegroup"),
    ("number nodegroup", {"node_count": 1, "nodegroup": 5}, "nodegroup"),
    ("master nodegroup", {"node_count": 2, "nodegroup": "default-master"}, "nodegroup"),
    ("below the minimum", {"node_count": 0, "nodegroup": "gpu"}, "node_count"),
    ("above the maximum", {"node_count": 6, "nodegroup": "gpu"}, "node_count"),
    ("gpu remove too many", {"node_count": 2, "nodegroup": "gpu",
                             "nodes_to_remove": ["a", "b"]}, "nodes_to_remove"),
]


@pytest.mark.parametrize(("body", "field"), [(body, field) for _, body, field in BAD],
                         ids=[name for name, _, _ in BAD])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(member, cluster, gpu, casts,
                                                                  db, body, field):
    before = db_snapshot(db)
    error = error_of(_resize(member, "c1", body, status=400))
    assert error["detail"].startswith(f"{field}:"), error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


@pytest.mark.parametrize("nodegroup", ["nope", "8d5f4b1e-9c2a-4a55-b8a5-5a7f6d9e0c11"])
def test_an_unknown_nodegroup_is_a_404_as_in_magnum(member, cluster, gpu, casts, db,
                                                     nodegroup):
    """Magnum looks the nodegroup up (NodeGroupNotFound, 404); the detail names the field."""
    before = db_snapshot(db)
    error = error_of(_resize(member, "c1", {"node_count": 1, "nodegroup": nodegroup},
                             status=404))
    assert error["detail"].startswith(f"nodegroup: Nodegroup {nodegroup} could not be found")
    assert casts == []
    assert db_snapshot(db) == before


@pytest.mark.parametrize("raw", [b"", b"[1]", b"not json", b'"text"'])
def test_a_body_that_is_no_object_is_a_400(member, cluster, casts, raw):
    response = member.app.post(f"{URL}/c1/actions/resize", raw,
                               headers={**member._headers(None),
                                        "Content-Type": "application/json"}, status=400)
    error_of(response)
    assert casts == []


def test_a_failed_cast_fails_the_update_with_503(member, cluster, casts):
    CastRecorder.fail = True  # reset by the casts fixture
    error_of(_resize(member, "c1", {"node_count": 3}, status=503))
    after = objects.Cluster.get_by_uuid(_admin(), cluster["uuid"])
    assert after.status == "UPDATE_FAILED"
    assert "conductor" in after.status_reason
