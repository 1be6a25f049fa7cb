"""/v1/clusters/{id}/nodegroups (1.9+): list, show, create, update and delete of nodegroups."""

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.conductor import rpcapi
from tests.unit.api.conftest import CastRecorder, db_snapshot, error_of, record_status

V1_8 = {"OpenStack-API-Version": "container-infra 1.8"}
V1_9 = {"OpenStack-API-Version": "container-infra 1.9"}
V1_13 = {"OpenStack-API-Version": "container-infra 1.13"}


class NodeGroupRecorder(CastRecorder):
    """The cast recorder with RPC 1.1's cluster_update and 1.3's nodegroup casts."""

    pinned_to_1_2 = False

    def cluster_update(self, context: Any, cluster_uuid: str, node_count: int,
                       rollback: bool = False, **kwargs: Any) -> None:
        self._record("cluster_update", context, cluster_uuid=cluster_uuid,
                     node_count=node_count, rollback=rollback, **kwargs)

    def check_cluster_update(self, nodegroup_uuid=None, nodes_to_remove=None) -> None:
        return None

    def check_nodegroup_api(self) -> None:
        if NodeGroupRecorder.pinned_to_1_2:
            raise rpcapi.ConductorTooOld(what="Creating or deleting a nodegroup",
                                         version="1.3", cap="1.2")

    def nodegroup_create(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        self._record("nodegroup_create", context, cluster_uuid=cluster_uuid,
                     nodegroup_uuid=nodegroup_uuid)

    def nodegroup_delete(self, context: Any, cluster_uuid: str, nodegroup_uuid: str) -> None:
        self._record("nodegroup_delete", context, cluster_uuid=cluster_uuid,
                     nodegroup_uuid=nodegroup_uuid)


@pytest.fixture
def casts(casts, monkeypatch):
    monkeypatch.setattr(rpcapi, "ConductorAPI", NodeGroupRecorder)
    monkeypatch.setattr(NodeGroupRecorder, "pinned_to_1_2", False)
    return casts


def _admin():
    return ctx.get_admin_context()


def _groups(cluster_uuid):
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(_admin(),
                                                                       [cluster_uuid])}


def _cluster(uuid):
    return objects.Cluster.get_by_uuid(_admin(), uuid)


def _set_status(uuid: str, status: str) -> None:
    record_status(uuid, status)


def url(cluster, tail=""):
    return f"/v1/clusters/{cluster['uuid']}/nodegroups{tail}"


@pytest.fixture
def gpu(cluster):
    """A second worker nodegroup (3 nodes, 1 to 5) of the cluster, in zone az-1."""
    nodegroup = objects.NodeGroup(_admin(), name="gpu", cluster_id=cluster["uuid"],
                                  project_id=cluster["project_id"], role="worker",
                                  node_count=3, min_node_count=1, max_node_count=5,
                                  status="CREATE_COMPLETE", availability_zone="az-1",
                                  server_type="vm", flavor_id="m1.large",
                                  image_id="fedora-coreos-40")
    nodegroup.create()
    return nodegroup


# -- reading --------------------------------------------------------------------------------

def test_list_shows_the_default_groups_in_short_form(member, cluster):
    body = member.get(url(cluster), status=200).json
    groups = {ng["name"]: ng for ng in body["nodegroups"]}
    assert set(groups) == {"default-master", "default-worker"}
    worker = groups["default-worker"]
    assert set(worker) == {"uuid", "name", "flavor_id", "image_id", "node_count", "role",
                           "is_default", "status", "stack_id", "availability_zone",
                           "server_type", "links"}
    assert (worker["role"], worker["node_count"], worker["is_default"], worker["flavor_id"]) \
        == ("worker", 2, True, "m1.small")
    assert groups["default-master"]["flavor_id"] == "m1.medium"
    assert worker["links"][0]["href"].endswith(url(cluster, "/" + worker["uuid"]))
    assert "next" not in body


def test_list_filters_by_role_and_pages(member, cluster, gpu):
    workers = member.get(url(cluster, "?role=worker"), status=200).json["nodegroups"]
    assert sorted(ng["name"] for ng in workers) == ["default-worker", "gpu"]
    page = member.get(url(cluster, "?limit=1&role=worker"), status=200).json
    assert len(page["nodegroups"]) == 1 and "role=worker" in page["next"]


