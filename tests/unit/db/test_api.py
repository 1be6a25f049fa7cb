"""The SQLAlchemy Connection on SQLite: CRUD, scoping, pagination and compare-and-swap."""

import threading

import pytest
from sqlalchemy import event

from magnum_lite.common import context, exception
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models

UUID_MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def conn(db) -> db_api.Connection:
    return db_api.Connection()


def ctx(project: str = "p1", admin: bool = False, all_projects: bool = False):
    return context.RequestContext(project_id=project, user_id=f"user-of-{project}",
                                  is_admin=admin, all_projects=all_projects,
                                  roles=["admin"] if admin else ["member"])


def make_template(conn, name: str = "tmpl", project: str = "p1", **values):
    return conn.create_cluster_template({"name": name, "project_id": project, "user_id": "u1",
                                         "coe": "kubernetes", "image_id": "img", **values})


def make_cluster(conn, name: str = "c", project: str = "p1", template=None, **values):
    return conn.create_cluster({"name": name, "project_id": project, "user_id": "u1",
                                "cluster_template_id": template.uuid if template else None,
                                **values})


def make_nodegroup(conn, cluster, name: str = "default-worker", **values):
    return conn.create_nodegroup({"name": name, "cluster_id": cluster.uuid,
                                  "project_id": cluster.project_id, "role": "worker",
                                  "node_count": 1, **values})


def names(rows) -> list[str]:
    return [row.name for row in rows]


# ---------------------------------------------------------------------- cluster templates

