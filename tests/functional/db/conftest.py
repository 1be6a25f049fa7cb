"""The DB API on a fresh PostgreSQL database of its own, with the models' tables."""

from __future__ import annotations

import pytest

from magnum_lite.db import api as dbapi
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models
from tests.functional import deployment as dep


@pytest.fixture
def pg_connection(config):
    """(the DB API, the database's URL)."""
    with dep.postgresql_database() as url:
        db_api.dispose_engine()
        config.set_override("connection", url, group="database")
        models.Base.metadata.create_all(db_api.get_engine())
        yield dbapi.get_instance(), url
        db_api.dispose_engine()
        config.clear_override("connection", group="database")