def test_show_by_name_or_uuid_has_every_field(member, cluster, gpu):
    by_name = member.get(url(cluster, "/gpu"), status=200).json
    assert member.get(url(cluster, f"/{gpu.uuid}"), status=200).json == by_name
    assert (by_name["uuid"], by_name["cluster_id"], by_name["availability_zone"],
            by_name["server_type"], by_name["min_node_count"], by_name["max_node_count"]) == (
        gpu.uuid, cluster["uuid"], "az-1", "vm", 1, 5)
    assert {"labels_overridden", "labels_added", "labels_skipped", "node_labels",
            "node_taints", "status_reason", "node_addresses", "id"} <= set(by_name)


def test_node_labels_and_taints_are_shown_from_1_14(member, cluster, gpu):
    assert "node_labels" not in member.get(url(cluster, "/gpu"), headers=V1_13).json


def test_before_1_9_there_are_no_nodegroups(member, cluster):
    for response in (member.get(url(cluster), headers=V1_8, status=406),
                     member.post(url(cluster), {"name": "x"}, headers=V1_8, status=406)):
        assert "1.9" in error_of(response)["detail"]


def test_other_projects_get_404_and_readers_403_on_writes(member_b, reader, cluster, gpu, db,
                                                          casts):
    before = db_snapshot(db)
    for response in (member_b.get(url(cluster), status=404),
                     member_b.get(url(cluster, "/gpu"), status=404),
                     member_b.post(url(cluster), {"name": "x"}, status=404),
                     member_b.patch(url(cluster, "/gpu"), [{"op": "replace",
                                                           "path": "/node_count",
                                                           "value": 2}], status=404),
                     member_b.delete(url(cluster, "/gpu"), status=404)):
        error_of(response)
    assert reader.get(url(cluster, "/gpu"), status=200).json["name"] == "gpu"
    for response in (reader.post(url(cluster), {"name": "x"}, status=403),
                     reader.patch(url(cluster, "/gpu"), [{"op": "replace",
                                                         "path": "/node_count",
                                                         "value": 2}], status=403),
                     reader.delete(url(cluster, "/gpu"), status=403)):
        error_of(response)
    assert db_snapshot(db) == before and casts == []


def test_an_unknown_nodegroup_is_not_found(member, cluster):
    error_of(member.get(url(cluster, "/nope"), status=404))


def test_an_admin_sees_another_projects_nodegroups(admin, cluster, gpu):
    names = {ng["name"] for ng in admin.get(url(cluster), status=200).json["nodegroups"]}
    assert names == {"default-master", "default-worker", "gpu"}


# -- create -----------------------------------------------------------------------------------

def test_create_answers_202_with_the_group_and_starts_an_update(member, cluster, casts):
    response = member.post(url(cluster), {"name": "ng-a", "node_count": 2,
                                          "flavor_id": "m1.large",
                                          "labels": {"availability_zone": "az-2"},
                                          "merge_labels": True}, status=202)
    body = response.json
    assert (body["name"], body["status"], body["node_count"], body["flavor_id"],
            body["image_id"], body["availability_zone"], body["server_type"], body["role"],
            body["is_default"]) == ("ng-a", "CREATE_IN_PROGRESS", 2, "m1.large",
                                    "fedora-coreos-40", "az-2", "vm", "worker", False)
    assert body["labels"] == {"kube_tag": "v1.30.1", "availability_zone": "az-2"}
    assert body["labels_added"] == {"availability_zone": "az-2"}
    row = _groups(cluster["uuid"])["ng-a"]
    assert (row.uuid, row.availability_zone, row.project_id) == (
        body["uuid"], "az-2", cluster["project_id"])
    after = _cluster(cluster["uuid"])
    assert (after.status, after.version) == ("UPDATE_IN_PROGRESS", cluster["version"] + 1)
    assert casts == [("nodegroup_create", {"cluster_uuid": cluster["uuid"],
                                           "nodegroup_uuid": body["uuid"]})]
    events = [(e.event_type, e.status) for e in objects.ClusterEvent.list(_admin(),
                                                                          cluster["uuid"])]
    assert events[-1] == ("nodegroup.create", "UPDATE_IN_PROGRESS")