class TestClusterTemplates:
    def test_create_fills_uuid_and_timestamps_and_reads_back_json(self, conn):
        row = make_template(conn, labels={"kube_tag": "v1.30", "n": "1"}, public=True)
        assert len(row.uuid) == 36
        assert row.created_at is not None

        read = conn.get_cluster_template_by_uuid(ctx(), row.uuid)
        assert read.labels == {"kube_tag": "v1.30", "n": "1"}
        assert read.public is True
        assert conn.get_cluster_template_by_id(ctx(), row.id).uuid == row.uuid
        assert conn.get_cluster_template_by_name(ctx(), "tmpl").uuid == row.uuid

    def test_defaults_of_boolean_columns(self, conn):
        read = conn.get_cluster_template_by_uuid(ctx(), make_template(conn).uuid)
        assert (read.public, read.hidden, read.floating_ip_enabled, read.tls_disabled) == (
            False, False, True, False)

    def test_duplicate_uuid_is_a_conflict(self, conn):
        row = make_template(conn)
        with pytest.raises(exception.ClusterTemplateAlreadyExists) as err:
            make_template(conn, uuid=row.uuid)
        assert err.value.code == 409

    def test_name_matching_two_templates_is_a_409(self, conn):
        make_template(conn, name="twin")
        make_template(conn, name="twin")
        with pytest.raises(exception.Duplicate) as err:
            conn.get_cluster_template_by_name(ctx(), "twin")
        assert err.value.code == 409

    def test_name_matching_another_projects_template_is_not_a_duplicate(self, conn):
        mine = make_template(conn, name="same")
        make_template(conn, name="same", project="p2")
        assert conn.get_cluster_template_by_name(ctx(), "same").uuid == mine.uuid

    def test_unknown_name_uuid_and_id_are_not_found(self, conn):
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.get_cluster_template_by_name(ctx(), "nope")
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.get_cluster_template_by_uuid(ctx(), UUID_MISSING)
        with pytest.raises(exception.ClusterTemplateNotFound) as err:
            conn.get_cluster_template_by_id(ctx(), 4242)
        assert err.value.code == 404

    def test_another_projects_private_template_is_not_found(self, conn):
        row = make_template(conn, name="private", project="p2")
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.get_cluster_template_by_uuid(ctx("p1"), row.uuid)
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.get_cluster_template_by_name(ctx("p1"), "private")
        assert conn.get_cluster_template_list(ctx("p1")) == []

    def test_public_template_is_visible_to_other_projects(self, conn):
        row = make_template(conn, name="shared", project="p2", public=True)
        assert conn.get_cluster_template_by_uuid(ctx("p1"), row.uuid).name == "shared"
        assert conn.get_cluster_template_by_name(ctx("p1"), "shared").uuid == row.uuid
        assert names(conn.get_cluster_template_list(ctx("p1"))) == ["shared"]

    def test_hidden_templates_are_listed_to_admins_only(self, conn):
        make_template(conn, name="visible", public=True)
        make_template(conn, name="hidden", public=True, hidden=True)
        assert names(conn.get_cluster_template_list(ctx("p1"))) == ["visible"]
        assert names(conn.get_cluster_template_list(ctx("p3"))) == ["visible"]
        assert names(conn.get_cluster_template_list(ctx("p3", admin=True))) == [
            "visible", "hidden"]

    def test_hidden_template_can_still_be_fetched_by_its_owner(self, conn):
        row = make_template(conn, name="hidden", hidden=True)
        assert conn.get_cluster_template_by_uuid(ctx(), row.uuid).hidden is True

    def test_admin_sees_every_project_only_with_all_projects(self, conn):
        make_template(conn, name="a", project="p1")
        make_template(conn, name="b", project="p2")
        make_template(conn, name="c", project="p3", public=True)
        admin = ctx("p9", admin=True)
        assert names(conn.get_cluster_template_list(admin)) == ["c"]
        everything = ctx("p9", admin=True, all_projects=True)
        assert names(conn.get_cluster_template_list(everything)) == ["a", "b", "c"]

    def test_all_projects_is_ignored_for_non_admins(self, conn):
        make_template(conn, name="theirs", project="p2")
        assert conn.get_cluster_template_list(ctx("p1", all_projects=True)) == []

    def test_filters(self, conn):
        make_template(conn, name="k8s", coe="kubernetes")
        make_template(conn, name="swarm", coe="swarm-mode")
        make_template(conn, name="mesos", coe="mesos")
        listed = conn.get_cluster_template_list(ctx(), filters={"coe": "swarm-mode"})
        assert names(listed) == ["swarm"]
        listed = conn.get_cluster_template_list(ctx(), filters={"coe": ["mesos", "kubernetes"]})
        assert names(listed) == ["k8s", "mesos"]
        # Unknown filter keys are ignored, not turned into SQL.
        assert len(conn.get_cluster_template_list(ctx(), filters={"bogus": 1})) == 3

    def test_update(self, conn):
        row = make_template(conn)
        updated = conn.update_cluster_template(row.uuid, {"image_id": "img2", "labels": {"a": "b"},
                                                          "uuid": UUID_MISSING})
        assert updated.uuid == row.uuid  # uuid and id are never rewritten
        read = conn.get_cluster_template_by_uuid(ctx(), row.uuid)
        assert (read.image_id, read.labels) == ("img2", {"a": "b"})

    def test_concurrent_updates_of_templates_all_succeed(self, conn):
        """Each update reads (is the template in use?) before it writes: on SQLite that must
        wait for the write lock, not fail with "database is locked"."""
        rows = [make_template(conn, name=f"t{i}") for i in range(6)]
        barrier = threading.Barrier(len(rows))
        errors: list[Exception] = []

        def rename(row) -> None:
            barrier.wait()
            try:
                conn.update_cluster_template(row.uuid, {"name": row.name + "-renamed"})
            except Exception as err:  # noqa: BLE001  (collected, asserted below)
                errors.append(err)

        threads = [threading.Thread(target=rename, args=(row,)) for row in rows]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert all(n.endswith("-renamed") for n in names(conn.get_cluster_template_list(ctx())))

    def test_update_unknown_is_not_found(self, conn):
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.update_cluster_template(UUID_MISSING, {"name": "x"})

    def test_template_in_use_only_changes_name_public_hidden(self, conn):
        row = make_template(conn)
        make_cluster(conn, template=row)
        with pytest.raises(exception.ClusterTemplateReferenced):
            conn.update_cluster_template(row.uuid, {"image_id": "other"})
        conn.update_cluster_template(row.uuid, {"name": "renamed", "public": True,
                                                "image_id": "img"})
        assert conn.get_cluster_template_by_uuid(ctx(), row.uuid).name == "renamed"

    def test_template_referenced_by_a_cluster_cannot_be_deleted(self, conn):
        row = make_template(conn)
        cluster = make_cluster(conn, template=row)
        with pytest.raises(exception.ClusterTemplateReferenced) as err:
            conn.destroy_cluster_template(row.uuid)
        assert err.value.code == 400
        assert conn.get_cluster_template_by_uuid(ctx(), row.uuid)

        conn.destroy_cluster(cluster.uuid)
        conn.destroy_cluster_template(row.uuid)
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.get_cluster_template_by_uuid(ctx(), row.uuid)

    def test_destroy_unknown_is_not_found(self, conn):
        with pytest.raises(exception.ClusterTemplateNotFound):
            conn.destroy_cluster_template(UUID_MISSING)


# ---------------------------------------------------------------------- pagination

