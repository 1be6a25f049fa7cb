"""/v1/clusters: the API writes the intent and casts; the conductor does the work."""

import pytest

from magnum_lite import objects
from magnum_lite.api.controllers.v1 import clusters as clusters_api
from magnum_lite.common import context as ctx
from magnum_lite.common import exception
from tests.unit.api.conftest import CastRecorder, error_of

URL = "/v1/clusters"
V1_12 = {"OpenStack-API-Version": "container-infra 1.12"}


def _admin_context():
    return ctx.get_admin_context()


def _events(uuid):
    return [e.event_type for e in objects.ClusterEvent.list(_admin_context(), uuid)]


def test_create_answers_202_with_the_uuid_and_casts(member, template, casts):
    response = member.post(URL, {"name": "c1", "cluster_template_id": template["uuid"],
                                 "node_count": 3, "master_count": 1}, status=202)
    assert set(response.json) == {"uuid"}
    uuid = response.json["uuid"]
    assert casts == [("cluster_create", {"cluster_uuid": uuid, "create_timeout": 60})]

    cluster = objects.Cluster.get_by_uuid(_admin_context(), uuid)
    assert cluster.status == "CREATE_IN_PROGRESS"
    assert cluster.version == 1
    assert (cluster.node_count, cluster.master_count) == (3, 1)
    assert cluster.project_id == "project-a" and cluster.user_id == "user-1"
    groups = {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(_admin_context(),
                                                                        [uuid])}
    assert set(groups) == {"default-master", "default-worker"}
    master, worker = groups["default-master"], groups["default-worker"]
    assert (master.role, master.node_count, master.is_default) == ("master", 1, True)
    assert (worker.role, worker.node_count, worker.is_default) == ("worker", 3, True)
    assert (master.flavor_id, worker.flavor_id) == ("m1.medium", "m1.small")
    assert _events(uuid) == ["cluster.create"]


def test_a_cluster_inherits_what_it_does_not_set_from_its_template(member, template):
    uuid = member.post(URL, {"cluster_template_id": "k8s"}, status=202).json["uuid"]
    shown = member.get(f"{URL}/{uuid}", status=200).json
    assert shown["cluster_template_id"] == template["uuid"]
    assert shown["keypair"] == "mykey"
    assert shown["flavor_id"] == "m1.small" and shown["master_flavor_id"] == "m1.medium"
    assert shown["labels"] == {"kube_tag": "v1.30.1"}
    assert shown["floating_ip_enabled"] is True and shown["master_lb_enabled"] is False
    assert shown["create_timeout"] == 60
    assert (shown["node_count"], shown["master_count"]) == (1, 1)
    # The name comes from the template's.
    assert shown["name"].startswith("k8s-")


def test_given_values_override_the_template_and_labels_may_merge(member, template):
    body = {"cluster_template_id": "k8s", "keypair": "otherkey", "flavor_id": "m1.large",
            "labels": {"a": "1"}, "merge_labels": True, "create_timeout": 0,
            "floating_ip_enabled": False, "docker_volume_size": 10}
    uuid = member.post(URL, body, status=202).json["uuid"]
    shown = member.get(f"{URL}/{uuid}", status=200).json
    assert shown["keypair"] == "otherkey" and shown["flavor_id"] == "m1.large"
    assert shown["labels"] == {"kube_tag": "v1.30.1", "a": "1"}
    assert shown["labels_added"] == {"a": "1"}
    assert shown["labels_overridden"] == {} and shown["labels_skipped"] == {}
    assert shown["create_timeout"] == 0
    assert shown["floating_ip_enabled"] is False and shown["docker_volume_size"] == 10


def test_labels_without_merge_replace_the_templates(member, template):
    body = {"cluster_template_id": "k8s", "labels": {"kube_tag": "v1.31.0"}}
    uuid = member.post(URL, body, status=202).json["uuid"]
    shown = member.get(f"{URL}/{uuid}", status=200).json
    assert shown["labels"] == {"kube_tag": "v1.31.0"}
    assert shown["labels_overridden"] == {"kube_tag": "v1.30.1"}


