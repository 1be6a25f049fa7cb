"""Versioned objects: fingerprints, compare-and-swap saves, derived counts, RPC round trip."""

import datetime

from oslo_utils import timeutils
from oslo_versionedobjects import fixture as ovo_fixture
import pytest

from magnum_lite import objects
from magnum_lite.common import context, exception
from magnum_lite.db.sqlalchemy import models
from magnum_lite.objects import base
from magnum_lite.objects import cluster as cluster_module

# Change a fingerprint here only together with the object's VERSION and its change log.
# A failure means a field or remotable method changed: bump the object's version (and teach
# obj_make_compatible about it), then record the new fingerprint.
EXPECTED_FINGERPRINTS = {
    "Cluster": "1.3-dbeac3f427838ed35b6d7c2bb9fd30f2",
    "ClusterEvent": "1.0-1d55fc21a55d6606c64a83b86f928fca",
    "ClusterOperation": "1.1-7289e18c97335da414be665e4768b145",
    "ClusterTemplate": "1.0-05e88d11d77ecaa721c6c0046edd980d",
    "Driver": "1.0-eb42c1f56b33c4d1f46986af737c7cde",
    "MagnumService": "1.0-a0533c2b3f9d6775ed9d2552b9108280",
    "NodeGroup": "1.1-fbedc16c233d4bb1a0beef1dd613c2b8",
    "Quota": "1.0-aa1e8914580007ccde429ae3c60dce54",
    "X509KeyPair": "1.0-156a9abe9035e002a67622a31f1e01e1",
}

# Object class -> the table its persistent fields live in.
TABLES = {
    "Cluster": models.Cluster,
    "ClusterEvent": models.ClusterEvent,
    "ClusterOperation": models.ClusterOperation,
    "ClusterTemplate": models.ClusterTemplate,
    "Driver": models.Driver,
    "MagnumService": models.MagnumService,
    "NodeGroup": models.NodeGroup,
    "Quota": models.Quota,
    "X509KeyPair": models.X509KeyPair,
}


def test_every_registered_object_has_the_expected_fingerprint():
    checker = ovo_fixture.ObjectVersionChecker(base.MagnumLiteObjectRegistry.obj_classes())
    expected, actual = checker.test_hashes(EXPECTED_FINGERPRINTS)
    assert actual == expected, "object changed without a version bump"


def test_fingerprints_cover_every_registered_object():
    assert set(base.MagnumLiteObjectRegistry.obj_classes()) == set(EXPECTED_FINGERPRINTS)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_persistent_fields_are_columns_of_the_table(name):
    """A field without a column would break loading from a row; a column without a field
    is data the API can never see."""
    cls = base.MagnumLiteObjectRegistry.obj_classes()[name][0]
    fields = set(cls.fields) - set(cls.DERIVED_FIELDS)
    assert fields == set(TABLES[name].__table__.columns.keys())


# ---------------------------------------------------------------------- clusters

def ctx(project: str = "p1") -> context.RequestContext:
    return context.RequestContext(project_id=project, user_id="u1", roles=["member"],
                                  request_id="req-1")


