"""SQLAlchemy models: one class per table of DESIGN.md §5.

Public ids are UUIDs; integer primary keys stay internal. Cluster and nodegroup rows carry an
internal `revision` that every write compares and bumps (see db/sqlalchemy/clusters.py).
"""

import json
from typing import Any

from oslo_db.sqlalchemy import models
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.types import TypeDecorator


class JSONEncoded(TypeDecorator):
    """JSON kept as text, so SQLite, PostgreSQL and MariaDB store it alike."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class Base(models.TimestampMixin, models.ModelBase, orm.DeclarativeBase):
    """Declarative base with created_at/updated_at and oslo.db's dict-like access."""

    __table_args__: Any = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

    def as_dict(self) -> dict:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


def _table_args(*constraints: Any) -> tuple:
    return (*constraints, Base.__table_args__)


class ClusterTemplate(Base):
    __tablename__ = "cluster_template"
    __table_args__ = _table_args(sa.UniqueConstraint("uuid", name="uniq_cluster_template0uuid"))

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    project_id = sa.Column(sa.String(255), index=True)
    user_id = sa.Column(sa.String(255))
    name = sa.Column(sa.String(255), index=True)
    image_id = sa.Column(sa.String(255))
    flavor_id = sa.Column(sa.String(255))
    master_flavor_id = sa.Column(sa.String(255))
    keypair_id = sa.Column(sa.String(255))
    external_network_id = sa.Column(sa.String(255))
    fixed_network = sa.Column(sa.String(255))
    fixed_subnet = sa.Column(sa.String(255))
    network_driver = sa.Column(sa.String(255))
    volume_driver = sa.Column(sa.String(255))
    dns_nameserver = sa.Column(sa.String(255))
    apiserver_port = sa.Column(sa.Integer)
    docker_volume_size = sa.Column(sa.Integer)
    docker_storage_driver = sa.Column(sa.String(512))
    cluster_distro = sa.Column(sa.String(255))
    coe = sa.Column(sa.String(255))
    http_proxy = sa.Column(sa.String(255))
    https_proxy = sa.Column(sa.String(255))
    no_proxy = sa.Column(sa.String(255))
    registry_enabled = sa.Column(sa.Boolean, default=False)
    labels = sa.Column(JSONEncoded)
    tls_disabled = sa.Column(sa.Boolean, default=False)
    public = sa.Column(sa.Boolean, default=False)
    server_type = sa.Column(sa.String(255))
    insecure_registry = sa.Column(sa.String(255))
    master_lb_enabled = sa.Column(sa.Boolean, default=False)
    floating_ip_enabled = sa.Column(sa.Boolean, default=True)
    hidden = sa.Column(sa.Boolean, default=False)
    tags = sa.Column(sa.String(255))
    driver = sa.Column(sa.String(255))


class Cluster(Base):
    __tablename__ = "cluster"
    __table_args__ = _table_args(sa.UniqueConstraint("uuid", name="uniq_cluster0uuid"))

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    project_id = sa.Column(sa.String(255), index=True)
    user_id = sa.Column(sa.String(255))
    name = sa.Column(sa.String(255), index=True)
    cluster_template_id = sa.Column(sa.String(255), index=True)
    keypair = sa.Column(sa.String(255))
    docker_volume_size = sa.Column(sa.Integer)
    labels = sa.Column(JSONEncoded)
    master_flavor_id = sa.Column(sa.String(255))
    flavor_id = sa.Column(sa.String(255))
    stack_id = sa.Column(sa.String(255))
    api_address = sa.Column(sa.String(255))
    status = sa.Column(sa.String(20), index=True)
    status_reason = sa.Column(sa.Text)
    health_status = sa.Column(sa.String(20))
    health_status_reason = sa.Column(JSONEncoded)
    # Node name -> when the health monitor first saw it unhealthy (ISO 8601 UTC): written
    # with health_status (update_cluster_health), never shown by the API.
    health_since = sa.Column(JSONEncoded)
    create_timeout = sa.Column(sa.Integer)
    discovery_url = sa.Column(sa.String(255))
    ca_cert_ref = sa.Column(sa.String(512))
    magnum_cert_ref = sa.Column(sa.String(512))
    etcd_ca_cert_ref = sa.Column(sa.String(512))
    front_proxy_ca_cert_ref = sa.Column(sa.String(512))
    trust_id = sa.Column(sa.String(255))
    trustee_username = sa.Column(sa.String(255))
    trustee_user_id = sa.Column(sa.String(255))
    trustee_password = sa.Column(sa.String(255))
    join_token = sa.Column(sa.String(255))
    coe_version = sa.Column(sa.String(255))
    container_version = sa.Column(sa.String(255))
    fixed_network = sa.Column(sa.String(255))
    fixed_subnet = sa.Column(sa.String(255))
    floating_ip_enabled = sa.Column(sa.Boolean, default=True)
    master_lb_enabled = sa.Column(sa.Boolean, default=False)
    driver_id = sa.Column(sa.String(36))
    driver_version = sa.Column(sa.Integer)
    version = sa.Column(sa.Integer, nullable=False, default=0)
    revision = sa.Column(sa.Integer, nullable=False, default=0)
    # The operation in flight (a cluster_operation uuid), written with the compare-and-swap
    # of the row: at most one operation runs per cluster on every database.
    operation_uuid = sa.Column(sa.String(36))