class TestPagination:
    @pytest.fixture
    def five(self, conn) -> list:
        return [make_template(conn, name=name) for name in ("d", "b", "e", "a", "c")]

    def test_default_order_is_creation_order(self, conn, five):
        assert names(conn.get_cluster_template_list(ctx())) == ["d", "b", "e", "a", "c"]

    def test_limit_and_marker_walk_every_row_once(self, conn, five):
        seen, marker = [], None
        while True:
            page = conn.get_cluster_template_list(ctx(), limit=2, marker=marker,
                                                  sort_key="name")
            if not page:
                break
            assert len(page) <= 2
            seen += names(page)
            marker = page[-1].uuid
        assert seen == ["a", "b", "c", "d", "e"]

    def test_sort_dir_desc(self, conn, five):
        rows = conn.get_cluster_template_list(ctx(), sort_key="name", sort_dir="desc")
        assert names(rows) == ["e", "d", "c", "b", "a"]
        page = conn.get_cluster_template_list(ctx(), sort_key="name", sort_dir="desc",
                                              marker=rows[1].uuid, limit=2)
        assert names(page) == ["c", "b"]

    def test_ties_on_sort_key_are_broken_by_id(self, conn):
        first = make_template(conn, name="same")
        second = make_template(conn, name="same")
        third = make_template(conn, name="same")
        page = conn.get_cluster_template_list(ctx(), sort_key="name", limit=1,
                                              marker=first.uuid)
        assert [r.uuid for r in page] == [second.uuid]
        page = conn.get_cluster_template_list(ctx(), sort_key="name", marker=second.uuid)
        assert [r.uuid for r in page] == [third.uuid]

    def test_unknown_marker_is_invalid(self, conn, five):
        with pytest.raises(exception.InvalidParameterValue) as err:
            conn.get_cluster_template_list(ctx(), marker=UUID_MISSING)
        assert err.value.code == 400
        assert "marker" in str(err.value)

    def test_marker_of_another_project_is_invalid(self, conn, five):
        foreign = make_template(conn, name="theirs", project="p2")
        with pytest.raises(exception.InvalidParameterValue) as err:
            conn.get_cluster_template_list(ctx(), marker=foreign.uuid)
        assert "marker" in str(err.value)

    @pytest.mark.parametrize("sort_key", ["no_such_column", "update", "as_dict", "__table__",
                                          "metadata"])
    def test_sort_key_that_is_not_a_column_is_invalid(self, conn, five, sort_key):
        with pytest.raises(exception.InvalidParameterValue) as err:
            conn.get_cluster_template_list(ctx(), sort_key=sort_key)
        assert "sort_key" in str(err.value)

    def test_unknown_sort_dir_is_invalid(self, conn, five):
        with pytest.raises(exception.InvalidParameterValue) as err:
            conn.get_cluster_template_list(ctx(), sort_key="name", sort_dir="sideways")
        assert "sort_dir" in str(err.value)

    def test_cluster_list_paginates_too(self, conn):
        for name in ("x", "y", "z"):
            make_cluster(conn, name=name)
        page = conn.get_cluster_list(ctx(), limit=2, sort_key="name", sort_dir="desc")
        assert names(page) == ["z", "y"]
        assert names(conn.get_cluster_list(ctx(), marker=page[-1].uuid, sort_key="name",
                                           sort_dir="desc")) == ["x"]
        with pytest.raises(exception.InvalidParameterValue):
            conn.get_cluster_list(ctx(), sort_key="nope")


# ---------------------------------------------------------------------- clusters

