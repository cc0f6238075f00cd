"""a conversation's customer: last seen and last heartbeat, kept across restarts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("last_seen", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_heartbeat", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("last_heartbeat")
        batch.drop_column("last_seen")
