"""GET /v1/clusters?driver=&driver_version=&project_id= (1.18): which clusters still run a
driver version, across projects for admins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnum_lite.common import driver_factory
from tests.unit.api.conftest import PROJECT_A, PROJECT_B, TEMPLATE, error_of
from tests.unit.drivers import fake_plugin

V1_17 = {"OpenStack-API-Version": "container-infra 1.17"}
V1_18 = {"OpenStack-API-Version": "container-infra 1.18"}


@pytest.fixture(autouse=True)
def plugins() -> Iterator[None]:
    fake_plugin.install(fake=fake_plugin.FakeDriver)
    yield
    driver_factory.set_extension_manager(None)


def _cluster(client, template: dict, name: str) -> str:
    return client.post("/v1/clusters", {"name": name, "cluster_template_id": template["uuid"]},
                       status=202).json["uuid"]


@pytest.fixture
def fleet(member, member_b, admin) -> dict[str, str]:
    """Clusters of driver `prod`: a1 (project A) and b1 (project B) on version 1, a2 (A) on
    version 2; o1 (A) on version 1 of driver `other`."""
    for name in ("prod", "other"):
        admin.post("/v1/drivers", {"name": name, "plugin_name": "fake"}, status=201)
    prod_a = member.post("/v1/clustertemplates", {**TEMPLATE, "driver": "prod"}, status=201)
    other_a = member.post("/v1/clustertemplates", {**TEMPLATE, "name": "k8s-other",
                                                  "driver": "other"}, status=201)
    prod_b = member_b.post("/v1/clustertemplates", {**TEMPLATE, "driver": "prod"}, status=201)
    uuids = {"a1": _cluster(member, prod_a.json, "a1"),
             "b1": _cluster(member_b, prod_b.json, "b1"),
             "o1": _cluster(member, other_a.json, "o1")}
    admin.patch("/v1/drivers/prod", [{"op": "replace", "path": "/config/flavor",
                                      "value": "m1.medium"}], status=200)
    uuids["a2"] = _cluster(member, prod_a.json, "a2")
    return uuids


def _names(response) -> list[str]:
    return sorted(c["name"] for c in response.json["clusters"])


def test_a_driver_version_lists_only_the_clusters_that_run_it(member, fleet):
    listed = member.get("/v1/clusters?driver=prod&driver_version=1", headers=V1_18,
                        status=200)
    assert _names(listed) == ["a1"]
    detail = member.get("/v1/clusters/detail?driver=prod&driver_version=2", status=200)
    assert [(c["name"], c["driver_version"]) for c in detail.json["clusters"]] == [("a2", 2)]


def test_a_driver_name_lists_its_clusters_of_every_version(member, fleet):
    assert _names(member.get("/v1/clusters?driver=prod", status=200)) == ["a1", "a2"]
    assert _names(member.get("/v1/clusters?driver=other", status=200)) == ["o1"]
    assert member.get("/v1/clusters?driver=nosuch", status=200).json["clusters"] == []


def test_an_admin_sees_every_projects_clusters_of_a_version(admin, fleet):
    listed = admin.get("/v1/clusters/detail?driver=prod&driver_version=1", status=200).json
    assert sorted((c["name"], c["project_id"]) for c in listed["clusters"]) == [
        ("a1", PROJECT_A), ("b1", PROJECT_B)]


def test_an_admin_narrows_the_list_to_one_project(admin, fleet):
    listed = admin.get(f"/v1/clusters?driver=prod&driver_version=1&project_id={PROJECT_B}",
                       status=200)
    assert _names(listed) == ["b1"]


def test_a_member_may_name_only_their_own_project(member, fleet):
    own = member.get(f"/v1/clusters?project_id={PROJECT_A}&driver=prod", status=200)
    assert _names(own) == ["a1", "a2"]
    error = error_of(member.get(f"/v1/clusters?project_id={PROJECT_B}", status=403))
    assert error["detail"].startswith("project_id:")


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_driver_version_that_is_not_a_positive_integer_is_refused_naming_it(
        member, fleet, value):
    error = error_of(member.get(f"/v1/clusters?driver=prod&driver_version={value}",
                                status=400))
    assert error["detail"].startswith("driver_version:")


@pytest.mark.parametrize("query", ["driver=prod", "driver_version=1",
                                   f"project_id={PROJECT_A}"])
def test_the_filters_are_refused_below_1_18_naming_them(member, fleet, query):
    error = error_of(member.get(f"/v1/clusters?{query}", headers=V1_17, status=400))
    name = query.split("=")[0]
    assert error["detail"].startswith(f"{name}:") and "1.18" in error["detail"]
    # Without them 1.17 lists as before.
    assert _names(member.get("/v1/clusters", headers=V1_17, status=200)) == [
        "a1", "a2", "o1"]


def test_the_next_link_keeps_the_filters(member, fleet):
    first = member.get("/v1/clusters?driver=prod&limit=1", status=200).json
    assert "driver=prod" in first["next"]
    second = member.get(first["next"][len("http://localhost"):], status=200).json
    assert [c["name"] for c in first["clusters"] + second["clusters"]] == ["a1", "a2"]
