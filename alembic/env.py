"""Alembic environment for magnum_lite's schema.

Three ways in:
- magnum_lite.db.migration (`magnum-lite-manage db upgrade`) hands over an open connection in
  `config.attributes["connection"]`, so it can hold a migration lock on that connection;
- `alembic ...` from a source checkout: the URL is alembic.ini's sqlalchemy.url if set, else
  magnum-lite's configuration (`-x config-file=/etc/magnum-lite/magnum-lite.conf` to read one);
- offline (`alembic upgrade head --sql`): the same URL, rendered as SQL text.

SQLite cannot ALTER most things, so migrations run in batch mode there.
"""

from logging.config import fileConfig
import os

from alembic import context
import sqlalchemy as sa

from magnum_lite.conf import CONF
from magnum_lite.conf import database as database_conf
from magnum_lite.db.sqlalchemy import models

config = context.config
target_metadata = models.Base.metadata

# The alembic command line reads alembic.ini: take its logging setup. magnum-lite-manage builds
# its Config in code (no file) and has set up oslo.log already.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    config_file = context.get_x_argument(as_dictionary=True).get("config-file")
    if config_file:
        CONF(["--config-file", config_file], project="magnum-lite")
    return database_conf.connection_url(CONF)


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: sa.Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = sa.make_url(_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A first run creates the state directory, as the services do.
        os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
