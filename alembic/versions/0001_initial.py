"""Initial schema: the eight tables of DESIGN.md §5.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Written by hand to match magnum_lite/db/sqlalchemy/models.py exactly; the functional test
tests/functional/db/test_migrations.py compares the two on SQLite, PostgreSQL and MariaDB.
Only portable DDL: the same script runs on every backend.
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Every table: InnoDB with 4-byte UTF-8 on MySQL/MariaDB; ignored by other dialects.
_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(), nullable=True),
            sa.Column("updated_at", sa.DateTime(), nullable=True)]


def _name(length: int = 255) -> sa.String:
    return sa.String(length=length)


def upgrade() -> None:
    op.create_table(
        "cluster_template",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", _name(), nullable=True),
        sa.Column("user_id", _name(), nullable=True),
        sa.Column("name", _name(), nullable=True),
        sa.Column("image_id", _name(), nullable=True),
        sa.Column("flavor_id", _name(), nullable=True),
        sa.Column("master_flavor_id", _name(), nullable=True),
        sa.Column("keypair_id", _name(), nullable=True),
        sa.Column("external_network_id", _name(), nullable=True),
        sa.Column("fixed_network", _name(), nullable=True),
        sa.Column("fixed_subnet", _name(), nullable=True),
        sa.Column("network_driver", _name(), nullable=True),
        sa.Column("volume_driver", _name(), nullable=True),
        sa.Column("dns_nameserver", _name(), nullable=True),
        sa.Column("apiserver_port", sa.Integer(), nullable=True),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("docker_storage_driver", _name(512), nullable=True),
        sa.Column("cluster_distro", _name(), nullable=True),
        sa.Column("coe", _name(), nullable=True),
        sa.Column("http_proxy", _name(), nullable=True),
        sa.Column("https_proxy", _name(), nullable=True),
        sa.Column("no_proxy", _name(), nullable=True),
        sa.Column("registry_enabled", sa.Boolean(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.Column("tls_disabled", sa.Boolean(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=True),
        sa.Column("server_type", _name(), nullable=True),
        sa.Column("insecure_registry", _name(), nullable=True),
        sa.Column("master_lb_enabled", sa.Boolean(), nullable=True),
        sa.Column("floating_ip_enabled", sa.Boolean(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=True),
        sa.Column("tags", _name(), nullable=True),
        sa.Column("driver", _name(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_cluster_template0uuid"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_cluster_template_project_id", "cluster_template", ["project_id"])
    op.create_index("ix_cluster_template_name", "cluster_template", ["name"])

    op.create_table(
        "cluster",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", _name(), nullable=True),
        sa.Column("user_id", _name(), nullable=True),
        sa.Column("name", _name(), nullable=True),
        sa.Column("cluster_template_id", _name(), nullable=True),
        sa.Column("keypair", _name(), nullable=True),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.Column("master_flavor_id", _name(), nullable=True),
        sa.Column("flavor_id", _name(), nullable=True),
        sa.Column("stack_id", _name(), nullable=True),
        sa.Column("api_address", _name(), nullable=True),
        sa.Column("status", _name(20), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("health_status", _name(20), nullable=True),
        sa.Column("health_status_reason", sa.Text(), nullable=True),
        sa.Column("create_timeout", sa.Integer(), nullable=True),
        sa.Column("discovery_url", _name(), nullable=True),
        sa.Column("ca_cert_ref", _name(512), nullable=True),
        sa.Column("magnum_cert_ref", _name(512), nullable=True),
        sa.Column("etcd_ca_cert_ref", _name(512), nullable=True),
        sa.Column("front_proxy_ca_cert_ref", _name(512), nullable=True),
        sa.Column("trust_id", _name(), nullable=True),
        sa.Column("trustee_username", _name(), nullable=True),
        sa.Column("trustee_user_id", _name(), nullable=True),
        sa.Column("trustee_password", _name(), nullable=True),
        sa.Column("coe_version", _name(), nullable=True),
        sa.Column("container_version", _name(), nullable=True),
        sa.Column("fixed_network", _name(), nullable=True),
        sa.Column("fixed_subnet", _name(), nullable=True),
        sa.Column("floating_ip_enabled", sa.Boolean(), nullable=True),
        sa.Column("master_lb_enabled", sa.Boolean(), nullable=True),
        sa.Column("driver_id", sa.String(length=36), nullable=True),
        sa.Column("driver_version", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_cluster0uuid"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_cluster_project_id", "cluster", ["project_id"])
    op.create_index("ix_cluster_name", "cluster", ["name"])
    op.create_index("ix_cluster_cluster_template_id", "cluster", ["cluster_template_id"])
    op.create_index("ix_cluster_status", "cluster", ["status"])

    op.create_table(
        "nodegroup",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("cluster_id", _name(), nullable=False),
        sa.Column("project_id", _name(), nullable=False),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.Column("flavor_id", _name(), nullable=True),
        sa.Column("image_id", _name(), nullable=True),
        sa.Column("node_addresses", sa.Text(), nullable=True),
        sa.Column("node_count", sa.Integer(), nullable=True),
        sa.Column("role", _name(), nullable=True),
        sa.Column("max_node_count", sa.Integer(), nullable=True),
        sa.Column("min_node_count", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=True),
        sa.Column("stack_id", _name(), nullable=True),
        sa.Column("status", _name(20), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("version", _name(20), nullable=True),
        sa.Column("node_labels", sa.Text(), nullable=True),
        sa.Column("node_taints", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_nodegroup0uuid"),
        sa.UniqueConstraint("cluster_id", "name", name="uniq_nodegroup0cluster_id0name"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_nodegroup_cluster_id", "nodegroup", ["cluster_id"])
    op.create_index("ix_nodegroup_project_id", "nodegroup", ["project_id"])

    op.create_table(
        "driver",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("plugin_name", _name(), nullable=False),
        sa.Column("config", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("project_id", _name(), nullable=True),
        sa.Column("user_id", _name(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_driver0uuid"),
        sa.UniqueConstraint("name", "version", name="uniq_driver0name0version"),
        **_TABLE_OPTIONS,
    )

    op.create_table(
        "cluster_event",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_version", sa.Integer(), nullable=True),
        sa.Column("event_type", _name(64), nullable=False),
        sa.Column("status", _name(20), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("project_id", _name(), nullable=True),
        sa.Column("user_id", _name(), nullable=True),
        sa.Column("request_id", _name(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_cluster_event0uuid"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_cluster_event_cluster_id", "cluster_event", ["cluster_id"])

    op.create_table(
        "x509keypair",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", _name(), nullable=True),
        sa.Column("cluster_id", sa.String(length=36), nullable=True),
        sa.Column("kind", _name(32), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("private_key_passphrase", sa.Text(), nullable=True),
        sa.Column("intermediates", sa.Text(), nullable=True),
        sa.Column("project_id", _name(), nullable=True),
        sa.Column("user_id", _name(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_x509keypair0uuid"),
        **_TABLE_OPTIONS,
    )
    op.create_index("ix_x509keypair_cluster_id", "x509keypair", ["cluster_id"])

    op.create_table(
        "quota",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", _name(), nullable=False),
        sa.Column("resource", _name(), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "resource", name="uniq_quota0project_id0resource"),
        **_TABLE_OPTIONS,
    )

    op.create_table(
        "magnum_service",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", _name(), nullable=True),
        sa.Column("binary", _name(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=True),
        sa.Column("disabled_reason", _name(), nullable=True),
        sa.Column("last_seen_up", sa.DateTime(), nullable=True),
        sa.Column("forced_down", sa.Boolean(), nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host", "binary", name="uniq_magnum_service0host0binary"),
        **_TABLE_OPTIONS,
    )


def downgrade() -> None:
    raise NotImplementedError("magnum-lite migrations go forward only: restore a backup instead")
