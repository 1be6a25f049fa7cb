"""The database interface the objects layer uses.

Only objects/ imports this module, and the operator commands (cmd/manage.py, cmd/status.py)
for what acts on every row at once (re-encrypting stored secrets). The one implementation is
SQLAlchemy's (db/sqlalchemy/api.py); `get_instance()` hands it out.
"""

from magnum_lite.db.sqlalchemy import api as sqlalchemy_api


def get_instance() -> "sqlalchemy_api.Connection":
    return sqlalchemy_api.Connection()