def test_show_lists_and_detail(member, cluster):
    assert cluster["status"] == "CREATE_COMPLETE"
    assert cluster["links"][0]["href"] == f"http://localhost/v1/clusters/{cluster['uuid']}"
    assert cluster["driver_id"] is None and cluster["version"] == 1
    assert cluster["faults"] == {}
    listed = member.get(URL, status=200).json["clusters"]
    assert [c["uuid"] for c in listed] == [cluster["uuid"]]
    assert set(listed[0]) == {"uuid", "name", "cluster_template_id", "keypair",
                              "docker_volume_size", "labels", "node_count", "status",
                              "master_flavor_id", "flavor_id", "create_timeout",
                              "master_count", "health_status", "cluster_id", "links"}
    detailed = member.get(f"{URL}/detail", status=200).json["clusters"][0]
    assert {k: v for k, v in detailed.items() if k != "faults"} == {
        k: v for k, v in cluster.items() if k != "faults"}
    assert member.get(f"{URL}/c1", status=200).json["uuid"] == cluster["uuid"]


def test_the_stack_is_stack_id_before_1_13_and_cluster_id_from_it(member, cluster):
    old = member.get(f"{URL}/c1", headers=V1_12, status=200).json
    assert "stack_id" in old and "cluster_id" not in old
    new = member.get(f"{URL}/c1", status=200).json
    assert "cluster_id" in new and "stack_id" not in new
    assert "stack_id" in member.get(URL, headers=V1_12, status=200).json["clusters"][0]


def test_python_magnumclient_ignores_fields_it_does_not_know(member, cluster):
    from magnumclient.v1 import clusters as client_clusters

    resource = client_clusters.Cluster(None, member.get(f"{URL}/c1", status=200).json,
                                       loaded=True)
    assert resource.driver_version is None and resource.version == 1
    assert resource.uuid == cluster["uuid"]


def test_faults_name_the_failed_nodegroups(member, cluster):
    context = _admin_context()
    for ng in objects.NodeGroup.list_for_clusters(context, [cluster["uuid"]]):
        if ng.role == "worker":
            ng.status = "CREATE_FAILED"
            ng.status_reason = "Quota exceeded for instances"
            ng.save()

    def fail(c):
        c.status = "CREATE_FAILED"

    objects.Cluster.update_with_retry(context, cluster["uuid"], fail)
    shown = member.get(f"{URL}/c1", status=200).json
    assert shown["faults"] == {"default-worker": "Quota exceeded for instances"}


def test_pages_of_clusters_follow_next_links(member, template):
    uuids = [member.post(URL, {"name": f"c{i}", "cluster_template_id": "k8s"},
                         status=202).json["uuid"] for i in range(3)]
    first = member.get(f"{URL}?limit=2", status=200).json
    assert [c["uuid"] for c in first["clusters"]] == uuids[:2]
    second = member.get(first["next"][len("http://localhost"):], status=200).json
    assert [c["uuid"] for c in second["clusters"]] == uuids[2:]
    assert "next" not in second


def test_a_list_page_of_clusters_is_two_queries(member, template, db):
    import sqlalchemy as sa

    for i in range(3):
        member.post(URL, {"name": f"c{i}", "cluster_template_id": "k8s"}, status=202)
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        member.get(URL, status=200)
    finally:
        sa.event.remove(db, "before_cursor_execute", count)
    assert len(statements) == 2, statements


def test_quota_limits_the_clusters_of_a_project(member, template, config, casts):
    config.set_override("max_clusters_per_project", 1, group="quotas")
    member.post(URL, {"cluster_template_id": "k8s"}, status=202)
    error = error_of(member.post(URL, {"cluster_template_id": "k8s"}, status=403))
    assert "maximum clusters per project, 1" in error["detail"]
    assert len(casts) == 1


def test_a_quota_row_overrides_the_default(member, admin, template):
    admin.post("/v1/quotas", {"project_id": "project-a", "resource": "Cluster",
                              "hard_limit": 0}, status=201)
    error_of(member.post(URL, {"cluster_template_id": "k8s"}, status=403))
    admin.patch("/v1/quotas/project-a/Cluster", {"hard_limit": -1}, status=202)
    member.post(URL, {"cluster_template_id": "k8s"}, status=202)