def new_cluster(name: str = "c", nodegroups: list[dict] | None = None) -> objects.Cluster:
    cluster = objects.Cluster(ctx(), name=name, project_id="p1", user_id="u1",
                              status="CREATE_IN_PROGRESS")
    if nodegroups is None:
        nodegroups = [
            {"name": "default-master", "role": "master", "node_count": 3, "project_id": "p1",
             "node_addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]},
            {"name": "default-worker", "role": "worker", "node_count": 2, "project_id": "p1",
             "node_addresses": ["10.0.1.1", "10.0.1.2"]},
            {"name": "gpu", "role": "worker", "node_count": 4, "project_id": "p1"},
        ]
    cluster.create_with_nodegroups(nodegroups)
    return cluster


class TestDerivedCounts:
    def test_counts_and_addresses_come_from_the_nodegroups(self, db):
        cluster = new_cluster()
        assert (cluster.master_count, cluster.node_count) == (3, 6)
        assert cluster.master_addresses == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        assert cluster.node_addresses == ["10.0.1.1", "10.0.1.2"]
        assert cluster.obj_what_changed() == set()

    def test_get_and_list_derive_per_cluster(self, db):
        big = new_cluster("big")
        new_cluster("small", [{"name": "default-master", "role": "master", "node_count": 1,
                               "project_id": "p1"}])
        assert objects.Cluster.get(ctx(), "big").node_count == 6
        assert objects.Cluster.get(ctx(), big.uuid).master_count == 3
        listed = {c.name: (c.master_count, c.node_count) for c in objects.Cluster.list(ctx())}
        assert listed == {"big": (3, 6), "small": (1, 0)}

    def test_derived_fields_follow_a_nodegroup_resize(self, db):
        cluster = new_cluster()
        gpu = objects.NodeGroup.get(ctx(), cluster.uuid, "gpu")
        gpu.node_count = 10
        gpu.save()
        assert objects.Cluster.get_by_uuid(ctx(), cluster.uuid).node_count == 12

    def test_derived_fields_are_never_written_to_the_cluster_row(self, db):
        cluster = new_cluster()
        cluster.node_count = 99  # not a column: save must ignore it, not fail
        cluster.status = "CREATE_COMPLETE"
        cluster.save()
        assert objects.Cluster.get_by_uuid(ctx(), cluster.uuid).node_count == 6


class TestClusterCompareAndSwap:
    def test_save_bumps_revision_and_keeps_the_object_current(self, db):
        cluster = new_cluster()
        cluster.status = "CREATE_COMPLETE"
        cluster.save()
        assert cluster.revision == 1
        cluster.status_reason = "done"
        cluster.save()
        assert cluster.revision == 2
        read = objects.Cluster.get_by_uuid(ctx(), cluster.uuid)
        assert (read.status, read.status_reason, read.revision) == (
            "CREATE_COMPLETE", "done", 2)

    def test_user_save_of_a_stale_object_raises(self, db):
        cluster = new_cluster()
        first = objects.Cluster.get_by_uuid(ctx(), cluster.uuid)
        second = objects.Cluster.get_by_uuid(ctx(), cluster.uuid)
        first.name = "first"
        first.save()
        second.name = "second"
        with pytest.raises(exception.ConcurrentUpdate) as err:
            second.save()
        assert err.value.code == 409
        assert objects.Cluster.get_by_uuid(ctx(), cluster.uuid).name == "first"

    def test_update_with_retry_retries_a_lost_race(self, db):
        cluster = new_cluster()
        calls = []

        def mutate(fresh: objects.Cluster) -> None:
            calls.append(fresh.revision)
            if len(calls) == 1:
                # Another writer (a user update) lands between our read and our write.
                racer = objects.Cluster.get_by_uuid(ctx(), cluster.uuid)
                racer.name = "renamed-by-user"
                racer.save()
            fresh.status = "CREATE_COMPLETE"

        saved = objects.Cluster.update_with_retry(ctx(), cluster.uuid, mutate)
        assert calls == [0, 1]  # the second attempt re-read the row the racer wrote
        read = objects.Cluster.get_by_uuid(ctx(), cluster.uuid)
        assert (read.name, read.status, read.revision) == (
            "renamed-by-user", "CREATE_COMPLETE", 2)
        assert saved.revision == 2

    def test_update_with_retry_gives_up_after_its_attempts(self, db, monkeypatch):
        monkeypatch.setattr(cluster_module, "INTERNAL_WRITE_ATTEMPTS", 3)
        cluster = new_cluster()
        calls = []

        def always_loses(fresh: objects.Cluster) -> None:
            calls.append(1)
            objects.Cluster.dbapi.update_cluster(fresh.uuid, {"status_reason": str(len(calls))})
            fresh.status = "CREATE_COMPLETE"

        with pytest.raises(exception.ConcurrentUpdate):
            objects.Cluster.update_with_retry(ctx(), cluster.uuid, always_loses)
        assert len(calls) == 3

    def test_update_with_retry_of_a_deleted_cluster_is_not_found(self, db):
        cluster = new_cluster()
        cluster.destroy()
        with pytest.raises(exception.ClusterNotFound):
            objects.Cluster.update_with_retry(ctx(), cluster.uuid, lambda c: None)

    def test_nodegroup_save_is_compare_and_swap_too(self, db):
        cluster = new_cluster()
        first = objects.NodeGroup.get(ctx(), cluster.uuid, "gpu")
        second = objects.NodeGroup.get(ctx(), cluster.uuid, "gpu")
        first.node_count = 5
        first.save()
        second.node_count = 6
        with pytest.raises(exception.ConcurrentUpdate):
            second.save()


class TestOtherObjects:
    def test_template_get_by_name_or_uuid_and_duplicate_names(self, db):
        template = objects.ClusterTemplate(ctx(), name="k8s", project_id="p1",
                                           coe="kubernetes", image_id="img")
        template.create()
        assert objects.ClusterTemplate.get(ctx(), template.uuid).name == "k8s"
        assert objects.ClusterTemplate.get(ctx(), "k8s").uuid == template.uuid
        objects.ClusterTemplate(ctx(), name="k8s", project_id="p1").create()
        with pytest.raises(exception.Duplicate):
            objects.ClusterTemplate.get(ctx(), "k8s")

    def test_driver_create_numbers_versions(self, db):
        versions = []
        for _ in range(2):
            driver = objects.Driver(ctx(), name="k8s", plugin_name="k8s_ubuntu_v1",
                                    config={"a": [1]})
            driver.create()
            versions.append(driver.version)
        assert versions == [1, 2]
        assert objects.Driver.get_latest(ctx(), "k8s").config == {"a": [1]}

    def test_record_event_keeps_status_and_request(self, db):
        cluster = new_cluster()
        cluster.record_event(ctx(), "create")
        cluster.status = "CREATE_COMPLETE"
        cluster.save()
        cluster.record_event(ctx(), "status")
        events = objects.ClusterEvent.list(ctx(), cluster.uuid)
        assert [(e.event_type, e.status, e.request_id) for e in events] == [
            ("create", "CREATE_IN_PROGRESS", "req-1"), ("status", "CREATE_COMPLETE", "req-1")]

    def test_quota_default_when_no_row(self, db):
        assert objects.Quota.hard_limit_for("p1", "Cluster", 20) == 20
        objects.Quota(ctx(), project_id="p1", resource="Cluster", hard_limit=3).create()
        assert objects.Quota.hard_limit_for("p1", "Cluster", 20) == 3

    def test_service_state_follows_heartbeats(self, db):
        service = objects.MagnumService.heartbeat(ctx(), "h1", "magnum-lite-conductor")
        assert service.report_count == 1
        assert service.state(down_after_seconds=60) == "up"
        service.last_seen_up = timeutils.utcnow() - datetime.timedelta(seconds=61)
        assert service.state(down_after_seconds=60) == "down"
        service.last_seen_up = timeutils.utcnow()
        service.forced_down = True
        assert service.state(down_after_seconds=60) == "down"


def test_cluster_survives_the_rpc_serializer(db):
    cluster = new_cluster()
    serializer = base.MagnumLiteObjectSerializer()
    primitive = serializer.serialize_entity(ctx(), cluster)
    assert primitive["magnum_lite_object.name"] == "Cluster"
    copy = serializer.deserialize_entity(ctx(), primitive)
    assert isinstance(copy, objects.Cluster)

    def values(obj: objects.Cluster) -> dict:
        # Timestamps travel as ISO 8601 without fractions of a second.
        return {k: getattr(obj, k).replace(microsecond=0)
                if isinstance(getattr(obj, k), datetime.datetime) else getattr(obj, k)
                for k in obj.fields if obj.obj_attr_is_set(k)}

    assert values(copy) == values(cluster)
    assert copy.node_count == 6 and copy.revision == cluster.revision


def test_nodegroup_1_0_readers_get_no_placement_fields():
    nodegroup = objects.NodeGroup(availability_zone="az-2", server_type="bm", name="gpu")
    data = f"{nodegroup.OBJ_SERIAL_NAMESPACE}.data"
    primitive = nodegroup.obj_to_primitive(target_version="1.0")[data]
    assert "availability_zone" not in primitive and "server_type" not in primitive
    assert primitive["name"] == "gpu"
    current = nodegroup.obj_to_primitive()[data]
    assert (current["availability_zone"], current["server_type"]) == ("az-2", "bm")


def test_cluster_1_2_readers_get_no_health_since():
    cluster = objects.Cluster(name="c", operation_uuid="op-1",
                              health_since={"w1": "2026-12-07T12:00:00+00:00"})
    data = f"{cluster.OBJ_SERIAL_NAMESPACE}.data"
    primitive = cluster.obj_to_primitive(target_version="1.2")[data]
    assert "health_since" not in primitive and primitive["operation_uuid"] == "op-1"
    assert "operation_uuid" not in cluster.obj_to_primitive(target_version="1.1")[data]
    assert cluster.obj_to_primitive()[data]["health_since"] == {
        "w1": "2026-12-07T12:00:00+00:00"}
