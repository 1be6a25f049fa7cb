"""cluster_operation and cluster.operation_uuid: every operation as a durable, owned record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The operation in flight on a cluster (its kind, parameters, step, owner conductor, deadline)
and its history (outcome, fault code). The cluster row names its operation in flight, written
with the row's compare-and-swap: at most one per cluster on SQLite, PostgreSQL and MariaDB
alike (MariaDB has no partial unique index). Clusters in flight at the upgrade get their
record from the conductor that follows them.
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_operation",
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("fault", sa.String(length=32), nullable=True),
        sa.Column("cluster_version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_cluster_operation0uuid"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_cluster_operation_cluster_uuid", "cluster_operation",
                    ["cluster_uuid"])
    op.create_index("cluster_operation_outcome_idx", "cluster_operation",
                    ["outcome", "owner"])
    # Batch mode: SQLite needs it for ALTERs; other databases run plain ALTER TABLEs.
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("operation_uuid", sa.String(length=36), nullable=True))