def test_an_unknown_template_is_a_bad_request_naming_the_field(member, casts):
    error = error_of(member.post(URL, {"cluster_template_id": "nope"}, status=400))
    assert error["detail"].startswith("cluster_template_id:")
    assert casts == []


def test_another_projects_template_is_not_found(member_b, template):
    error = error_of(member_b.post(URL, {"cluster_template_id": template["uuid"]}, status=400))
    assert error["detail"].startswith("cluster_template_id:")


def test_unknown_flavors_keypairs_and_networks_are_refused_as_magnum_does(member, template,
                                                                          casts):
    """Magnum's answers: KeyPairNotFound 404, FlavorNotFound, FixedNetworkNotFound and
    FixedSubnetNotFound 400, each message after the field at fault."""
    for field, value, status, message in (
            ("keypair", "nokey", 404, "Unable to find keypair nokey."),
            ("flavor_id", "m9.huge", 400, "Unable to find flavor m9.huge."),
            ("master_flavor_id", "m9.huge", 400, "Unable to find flavor m9.huge."),
            ("fixed_network", "nonet", 400, "Unable to find fixed network nonet."),
            ("fixed_subnet", "nosubnet", 400, "Unable to find fixed subnet nosubnet.")):
        error = error_of(member.post(URL, {"cluster_template_id": "k8s", field: value},
                                     status=status))
        assert error["detail"] == f"{field}: {message}"
    assert casts == [] and member.get(URL, status=200).json["clusters"] == []


def test_several_masters_need_a_load_balancer(member, template):
    error = error_of(member.post(URL, {"cluster_template_id": "k8s", "master_count": 3},
                                 status=400))
    assert error["detail"].startswith("master_count:")
    member.post(URL, {"cluster_template_id": "k8s", "master_count": 3,
                      "master_lb_enabled": True}, status=202)


def test_zero_workers_need_version_1_10(member, template):
    old = {"OpenStack-API-Version": "container-infra 1.9"}
    error = error_of(member.post(URL, {"cluster_template_id": "k8s", "node_count": 0},
                                 headers=old, status=400))
    assert error["detail"].startswith("node_count:")
    member.post(URL, {"cluster_template_id": "k8s", "node_count": 0}, status=202)


def test_limits_are_enforced(member, template):
    for body in ({"master_count": 0}, {"node_count": -1},
                 {"node_count": clusters_api.MAX_NODE_COUNT + 1},
                 {"master_count": clusters_api.MAX_MASTER_COUNT + 1},
                 {"create_timeout": -1}, {"create_timeout": clusters_api.MAX_CREATE_TIMEOUT + 1}):
        error = error_of(member.post(URL, {"cluster_template_id": "k8s", **body}, status=400))
        assert error["detail"].startswith(f"{next(iter(body))}:")


@pytest.mark.parametrize("name", ["k8s.v1", "a", "A-b_c.d", "x" * 242])
def test_valid_cluster_names(member, template, name):
    uuid = member.post(URL, {"name": name, "cluster_template_id": "k8s"},
                       status=202).json["uuid"]
    assert member.get(f"{URL}/{name}", status=200).json["uuid"] == uuid


@pytest.mark.parametrize("name", ["1abc", "-abc", "a b", "a/b", "é", "x" * 243, ""])
def test_invalid_cluster_names(member, template, name):
    error = error_of(member.post(URL, {"name": name, "cluster_template_id": "k8s"},
                                 status=400))
    assert error["detail"].startswith("name:")


def test_a_failed_cast_fails_the_cluster_with_the_reason(member, template, casts):
    CastRecorder.fail = True
    error = error_of(member.post(URL, {"name": "c1", "cluster_template_id": "k8s"},
                                 status=503))
    assert "conductor" in error["detail"]
    (cluster,) = objects.Cluster.list(_admin_context())
    assert cluster.status == "CREATE_FAILED"
    assert "conductor" in cluster.status_reason
    assert _events(cluster.uuid) == ["cluster.create", "cluster.create.failed"]


# Update


def _resize(client, ident, node_count, **kwargs):
    return client.patch(f"{URL}/{ident}", [{"op": "replace", "path": "/node_count",
                                           "value": node_count}], **kwargs)