class TestClusters:
    def test_create_and_get(self, conn):
        row = make_cluster(conn, labels={"a": "1"}, health_status_reason={"api": "ok"})
        assert row.revision == 0 and row.version == 0
        read = conn.get_cluster_by_uuid(ctx(), row.uuid)
        assert (read.labels, read.health_status_reason) == ({"a": "1"}, {"api": "ok"})
        assert conn.get_cluster_by_id(ctx(), row.id).uuid == row.uuid
        assert conn.get_cluster_by_name(ctx(), "c").uuid == row.uuid

    def test_duplicate_uuid_is_a_conflict(self, conn):
        row = make_cluster(conn)
        with pytest.raises(exception.ClusterAlreadyExists):
            make_cluster(conn, uuid=row.uuid)

    def test_name_matching_two_clusters_is_a_409(self, conn):
        make_cluster(conn, name="twin")
        make_cluster(conn, name="twin")
        with pytest.raises(exception.Duplicate):
            conn.get_cluster_by_name(ctx(), "twin")

    def test_another_projects_cluster_is_not_found(self, conn):
        row = make_cluster(conn, name="theirs", project="p2")
        with pytest.raises(exception.ClusterNotFound):
            conn.get_cluster_by_uuid(ctx("p1"), row.uuid)
        with pytest.raises(exception.ClusterNotFound):
            conn.get_cluster_by_name(ctx("p1"), "theirs")
        with pytest.raises(exception.ClusterNotFound):
            conn.get_cluster_by_id(ctx("p1"), row.id)
        assert conn.get_cluster_list(ctx("p1")) == []

    def test_admin_lists_all_projects_only_when_asked(self, conn):
        make_cluster(conn, name="a", project="p1")
        make_cluster(conn, name="b", project="p2")
        assert conn.get_cluster_list(ctx("p9", admin=True)) == []
        assert names(conn.get_cluster_list(ctx("p9", admin=True, all_projects=True))) == [
            "a", "b"]
        row = conn.get_cluster_by_name(ctx("p9", admin=True, all_projects=True), "b")
        assert row.project_id == "p2"

    def test_filters(self, conn):
        make_cluster(conn, name="a", status="CREATE_COMPLETE")
        make_cluster(conn, name="b", status="CREATE_FAILED")
        make_cluster(conn, name="c", status="CREATE_COMPLETE")
        listed = conn.get_cluster_list(ctx(), filters={"status": ["CREATE_COMPLETE"]})
        assert names(listed) == ["a", "c"]

    def test_create_with_nodegroups_is_one_transaction(self, conn):
        row = conn.create_cluster_with_nodegroups(
            {"name": "c", "project_id": "p1"},
            [{"name": "default-master", "role": "master", "node_count": 1, "project_id": "p1"},
             {"name": "default-worker", "role": "worker", "node_count": 2, "project_id": "p1"}])
        ngs = conn.list_cluster_nodegroups(ctx(), row.uuid)
        assert sorted(names(ngs)) == ["default-master", "default-worker"]
        assert {ng.cluster_id for ng in ngs} == {row.uuid}

    def test_create_with_nodegroups_leaves_nothing_behind_on_failure(self, conn):
        twins = [{"name": "ng", "role": "worker", "project_id": "p1"}] * 2
        with pytest.raises(exception.Conflict):
            conn.create_cluster_with_nodegroups({"name": "broken", "project_id": "p1"}, twins)
        assert conn.get_cluster_list(ctx()) == []
        assert conn.get_cluster_stats(ctx(), "p1") == (0, 0)

    def test_compare_and_swap_bumps_revision(self, conn):
        row = make_cluster(conn)
        updated = conn.update_cluster(row.uuid, {"status": "CREATE_COMPLETE",
                                                 "labels": {"x": "y"}}, expected_revision=0)
        assert (updated.revision, updated.status, updated.labels) == (
            1, "CREATE_COMPLETE", {"x": "y"})
        assert updated.updated_at is not None
        again = conn.update_cluster(row.uuid, {"status": "UPDATE_IN_PROGRESS"},
                                    expected_revision=1)
        assert again.revision == 2

    def test_stale_revision_is_a_concurrent_update(self, conn):
        row = make_cluster(conn)
        conn.update_cluster(row.uuid, {"status": "CREATE_COMPLETE"}, expected_revision=0)
        with pytest.raises(exception.ConcurrentUpdate) as err:
            conn.update_cluster(row.uuid, {"status": "DELETE_IN_PROGRESS"}, expected_revision=0)
        assert err.value.code == 409
        read = conn.get_cluster_by_uuid(ctx(), row.uuid)
        assert (read.status, read.revision) == ("CREATE_COMPLETE", 1)

    def test_compare_and_swap_of_unknown_uuid_is_not_found(self, conn):
        with pytest.raises(exception.ClusterNotFound):
            conn.update_cluster(UUID_MISSING, {"status": "CREATE_COMPLETE"}, expected_revision=0)
        with pytest.raises(exception.ClusterNotFound):
            conn.update_cluster(UUID_MISSING, {"status": "CREATE_COMPLETE"})

    def test_update_without_expected_revision_still_bumps_it(self, conn):
        row = make_cluster(conn)
        assert conn.update_cluster(row.uuid, {"name": "x"}).revision == 1

    def test_callers_cannot_write_revision_id_or_uuid(self, conn):
        row = make_cluster(conn)
        updated = conn.update_cluster(row.uuid, {"revision": 40, "id": 999, "uuid": UUID_MISSING,
                                                 "name": "renamed"}, expected_revision=0)
        assert (updated.revision, updated.id, updated.uuid, updated.name) == (
            1, row.id, row.uuid, "renamed")

    def test_racing_writers_exactly_one_wins_each_revision(self, conn):
        row = make_cluster(conn)
        outcomes: list[str] = []
        barrier = threading.Barrier(6)

        def writer(i: int) -> None:
            barrier.wait()
            try:
                conn.update_cluster(row.uuid, {"status_reason": f"writer {i}"},
                                    expected_revision=0)
                outcomes.append("won")
            except exception.ConcurrentUpdate:
                outcomes.append("lost")

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["lost"] * 5 + ["won"]
        assert conn.get_cluster_by_uuid(ctx(), row.uuid).revision == 1

    def test_destroy_removes_nodegroups_and_keypairs(self, conn):
        doomed, kept = make_cluster(conn, name="doomed"), make_cluster(conn, name="kept")
        make_nodegroup(conn, doomed)
        make_nodegroup(conn, kept)
        conn.create_x509keypair({"cluster_id": doomed.uuid, "project_id": "p1"})
        kept_pair = conn.create_x509keypair({"cluster_id": kept.uuid, "project_id": "p1"})

        conn.destroy_cluster(doomed.uuid)
        with pytest.raises(exception.ClusterNotFound):
            conn.get_cluster_by_uuid(ctx(), doomed.uuid)
        assert conn.list_nodegroups_of_clusters([doomed.uuid]) == []
        assert len(conn.list_nodegroups_of_clusters([kept.uuid])) == 1
        assert conn.get_x509keypair_by_uuid(ctx(), kept_pair.uuid)
        with pytest.raises(exception.ClusterNotFound):
            conn.destroy_cluster(doomed.uuid)

    def test_a_health_write_keeps_when_nodes_became_unhealthy_without_a_revision(self, conn):
        row = make_cluster(conn, status="CREATE_COMPLETE")
        since = {"w1": "2026-12-07T12:00:00+00:00"}
        assert conn.update_cluster_health(row.uuid, "UNHEALTHY", {"w1.Ready": "False"},
                                          since=since) is True
        read = conn.get_cluster_by_uuid(ctx(), row.uuid)
        assert (read.health_status, read.health_since, read.revision, read.version) == (
            "UNHEALTHY", since, row.revision, row.version)
        assert conn.update_cluster_health(row.uuid, "HEALTHY", {"w1.Ready": "True"}) is True
        assert conn.get_cluster_by_uuid(ctx(), row.uuid).health_since is None
        busy = make_cluster(conn, name="busy", status="UPDATE_IN_PROGRESS")
        assert conn.update_cluster_health(busy.uuid, "UNHEALTHY", {}, since=since) is False
        assert conn.get_cluster_by_uuid(ctx(), busy.uuid).health_since is None

    def test_count_and_stats(self, conn):
        a = make_cluster(conn, name="a")
        b = make_cluster(conn, name="b")
        other = make_cluster(conn, name="o", project="p2")
        make_nodegroup(conn, a, node_count=3)
        make_nodegroup(conn, b, node_count=2)
        make_nodegroup(conn, other, node_count=7)
        assert conn.count_clusters("p1") == 2
        assert conn.count_clusters("p3") == 0
        assert conn.get_cluster_stats(ctx(), "p1") == (2, 5)
        assert conn.get_cluster_stats(ctx(), None) == (3, 12)
        assert conn.get_cluster_stats(ctx(), "p3") == (0, 0)