def test_create_defaults_come_from_the_cluster_and_template(member, cluster, casts):
    body = member.post(url(cluster), {"name": "plain"}, status=202).json
    assert (body["node_count"], body["min_node_count"], body["max_node_count"],
            body["flavor_id"], body["availability_zone"], body["server_type"],
            body["labels"]) == (1, 0, None, "m1.small", None, "vm", {"kube_tag": "v1.30.1"})


def test_an_explicit_zone_and_server_type_are_kept(member, cluster, casts):
    body = member.post(url(cluster), {"name": "metal", "availability_zone": "az-3",
                                      "server_type": "bm"}, status=202).json
    assert (body["availability_zone"], body["server_type"]) == ("az-3", "bm")


def test_zero_nodes_need_1_10(member, cluster, casts, db):
    before = db_snapshot(db)
    error = error_of(member.post(url(cluster), {"name": "z", "node_count": 0}, headers=V1_9,
                                 status=400))
    assert error["detail"].startswith("node_count:") and "1.10" in error["detail"]
    assert db_snapshot(db) == before
    assert member.post(url(cluster), {"name": "z", "node_count": 0},
                       status=202).json["node_count"] == 0


def test_node_labels_and_taints_from_1_14(member, cluster, casts):
    body = member.post(url(cluster), {
        "name": "tainted", "node_labels": {"gpu": "true"},
        "node_taints": ["dedicated=gpu:NoSchedule",
                        {"key": "spot", "value": "", "effect": "NoExecute"}]},
        status=202).json
    assert body["node_labels"] == {"gpu": "true"}
    assert body["node_taints"] == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                                   {"key": "spot", "value": "", "effect": "NoExecute"}]
    assert _groups(cluster["uuid"])["tainted"].node_taints == ["dedicated=gpu:NoSchedule",
                                                                "spot:NoExecute"]


def test_a_duplicate_name_is_a_409_and_changes_nothing(member, cluster, gpu, casts, db):
    before = db_snapshot(db)
    error = error_of(member.post(url(cluster), {"name": "gpu"}, status=409))
    assert "gpu" in error["detail"]
    assert db_snapshot(db) == before and casts == []


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
                                    "DELETE_IN_PROGRESS", "CREATE_FAILED"])
def test_a_cluster_that_cannot_be_updated_now_is_a_409(member, cluster, gpu, casts, db,
                                                       status):
    _set_status(cluster["uuid"], status)
    before = db_snapshot(db)
    error_of(member.post(url(cluster), {"name": "late"}, status=409))
    error_of(member.delete(url(cluster, "/gpu"), status=409))
    error_of(member.patch(url(cluster, "/gpu"), [{"op": "replace", "path": "/node_count",
                                                  "value": 4}], status=409))
    assert db_snapshot(db) == before and casts == []


BAD_CREATE = [
    ("no name", {"node_count": 1}, "name"),
    ("bad name", {"name": "1abc"}, "name"),
    ("unknown field", {"name": "a", "colour": "red"}, "colour"),
    ("master role", {"name": "a", "role": "master"}, "role"),
    ("negative count", {"name": "a", "node_count": -1}, "node_count"),
    ("count too large", {"name": "a", "node_count": 100000}, "node_count"),
    ("unknown flavor", {"name": "a", "flavor_id": "m9.huge"}, "flavor_id"),
    ("unknown image", {"name": "a", "image_id": "nope"}, "image_id"),
    ("image of another os", {"name": "a", "image_id": "ubuntu-22.04"}, "image_id"),
    ("bad server type", {"name": "a", "server_type": "container"}, "server_type"),
    ("empty zone", {"name": "a", "availability_zone": ""}, "availability_zone"),
    ("zone against label", {"name": "a", "availability_zone": "az-1",
                            "labels": {"availability_zone": "az-2"}}, "availability_zone"),
    ("labels no object", {"name": "a", "labels": ["x"]}, "labels"),
    ("volume of 0", {"name": "a", "docker_volume_size": 0}, "docker_volume_size"),
    ("volume on baremetal", {"name": "a", "server_type": "bm", "docker_volume_size": 10},
     "docker_volume_size"),
    ("node_labels no object", {"name": "a", "node_labels": "x=y"}, "node_labels"),
    ("taint without effect", {"name": "a", "node_taints": ["key=value"]}, "node_taints[0]"),
    ("taint of unknown effect", {"name": "a", "node_taints": ["k:Sometimes"]},
     "node_taints[0]"),
    ("taint object without key", {"name": "a", "node_taints": [{"effect": "NoSchedule"}]},
     "node_taints[0]"),
    ("taints no list", {"name": "a", "node_taints": {"k": "v"}}, "node_taints"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD_CREATE],
                         ids=[name for name, _, _ in BAD_CREATE])
