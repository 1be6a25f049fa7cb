"""/v1/stats (1.4+): clusters and nodes of a project."""

from tests.unit.api.conftest import error_of

URL = "/v1/stats"


def test_stats_count_the_callers_clusters_and_nodes(member, cluster, member_b):
    assert member.get(URL, status=200).json == {"clusters": 1, "nodes": 3}
    assert member.get(f"{URL}?project_id=project-a&type=cluster", status=200).json == {
        "clusters": 1, "nodes": 3}
    assert member_b.get(URL, status=200).json == {"clusters": 0, "nodes": 0}


def test_another_projects_stats_are_for_admins(member, admin, cluster):
    error = error_of(member.get(f"{URL}?project_id=project-b", status=403))
    assert error["detail"].startswith("project_id:")
    assert admin.get(f"{URL}?project_id=project-a", status=200).json["clusters"] == 1
    assert admin.get(URL, status=200).json == {"clusters": 1, "nodes": 3}


def test_cluster_is_the_only_stats_type(member):
    error = error_of(member.get(f"{URL}?type=pods", status=400))
    assert error["detail"].startswith("type:")