# ---------------------------------------------------------------------- nodegroups

class TestNodeGroups:
    def test_create_get_list(self, conn):
        cluster = make_cluster(conn)
        ng = make_nodegroup(conn, cluster, node_addresses=["10.0.0.5"], node_labels={"a": "b"})
        read = conn.get_nodegroup_by_uuid(ctx(), cluster.uuid, ng.uuid)
        assert (read.node_addresses, read.node_labels) == (["10.0.0.5"], {"a": "b"})
        assert conn.get_nodegroup_by_name(ctx(), cluster.uuid, ng.name).uuid == ng.uuid
        assert names(conn.list_cluster_nodegroups(ctx(), cluster.uuid)) == ["default-worker"]

    def test_names_are_unique_per_cluster_only(self, conn):
        first, second = make_cluster(conn, name="1"), make_cluster(conn, name="2")
        make_nodegroup(conn, first, name="workers")
        make_nodegroup(conn, second, name="workers")
        with pytest.raises(exception.NodeGroupAlreadyExists):
            make_nodegroup(conn, first, name="workers")

    def test_lookup_is_scoped_to_cluster_and_project(self, conn):
        mine, theirs = make_cluster(conn), make_cluster(conn, name="t", project="p2")
        ng = make_nodegroup(conn, theirs)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.get_nodegroup_by_uuid(ctx("p2"), mine.uuid, ng.uuid)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.get_nodegroup_by_uuid(ctx("p1"), theirs.uuid, ng.uuid)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.get_nodegroup_by_name(ctx("p1"), theirs.uuid, ng.name)
        assert conn.list_cluster_nodegroups(ctx("p1"), theirs.uuid) == []
        admin = ctx("p9", admin=True, all_projects=True)
        assert conn.get_nodegroup_by_uuid(admin, theirs.uuid, ng.uuid).uuid == ng.uuid

    def test_filters_and_pagination(self, conn):
        cluster = make_cluster(conn)
        make_nodegroup(conn, cluster, name="default-master", role="master")
        make_nodegroup(conn, cluster, name="b", role="worker")
        make_nodegroup(conn, cluster, name="a", role="worker")
        workers = conn.list_cluster_nodegroups(ctx(), cluster.uuid, filters={"role": "worker"},
                                               sort_key="name")
        assert names(workers) == ["a", "b"]
        page = conn.list_cluster_nodegroups(ctx(), cluster.uuid, sort_key="name", limit=1,
                                            marker=workers[0].uuid)
        assert names(page) == ["b"]

    def test_list_of_several_clusters_in_one_call(self, conn):
        a, b, c = (make_cluster(conn, name=n) for n in "abc")
        for cluster in (a, b, c):
            make_nodegroup(conn, cluster)
        rows = conn.list_nodegroups_of_clusters([a.uuid, c.uuid])
        assert sorted(r.cluster_id for r in rows) == sorted([a.uuid, c.uuid])
        assert conn.list_nodegroups_of_clusters([]) == []

    def test_compare_and_swap(self, conn):
        ng = make_nodegroup(conn, make_cluster(conn))
        updated = conn.update_nodegroup(ng.uuid, {"node_count": 5}, expected_revision=0)
        assert (updated.node_count, updated.revision) == (5, 1)
        with pytest.raises(exception.ConcurrentUpdate):
            conn.update_nodegroup(ng.uuid, {"node_count": 1}, expected_revision=0)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.update_nodegroup(UUID_MISSING, {"node_count": 1}, expected_revision=0)

    def test_destroy(self, conn):
        cluster = make_cluster(conn)
        ng = make_nodegroup(conn, cluster)
        conn.destroy_nodegroup(ng.uuid)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.get_nodegroup_by_uuid(ctx(), cluster.uuid, ng.uuid)
        with pytest.raises(exception.NodeGroupNotFound):
            conn.destroy_nodegroup(ng.uuid)


