"""/v1/quotas (1.6+): read by everyone for their project, written by admins."""

import pytest

from tests.unit.api.conftest import error_of

URL = "/v1/quotas"
QUOTA = {"project_id": "p-quota", "resource": "Cluster", "hard_limit": 5}


def test_admin_creates_updates_shows_lists_and_deletes_a_quota(admin):
    created = admin.post(URL, QUOTA, status=201).json
    assert {k: created[k] for k in QUOTA} == QUOTA
    assert created["id"] >= 1 and created["created_at"]

    updated = admin.patch(f"{URL}/p-quota/Cluster", {**QUOTA, "hard_limit": 7},
                          status=202).json
    assert updated["hard_limit"] == 7
    assert admin.get(f"{URL}/p-quota/Cluster", status=200).json["hard_limit"] == 7

    listed = admin.get(f"{URL}?all_tenants=True", status=200).json["quotas"]
    assert [q["project_id"] for q in listed] == ["p-quota"]
    assert admin.get(URL, status=200).json["quotas"] == []  # its own project only

    admin.delete(f"{URL}/p-quota/Cluster", status=204)
    assert admin.get(f"{URL}?all_tenants=True", status=200).json["quotas"] == []


def test_a_project_without_a_quota_shows_the_default(member, config):
    config.set_override("max_clusters_per_project", 11, group="quotas")
    shown = member.get(f"{URL}/project-a/Cluster", status=200).json
    assert shown["hard_limit"] == 11 and shown["project_id"] == "project-a"


def test_a_quota_is_set_once(admin):
    admin.post(URL, QUOTA, status=201)
    error = error_of(admin.post(URL, QUOTA, status=409))
    assert "p-quota" in error["detail"]


def test_members_read_their_own_quotas_only(admin, member):
    admin.post(URL, {**QUOTA, "project_id": "project-a"}, status=201)
    admin.post(URL, QUOTA, status=201)
    assert [q["project_id"] for q in member.get(f"{URL}?all_tenants=True",
                                                status=200).json["quotas"]] == ["project-a"]
    assert member.get(f"{URL}/project-a/Cluster", status=200).json["hard_limit"] == 5
    error = error_of(member.get(f"{URL}/p-quota/Cluster", status=403))
    assert error["detail"].startswith("project_id:")


def test_only_admins_write_quotas(member, admin):
    error_of(member.post(URL, QUOTA, status=403))
    admin.post(URL, QUOTA, status=201)
    error_of(member.patch(f"{URL}/p-quota/Cluster", {"hard_limit": 9}, status=403))
    error_of(member.delete(f"{URL}/p-quota/Cluster", status=403))


def test_quota_updates_and_deletes_of_nothing_are_not_found(admin):
    error_of(admin.patch(f"{URL}/nobody/Cluster", {"hard_limit": 2}, status=404))
    error_of(admin.delete(f"{URL}/nobody/Cluster", status=404))


def test_the_body_of_an_update_must_match_its_url(admin):
    admin.post(URL, QUOTA, status=201)
    error = error_of(admin.patch(f"{URL}/p-quota/Cluster",
                                 {"project_id": "other", "hard_limit": 2}, status=400))
    assert error["detail"].startswith("project_id:")


@pytest.mark.parametrize("resource", ["Clusters", "cluster", "Node"])
def test_cluster_is_the_only_resource(admin, resource):
    error = error_of(admin.post(URL, {**QUOTA, "resource": resource}, status=400))
    assert error["detail"].startswith("resource:")
    error = error_of(admin.get(f"{URL}/p-quota/{resource}", status=400))
    assert error["detail"].startswith("resource:")


def test_quota_pages_use_the_id_as_marker(admin):
    for i in range(3):
        admin.post(URL, {**QUOTA, "project_id": f"p{i}"}, status=201)
    first = admin.get(f"{URL}?all_tenants=True&limit=2", status=200).json
    assert [q["project_id"] for q in first["quotas"]] == ["p0", "p1"]
    assert "all_tenants=True" in first["next"] and "marker=2" in first["next"]
    second = admin.get(first["next"][len("http://localhost"):], status=200).json
    assert [q["project_id"] for q in second["quotas"]] == ["p2"]


def test_quotas_answer_at_every_version_as_magnums_do(admin):
    """Magnum documents quotas as 1.6 but serves them at any version: so do we."""
    old = {"OpenStack-API-Version": "container-infra 1.1"}
    admin.post(URL, QUOTA, headers=old, status=201)
    shown = admin.get(f"{URL}/{QUOTA['project_id']}/{QUOTA['resource']}", headers=old,
                      status=200).json
    assert shown["hard_limit"] == QUOTA["hard_limit"]
