"""Loading objects from rows: the fast path must give what ovo's own setters give."""

import datetime

from oslo_versionedobjects import base as ovo_base

from magnum_lite import objects
from magnum_lite.common import context
from magnum_lite.db import api as dbapi


def _through_setters(cls, row):
    """The reference: every field set through ovo's coercing setters."""
    obj = cls()
    for name in obj.fields:
        if name not in cls.DERIVED_FIELDS:
            setattr(obj, name, getattr(row, name))
    obj.obj_reset_changes()
    return obj


def _fields(obj) -> dict:
    return {name: getattr(obj, name) for name in obj.fields if obj.obj_attr_is_set(name)}


def test_fast_loader_equals_coercing_setters_for_every_object_type(db):
    ctx = context.RequestContext(project_id="p1", user_id="u1", is_admin=True,
                                 all_projects=True)
    conn = dbapi.get_instance()
    template = conn.create_cluster_template({"name": "t", "project_id": "p1", "coe": "mesos",
                                             "labels": {"a": "b"}, "apiserver_port": 6443,
                                             "public": True})
    cluster = conn.create_cluster_with_nodegroups(
        {"name": "c", "project_id": "p1", "cluster_template_id": template.uuid,
         "status": "CREATE_IN_PROGRESS", "health_status_reason": {"api": "ok"}},
        [{"name": "w", "role": "worker", "node_count": 2, "project_id": "p1",
          "node_addresses": ["10.0.0.1"]}])
    rows = [
        (objects.ClusterTemplate, conn.get_cluster_template_list(ctx)[0]),
        (objects.Cluster, conn.get_cluster_list(ctx)[0]),
        (objects.NodeGroup, conn.list_cluster_nodegroups(ctx, cluster.uuid)[0]),
        (objects.Quota, conn.create_quota({"project_id": "p1", "resource": "Cluster",
                                           "hard_limit": 3})),
        (objects.MagnumService, conn.record_service_heartbeat("h", "magnum-lite-conductor")),
        (objects.Driver, conn.create_driver({"name": "d", "plugin_name": "x",
                                             "config": {"k": [1, 2]}})),
    ]
    for cls, row in rows:
        fast = cls._from_db_object(ctx, cls(), row)
        assert _fields(fast) == _fields(_through_setters(cls, row)), cls.__name__
        assert not fast.obj_what_changed()
        # Datetimes come back timezone-aware, as ovo's DateTimeField makes them.
        assert fast.created_at.tzinfo is not None


def test_null_in_a_non_nullable_field_gets_the_field_default(db):
    conn = dbapi.get_instance()
    row = conn.create_cluster_template({"name": "t", "project_id": "p1"})
    row.registry_enabled = None  # as if an old row had no value
    obj = objects.ClusterTemplate._from_db_object(None, objects.ClusterTemplate(), row)
    assert obj.registry_enabled is False
    assert getattr(obj, ovo_base._get_attrname("registry_enabled")) is False


def test_loaded_datetime_is_utc():
    class Row:
        pass

    row = Row()
    for name in objects.Quota.fields:
        setattr(row, name, None)
    row.id, row.project_id, row.resource, row.hard_limit = 1, "p", "Cluster", 1
    row.created_at = datetime.datetime(2026, 1, 2, 3, 4, 5)
    quota = objects.Quota._from_db_object(None, objects.Quota(), row)
    assert quota.created_at == datetime.datetime(2026, 1, 2, 3, 4, 5,
                                                 tzinfo=datetime.UTC)
