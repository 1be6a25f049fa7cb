"""cluster.join_token: the secret a cluster's nodes join it with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

A driver makes it at create (kubeadm's bootstrap token for Kubernetes) and needs it again when
a resize adds nodes in a new stack. The API never shows it.
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cluster", sa.Column("join_token", sa.String(length=255), nullable=True))
