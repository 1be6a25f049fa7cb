"""[database]: oslo.db's options. An unset connection means a SQLite file under state_path."""

import os

from oslo_config import cfg
from oslo_db import options as db_options


def register_opts(conf: cfg.ConfigOpts) -> None:
    db_options.set_defaults(conf)


def connection_url(conf: cfg.ConfigOpts) -> str:
    """The database URL in effect: [database] connection, or the embedded SQLite file."""
    if conf.database.connection:
        return conf.database.connection
    return "sqlite:///" + os.path.join(conf.state_path, "magnum-lite.sqlite")


def list_opts() -> dict:
    return {"database": db_options.database_opts}