class NodeGroup(Base):
    __tablename__ = "nodegroup"
    __table_args__ = _table_args(
        sa.UniqueConstraint("uuid", name="uniq_nodegroup0uuid"),
        sa.UniqueConstraint("cluster_id", "name", name="uniq_nodegroup0cluster_id0name"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    cluster_id = sa.Column(sa.String(255), nullable=False, index=True)
    project_id = sa.Column(sa.String(255), nullable=False, index=True)
    docker_volume_size = sa.Column(sa.Integer)
    labels = sa.Column(JSONEncoded)
    flavor_id = sa.Column(sa.String(255))
    image_id = sa.Column(sa.String(255))
    node_addresses = sa.Column(JSONEncoded)
    node_count = sa.Column(sa.Integer)
    role = sa.Column(sa.String(255))
    max_node_count = sa.Column(sa.Integer)
    min_node_count = sa.Column(sa.Integer, default=0)
    is_default = sa.Column(sa.Boolean, default=False)
    stack_id = sa.Column(sa.String(255))
    status = sa.Column(sa.String(20))
    status_reason = sa.Column(sa.Text)
    version = sa.Column(sa.String(20))
    node_labels = sa.Column(JSONEncoded)
    node_taints = sa.Column(JSONEncoded)
    availability_zone = sa.Column(sa.String(255))
    server_type = sa.Column(sa.String(20))
    revision = sa.Column(sa.Integer, nullable=False, default=0)


class Driver(Base):
    """One row per driver *version*; rows of one driver share `name`."""

    __tablename__ = "driver"
    __table_args__ = _table_args(
        sa.UniqueConstraint("uuid", name="uniq_driver0uuid"),
        sa.UniqueConstraint("name", "version", name="uniq_driver0name0version"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    version = sa.Column(sa.Integer, nullable=False)
    public = sa.Column(sa.Boolean, nullable=False, default=True)
    plugin_name = sa.Column(sa.String(255), nullable=False)
    config = sa.Column(JSONEncoded)
    enabled = sa.Column(sa.Boolean, nullable=False, default=True)
    project_id = sa.Column(sa.String(255))
    user_id = sa.Column(sa.String(255))
    deleted_at = sa.Column(sa.DateTime)


class ClusterEvent(Base):
    """History of a cluster: every operation and status change, in order."""

    __tablename__ = "cluster_event"
    __table_args__ = _table_args(sa.UniqueConstraint("uuid", name="uniq_cluster_event0uuid"))

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    cluster_id = sa.Column(sa.String(36), nullable=False, index=True)
    cluster_version = sa.Column(sa.Integer)
    event_type = sa.Column(sa.String(64), nullable=False)
    status = sa.Column(sa.String(20))
    status_reason = sa.Column(sa.Text)
    project_id = sa.Column(sa.String(255))
    user_id = sa.Column(sa.String(255))
    request_id = sa.Column(sa.String(255))


class ClusterOperation(Base):
    """An operation on a cluster: in flight (outcome NULL) or finished. No foreign key: the
    row outlives the cluster's, for accounting, like its events."""

    __tablename__ = "cluster_operation"
    __table_args__ = _table_args(
        sa.UniqueConstraint("uuid", name="uniq_cluster_operation0uuid"),
        sa.Index("cluster_operation_outcome_idx", "outcome", "owner"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    cluster_uuid = sa.Column(sa.String(36), nullable=False, index=True)
    project_id = sa.Column(sa.String(255))
    user_id = sa.Column(sa.String(255))
    request_id = sa.Column(sa.String(255))
    kind = sa.Column(sa.String(32), nullable=False)
    params = sa.Column(JSONEncoded)
    plan = sa.Column(JSONEncoded)
    step = sa.Column(sa.String(32), nullable=False)
    owner = sa.Column(sa.String(255))
    started_at = sa.Column(sa.DateTime, nullable=False)
    deadline = sa.Column(sa.DateTime)
    finished_at = sa.Column(sa.DateTime)
    outcome = sa.Column(sa.String(16))
    fault = sa.Column(sa.String(32))
    cluster_version = sa.Column(sa.Integer)
    revision = sa.Column(sa.Integer, nullable=False, default=0)
    #: The requester's token, encrypted, while only it can do the next step (a create's
    #: trust); cleared once that is done or the operation ends.
    auth_token = sa.Column(sa.Text)


class X509KeyPair(Base):
    __tablename__ = "x509keypair"
    __table_args__ = _table_args(sa.UniqueConstraint("uuid", name="uniq_x509keypair0uuid"))

    id = sa.Column(sa.Integer, primary_key=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    name = sa.Column(sa.String(255))
    cluster_id = sa.Column(sa.String(36), index=True)
    kind = sa.Column(sa.String(32))
    certificate = sa.Column(sa.Text)
    private_key = sa.Column(sa.Text)
    private_key_passphrase = sa.Column(sa.Text)
    intermediates = sa.Column(sa.Text)
    project_id = sa.Column(sa.String(255))
    user_id = sa.Column(sa.String(255))


class Quota(Base):
    __tablename__ = "quota"
    __table_args__ = _table_args(
        sa.UniqueConstraint("project_id", "resource", name="uniq_quota0project_id0resource"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    project_id = sa.Column(sa.String(255), nullable=False)
    resource = sa.Column(sa.String(255), nullable=False)
    hard_limit = sa.Column(sa.Integer, nullable=False)


class MagnumService(Base):
    __tablename__ = "magnum_service"
    __table_args__ = _table_args(
        sa.UniqueConstraint("host", "binary", name="uniq_magnum_service0host0binary"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    host = sa.Column(sa.String(255))
    binary = sa.Column(sa.String(255))
    disabled = sa.Column(sa.Boolean, default=False)
    disabled_reason = sa.Column(sa.String(255))
    last_seen_up = sa.Column(sa.DateTime)
    forced_down = sa.Column(sa.Boolean, default=False)
    report_count = sa.Column(sa.Integer, nullable=False, default=0)
