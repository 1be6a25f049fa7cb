"""The process's database engine, and the sessions every query runs in.

One oslo.db enginefacade per process, configured from [database] on first use, with the
connection events that suit its backend (SQLite's write lock, a ping for idle connections
only). Kept apart from the queries, which only open sessions through it.
"""

from collections.abc import Iterator
import contextlib
import os
import threading
import time
from typing import Any

from oslo_db.sqlalchemy import enginefacade
import sqlalchemy as sa
from sqlalchemy import event

from magnum_lite.conf import CONF
from magnum_lite.conf import database as database_conf

_CONTEXT = threading.local()
_FACADE_LOCK = threading.Lock()
_FACADE: Any = None

# Seconds a pooled connection may sit idle before its next checkout tests it (see
# _ping_idle_connections_only).
IDLE_PING_SECONDS = 2.0
# Seconds a SQLite writer waits for the lock held by another writer.
SQLITE_BUSY_TIMEOUT_MS = 30000
# Execution option marking the connection of a writer transaction.
_WRITER_OPTION = "magnum_lite_writer"


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching to WAL needs a lock another process may hold.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_statement(connection: sa.Connection, cursor: Any, statement: str,
                         parameters: Any, context: Any, executemany: bool) -> tuple:
    """Writers take SQLite's write lock at BEGIN (BEGIN IMMEDIATE), waiting up to the busy
    timeout for it. A deferred transaction that reads and then writes cannot wait: when another
    writer got in between, SQLite fails it at once with "database is locked"."""
    # oslo.db turns pysqlite's own transaction handling off and emits a plain BEGIN itself.
    if statement == "BEGIN" and connection.get_execution_options().get(_WRITER_OPTION):
        statement = "BEGIN IMMEDIATE"
    return statement, parameters


def _mark_idle(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info["idle_since"] = time.monotonic()


def _ping_idle_connections_only(engine: sa.engine.Engine) -> None:
    """Test only connections that sat idle, instead of every checkout.

    oslo.db turns on pool_pre_ping (not configurable through it), which costs a transaction of
    its own on every checkout: on PostgreSQL a quarter of a single-row read. A connection that
    was in use within IDLE_PING_SECONDS is alive; an idle one is tested and, when dead,
    replaced before use (SQLAlchemy's pessimistic disconnect handling). A server restarted
    during busy traffic costs at most the requests in flight: the disconnect invalidates the
    whole pool.
    """
    dialect = engine.dialect

    def ping_if_idle(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        idle_since = connection_record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as err:  # any failure of the ping means: not usable
            raise sa.exc.DisconnectionError(str(err)) from err

    engine.pool._pre_ping = False
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", ping_if_idle)


def get_facade() -> Any:
    """The process's enginefacade, configured on first use from [database]."""
    global _FACADE
    if _FACADE is None:
        with _FACADE_LOCK:
            if _FACADE is None:
                url = database_conf.connection_url(CONF)
                if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                    os.makedirs(os.path.dirname(url[len("sqlite:///"):]) or ".", exist_ok=True)
                facade = enginefacade.transaction_context()
                # thread_checkin adds a sleep(0) per checkin for eventlet's sake: no eventlet here.
                facade.configure(connection=url, sqlite_fk=False, thread_checkin=False)
                engine = facade.writer.get_engine()
                _ping_idle_connections_only(engine)
                if engine.dialect.name == "sqlite":
                    event.listen(engine, "connect", _on_sqlite_connect)
                    event.listen(engine, "before_cursor_execute", _on_sqlite_statement,
                                 retval=True)
                _FACADE = facade
    return _FACADE


def get_engine() -> sa.engine.Engine:
    return get_facade().writer.get_engine()


def dispose_engine() -> None:
    """Forget the engine (tests, and processes that fork after touching the database)."""
    global _FACADE
    with _FACADE_LOCK:
        if _FACADE is not None:
            _FACADE.writer.get_engine().dispose()
            _FACADE.dispose_pool()
        _FACADE = None


def _reader() -> Any:
    return get_facade().reader.using(_CONTEXT)


@contextlib.contextmanager
def _single_read() -> Iterator[sa.Connection]:
    """A connection for one standalone SELECT, outside any transaction where that is free.

    oslo.db's reader wraps every read in a transaction: on PostgreSQL psycopg2 sends BEGIN as
    a statement of its own and the session ends with a ROLLBACK, three round trips for one
    SELECT. A single SELECT sees one consistent snapshot by itself, so the hot reads (a
    resource by uuid, a page of a list) run in autocommit there; psycopg2 switches autocommit
    on the client side, without a statement (the connection goes back to the pool out of
    autocommit, as it came). Other backends keep their implicit transaction
    (pymysql would send SET statements to switch). Only for methods that run one statement
    and write nothing.
    """
    engine = get_engine()
    with engine.connect() as conn:
        if engine.dialect.driver != "psycopg2":
            yield conn
            return
        # psycopg2's own switch, not SQLAlchemy's isolation level: that one goes through
        # set_isolation_level both ways, which costs a round trip.
        dbapi_connection = conn.connection.dbapi_connection
        dbapi_connection.autocommit = True
        try:
            yield conn
        finally:
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False


@contextlib.contextmanager
def _writer() -> Iterator[Any]:
    with get_facade().writer.using(_CONTEXT) as session:
        session.connection(execution_options={_WRITER_OPTION: True})
        yield session
