"""The API's hot reads on PostgreSQL: one statement each, outside any transaction, and the
pooled connection handed back as it was taken (in transaction mode, for the writers)."""

import psycopg2.extensions
import pytest
from sqlalchemy import event

from magnum_lite.common import context
from magnum_lite.db.sqlalchemy import api as db_api

pytestmark = pytest.mark.service


def _statements(engine):
    """(SQL, the server-side transaction status right after it) of each statement."""
    seen = []

    def after(conn, cursor, statement, parameters, ctx, executemany):
        seen.append((statement.split()[0], cursor.connection.get_transaction_status()))

    event.listen(engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine, "after_cursor_execute", after)


def test_hot_reads_run_one_select_each_in_autocommit(pg_connection):
    conn, _url = pg_connection
    template = conn.create_cluster_template({"name": "t", "project_id": "p1", "public": False})
    cluster = conn.create_cluster_with_nodegroups(
        {"name": "c", "project_id": "p1", "cluster_template_id": template.uuid},
        [{"name": "m", "project_id": "p1", "role": "master", "node_count": 1},
         {"name": "w", "project_id": "p1", "role": "worker", "node_count": 3,
          "node_addresses": ["10.0.0.5"]}])
    member = context.RequestContext(project_id="p1", user_id="u1", roles=["member"])
    engine = db_api.get_engine()
    seen, stop = _statements(engine)
    try:
        assert conn.get_cluster_template_by_uuid(member, template.uuid).name == "t"
        assert [r.name for r in conn.get_cluster_template_list(member, limit=50)] == ["t"]
        row, sizes = conn.get_cluster_with_nodegroup_sizes(member, cluster.uuid)
        assert [r.name for r in conn.get_cluster_list(member, limit=50)] == ["c"]
        assert [r.cluster_id for r in conn.list_nodegroup_sizes_of_clusters(
            [cluster.uuid])] == [cluster.uuid] * 2
    finally:
        stop()
    assert row.name == "c"
    assert sizes == [("master", 1, None), ("worker", 3, ["10.0.0.5"])]
    idle = psycopg2.extensions.TRANSACTION_STATUS_IDLE
    assert seen == [("SELECT", idle)] * 5  # no BEGIN: nothing left open after the SELECT
    # Back in the pool in transaction mode: a writer's statements run in a transaction.
    with engine.connect() as pooled:
        assert pooled.connection.dbapi_connection.autocommit is False
    conn.update_cluster_template(template.uuid, {"name": "t2"})
    assert conn.get_cluster_template_by_uuid(member, template.uuid).name == "t2"


def test_a_cluster_of_another_project_is_not_found(pg_connection):
    from magnum_lite.common import exception

    conn, _url = pg_connection
    cluster = conn.create_cluster_with_nodegroups({"name": "c", "project_id": "p1"}, [])
    other = context.RequestContext(project_id="p2", user_id="u2", roles=["member"])
    with pytest.raises(exception.ClusterNotFound):
        conn.get_cluster_with_nodegroup_sizes(other, cluster.uuid)
    admin = context.RequestContext(project_id="p2", is_admin=True, all_projects=True)
    row, sizes = conn.get_cluster_with_nodegroup_sizes(admin, cluster.uuid)
    assert (row.uuid, sizes) == (cluster.uuid, [])


def test_a_clusters_template_labels_are_read_as_the_caller_may_read_the_template(
        pg_connection):
    conn, _url = pg_connection
    private = conn.create_cluster_template({"name": "private", "project_id": "p2",
                                            "labels": {"a": "1"}})
    public = conn.create_cluster_template({"name": "public", "project_id": "p2",
                                           "public": True, "labels": {"b": "2"}})
    on_private = conn.create_cluster_with_nodegroups(
        {"name": "c1", "project_id": "p1", "cluster_template_id": private.uuid}, [])
    on_public = conn.create_cluster_with_nodegroups(
        {"name": "c2", "project_id": "p1", "cluster_template_id": public.uuid}, [])
    member = context.RequestContext(project_id="p1", user_id="u1", roles=["member"])
    admin = context.RequestContext(project_id="p3", is_admin=True, all_projects=True)

    def labels(ctx, cluster):
        return conn.get_cluster_with_nodegroup_sizes(ctx, cluster.uuid)[0].template_labels

    assert labels(member, on_private) is None  # as get_cluster_template_by_uuid: not found
    assert labels(member, on_public) == {"b": "2"}
    assert labels(admin, on_private) == {"a": "1"}
