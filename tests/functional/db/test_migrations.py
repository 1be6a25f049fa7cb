"""The migrations, and the database layer on top of them, on SQLite, PostgreSQL and MariaDB.

oslo.db's opportunistic fixtures provision a randomly named database per test on the
`openstack_citest` account (tools/test-setup.sh creates it) and drop it afterwards. Where
PostgreSQL or MariaDB is missing, those tests skip, naming the backend; under CI=true the
skip is a failure (tests/conftest.py).
"""


from alembic import script as alembic_script
import fixtures
from oslo_db.sqlalchemy import enginefacade, test_fixtures, test_migrations
from oslotest import base as oslotest_base
import pytest
import sqlalchemy as sa

from magnum_lite import objects
from magnum_lite.common import context, exception
from magnum_lite.conf import CONF
from magnum_lite.db import migration
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models
from tests import db_upgrades


def admin_context() -> context.RequestContext:
    return context.RequestContext(project_id="p1", user_id="u1", is_admin=True,
                                  all_projects=True, roles=["admin"])


class _MigrationsTests(test_migrations.ModelsMigrationsSync):
    """Run against whichever backend FIXTURE provisions; test_models_sync is inherited."""

    def setUp(self) -> None:
        super().setUp()
        self.engine = enginefacade.writer.get_engine()

    # ModelsMigrationsSync's hooks
    def db_sync(self, engine: sa.Engine) -> None:
        migration.upgrade(engine=engine)

    def get_engine(self) -> sa.Engine:
        return self.engine

    def get_metadata(self) -> sa.MetaData:
        return models.Base.metadata

    def use_for_magnum_lite(self) -> sa.Engine:
        """Point magnum_lite's own database layer at the provisioned database (for SQLite, a
        file: a second engine on an in-memory URL would see another, empty database), and
        migrate it."""
        url = self.engine.url.render_as_string(hide_password=False)
        if self.engine.dialect.name == "sqlite":
            url = "sqlite:///" + self.useFixture(fixtures.TempDir()).join("test.sqlite")
        db_api.dispose_engine()
        CONF.set_override("connection", url, group="database")
        self.addCleanup(CONF.clear_override, "connection", group="database")
        self.addCleanup(db_api.dispose_engine)
        migration.upgrade()
        return db_api.get_engine()

    def test_upgrade_from_empty_reaches_head(self) -> None:
        assert sa.inspect(self.engine).get_table_names() == []
        assert migration.version(self.engine) is None
        migration.upgrade(engine=self.engine)
        assert migration.version(self.engine) == migration.head()
        assert migration.is_at_head(self.engine)
        tables = set(sa.inspect(self.engine).get_table_names())
        assert tables == set(models.Base.metadata.tables) | {"alembic_version"}

    def test_upgrade_step_by_step_then_again(self) -> None:
        scripts = alembic_script.ScriptDirectory.from_config(migration.alembic_config_for())
        history = reversed(list(scripts.walk_revisions()))
        for script in history:
            migration.upgrade(script.revision, engine=self.engine)
            assert migration.version(self.engine) == script.revision
        migration.upgrade(engine=self.engine)  # at head already: nothing to do, no error
        assert migration.is_at_head(self.engine)

    def test_0003_keeps_nodegroups_and_adds_placement(self) -> None:
        """0003 on a database holding a nodegroup: the row stays, its zone and server type
        are NULL (Nova's zone, the template's type), and both can be written."""
        migration.upgrade("0002", engine=self.engine)
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO nodegroup (uuid, name, cluster_id, project_id, node_count, role, "
                "revision) VALUES ('u-1', 'gpu', 'c-1', 'p1', 2, 'worker', 0)"))
        migration.upgrade("0003", engine=self.engine)
        with self.engine.begin() as connection:
            row = connection.execute(sa.text(
                "SELECT name, node_count, availability_zone, server_type FROM nodegroup"
            )).one()
            assert tuple(row) == ("gpu", 2, None, None)
            connection.execute(sa.text(
                "UPDATE nodegroup SET availability_zone = 'az-2', server_type = 'bm'"))
            assert tuple(connection.execute(sa.text(
                "SELECT availability_zone, server_type FROM nodegroup")).one()) == ("az-2", "bm")

    def test_0004_adds_operations_and_keeps_clusters(self) -> None:
        """0004 on a database holding a cluster in flight: the row stays with no operation
        named; an operation row takes any cluster uuid (no foreign key) and the cluster can
        name it."""
        migration.upgrade("0003", engine=self.engine)
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO cluster (uuid, name, status, version, revision) "
                "VALUES ('c-1', 'kept', 'UPDATE_IN_PROGRESS', 3, 7)"))
        migration.upgrade("0004", engine=self.engine)
        with self.engine.begin() as connection:
            row = connection.execute(sa.text(
                "SELECT name, status, version, revision, operation_uuid FROM cluster")).one()
            assert tuple(row) == ("kept", "UPDATE_IN_PROGRESS", 3, 7, None)
            connection.execute(sa.text(
                "INSERT INTO cluster_operation (uuid, cluster_uuid, kind, params, step, "
                "started_at, revision) VALUES ('o-1', 'gone-cluster', 'resize', "
                "'{\"node_count\": 3}', 'queued', '2026-12-06 00:00:00', 0)"))
            connection.execute(sa.text("UPDATE cluster SET operation_uuid = 'o-1'"))
            assert connection.execute(sa.text(
                "SELECT kind, params, outcome FROM cluster_operation")).one() == (
                "resize", '{"node_count": 3}', None)

    def test_database_layer_works_on_the_migrated_schema(self) -> None:
        self.use_for_magnum_lite()
        conn = db_api.Connection()
        ctx = admin_context()

        public = conn.create_cluster_template({"name": "k8s", "project_id": "p2",
                                               "public": True, "labels": {"a": "ü"}})
        conn.create_cluster_template({"name": "hidden", "project_id": "p2", "public": True,
                                      "hidden": True})
        member = context.RequestContext(project_id="p1", roles=["member"])
        assert [t.name for t in conn.get_cluster_template_list(member)] == ["k8s"]
        assert conn.get_cluster_template_by_uuid(member, public.uuid).labels == {"a": "ü"}
        with pytest.raises(exception.ClusterTemplateAlreadyExists):
            conn.create_cluster_template({"uuid": public.uuid, "name": "again"})

        cluster = conn.create_cluster_with_nodegroups(
            {"name": "c", "project_id": "p1", "cluster_template_id": public.uuid},
            [{"name": "default-worker", "role": "worker", "node_count": 2, "project_id": "p1"}])
        conn.update_cluster(cluster.uuid, {"status": "CREATE_COMPLETE"}, expected_revision=0)
        with pytest.raises(exception.ConcurrentUpdate):
            conn.update_cluster(cluster.uuid, {"status": "UPDATE_FAILED"}, expected_revision=0)
        with pytest.raises(exception.ClusterTemplateReferenced):
            conn.destroy_cluster_template(public.uuid)
        assert conn.get_cluster_stats(ctx, "p1") == (1, 2)

        assert [conn.create_driver({"name": "d", "plugin_name": "p"}).version
                for _ in range(3)] == [1, 2, 3]
        conn.record_service_heartbeat("h", "magnum-lite-conductor")
        assert conn.record_service_heartbeat("h", "magnum-lite-conductor").report_count == 2
        with pytest.raises(exception.InvalidParameterValue):
            conn.get_cluster_list(ctx, sort_key="bogus")