# ---------------------------------------------------------------------- drivers

class TestDrivers:
    def make(self, conn, name: str, **values):
        return conn.create_driver({"name": name, "plugin_name": "k8s_ubuntu_v1", **values})

    def test_versions_count_up_per_name(self, conn):
        versions = [(r.name, r.version) for r in (self.make(conn, "k8s"), self.make(conn, "k8s"),
                                                  self.make(conn, "swarm"),
                                                  self.make(conn, "k8s"))]
        assert versions == [("k8s", 1), ("k8s", 2), ("swarm", 1), ("k8s", 3)]

    def test_caller_cannot_choose_the_version(self, conn):
        assert self.make(conn, "k8s", version=77).version == 1

    def test_config_json_round_trip(self, conn):
        row = self.make(conn, "k8s", config={"images": ["a", "b"], "max": 3})
        assert conn.get_driver_by_uuid(row.uuid).config == {"images": ["a", "b"], "max": 3}

    def test_concurrent_creators_get_distinct_versions(self, conn):
        barrier = threading.Barrier(6)
        versions: list[int] = []

        def create() -> None:
            barrier.wait()
            versions.append(self.make(conn, "k8s").version)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(versions) == [1, 2, 3, 4, 5, 6]

    def test_latest_and_list(self, conn):
        self.make(conn, "k8s")
        second = self.make(conn, "k8s")
        self.make(conn, "k8s", enabled=False)
        self.make(conn, "swarm")
        assert conn.get_latest_driver("k8s").version == 3
        assert conn.get_latest_driver("k8s", enabled_only=True).uuid == second.uuid
        assert [(r.name, r.version) for r in conn.list_drivers()] == [
            ("k8s", 1), ("k8s", 2), ("k8s", 3), ("swarm", 1)]
        assert [r.version for r in conn.list_drivers(name="k8s")] == [1, 2, 3]

    def test_deleted_versions_are_hidden_unless_asked(self, conn, db):
        self.make(conn, "k8s")
        gone = self.make(conn, "k8s")
        with db.begin() as connection:
            connection.execute(models.Driver.__table__.update().where(
                models.Driver.uuid == gone.uuid).values(deleted_at=gone.created_at))
        assert [r.version for r in conn.list_drivers()] == [1]
        assert [r.version for r in conn.list_drivers(include_deleted=True)] == [1, 2]
        assert conn.get_latest_driver("k8s").version == 1
        # A deleted version keeps its number: the next one is 3, not 2.
        assert self.make(conn, "k8s").version == 3

    def test_unknown_driver_is_not_found(self, conn):
        with pytest.raises(exception.DriverNotFound):
            conn.get_driver_by_uuid(UUID_MISSING)
        with pytest.raises(exception.DriverNotFound):
            conn.get_latest_driver("nope")


