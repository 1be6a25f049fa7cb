"""Schema migrations on SQLite, and the `magnum-lite-manage db` commands that run them.

The same migrations on PostgreSQL and MariaDB: tests/functional/db/test_migrations.py.
"""

import ast
import pathlib
import subprocess
import sys

from alembic import autogenerate
from alembic import migration as alembic_migration
from alembic import script as alembic_script
import pytest
import sqlalchemy as sa

from magnum_lite.cmd import manage
from magnum_lite.db import migration
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models
from tests import db_upgrades

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def empty_db(config, tmp_path) -> sa.Engine:
    """A SQLite file with no schema at all, as after a fresh install."""
    db_api.dispose_engine()
    config.set_override("connection", f"sqlite:///{tmp_path}/fresh.sqlite", group="database")
    yield db_api.get_engine()
    db_api.dispose_engine()
    config.clear_override("connection", group="database")


def revisions_oldest_first() -> list:
    scripts = alembic_script.ScriptDirectory.from_config(migration.alembic_config_for())
    return list(reversed(list(scripts.walk_revisions())))


def test_scripts_come_from_the_checkout_root():
    assert pathlib.Path(migration.script_location()) == REPO / "alembic"


def test_scripts_of_an_installed_wheel_are_found_under_the_prefix(tmp_path, monkeypatch):
    """A wheel puts alembic/ in <prefix>/share/magnum-lite (setup.cfg data_files), and
    site-packages/alembic next to the package is the alembic library, not our scripts."""
    site_packages = tmp_path / "lib" / "site-packages"
    (site_packages / "alembic").mkdir(parents=True)  # the library: no env.py, no versions/
    installed = tmp_path / "share" / "magnum-lite" / "alembic"
    (installed / "versions").mkdir(parents=True)
    (installed / "env.py").write_text("")
    monkeypatch.setattr(migration, "_SOURCE_SCRIPTS", site_packages / "alembic")
    monkeypatch.setattr(migration.sys, "prefix", str(tmp_path))
    assert migration.script_location() == str(installed)

    (installed / "env.py").unlink()
    with pytest.raises(migration.MigrationScriptsNotFound, match="share/magnum-lite/alembic"):
        migration.script_location()


def test_one_linear_history():
    scripts = alembic_script.ScriptDirectory.from_config(migration.alembic_config_for())
    assert len(scripts.get_heads()) == 1
    assert revisions_oldest_first()[0].revision == "0001"


@pytest.mark.parametrize("revision", [r.revision for r in revisions_oldest_first()])
def test_migrations_go_forward_only(revision):
    """DESIGN.md §5: no downgrades. A script may omit downgrade() or make it raise."""
    scripts = alembic_script.ScriptDirectory.from_config(migration.alembic_config_for())
    module = scripts.get_revision(revision).module
    downgrade = getattr(module, "downgrade", None)
    if downgrade is not None:
        with pytest.raises(NotImplementedError):
            downgrade()


def test_fresh_database_has_no_version(empty_db):
    assert migration.version() is None
    assert migration.is_at_head() is False


def test_upgrade_reaches_head_and_matches_the_models(empty_db):
    migration.upgrade()
    assert migration.version() == migration.head() == "0006"
    assert migration.is_at_head() is True
    with empty_db.connect() as connection:
        context = alembic_migration.MigrationContext.configure(
            connection, opts={"compare_type": True})
        assert autogenerate.compare_metadata(context, models.Base.metadata) == []


def test_upgrade_twice_is_a_no_op(empty_db):
    migration.upgrade()
    db_api.Connection().create_cluster_template({"name": "kept", "project_id": "p"})
    migration.upgrade()
    assert migration.version() == migration.head()
    with empty_db.connect() as connection:
        names = connection.execute(sa.text("SELECT name FROM cluster_template")).scalars()
        assert list(names) == ["kept"]


def test_upgrade_step_by_step(empty_db):
    for script in revisions_oldest_first():
        migration.upgrade(script.revision)
        assert migration.version() == script.revision


def test_0003_adds_nullable_placement_columns_and_keeps_nodegroups(empty_db):
    """SQLite rebuilds the table for the ALTER (batch mode): existing rows must survive."""
    migration.upgrade("0002")
    with empty_db.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO nodegroup (uuid, name, cluster_id, project_id, node_count, role, "
            "revision) VALUES ('u-1', 'gpu', 'c-1', 'p1', 2, 'worker', 0)"))
    migration.upgrade("0003")
    columns = {c["name"]: c for c in sa.inspect(empty_db).get_columns("nodegroup")}
    assert columns["availability_zone"]["nullable"] and columns["server_type"]["nullable"]
    assert columns["server_type"]["type"].length == 20
    with empty_db.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT name, node_count, availability_zone, server_type FROM nodegroup")).one()
    assert tuple(row) == ("gpu", 2, None, None)


