"""cluster_operation.auth_token: the requester's token while only it can do the next step.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A create makes the cluster's trust with the token of the user who asked for it, which only
the request carried: a conductor that takes over a create cut off before the trust existed
needs it too. It is kept encrypted (the credentials key) and cleared as soon as the trust
exists or the operation ends; a token expires within hours anyway.
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite needs it for ALTERs; other databases run plain ALTER TABLEs.
    with op.batch_alter_table("cluster_operation") as batch:
        batch.add_column(sa.Column("auth_token", sa.Text(), nullable=True))