# ---------------------------------------------------------------------- events, key pairs

class TestClusterEvents:
    def test_events_come_back_in_order_and_paginate(self, conn):
        cluster_id = make_cluster(conn).uuid
        other = make_cluster(conn, name="other").uuid
        created = [conn.create_cluster_event({"cluster_id": cluster_id, "event_type": kind,
                                              "cluster_version": i})
                   for i, kind in enumerate(["create", "status", "update", "status"])]
        conn.create_cluster_event({"cluster_id": other, "event_type": "create"})
        listed = conn.list_cluster_events(cluster_id)
        assert [e.uuid for e in listed] == [e.uuid for e in created]
        page = conn.list_cluster_events(cluster_id, limit=2, marker=created[1].uuid)
        assert [e.event_type for e in page] == ["update", "status"]
        with pytest.raises(exception.InvalidParameterValue):
            conn.list_cluster_events(cluster_id, marker=UUID_MISSING)

    def test_events_newest_first_paginate_backwards(self, conn):
        cluster_id = make_cluster(conn).uuid
        created = [conn.create_cluster_event({"cluster_id": cluster_id, "event_type": kind})
                   for kind in ["create", "status", "update", "status"]]
        newest = conn.list_cluster_events(cluster_id, sort_dir="desc")
        assert [e.uuid for e in newest] == [e.uuid for e in reversed(created)]
        page = conn.list_cluster_events(cluster_id, limit=2, marker=created[2].uuid,
                                        sort_dir="desc")
        assert [e.uuid for e in page] == [created[1].uuid, created[0].uuid]


class TestX509KeyPairs:
    def test_create_get_destroy_scoped_to_project(self, conn):
        row = conn.create_x509keypair({"cluster_id": "c", "certificate": "PEM", "kind": "ca",
                                       "project_id": "p1"})
        assert conn.get_x509keypair_by_uuid(ctx(), row.uuid).certificate == "PEM"
        with pytest.raises(exception.X509KeyPairNotFound):
            conn.get_x509keypair_by_uuid(ctx("p2"), row.uuid)
        conn.destroy_x509keypair(row.uuid)
        with pytest.raises(exception.X509KeyPairNotFound):
            conn.get_x509keypair_by_uuid(ctx(), row.uuid)
        with pytest.raises(exception.X509KeyPairNotFound):
            conn.destroy_x509keypair(row.uuid)


# ---------------------------------------------------------------------- quotas

