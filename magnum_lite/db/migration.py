"""Schema migrations: bring the database to the newest schema and tell where it stands.

The alembic scripts live in `alembic/` at the top of a source checkout (also what an editable
install runs); a wheel installs them as data files under `<prefix>/share/magnum-lite/alembic`.

Several processes may run `magnum-lite-manage db upgrade` at once (devstack, containers starting
together), so an upgrade holds a lock for its whole run: a file lock next to a SQLite database,
an advisory lock on PostgreSQL, a named lock on MySQL/MariaDB. The ones after the first find the
schema already at head and do nothing.
"""

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import site
import sys
import threading

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from oslo_concurrency import lockutils
import sqlalchemy as sa

from magnum_lite.db.sqlalchemy import api as db_api

# Where the scripts are: a source checkout first, then where a wheel puts its data files.
_SOURCE_SCRIPTS = Path(__file__).resolve().parents[2] / "alembic"
_INSTALLED_SCRIPTS = Path("share") / "magnum-lite" / "alembic"

# Name of the lock every concurrent upgrade of one database takes. Database servers scope
# these locks to the server, so the database's name goes into the key too.
_LOCK_NAME = "magnum_lite_db_upgrade"
# First half of the PostgreSQL advisory lock key: any fixed 32-bit number unique to this purpose
# (the second half is a hash of the database's name).
_PG_LOCK_KEY = 0x6D6C6462
# Seconds a MySQL upgrade waits for another to finish.
_MYSQL_LOCK_TIMEOUT = 600
# alembic keeps its `context` and `op` proxies in module globals: one run per process at a time.
_ALEMBIC_LOCK = threading.Lock()


class MigrationScriptsNotFound(RuntimeError):
    """The alembic scripts are neither in a source checkout nor installed."""


def script_location() -> str:
    """The directory of the alembic scripts (env.py and versions/)."""
    candidates = [_SOURCE_SCRIPTS]
    for prefix in (sys.prefix, site.getuserbase()):
        candidates.append(Path(prefix) / _INSTALLED_SCRIPTS)
    for candidate in candidates:
        # For a wheel, the first candidate is site-packages/alembic: the alembic library.
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return str(candidate)
    raise MigrationScriptsNotFound(
        "alembic migration scripts not found in: " + ", ".join(map(str, candidates)))


def alembic_config_for(connection: sa.Connection | None = None) -> alembic_config.Config:
    """An alembic Config built in code (no alembic.ini needed), optionally bound to
    `connection`, which env.py then uses instead of opening its own."""
    config = alembic_config.Config()
    config.set_main_option("script_location", script_location())
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the scripts know."""
    scripts = alembic_script.ScriptDirectory.from_config(alembic_config_for())
    return scripts.get_current_head()


def _current_revision(connection: sa.Connection) -> str | None:
    return alembic_migration.MigrationContext.configure(connection).get_current_revision()


def version(engine: sa.Engine | None = None) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    engine = engine if engine is not None else db_api.get_engine()
    with engine.connect() as connection:
        return _current_revision(connection)


def is_at_head(engine: sa.Engine | None = None) -> bool:
    """True when the schema is the newest one (what `magnum-lite-status` checks)."""
    return version(engine) == head()


def upgrade(revision: str = "head", engine: sa.Engine | None = None) -> None:
    """Migrate the database forward to `revision` (forward only: there are no downgrades)."""
    engine = engine if engine is not None else db_api.get_engine()
    with _ALEMBIC_LOCK, engine.connect() as connection, _upgrade_lock(connection):
        alembic_command.upgrade(alembic_config_for(connection), revision)


@contextlib.contextmanager
def _upgrade_lock(connection: sa.Connection) -> Iterator[None]:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        with _sqlite_file_lock(connection.engine.url.database):
            yield
    elif dialect == "postgresql":
        with _session_lock(connection,
                           "SELECT pg_advisory_lock(:key, hashtext(current_database()))",
                           "SELECT pg_advisory_unlock(:key, hashtext(current_database()))",
                           {"key": _PG_LOCK_KEY}):
            yield
    elif dialect == "mysql":
        # Lock names are limited to 64 characters: a digest stands for the database's name.
        with _session_lock(connection,
                           "SELECT GET_LOCK(CONCAT(:name, MD5(DATABASE())), :timeout)",
                           "SELECT RELEASE_LOCK(CONCAT(:name, MD5(DATABASE())))",
                           {"name": _LOCK_NAME, "timeout": _MYSQL_LOCK_TIMEOUT}):
            yield
    else:
        yield


@contextlib.contextmanager
def _sqlite_file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield  # private to this connection: nobody to race with
        return
    path = os.path.abspath(database)
    with lockutils.lock(os.path.basename(path) + ".upgrade-lock", external=True,
                        lock_path=os.path.dirname(path)):
        yield


@contextlib.contextmanager
def _session_lock(connection: sa.Connection, acquire: str, release: str,
                  params: dict) -> Iterator[None]:
    """A lock held by the database session itself, so it dies with the connection."""
    acquired = connection.execute(sa.text(acquire), params).scalar()
    # Commit, so alembic starts from no transaction and runs its own.
    connection.commit()
    if acquired == 0:  # MySQL's GET_LOCK timed out (PostgreSQL's call just waits)
        raise TimeoutError(f"another database upgrade held {_LOCK_NAME} for "
                           f"{_MYSQL_LOCK_TIMEOUT} s")
    try:
        yield
    finally:
        # A broken connection has released the lock already; don't mask the real error.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            connection.rollback()
            connection.execute(sa.text(release), params)
            connection.commit()