def test_bad_create_input_is_a_400_naming_the_field_and_changes_nothing(
        member, cluster, casts, db, body, field):
    before = db_snapshot(db)
    error = error_of(member.post(url(cluster), body, status=400))
    assert error["detail"].startswith(f"{field}:"), error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


def test_node_labels_before_1_14_are_refused(member, cluster, casts, db):
    before = db_snapshot(db)
    error = error_of(member.post(url(cluster), {"name": "a", "node_labels": {"a": "b"}},
                                 headers=V1_13, status=400))
    assert error["detail"].startswith("node_labels:") and "1.14" in error["detail"]
    assert db_snapshot(db) == before


def test_a_conductor_pinned_below_1_3_refuses_create_and_delete(member, cluster, gpu, casts,
                                                                 db):
    NodeGroupRecorder.pinned_to_1_2 = True
    before = db_snapshot(db)
    assert "1.3" in error_of(member.post(url(cluster), {"name": "a"}, status=400))["detail"]
    error_of(member.delete(url(cluster, "/gpu"), status=400))
    assert db_snapshot(db) == before and casts == []


def test_a_failed_cast_fails_the_update_and_the_group_with_503(member, cluster, casts):
    CastRecorder.fail = True  # reset by the casts fixture
    error_of(member.post(url(cluster), {"name": "ng-a"}, status=503))
    assert _cluster(cluster["uuid"]).status == "UPDATE_FAILED"
    group = _groups(cluster["uuid"])["ng-a"]
    assert group.status == "CREATE_FAILED" and "conductor" in group.status_reason


# -- update -----------------------------------------------------------------------------------

def test_patch_of_node_count_resizes_the_group(member, cluster, gpu, casts):
    body = member.patch(url(cluster, "/gpu"), [{"op": "replace", "path": "/node_count",
                                                "value": 4}], status=202).json
    assert (body["status"], body["node_count"]) == ("CREATE_COMPLETE", 3)  # until it starts
    assert casts == [("cluster_update", {"cluster_uuid": cluster["uuid"], "node_count": 4,
                                         "rollback": False, "nodegroup_uuid": gpu.uuid})]
    assert _cluster(cluster["uuid"]).status == "UPDATE_IN_PROGRESS"


def test_patch_of_the_default_workers_travels_as_the_default(member, cluster, casts):
    member.patch(url(cluster, "/default-worker"), [{"op": "replace", "path": "/node_count",
                                                    "value": 3}], status=202)
    assert casts == [("cluster_update", {"cluster_uuid": cluster["uuid"], "node_count": 3,
                                         "rollback": False})]


def test_patch_of_the_bounds_only_changes_the_row(member, cluster, gpu, casts):
    body = member.patch(url(cluster, "/gpu"), [
        {"op": "replace", "path": "/min_node_count", "value": 2},
        {"op": "remove", "path": "/max_node_count"}], status=202).json
    assert (body["min_node_count"], body["max_node_count"]) == (2, None)
    assert casts == []
    assert _cluster(cluster["uuid"]).status == "CREATE_COMPLETE"


def test_patch_of_node_labels_and_taints_as_python_magnumclient_sends_them(member, cluster,
                                                                           gpu, casts):
    body = member.patch(url(cluster, "/gpu"), [
        {"op": "replace", "path": "/node_labels", "value": "{'disk': 'ssd'}"},
        {"op": "replace", "path": "/node_taints",
         "value": "[{'key': 'k', 'value': 'v', 'effect': 'NoSchedule'}]"}], status=202).json
    assert body["node_labels"] == {"disk": "ssd"}
    assert _groups(cluster["uuid"])["gpu"].node_taints == ["k=v:NoSchedule"]
    assert casts == []