def test_update_resizes_the_default_workers(member, cluster, casts):
    response = _resize(member, cluster["uuid"], 5, status=202)
    assert response.json == {"uuid": cluster["uuid"]}
    assert casts == [("cluster_update", {"cluster_uuid": cluster["uuid"], "node_count": 5,
                                         "rollback": False})]
    updated = objects.Cluster.get_by_uuid(_admin_context(), cluster["uuid"])
    assert updated.status == "UPDATE_IN_PROGRESS" and updated.version == 2
    # The create's start and end (the fixture), then the update's start.
    assert _events(cluster["uuid"]) == ["cluster.create", "cluster.create", "cluster.update"]


def test_update_passes_rollback_from_1_3(member, cluster, casts):
    member.patch(f"{URL}/c1/?rollback=True", [{"op": "replace", "path": "/node_count",
                                               "value": 2}], status=202)
    assert casts[-1][1]["rollback"] is True
    old = {"OpenStack-API-Version": "container-infra 1.2"}
    error = error_of(member.patch(f"{URL}/c1?rollback=True", [
        {"op": "replace", "path": "/node_count", "value": 2}], headers=old, status=400))
    assert error["detail"].startswith("rollback:")


@pytest.mark.parametrize("field", ["name", "master_count", "labels", "keypair", "status"])
def test_only_node_count_can_be_updated(member, cluster, casts, field):
    error = error_of(member.patch(f"{URL}/c1", [{"op": "replace", "path": f"/{field}",
                                                 "value": "x"}], status=400))
    assert error["detail"].startswith(f"{field}:")
    assert casts == []


def test_a_cluster_being_changed_cannot_be_updated(member, template, casts):
    uuid = member.post(URL, {"cluster_template_id": "k8s"}, status=202).json["uuid"]
    error = error_of(_resize(member, uuid, 2, status=409))
    assert "CREATE_IN_PROGRESS" in error["detail"]
    assert len(casts) == 1


def test_a_racing_write_is_a_conflict(member, cluster, monkeypatch, casts):
    def lost_race(self, context=None, **transition):
        raise exception.ConcurrentUpdate(resource="Cluster", uuid=self.uuid)

    monkeypatch.setattr(objects.Cluster, "save", lost_race)
    error = error_of(_resize(member, cluster["uuid"], 4, status=409))
    assert cluster["uuid"] in error["detail"]
    assert casts == []


def test_update_of_an_unknown_cluster_is_not_found(member, template):
    error_of(_resize(member, "nope", 2, status=404))


# Delete


def test_delete_marks_the_cluster_and_casts(member, cluster, casts):
    assert member.delete(f"{URL}/{cluster['uuid']}", status=204).body == b""
    assert casts == [("cluster_delete", {"cluster_uuid": cluster["uuid"]})]
    deleting = objects.Cluster.get_by_uuid(_admin_context(), cluster["uuid"])
    assert deleting.status == "DELETE_IN_PROGRESS" and deleting.version == 2
    assert _events(cluster["uuid"]) == ["cluster.create", "cluster.create", "cluster.delete"]


def test_deleting_a_cluster_being_deleted_drives_its_delete_again(member, cluster, casts):
    member.delete(f"{URL}/c1", status=204)
    operation = objects.Cluster.get_by_uuid(_admin_context(), cluster["uuid"]).operation_uuid
    member.delete(f"{URL}/c1", status=204)
    # The same operation, cast again (its conductor deletes what is left once more); no
    # new version, no new event.
    assert casts == [("cluster_delete", {"cluster_uuid": cluster["uuid"]})] * 2
    again = objects.Cluster.get_by_uuid(_admin_context(), cluster["uuid"])
    assert (again.version, again.operation_uuid) == (2, operation)
    assert _events(cluster["uuid"]) == ["cluster.create", "cluster.create", "cluster.delete"]


def test_a_delete_asked_again_without_a_conductor_is_503_and_the_delete_goes_on(
        member, cluster, casts):
    from tests.unit.api.conftest import CastRecorder
    member.delete(f"{URL}/c1", status=204)
    CastRecorder.fail = True
    error = error_of(member.delete(f"{URL}/c1", status=503))
    assert "conductor" in error["detail"]
    still = objects.Cluster.get_by_uuid(_admin_context(), cluster["uuid"])
    assert (still.status, still.status_reason) == ("DELETE_IN_PROGRESS", None)