def test_0004_adds_operations_and_keeps_clusters(empty_db):
    """SQLite rebuilds the cluster table for the ALTER (batch mode): its rows survive, with no
    operation in flight; the operation table takes rows of any cluster uuid (no foreign key:
    an operation outlives its cluster)."""
    migration.upgrade("0003")
    with empty_db.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO cluster (uuid, name, status, version, revision) "
            "VALUES ('c-1', 'kept', 'UPDATE_IN_PROGRESS', 3, 7)"))
    migration.upgrade("0004")
    with empty_db.begin() as connection:
        row = connection.execute(sa.text(
            "SELECT name, status, version, revision, operation_uuid FROM cluster")).one()
        assert tuple(row) == ("kept", "UPDATE_IN_PROGRESS", 3, 7, None)
        connection.execute(sa.text(
            "INSERT INTO cluster_operation (uuid, cluster_uuid, kind, step, started_at, "
            "revision) VALUES ('o-1', 'gone-cluster', 'delete', 'following', "
            "'2026-12-06 00:00:00', 0)"))
        assert connection.execute(sa.text(
            "SELECT outcome FROM cluster_operation WHERE uuid = 'o-1'")).scalar() is None
    indexes = {ix["name"] for ix in sa.inspect(empty_db).get_indexes("cluster_operation")}
    assert {"ix_cluster_operation_cluster_uuid", "cluster_operation_outcome_idx"} <= indexes


def test_upgrade_to_unknown_revision_fails_cleanly(empty_db):
    with pytest.raises(Exception, match="Can't locate revision"):
        migration.upgrade("f00d")
    assert migration.version() is None


def test_the_sqlite_database_comes_up_in_wal_mode(empty_db):
    migration.upgrade()
    with empty_db.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_concurrent_upgrades_of_one_sqlite_file_all_succeed(tmp_path):
    """Without the upgrade lock, racing processes fail with "database is locked" or "table
    already exists"."""
    url = f"sqlite:///{tmp_path}/magnum-lite.sqlite"
    assert db_upgrades.upgrade_concurrently(url, workers=4) == ["ok"] * 4

    engine = sa.create_engine(f"sqlite:///{tmp_path}/magnum-lite.sqlite")
    with engine.connect() as connection:
        assert connection.exec_driver_sql(
            "SELECT version_num FROM alembic_version").scalars().all() == ["0006"]
    engine.dispose()


@pytest.mark.parametrize("script", revisions_oldest_first(), ids=lambda s: s.revision)
def test_migrations_import_nothing_from_the_package(script):
    """A migration is a frozen picture of the schema: it must not change when models do."""
    tree = ast.parse(pathlib.Path(script.path).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not {name for name in imported if name and name.startswith("magnum_lite")}


# ---------------------------------------------------------------------- magnum-lite-manage

def write_config(tmp_path, **database) -> str:
    lines = ["[DEFAULT]", f"state_path = {tmp_path}", "[database]"]
    lines += [f"{key} = {value}" for key, value in database.items()]
    path = tmp_path / "magnum-lite.conf"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class TestManage:
    @pytest.fixture(autouse=True)
    def as_a_fresh_process(self, config, monkeypatch):
        """main() parses the command line itself: start from an unparsed CONF, and leave no
        sub-command option or logging handlers behind for the other tests."""
        monkeypatch.setattr(manage.logging, "setup", lambda *args, **kwargs: None)
        db_api.dispose_engine()
        config.clear()
        yield
        db_api.dispose_engine()
        config.reset()
        config.unregister_opt(manage._COMMAND_OPT)
        config([], project="magnum-lite", default_config_files=[], default_config_dirs=[])

    @staticmethod
    def run(*argv: str) -> int:
        """One `magnum-lite-manage` invocation, as if in its own process."""
        db_api.dispose_engine()
        manage.CONF.clear()
        return manage.main(list(argv))

    def test_db_upgrade_then_version(self, tmp_path, capsys):
        conf = write_config(tmp_path)
        assert self.run("--config-file", conf, "db", "version") == 0
        assert capsys.readouterr().out == "None\n"
        assert self.run("--config-file", conf, "db", "upgrade") == 0
        assert self.run("--config-file", conf, "db", "version") == 0
        assert capsys.readouterr().out.splitlines()[-1] == "0006"
        assert (tmp_path / "magnum-lite.sqlite").exists()

    def test_db_upgrade_to_a_revision(self, tmp_path, capsys):
        conf = write_config(tmp_path)
        assert self.run("--config-file", conf, "db", "upgrade", "--revision", "0001") == 0
        assert self.run("--config-file", conf, "db", "version") == 0
        assert capsys.readouterr().out.splitlines()[-1] == "0001"

    def test_unknown_revision_is_exit_1_with_one_line(self, tmp_path, capsys):
        conf = write_config(tmp_path)
        assert self.run("--config-file", conf, "db", "upgrade", "--revision", "f00d") == 1
        err = capsys.readouterr().err
        assert err.startswith("magnum-lite-manage: error: ") and "f00d" in err
        assert err.count("\n") == 1

    def test_missing_subcommand_is_a_usage_error(self, tmp_path):
        with pytest.raises(SystemExit) as exit_:
            self.run("--config-file", write_config(tmp_path), "db")
        assert exit_.value.code == 2


def test_the_console_script_upgrades(tmp_path):
    conf = write_config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "magnum_lite.cmd.manage", "--config-file", conf,
                           "db", "upgrade"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "The database schema is at revision 0006" in done.stdout + done.stderr


def test_unreachable_database_is_one_line_and_exit_1(tmp_path):
    """In a real process: no traceback, just what went wrong."""
    conf = write_config(tmp_path, connection="postgresql+psycopg2://nobody:x@127.0.0.1:1/none",
                        max_retries=1, retry_interval=0)
    done = subprocess.run([sys.executable, "-m", "magnum_lite.cmd.manage", "--config-file", conf,
                           "db", "upgrade"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("magnum-lite-manage")]
    assert len(errors) == 1
    assert "127.0.0.1" in errors[0] and "port 1" in errors[0]
