"""Fixtures shared by every test tier: configuration and an empty database per test."""

import pytest

from magnum_lite.conf import CONF
from magnum_lite.db.sqlalchemy import api as db_api
from magnum_lite.db.sqlalchemy import models


@pytest.fixture(autouse=True)
def config(tmp_path):
    """Fresh configuration per test: parsed with no files, state under the test's tmp dir."""
    CONF([], project="magnum-lite", default_config_files=[], default_config_dirs=[])
    CONF.set_override("state_path", str(tmp_path))
    yield CONF
    CONF.reset()
    CONF.clear_override("state_path")


@pytest.fixture
def db(config, tmp_path):
    """An empty SQLite database with the full schema, and the engine reset afterwards."""
    db_api.dispose_engine()
    config.set_override("connection", f"sqlite:///{tmp_path}/test.sqlite", group="database")
    models.Base.metadata.create_all(db_api.get_engine())
    yield db_api.get_engine()
    db_api.dispose_engine()
    config.clear_override("connection", group="database")
