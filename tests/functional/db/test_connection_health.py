"""Pooled connections that the server dropped: replaced when idle, a clear error when not.

The server side is real: PostgreSQL terminates the backend of a pooled connection, as a
restart or a failover does.
"""

import pytest
import sqlalchemy as sa

from magnum_lite.common import context
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import session as db_session
from tests.functional import deployment as dep

pytestmark = pytest.mark.service


def _terminate_backends(url: str) -> int:
    """Kill every server process serving the test database but our own admin session."""
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(dep.POSTGRESQL_ADMIN_URL, isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
    admin.dispose()
    return killed


def _read(conn) -> list:
    ctx = context.RequestContext(is_admin=True, all_projects=True)
    return conn.get_cluster_template_list(ctx)


def test_an_idle_dropped_connection_is_replaced_before_use(pg_connection, monkeypatch):
    conn, url = pg_connection
    conn.create_cluster_template({"name": "t", "project_id": "p1"})
    assert len(_read(conn)) == 1
    assert db_api.get_engine().pool.checkedout() == 0
    assert _terminate_backends(url) >= 1
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)
    assert len(_read(conn)) == 1  # the checkout ping found it dead and reconnected


def test_a_busy_dropped_connection_fails_once_with_a_connection_error(pg_connection):
    from oslo_db import exception as db_exc

    conn, url = pg_connection
    conn.create_cluster_template({"name": "t", "project_id": "p1"})
    assert len(_read(conn)) == 1
    assert _terminate_backends(url) >= 1
    # Used a moment ago, so not pinged: the request in flight gets a clear error (the API
    # answers 503) ...
    with pytest.raises(db_exc.DBConnectionError):
        _read(conn)
    # ... and the pool was invalidated, so the next request works.
    assert len(_read(conn)) == 1
    assert db_api.get_engine().pool.checkedout() == 0
