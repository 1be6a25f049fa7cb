"""nodegroup.availability_zone and nodegroup.server_type: where a group's nodes run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

One cluster can mix VM and baremetal workers across zones: each nodegroup names its own zone
(None: Nova's default) and server type (None: the template's).
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite needs it for ALTERs; other databases run plain ALTER TABLEs.
    with op.batch_alter_table("nodegroup") as batch:
        batch.add_column(sa.Column("availability_zone", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("server_type", sa.String(length=20), nullable=True))
