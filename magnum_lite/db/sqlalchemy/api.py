"""SQLAlchemy implementation of the database interface.

Every public method opens its own short transaction through oslo.db's enginefacade, so a
connection goes back to the pool when the method returns: nothing outlives a request.
Cluster and nodegroup writes are compare-and-swap on `revision`.

The queries live in one mixin per resource; `Connection` composes them. This module is what
db/api.py loads, and hands out session.py's engine and sessions too.
"""

from magnum_lite.db.sqlalchemy.cluster_templates import ClusterTemplateQueries
from magnum_lite.db.sqlalchemy.clusters import ClusterQueries
from magnum_lite.db.sqlalchemy.drivers import DriverQueries
from magnum_lite.db.sqlalchemy.nodegroups import NodeGroupQueries
from magnum_lite.db.sqlalchemy.operations import OperationQueries
from magnum_lite.db.sqlalchemy.quotas import QuotaQueries
from magnum_lite.db.sqlalchemy.services import ServiceQueries
from magnum_lite.db.sqlalchemy.session import (
    _reader,
    _single_read,
    _writer,
    dispose_engine,
    get_engine,
    get_facade,
)
from magnum_lite.db.sqlalchemy.stored_secrets import SecretQueries

__all__ = ["Connection", "_reader", "_single_read", "_writer", "dispose_engine", "get_engine",
           "get_facade"]


class Connection(ClusterTemplateQueries, ClusterQueries, NodeGroupQueries, DriverQueries,
                 OperationQueries, SecretQueries, QuotaQueries, ServiceQueries):
    """All database operations of magnum_lite, one short transaction each."""
