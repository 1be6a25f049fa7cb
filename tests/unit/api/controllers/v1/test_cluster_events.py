"""GET /v1/clusters/{id}/events (1.16+): a cluster's history, newest first, paginated."""

from urllib import parse

import pytest

from tests.unit.api.conftest import error_of, record_status

URL = "/v1/clusters"
V1_15 = {"OpenStack-API-Version": "container-infra 1.15"}
V1_16 = {"OpenStack-API-Version": "container-infra 1.16"}
FIELDS = {"uuid", "created_at", "cluster_version", "event_type", "status", "status_reason",
          "user_id", "request_id"}


def _events(client, ident, query="", status=200, headers=None):
    return client.get(f"{URL}/{ident}/events{query}", status=status, headers=headers)


@pytest.fixture
def resized(member, cluster, casts):
    """The cluster, resized to 3 workers and the resize done (UPDATE_COMPLETE)."""
    member.post(f"{URL}/c1/actions/resize", {"node_count": 3}, status=202)
    record_status(cluster["uuid"], "UPDATE_COMPLETE")
    return cluster


@pytest.fixture
def deleted(member, resized, casts):
    """The resized cluster, deleted: its row is gone, its events stay."""
    member.delete(f"{URL}/c1", status=204)
    record_status(resized["uuid"], "DELETE_COMPLETE")
    member.get(f"{URL}/{resized['uuid']}", status=404)
    return resized


def _types(document):
    return [(e["event_type"], e["status"]) for e in document["events"]]


HISTORY = [("cluster.create", "CREATE_IN_PROGRESS"), ("cluster.create", "CREATE_COMPLETE"),
           ("cluster.resize", "UPDATE_IN_PROGRESS"), ("cluster.update", "UPDATE_COMPLETE")]


def test_events_are_newest_first_with_their_fields(member, resized):
    document = _events(member, "c1").json
    assert set(document) == {"events"}  # one page: no next
    assert _types(document) == HISTORY[::-1]
    for event in document["events"]:
        assert set(event) == FIELDS
        assert event["user_id"] == "user-1"
        assert event["request_id"].startswith("req-")
    assert [e["cluster_version"] for e in document["events"]] == [2, 2, 1, 1]
    times = [e["created_at"] for e in document["events"]]
    assert times == sorted(times, reverse=True)


def test_the_request_id_is_the_one_of_the_request_that_caused_the_event(member, resized):
    response = member.post(f"{URL}/c1/actions/resize", {"node_count": 4}, status=202)
    newest = _events(member, "c1").json["events"][0]
    assert newest["request_id"] == response.headers["x-openstack-request-id"]
    assert (newest["event_type"], newest["cluster_version"]) == ("cluster.resize", 3)


def test_sort_dir_asc_is_oldest_first(member, resized):
    assert _types(_events(member, resized["uuid"], "?sort_dir=asc").json) == HISTORY


@pytest.mark.parametrize("sort_dir", ["desc", "asc"])
def test_pages_follow_the_next_links(member, resized, sort_dir):
    seen = []
    url = f"{URL}/c1/events?limit=3&sort_dir={sort_dir}"
    pages = 0
    while url:
        document = member.get(url, status=200).json
        assert len(document["events"]) <= 3
        seen += _types(document)
        url = document.get("next")
        if url:
            query = parse.parse_qs(parse.urlsplit(url).query)
            assert query["marker"] == [document["events"][-1]["uuid"]]
            assert query["sort_dir"] == [sort_dir] and query["limit"] == ["3"]
            assert f"/v1/clusters/{resized['uuid']}/events" in url
        pages += 1
    assert pages == 2
    assert seen == (HISTORY if sort_dir == "asc" else HISTORY[::-1])


def test_a_marker_starts_after_that_event(member, resized):
    events = _events(member, "c1").json["events"]
    after = _events(member, "c1", f"?marker={events[1]['uuid']}").json["events"]
    assert after == events[2:]


def test_version_1_16_is_served(member):
    # The maximum moved on (1.17: upgrade targets and dry runs, test_cluster_upgrade.py).
    version = member.get("/", status=200).json["versions"][0]["max_version"]
    assert tuple(int(part) for part in version.split(".")) >= (1, 16)


def test_before_1_16_there_are_no_events(member, resized):
    error = error_of(_events(member, "c1", headers=V1_15, status=406))
    assert "1.16" in error["detail"]
    _events(member, "c1", headers=V1_16, status=200)


def test_another_projects_cluster_is_not_found(member_b, resized):
    for ident in ("c1", resized["uuid"]):
        error_of(_events(member_b, ident, status=404))


def test_a_reader_sees_the_events_and_an_admin_any_projects(reader, admin, resized):
    assert _types(_events(reader, "c1").json) == HISTORY[::-1]
    assert _types(_events(admin, resized["uuid"]).json) == HISTORY[::-1]


def test_the_policy_is_checked_after_the_lookup(member, member_b, resized, config):
    from oslo_policy import policy as oslo_policy

    from magnum_lite.common import policy

    policy.init().set_rules(oslo_policy.Rules.from_dict({"cluster:events": "!"}),
                            overwrite=False, use_conf=False)
    error = error_of(_events(member, "c1", status=403))
    assert "cluster:events" in error["detail"]
    error_of(_events(member_b, "c1", status=404))  # the lookup first: no 403 for others
    error_of(_events(member, "no-such-cluster", status=404))


def test_an_unknown_cluster_is_not_found_also_for_an_admin(member, admin):
    error_of(_events(admin, "d8a3e2b4-0c43-4a7e-8c9e-6a7cf1d1a3c1", status=404))
    error_of(_events(member, "d8a3e2b4-0c43-4a7e-8c9e-6a7cf1d1a3c1", status=404))


def test_after_delete_an_admin_reads_the_events_by_cluster_uuid(admin, deleted):
    document = _events(admin, deleted["uuid"]).json
    assert _types(document)[:2] == [("cluster.delete", "DELETE_COMPLETE"),
                                    ("cluster.delete", "DELETE_IN_PROGRESS")]
    assert _types(document)[2:] == HISTORY[::-1]
    page = _events(admin, deleted["uuid"], "?limit=2").json
    assert len(page["events"]) == 2 and f"{deleted['uuid']}/events" in page["next"]
    error_of(_events(admin, "c1", status=404))  # the name went with the row


def test_after_delete_no_one_else_reads_them(member, reader, member_b, deleted):
    for client in (member, reader, member_b):
        error_of(_events(client, deleted["uuid"], status=404))


@pytest.mark.parametrize("query,field", [
    ("?limit=-1", "limit"), ("?limit=x", "limit"), ("?marker=not-a-uuid", "marker"),
    ("?marker=d8a3e2b4-0c43-4a7e-8c9e-6a7cf1d1a3c1", "marker"), ("?sort_dir=up", "sort_dir"),
    ("?sort_key=status", "sort_key"), ("?limit=1&limit=2", "limit")])
def test_bad_paging_is_400_naming_the_field(member, resized, query, field):
    error = error_of(_events(member, "c1", query, status=400))
    assert error["detail"].startswith(field), error["detail"]


def test_another_clusters_event_is_no_marker(member, resized, template):
    other = member.post(URL, {"name": "c2", "cluster_template_id": template["uuid"]},
                        status=202).json["uuid"]
    marker = _events(member, other).json["events"][0]["uuid"]
    error = error_of(_events(member, "c1", f"?marker={marker}", status=400))
    assert error["detail"].startswith("marker")


def test_only_get_is_served(member, resized):
    error_of(member.post(f"{URL}/c1/events", {}, status=405))
