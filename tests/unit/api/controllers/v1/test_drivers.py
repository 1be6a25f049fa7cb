"""/v1/drivers: versions, cluster pinning, soft delete, microversion gating, policy, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.common import driver_factory
from tests.unit.api.conftest import TEMPLATE, db_snapshot, error_of
from tests.unit.drivers import fake_plugin

V1_14 = {"OpenStack-API-Version": "container-infra 1.14"}
V1_15 = {"OpenStack-API-Version": "container-infra 1.15"}
# A template whose image is Ubuntu: the fake plugin provides (vm, ubuntu, kubernetes).
UBUNTU_TEMPLATE = {**TEMPLATE, "name": "k8s-ubuntu", "image_id": "ubuntu-22.04"}


class OtherDriver(fake_plugin.FakeDriver):
    provides = [("vm", "fedora", "swarm-mode")]

    @classmethod
    def get_default_config(cls) -> dict:
        return {"flavor": "m1.large", "swarm": True}


@pytest.fixture(autouse=True)
def plugins() -> Iterator[None]:
    fake_plugin.install(fake=fake_plugin.FakeDriver, other=OtherDriver)
    yield
    driver_factory.set_extension_manager(None)


def _create(admin, name: str = "k8s-prod", **fields) -> dict:
    return admin.post("/v1/drivers", {"name": name, "plugin_name": "fake", **fields},
                      status=201).json


def _cluster(member, template: dict, name: str) -> dict:
    uuid = member.post("/v1/clusters", {"name": name, "cluster_template_id": template["uuid"]},
                       status=202).json["uuid"]
    return member.get(f"/v1/clusters/{uuid}", status=200).json


def _by_version(admin, name: str) -> dict[int, dict]:
    rows = admin.get(f"/v1/drivers/{name}/versions", status=200).json["drivers"]
    return {row["version"]: row for row in rows}


def _destroy_cluster(uuid: str) -> None:
    objects.Cluster.get_by_uuid(ctx.get_admin_context(), uuid).destroy()


# -- the acceptance line -------------------------------------------------------------------

def test_versions_pinning_counts_and_soft_delete(admin, member, db):
    first = _create(admin)
    assert (first["version"], first["latest_version"], first["cluster_count"]) == (1, 1, 0)
    assert first["config"] == {"flavor": "m1.small"}  # the plugin's default
    template = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "k8s-prod"},
                           status=201).json
    on_v1 = _cluster(member, template, "on-v1")
    assert (on_v1["driver_id"], on_v1["driver_version"]) == (first["uuid"], 1)

    second = admin.patch("/v1/drivers/k8s-prod", [
        {"op": "replace", "path": "/config/flavor", "value": "m1.medium"}], status=200).json
    third = admin.patch("/v1/drivers/k8s-prod", [
        {"op": "add", "path": "/config/extra", "value": 3}], status=200).json
    assert (second["version"], third["version"]) == (2, 3)
    assert third["config"] == {"flavor": "m1.medium", "extra": 3}
    assert len({first["uuid"], second["uuid"], third["uuid"]}) == 3
    on_v3 = _cluster(member, template, "on-v3")
    assert (on_v3["driver_id"], on_v3["driver_version"]) == (third["uuid"], 3)

    versions = _by_version(admin, "k8s-prod")
    assert {v: row["cluster_count"] for v, row in versions.items()} == {1: 1, 2: 0, 3: 1}
    assert {row["latest_version"] for row in versions.values()} == {3}
    assert versions[1]["config"] == {"flavor": "m1.small"}  # old versions never change
    assert admin.get("/v1/drivers/k8s-prod", status=200).json["uuid"] == third["uuid"]

    before = db_snapshot(db)
    for ident in (first["uuid"], third["uuid"], "k8s-prod"):
        assert "used by" in error_of(admin.delete(f"/v1/drivers/{ident}", status=409))["detail"]
    assert db_snapshot(db) == before

    admin.delete(f"/v1/drivers/{second['uuid']}", status=204)
    assert set(_by_version(admin, "k8s-prod")) == {1, 3}
    gone = admin.get(f"/v1/drivers/{second['uuid']}", status=200).json
    assert (gone["version"], gone["config"]) == (2, {"flavor": "m1.medium"})
    admin.delete(f"/v1/drivers/{second['uuid']}", status=404)

    _destroy_cluster(on_v1["uuid"])
    _destroy_cluster(on_v3["uuid"])
    admin.delete("/v1/drivers/k8s-prod", status=204)
    assert "k8s-prod" not in {d["name"] for d in admin.get("/v1/drivers").json["drivers"]}
    admin.get("/v1/drivers/k8s-prod", status=404)
    admin.get("/v1/drivers/k8s-prod/versions", status=404)
    kept = admin.get(f"/v1/drivers/{third['uuid']}", status=200).json
    assert (kept["version"], kept["latest_version"]) == (3, None)
    admin.post("/v1/drivers", {"name": "k8s-prod", "plugin_name": "fake"}, status=409)


def test_the_list_shows_the_latest_version_of_each_name(admin):
    _create(admin, "a")
    _create(admin, "b")
    admin.patch("/v1/drivers/b", [{"op": "replace", "path": "/public", "value": False}],
                status=200)
    listed = {d["name"]: d for d in admin.get("/v1/drivers", status=200).json["drivers"]}
    assert {name: d["version"] for name, d in listed.items()} == {"a": 1, "b": 2}
    assert set(listed["a"]) == {"uuid", "name", "version", "public", "plugin_name", "config",
                                "enabled", "cluster_count", "latest_version", "created_at",
                                "updated_at", "links"}


def test_a_patch_that_changes_nothing_adds_no_version(admin):
    _create(admin)
    same = admin.patch("/v1/drivers/k8s-prod", [
        {"op": "replace", "path": "/enabled", "value": True}], status=200).json
    assert same["version"] == 1


def test_post_answers_201_with_a_location(admin):
    response = admin.post("/v1/drivers", {"name": "x", "plugin_name": "other",
                                          "public": False}, status=201)
    assert response.headers["Location"].endswith(f"/v1/drivers/{response.json['uuid']}")
    assert response.json["config"] == {"flavor": "m1.large", "swarm": True}
    assert response.json["public"] is False


# -- microversion gating -------------------------------------------------------------------

@pytest.mark.parametrize("method,url", [("get", "/v1/drivers"), ("get", "/v1/drivers/x"),
                                        ("get", "/v1/drivers/x/versions"),
                                        ("delete", "/v1/drivers/x")])
def test_before_1_15_there_is_no_driver_resource(admin, method, url):
    unknown = admin.get("/v1/nosuchresource", status=404, headers=V1_14)
    response = getattr(admin, method)(url, status=404, headers=V1_14)
    assert response.status_int == unknown.status_int


def test_before_1_15_post_and_patch_are_404_and_change_nothing(admin, db):
    before = db_snapshot(db)
    admin.post("/v1/drivers", {"name": "x", "plugin_name": "fake"}, status=404,
               headers=V1_14)
    assert db_snapshot(db) == before
    _create(admin, "y")
    admin.patch("/v1/drivers/y", [{"op": "replace", "path": "/public", "value": False}],
                status=404, headers=V1_14)
    assert admin.get("/v1/drivers/y", headers=V1_15).json["version"] == 1


def test_clusters_show_driver_fields_from_1_15(admin, member):
    driver = _create(admin)
    template = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "k8s-prod"},
                           status=201).json
    uuid = _cluster(member, template, "c1")["uuid"]
    old = member.get(f"/v1/clusters/{uuid}", headers=V1_14, status=200).json
    assert not {"driver_id", "driver_version", "version"} & set(old)
    old_list = member.get("/v1/clusters/detail", headers=V1_14, status=200).json["clusters"]
    assert not {"driver_id", "driver_version", "version"} & set(old_list[0])
    new = member.get(f"/v1/clusters/{uuid}", headers=V1_15, status=200).json
    assert (new["driver_id"], new["driver_version"], new["version"]) == (driver["uuid"], 1, 1)


def test_version_1_15_is_served(member):
    # The maximum moved on (1.16: cluster events, test_cluster_events.py).
    version = member.get("/", status=200).json["versions"][0]["max_version"]
    assert tuple(int(part) for part in version.split(".")) >= (1, 15)


# -- policy --------------------------------------------------------------------------------

def test_members_read_public_drivers_but_cannot_write(admin, member, reader):
    _create(admin)
    for client in (member, reader):
        assert client.get("/v1/drivers/k8s-prod", status=200).json["public"] is True
        assert [d["name"] for d in client.get("/v1/drivers").json["drivers"]] == ["k8s-prod"]
        client.get("/v1/drivers/k8s-prod/versions", status=200)
    member.post("/v1/drivers", {"name": "mine", "plugin_name": "fake"}, status=403)
    member.patch("/v1/drivers/k8s-prod", [{"op": "replace", "path": "/enabled",
                                           "value": False}], status=403)
    member.delete("/v1/drivers/k8s-prod", status=403)
    assert admin.get("/v1/drivers/k8s-prod").json["version"] == 1


def test_another_projects_private_driver_is_not_found(admin, member):
    private = _create(admin, "secret", public=False)
    for url in ("/v1/drivers/secret", f"/v1/drivers/{private['uuid']}",
                "/v1/drivers/secret/versions"):
        member.get(url, status=404)
    member.delete("/v1/drivers/secret", status=404)
    assert member.get("/v1/drivers").json["drivers"] == []
    assert admin.get("/v1/drivers/secret", status=200).json["public"] is False


def test_a_private_driver_of_another_project_cannot_pin_a_cluster(admin, member):
    _create(admin, "secret", public=False)
    response = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "secret"},
                           status=400)
    assert error_of(response)["detail"].startswith("driver:")


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("body,field", [
    ({"name": "x"}, "plugin_name"),
    ({"name": "x", "plugin_name": "nope"}, "plugin_name"),
    ({"name": "x", "plugin_name": ""}, "plugin_name"),
    ({"plugin_name": "fake"}, "name"),
    ({"name": "has space", "plugin_name": "fake"}, "name"),
    ({"name": "x" * 256, "plugin_name": "fake"}, "name"),
    ({"name": "2f1a4f4e-8c2b-4c7e-9a57-3bd2a1c5e0f1", "plugin_name": "fake"}, "name"),
    ({"name": "x", "plugin_name": "fake", "config": [1]}, "config"),
    ({"name": "x", "plugin_name": "fake", "config": "flavor=m1"}, "config"),
    ({"name": "x", "plugin_name": "fake", "config": {"other": 1}}, "config needs a flavor"),
    ({"name": "x", "plugin_name": "fake", "public": "maybe"}, "public"),
    ({"name": "x", "plugin_name": "fake", "enabled": 3}, "enabled"),
    ({"name": "x", "plugin_name": "fake", "version": 4}, "version"),
    ({"name": "x", "plugin_name": "fake", "cluster_count": 1}, "cluster_count"),
    ({"name": "x", "plugin_name": "fake", "color": "red"}, "color"),
])
def test_bad_create_is_refused_naming_the_field(admin, db, body, field):
    before = db_snapshot(db)
    assert field in error_of(admin.post("/v1/drivers", body, status=400))["detail"]
    assert db_snapshot(db) == before


def test_a_body_that_is_not_an_object_is_refused(admin, db):
    before = db_snapshot(db)
    admin.post("/v1/drivers", ["x"], status=400)
    assert db_snapshot(db) == before


def test_a_taken_name_is_a_conflict(admin, db):
    _create(admin)
    before = db_snapshot(db)
    admin.post("/v1/drivers", {"name": "k8s-prod", "plugin_name": "other"}, status=409)
    assert db_snapshot(db) == before


@pytest.mark.parametrize("operations,field", [
    ([{"op": "replace", "path": "/plugin_name", "value": "other"}], "plugin_name"),
    ([{"op": "replace", "path": "/name", "value": "other"}], "name"),
    ([{"op": "replace", "path": "/version", "value": 9}], "version"),
    ([{"op": "replace", "path": "/uuid", "value": "x"}], "uuid"),
    ([{"op": "replace", "path": "/enabled", "value": "maybe"}], "enabled"),
    ([{"op": "remove", "path": "/public"}], "public"),
    ([{"op": "replace", "path": "/config", "value": [1]}], "config"),
    ([{"op": "remove", "path": "/config/flavor"}], "config needs a flavor"),
    ([{"op": "remove", "path": "/config/absent"}], "config/absent"),
    ([{"op": "replace", "path": "/colour", "value": 1}], "colour"),
    ([], "patch"),
])
def test_bad_patch_is_refused_naming_the_field(admin, db, operations, field):
    _create(admin)
    before = db_snapshot(db)
    response = admin.patch("/v1/drivers/k8s-prod", operations, status=400)
    assert field in error_of(response)["detail"]
    assert db_snapshot(db) == before


def test_a_version_cannot_be_patched_by_uuid(admin, db):
    driver = _create(admin)
    before = db_snapshot(db)
    response = admin.patch(f"/v1/drivers/{driver['uuid']}", [
        {"op": "replace", "path": "/enabled", "value": False}], status=400)
    assert "by name" in error_of(response)["detail"]
    assert db_snapshot(db) == before


def test_unknown_drivers_are_404(admin):
    admin.get("/v1/drivers/nope", status=404)
    admin.get("/v1/drivers/2f1a4f4e-8c2b-4c7e-9a57-3bd2a1c5e0f1", status=404)
    admin.patch("/v1/drivers/nope", [{"op": "replace", "path": "/enabled", "value": False}],
                status=404)
    admin.delete("/v1/drivers/nope", status=404)


def test_removing_the_config_restores_the_plugin_default(admin):
    _create(admin, config={"flavor": "m1.large"})
    patched = admin.patch("/v1/drivers/k8s-prod", [{"op": "remove", "path": "/config"}],
                          status=200).json
    assert (patched["version"], patched["config"]) == (2, {"flavor": "m1.small"})