def test_delete_of_an_unknown_cluster_is_not_found(member):
    error_of(member.delete(f"{URL}/d8a3e2b4-0c43-4a7e-8c9e-6a7cf1d1a3c1", status=404))


def test_delete_of_the_collection_is_not_allowed(member):
    response = member.delete(URL, status=405)
    error_of(response)


# Policy and projects


def test_readers_see_clusters_but_cannot_change_them(reader, cluster, casts):
    assert reader.get(f"{URL}/c1", status=200).json["uuid"] == cluster["uuid"]
    error_of(reader.post(URL, {"cluster_template_id": "k8s"}, status=403))
    error_of(_resize(reader, "c1", 3, status=403))
    error_of(reader.delete(f"{URL}/c1", status=403))
    assert casts == []


def test_another_project_sees_nothing_of_a_cluster(member_b, cluster, casts):
    assert member_b.get(URL, status=200).json["clusters"] == []
    assert member_b.get(f"{URL}/detail", status=200).json["clusters"] == []
    for response in (member_b.get(f"{URL}/{cluster['uuid']}", status=404),
                     member_b.get(f"{URL}/c1", status=404),
                     _resize(member_b, cluster["uuid"], 3, status=404),
                     member_b.delete(f"{URL}/{cluster['uuid']}", status=404)):
        error_of(response)
    assert casts == []


def test_admins_see_every_project(admin, cluster, casts):
    assert [c["uuid"] for c in admin.get(URL, status=200).json["clusters"]] == [
        cluster["uuid"]]
    admin.delete(f"{URL}/{cluster['uuid']}", status=204)
    assert casts[-1][0] == "cluster_delete"


def test_the_drivers_own_refusal_is_a_400_and_stores_nothing(member, casts, db):
    """A COE with a quorum refuses an even master count before anything is stored."""
    from magnum_lite.drivers.swarm_fedora_v2 import driver as swarm
    from tests.unit.api.conftest import db_snapshot
    from tests.unit.drivers import fake_plugin

    fake_plugin.install(swarm_fedora_v2=swarm.SwarmFedoraV2)
    member.post("/v1/clustertemplates", {
        "name": "swarm", "coe": "swarm-mode", "image_id": "plain-image",
        "cluster_distro": "fedora", "flavor_id": "m1.small", "external_network_id": "public",
        "master_lb_enabled": True}, status=201)
    before = db_snapshot(db)
    error = error_of(member.post(URL, {"cluster_template_id": "swarm", "master_count": 2},
                                 status=400))
    assert error["detail"].startswith("master_count: swarm-mode needs an odd number")
    assert db_snapshot(db) == before and casts == []
    member.post(URL, {"cluster_template_id": "swarm", "master_count": 3}, status=202)


@pytest.mark.parametrize(("override", "field"), [
    ({"docker_volume_size": 10}, "docker_volume_size"),
    ({"floating_ip_enabled": True}, "floating_ip_enabled"),
])
def test_a_baremetal_cluster_s_overrides_are_refused_and_store_nothing(member, casts, db,
                                                                       override, field):
    """The template was fine; a cluster asking for a volume or floating IPs on baremetal is
    refused by the plugin's validate_cluster (HeatDriver's shared check)."""
    from magnum_lite.drivers.k8s_ubuntu_v1 import driver as k8s
    from tests.unit.api.conftest import db_snapshot
    from tests.unit.drivers import fake_plugin

    fake_plugin.install(k8s_ubuntu_v1=k8s.K8sUbuntuV1)
    member.post("/v1/clustertemplates", {
        "name": "k8s-bm", "coe": "kubernetes", "image_id": "ubuntu-22.04",
        "server_type": "bm", "fixed_network": "private", "floating_ip_enabled": False,
        "flavor_id": "m1.small", "external_network_id": "public"}, status=201)
    before = db_snapshot(db)
    error = error_of(member.post(URL, {"cluster_template_id": "k8s-bm", **override},
                                 status=400))
    assert error["detail"].startswith(f"{field}: ")
    assert db_snapshot(db) == before and casts == []
    member.post(URL, {"cluster_template_id": "k8s-bm"}, status=202)
