"""A new cluster is pinned to a driver version: the template's driver, or the plugin's default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnum_lite.common import driver_factory
from magnum_lite.objects import driver as driver_object
from tests.unit.api.conftest import TEMPLATE, db_snapshot, error_of
from tests.unit.drivers import fake_plugin

# The fake plugin provides (vm, ubuntu, kubernetes): an Ubuntu image selects it.
UBUNTU_TEMPLATE = {**TEMPLATE, "name": "k8s-ubuntu", "image_id": "ubuntu-22.04"}


@pytest.fixture(autouse=True)
def plugins() -> Iterator[None]:
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    yield
    driver_factory.set_extension_manager(None)


def _create_cluster(member, template: dict, status: int = 202):
    return member.post("/v1/clusters", {"cluster_template_id": template["uuid"]},
                       status=status)


def _pinning(member, uuid: str) -> tuple:
    cluster = member.get(f"/v1/clusters/{uuid}", status=200).json
    return cluster["driver_id"], cluster["driver_version"]


def test_a_template_without_driver_gets_the_plugins_default(member, admin):
    driver_object.seed_default_drivers()
    default = admin.get("/v1/drivers/fake", status=200).json
    template = member.post("/v1/clustertemplates", UBUNTU_TEMPLATE, status=201).json
    uuid = _create_cluster(member, template).json["uuid"]
    assert _pinning(member, uuid) == (default["uuid"], 1)
    assert admin.get("/v1/drivers/fake").json["cluster_count"] == 1


def test_the_latest_enabled_version_is_chosen(member, admin):
    admin.post("/v1/drivers", {"name": "prod", "plugin_name": "fake"}, status=201)
    v2 = admin.patch("/v1/drivers/prod", [{"op": "replace", "path": "/config/flavor",
                                            "value": "m1.medium"}], status=200).json
    admin.patch("/v1/drivers/prod", [{"op": "replace", "path": "/enabled", "value": False}],
                status=200)
    template = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "prod"},
                           status=201).json
    uuid = _create_cluster(member, template).json["uuid"]
    assert _pinning(member, uuid) == (v2["uuid"], 2)


@pytest.mark.parametrize("setup", ["unknown", "all_disabled"])
def test_a_template_naming_an_unusable_driver_is_refused_with_400(member, admin, db, setup):
    if setup == "all_disabled":
        admin.post("/v1/drivers", {"name": "prod", "plugin_name": "fake", "enabled": False},
                   status=201)
    before = db_snapshot(db)
    response = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "prod"}, status=400)
    detail = error_of(response)["detail"]
    assert detail.startswith("driver:") and "prod" in detail
    assert db_snapshot(db) == before


def test_a_driver_deleted_after_the_template_is_refused_at_cluster_create(
        member, admin, db, casts):
    admin.post("/v1/drivers", {"name": "prod", "plugin_name": "fake"}, status=201)
    template = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "prod"},
                           status=201).json
    admin.delete("/v1/drivers/prod", status=204)
    before = db_snapshot(db)
    detail = error_of(_create_cluster(member, template, status=400))["detail"]
    assert "driver" in detail and "prod" in detail
    assert db_snapshot(db) == before
    assert casts == []


def test_without_any_plugin_a_template_is_refused_naming_its_os(member, db):
    driver_factory.set_extension_manager(None)
    fake_plugin.install()
    before = db_snapshot(db)
    detail = error_of(member.post("/v1/clustertemplates", UBUNTU_TEMPLATE, status=400))["detail"]
    assert detail.startswith("cluster_distro:") and "ubuntu" in detail
    assert "none" in detail
    assert db_snapshot(db) == before


def test_a_plugin_without_its_default_driver_leaves_the_cluster_unpinned(member):
    template = member.post("/v1/clustertemplates", UBUNTU_TEMPLATE, status=201).json
    uuid = _create_cluster(member, template).json["uuid"]
    assert _pinning(member, uuid) == (None, None)