class TestQuotas:
    def test_crud(self, conn):
        conn.create_quota({"project_id": "p1", "resource": "Cluster", "hard_limit": 5})
        assert conn.get_quota("p1", "Cluster").hard_limit == 5
        assert conn.update_quota("p1", "Cluster", 9).hard_limit == 9
        assert conn.get_quota("p1", "Cluster").hard_limit == 9
        conn.delete_quota("p1", "Cluster")
        with pytest.raises(exception.QuotaNotFound):
            conn.get_quota("p1", "Cluster")

    def test_one_row_per_project_and_resource(self, conn):
        conn.create_quota({"project_id": "p1", "resource": "Cluster", "hard_limit": 5})
        with pytest.raises(exception.QuotaAlreadyExists):
            conn.create_quota({"project_id": "p1", "resource": "Cluster", "hard_limit": 1})
        conn.create_quota({"project_id": "p2", "resource": "Cluster", "hard_limit": 1})

    def test_missing_quota_is_not_found_everywhere(self, conn):
        with pytest.raises(exception.QuotaNotFound):
            conn.update_quota("p1", "Cluster", 1)
        with pytest.raises(exception.QuotaNotFound):
            conn.delete_quota("p1", "Cluster")

    def test_list_scoping_and_pagination(self, conn):
        rows = [conn.create_quota({"project_id": p, "resource": "Cluster", "hard_limit": n})
                for p, n in (("p1", 1), ("p2", 2), ("p3", 3))]
        assert [q.project_id for q in conn.list_quotas(ctx("p2"))] == ["p2"]
        admin = ctx("p9", admin=True, all_projects=True)
        assert [q.hard_limit for q in conn.list_quotas(admin, sort_key="hard_limit",
                                                        sort_dir="desc")] == [3, 2, 1]
        page = conn.list_quotas(admin, limit=1, marker=rows[0].id)
        assert [q.project_id for q in page] == ["p2"]
        assert [q.project_id for q in conn.list_quotas(admin, filters={"project_id": "p3"})] == [
            "p3"]
        with pytest.raises(exception.InvalidParameterValue):
            conn.list_quotas(admin, marker=4242)
        with pytest.raises(exception.InvalidParameterValue):
            conn.list_quotas(admin, sort_key="nope")
        with pytest.raises(exception.InvalidParameterValue):
            conn.list_quotas(admin, sort_dir="up")


# ---------------------------------------------------------------------- services

class TestMagnumServices:
    def test_heartbeat_creates_then_increments(self, conn):
        first = conn.record_service_heartbeat("host1", "magnum-lite-conductor")
        assert (first.report_count, first.disabled, first.forced_down) == (1, False, False)
        assert first.last_seen_up is not None
        second = conn.record_service_heartbeat("host1", "magnum-lite-conductor")
        assert second.id == first.id
        assert second.report_count == 2
        assert second.last_seen_up >= first.last_seen_up
        other = conn.record_service_heartbeat("host2", "magnum-lite-conductor")
        assert other.id != first.id and other.report_count == 1

    def test_concurrent_first_heartbeats_make_one_row(self, conn):
        barrier = threading.Barrier(5)

        def beat() -> None:
            barrier.wait()
            conn.record_service_heartbeat("racer", "magnum-lite-conductor")

        threads = [threading.Thread(target=beat) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows = [r for r in conn.get_magnum_service_list() if r.host == "racer"]
        assert [r.report_count for r in rows] == [5]

    def test_lookup_list_destroy(self, conn):
        assert conn.get_magnum_service_by_host_and_binary("h", "b") is None
        for host in ("h1", "h2", "h3"):
            conn.record_service_heartbeat(host, "magnum-lite-conductor")
        listed = conn.get_magnum_service_list()
        assert [r.host for r in listed] == ["h1", "h2", "h3"]
        assert [r.host for r in conn.get_magnum_service_list(limit=1, marker=listed[0].id)] == [
            "h2"]
        conn.destroy_magnum_service("h2", "magnum-lite-conductor")
        assert conn.get_magnum_service_by_host_and_binary("h2", "magnum-lite-conductor") is None

    def test_duplicate_host_and_binary_is_a_conflict(self, conn):
        conn.create_magnum_service({"host": "h", "binary": "b"})
        with pytest.raises(exception.MagnumServiceAlreadyExists):
            conn.create_magnum_service({"host": "h", "binary": "b"})


# ---------------------------------------------------------------------- sessions

def test_every_call_gives_its_connection_back(conn, db):
    """Rows are plain data once a call returns, and the connection is back in the pool (the
    SQLite engine has no pool to ask, so count check-outs and check-ins)."""
    open_connections = []
    event.listen(db, "checkout", lambda *_: open_connections.append(1))
    event.listen(db, "checkin", lambda *_: open_connections.pop())
    template = make_template(conn)
    cluster = make_cluster(conn, template=template)
    conn.get_cluster_template_list(ctx())
    conn.get_cluster_list(ctx())
    with pytest.raises(exception.ClusterNotFound):
        conn.get_cluster_by_uuid(ctx(), UUID_MISSING)
    with pytest.raises(exception.ConcurrentUpdate):
        conn.update_cluster(cluster.uuid, {"name": "x"}, expected_revision=99)
    with pytest.raises(exception.ClusterTemplateReferenced):
        conn.destroy_cluster_template(template.uuid)
    assert open_connections == []
    assert (template.name, cluster.name) == ("tmpl", "c")  # loaded, no detached-instance error
