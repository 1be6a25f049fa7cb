"""cluster.health_since: when the health monitor first saw each unhealthy node so.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Auto-healing replaces a node once it has been unhealthy for longer than its grace. That
time was kept in the memory of the conductor checking the cluster, so a conductor taking
the cluster over started the grace anew. It is now stored with the cluster's health (a map
node name -> first seen unhealthy, ISO 8601 UTC), written by the same update as
health_status, never with a new version or revision, and never shown by the API.
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite needs it for ALTERs; other databases run plain ALTER TABLEs.
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("health_since", sa.Text(), nullable=True))