class TestMigrationsSQLite(_MigrationsTests, test_fixtures.OpportunisticDBTestMixin,
                           oslotest_base.BaseTestCase):
    pass


class _ServerBackendTests(_MigrationsTests):
    """What only a database server can show: concurrent upgrades, pooled connections."""

    def test_concurrent_upgrades_all_succeed(self) -> None:
        """Several `db upgrade` processes at once (containers starting together): one
        migrates, the others wait for its lock and find the schema at head."""
        url = self.engine.url.render_as_string(hide_password=False)
        assert db_upgrades.upgrade_concurrently(url, workers=3) == ["ok"] * 3
        assert migration.is_at_head(self.engine)

    def test_upgrade_lock_excludes_a_second_session(self) -> None:
        with self.engine.connect() as holder, migration._upgrade_lock(holder):
            with self.engine.connect() as other:
                assert not self.try_lock(other)
        with self.engine.connect() as other:
            assert self.try_lock(other)

    def try_lock(self, connection: sa.Connection) -> bool:
        """Take the upgrade lock without waiting (released when the connection closes)."""
        if connection.dialect.name == "postgresql":
            statement = "SELECT pg_try_advisory_lock(:key, hashtext(current_database()))"
            return bool(connection.execute(sa.text(statement),
                                           {"key": migration._PG_LOCK_KEY}).scalar())
        statement = "SELECT GET_LOCK(CONCAT(:name, MD5(DATABASE())), 0)"
        return connection.execute(sa.text(statement),
                                  {"name": migration._LOCK_NAME}).scalar() == 1

    def test_no_connection_stays_checked_out(self) -> None:
        """The Magnum defect to avoid: listing templates kept a pooled connection checked out
        until garbage collection, and the pool ran dry under load."""
        engine = self.use_for_magnum_lite()
        assert isinstance(engine.pool, sa.pool.QueuePool)
        conn = db_api.Connection()
        ctx = admin_context()

        template = conn.create_cluster_template({"name": "t", "project_id": "p1"})
        cluster = objects.Cluster(ctx, name="c", project_id="p1",
                                  cluster_template_id=template.uuid)
        cluster.create_with_nodegroups([{"name": "default-worker", "role": "worker",
                                         "node_count": 1, "project_id": "p1"}])
        for _ in range(engine.pool.size() + engine.pool._max_overflow + 5):
            # More calls than the pool has connections: a leak would exhaust it.
            conn.get_cluster_template_list(ctx)
            objects.ClusterTemplate.list(ctx)
            objects.Cluster.list(ctx)
            with pytest.raises(exception.ClusterNotFound):
                conn.get_cluster_by_name(ctx, "missing")
            with pytest.raises(exception.ConcurrentUpdate):
                conn.update_cluster(cluster.uuid, {"name": "x"}, expected_revision=-1)
            assert engine.pool.checkedout() == 0
        cluster.status = "CREATE_COMPLETE"
        cluster.save()
        assert engine.pool.checkedout() == 0


@pytest.mark.service
class TestMigrationsPostgreSQL(_ServerBackendTests, test_fixtures.OpportunisticDBTestMixin,
                               oslotest_base.BaseTestCase):
    FIXTURE = test_fixtures.PostgresqlOpportunisticFixture


@pytest.mark.service
class TestMigrationsMariaDB(_ServerBackendTests, test_fixtures.OpportunisticDBTestMixin,
                            oslotest_base.BaseTestCase):
    FIXTURE = test_fixtures.MySQLOpportunisticFixture

    def test_tables_are_innodb_with_4_byte_utf8(self) -> None:
        migration.upgrade(engine=self.engine)
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT table_name, engine, table_collation FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'")).all()
        assert {row[0] for row in rows} == set(models.Base.metadata.tables)
        for name, engine, collation in rows:
            assert engine == "InnoDB", name
            assert collation.startswith("utf8mb4"), (name, collation)
