"""`dry_run` (1.17+) on POST /v1/clusters and on the resize action: 200 with what the driver
would build or change, nothing stored; the upgrade's dry run is in test_cluster_upgrade.py."""

from __future__ import annotations

from typing import Any

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from tests.unit.api.conftest import CastRecorder, db_snapshot, error_of, record_status
from tests.unit.drivers import fake_plugin

URL = "/v1/clusters"
V1_16 = {"OpenStack-API-Version": "container-infra 1.16"}


@pytest.fixture
def driver_calls(plugins) -> list:
    """What the fake driver plugin was asked, from now on."""
    fake_plugin.FakeDriver.calls = []
    yield fake_plugin.FakeDriver.calls
    fake_plugin.FakeDriver.reset()


def _refused(client: Any, db: Any, casts: list, url: str, body: Any, status: int,
             **kwargs: Any) -> dict:
    before = db_snapshot(db)
    error = error_of(client.post(url, body, status=status, **kwargs))
    assert db_snapshot(db) == before
    assert casts == []
    return error


# -- create ------------------------------------------------------------------------------------

def test_a_create_s_dry_run_answers_what_would_be_built_and_stores_nothing(
        member, template, casts, db, driver_calls):
    before = db_snapshot(db)
    response = member.post(URL, {"name": "c1", "cluster_template_id": "k8s", "node_count": 2,
                                 "dry_run": True}, status=200)
    assert db_snapshot(db) == before  # no cluster, nodegroup, operation, event or CA
    assert response.json == {
        "name": "c1", "dry_run": True, "cluster_template_id": template["uuid"],
        "driver_id": None, "driver_version": None,
        "nodegroups": [
            {"name": "default-master", "role": "master", "node_count": 1,
             "flavor_id": "m1.medium", "image_id": "fedora-coreos-40"},
            {"name": "default-worker", "role": "worker", "node_count": 2,
             "flavor_id": "m1.small", "image_id": "fedora-coreos-40"}],
        "preview": {}}
    [(method, sent)] = casts
    assert method == "cluster_create_dry_run"
    assert sent["cluster_fields"]["name"] == "c1"
    assert [(ng["name"], ng["node_count"], ng["is_default"]) for ng in sent["nodegroups"]] \
        == [("default-master", 1, True), ("default-worker", 2, True)]
    [(name, asked)] = driver_calls
    assert name == "create_dry_run"
    assert asked["nodegroups"] == [("default-master", 1), ("default-worker", 2)]
    # The nodes' user data is rendered with CAs made for the dry run (then dropped).
    assert asked["ca_kinds"] == ["ca", "etcd", "front_proxy"]


def test_a_create_s_dry_run_is_pinned_as_the_create_would_be(member, admin, casts):
    admin.post("/v1/drivers", {"name": "prod", "plugin_name": "every_coe"},
               headers={"OpenStack-API-Version": "container-infra 1.15"}, status=201)
    member.post("/v1/clustertemplates", {
        "name": "k8s-prod", "coe": "kubernetes", "image_id": "fedora-coreos-40",
        "external_network_id": "public", "driver": "prod"}, status=201)
    answer = member.post(URL, {"cluster_template_id": "k8s-prod", "dry_run": True},
                         status=200).json
    assert answer["driver_version"] == 1 and answer["driver_id"]
    assert answer["name"].startswith("k8s-prod-")


def test_a_dry_run_shows_no_properties_parameters_or_user_data(member, template, casts,
                                                               monkeypatch):
    """A cloud's preview holds the nodes' rendered user data (their credentials): only the
    names, types and counts reach the caller."""
    monkeypatch.setattr(fake_plugin.FakeDriver, "preview", {
        "c1-stack": {"stack_name": "c1-stack", "id": "None", "timeout_mins": 60,
                     "parameters": {"master_user_data": "******"},
                     "resources": [
                         {"resource_name": "server", "resource_type": "OS::Nova::Server",
                          "properties": {"user_data": "-----BEGIN PRIVATE KEY-----"},
                          "description": "secret in prose"},
                         [{"resource_name": "masters", "resource_type":
                           "OS::Heat::ResourceGroup"}, [{"resource_name": "0"}]]]}})
    answer = member.post(URL, {"name": "c1", "cluster_template_id": "k8s", "dry_run": True},
                         status=200).json
    assert answer["preview"] == {"c1-stack": {
        "stack_name": "c1-stack", "timeout_mins": 60,
        "resources": [{"resource_name": "server", "resource_type": "OS::Nova::Server"},
                      [{"resource_name": "masters", "resource_type": "OS::Heat::ResourceGroup"},
                       [{"resource_name": "0"}]]]}}
    assert "PRIVATE KEY" not in str(answer) and "secret" not in str(answer)


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"cluster_template_id": "nope"}, 400, "cluster_template_id"),
    ({"cluster_template_id": "k8s", "keypair": "nope"}, 404, "keypair"),
    ({"cluster_template_id": "k8s", "master_count": 2}, 400, "master_count"),
    ({"cluster_template_id": "k8s", "flavor": "x"}, 400, "flavor"),
    ({"cluster_template_id": "k8s", "dry_run": "perhaps"}, 400, "dry_run"),
])
def test_a_create_s_dry_run_makes_the_create_s_refusals(member, template, casts, db, body,
                                                        status, field):
    error = _refused(member, db, casts, URL, {**body, "dry_run": body.get("dry_run", True)},
                     status)
    assert error["detail"].startswith(f"{field}:"), error["detail"]