BAD_PATCH = [
    ("other field", [{"op": "replace", "path": "/flavor_id", "value": "m1.large"}],
     "flavor_id"),
    ("count removed", [{"op": "remove", "path": "/node_count"}], "node_count"),
    ("count no integer", [{"op": "replace", "path": "/node_count", "value": "many"}],
     "node_count"),
    ("bad taint", [{"op": "replace", "path": "/node_taints", "value": "['x']"}],
     "node_taints[0]"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD_PATCH],
                         ids=[name for name, _, _ in BAD_PATCH])
def test_bad_patch_is_a_400_naming_the_field_and_changes_nothing(member, cluster, gpu, casts,
                                                                 db, body, field):
    before = db_snapshot(db)
    error = error_of(member.patch(url(cluster, "/gpu"), body, status=400))
    assert error["detail"].startswith(f"{field}:"), error["detail"]
    assert db_snapshot(db) == before and casts == []


# Counts outside a nodegroup's bounds: Magnum's NodeGroupInvalidInput, a 409 whose message
# starts with the field Magnum names ("max_node_count for gpu is invalid (...)").
BOUNDS_CREATE = [
    ("min above max", {"name": "a", "min_node_count": 4, "max_node_count": 2,
                       "node_count": 3}, "max_node_count"),
    ("count above max", {"name": "a", "node_count": 6, "max_node_count": 5}, "max_node_count"),
    ("count below min", {"name": "a", "node_count": 1, "min_node_count": 2}, "min_node_count"),
]
BOUNDS_PATCH = [
    ("count above max", [{"op": "replace", "path": "/node_count", "value": 6}],
     "max_node_count"),
    ("count below min", [{"op": "replace", "path": "/node_count", "value": 0}],
     "min_node_count"),
    ("min above max", [{"op": "replace", "path": "/min_node_count", "value": 6}],
     "max_node_count"),
    ("max below count", [{"op": "replace", "path": "/max_node_count", "value": 2}],
     "max_node_count"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BOUNDS_CREATE],
                         ids=[name for name, _, _ in BOUNDS_CREATE])
def test_counts_out_of_bounds_at_create_are_magnum_s_409(member, cluster, casts, db, body,
                                                          field):
    before = db_snapshot(db)
    error = error_of(member.post(url(cluster), body, status=409))
    assert error["detail"].startswith(f"{field} for a is invalid ("), error["detail"]
    assert casts == [] and db_snapshot(db) == before


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BOUNDS_PATCH],
                         ids=[name for name, _, _ in BOUNDS_PATCH])
def test_counts_out_of_bounds_in_a_patch_are_magnum_s_409(member, cluster, gpu, casts, db,
                                                           body, field):
    before = db_snapshot(db)
    error = error_of(member.patch(url(cluster, "/gpu"), body, status=409))
    assert error["detail"].startswith(f"{field} for gpu is invalid ("), error["detail"]
    assert casts == [] and db_snapshot(db) == before


def test_masters_cannot_be_resized(member, cluster, casts, db):
    before = db_snapshot(db)
    error = error_of(member.patch(url(cluster, "/default-master"), [
        {"op": "replace", "path": "/node_count", "value": 3}], status=400))
    assert error["detail"].startswith("node_count:")
    assert db_snapshot(db) == before


# -- delete -----------------------------------------------------------------------------------

def test_delete_answers_204_and_starts_removing_the_group(member, cluster, gpu, casts):
    member.delete(url(cluster, "/gpu"), status=204)
    assert _groups(cluster["uuid"])["gpu"].status == "DELETE_IN_PROGRESS"
    after = _cluster(cluster["uuid"])
    assert (after.status, after.version) == ("UPDATE_IN_PROGRESS", cluster["version"] + 1)
    assert casts == [("nodegroup_delete", {"cluster_uuid": cluster["uuid"],
                                           "nodegroup_uuid": gpu.uuid})]
    # Asked again while it goes: nothing more happens.
    member.delete(url(cluster, f"/{gpu.uuid}"), status=204)
    assert len(casts) == 1


@pytest.mark.parametrize("name", ["default-worker", "default-master"])
def test_deleting_a_default_group_is_refused(member, cluster, casts, db, name):
    before = db_snapshot(db)
    error = error_of(member.delete(url(cluster, f"/{name}"), status=400))
    assert name in error["detail"] and "default" in error["detail"]
    assert db_snapshot(db) == before and casts == []