def test_a_create_s_dry_run_checks_the_quota_and_uses_none(member, template, config, casts):
    config.set_override("max_clusters_per_project", 1, group="quotas")
    member.post(URL, {"cluster_template_id": "k8s", "dry_run": True}, status=200)
    member.post(URL, {"cluster_template_id": "k8s", "dry_run": True}, status=200)
    member.post(URL, {"cluster_template_id": "k8s"}, status=202)
    casts.clear()
    error = error_of(member.post(URL, {"cluster_template_id": "k8s", "dry_run": True},
                                 status=403))
    assert "maximum clusters" in error["detail"] and casts == []


def test_dry_run_below_1_17_is_a_400_naming_it(member, template, casts, db):
    for value in (True, False):
        error = _refused(member, db, casts, URL, {"cluster_template_id": "k8s",
                                                  "dry_run": value}, 400, headers=V1_16)
        assert error["detail"] == "dry_run: needs API version 1.17 or newer."
    member.post(URL, {"cluster_template_id": "k8s", "dry_run": None}, status=202,
                headers=V1_16)


def test_a_create_s_dry_run_needs_conductors_of_rpc_1_5(member, template, casts, db,
                                                        monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_4", True)
    error = _refused(member, db, casts, URL, {"cluster_template_id": "k8s", "dry_run": True},
                     400)
    assert "1.5" in error["detail"]


def test_a_create_s_dry_run_answers_the_driver_s_refusal(member, template, casts, db,
                                                        monkeypatch):
    from magnum_lite.common import exception

    monkeypatch.setattr(fake_plugin.FakeDriver, "fail_with", exception.CloudError(
        service="Heat", reason="Maximum resources per stack exceeded."))
    before = db_snapshot(db)
    error = error_of(member.post(URL, {"cluster_template_id": "k8s", "dry_run": True},
                                 status=502))
    assert "Maximum resources per stack exceeded" in error["detail"]
    assert db_snapshot(db) == before


# -- resize ------------------------------------------------------------------------------------

def _resize(client: Any, ident: str, body: Any, **kwargs: Any):
    return client.post(f"{URL}/{ident}/actions/resize", body, **kwargs)


def _nodegroups(uuid: str) -> dict[str, objects.NodeGroup]:
    admin = ctx.get_admin_context()
    return {ng.name: ng for ng in objects.NodeGroup.list_for_clusters(admin, [uuid])}


def test_a_resize_s_dry_run_answers_what_would_change_and_changes_nothing(
        member, cluster, casts, db, driver_calls, monkeypatch):
    monkeypatch.setattr(fake_plugin.FakeDriver, "preview", {
        "chunks_before": [2], "chunks_after": [1],
        "stacks": {"c1-ng-worker-0": {"deleted": [{"resource_name": "1",
                                                   "parent_resource": "nodes"}],
                                      "unchanged": [{"resource_name": "0",
                                                     "parent_resource": "nodes"}]}}})
    worker = _nodegroups(cluster["uuid"])["default-worker"]
    before = db_snapshot(db)
    response = _resize(member, "c1", {"node_count": 1, "nodes_to_remove": ["c1-node-1"],
                                      "dry_run": True}, status=200)
    assert db_snapshot(db) == before
    assert response.json == {
        "uuid": cluster["uuid"], "dry_run": True, "nodegroup_uuid": worker.uuid,
        "node_count": 1, "nodes_to_remove": ["c1-node-1"],
        "preview": {"chunks_before": [2], "chunks_after": [1], "stacks": {
            "c1-ng-worker-0": {
                "deleted": [{"resource_name": "1", "parent_resource": "nodes"}],
                "unchanged": [{"resource_name": "0", "parent_resource": "nodes"}]}}}}
    assert casts == [("cluster_resize_dry_run", {
        "cluster_uuid": cluster["uuid"], "nodegroup_uuid": worker.uuid, "node_count": 1,
        "nodes_to_remove": ["c1-node-1"]})]
    assert driver_calls == [("update_dry_run", {
        "config": {"flavor": "m1.small"}, "cluster": cluster["uuid"], "nodegroup": worker.uuid,
        "node_count": 1, "nodes_to_remove": ["c1-node-1"]})]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"node_count": -1}, 400, "node_count"),
    ({"node_count": 2, "nodegroup": "default-master"}, 400, "nodegroup"),
    ({"node_count": 2, "nodegroup": "nope"}, 404, "nodegroup"),
    ({"node_count": 3, "nodes_to_remove": ["a"]}, 400, "nodes_to_remove"),
    ({"node_count": 2, "dry_run": 2}, 400, "dry_run"),
])
def test_a_resize_s_dry_run_makes_the_resize_s_refusals(member, cluster, casts, db, body,
                                                        status, field):
    error = _refused(member, db, casts, f"{URL}/c1/actions/resize",
                     {"dry_run": True, **body}, status)
    assert error["detail"].startswith(f"{field}:"), error["detail"]


def test_a_resize_s_dry_run_during_another_operation_is_the_resize_s_409(member, cluster,
                                                                        casts, db):
    _resize(member, "c1", {"node_count": 3}, status=202)
    casts.clear()
    error = _refused(member, db, casts, f"{URL}/c1/actions/resize",
                     {"node_count": 4, "dry_run": True}, 409)
    assert "UPDATE_IN_PROGRESS" in error["detail"]
    record_status(cluster["uuid"], "UPDATE_COMPLETE")
    _resize(member, "c1", {"node_count": 4, "dry_run": True}, status=200)


def test_a_resize_s_dry_run_below_1_17_is_a_400(member, cluster, casts, db):
    error = _refused(member, db, casts, f"{URL}/c1/actions/resize",
                     {"node_count": 3, "dry_run": True}, 400, headers=V1_16)
    assert error["detail"] == "dry_run: needs API version 1.17 or newer."
