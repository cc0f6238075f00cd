"""livestreams.due_at (the monitor reads only the live streams with something due) and credit_metering

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Written by hand; tests/test_schema.py checks that the migrated schema matches
db/models.py on SQLite and PostgreSQL.

Live streams get `due_at = started_at`: at or before any instant a check of
theirs can have something to do, so nothing is checked late; `credit_metering`
starts empty, so the first monitor pass recomputes every live stream's exact
`due_at` with the settings in force (services/credits.py `Credits.monitor`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE = sa.text("status = 'live'")


def upgrade() -> None:
    op.add_column("livestreams", sa.Column("due_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE livestreams SET due_at = COALESCE(started_at, created_at) WHERE status = 'live'")
    # On SQLite the CHECK makes the batch copy the table; on PostgreSQL it is one ALTER.
    with op.batch_alter_table("livestreams") as batch:
        batch.create_check_constraint(op.f("ck_livestreams_live_due_at"), "status <> 'live' OR due_at IS NOT NULL")
    op.create_index("ix_livestreams_live_due_at", "livestreams", ["due_at"], postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_table(
        "credit_metering",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block", sa.Float(), nullable=False),
        sa.Column("warn_after", sa.Float(), nullable=False),
        sa.Column("end_after", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_metering"),
        sa.CheckConstraint("id = 1", name=op.f("ck_credit_metering_one_row")),
    )


def downgrade() -> None:
    op.drop_table("credit_metering")
    op.drop_index("ix_livestreams_live_due_at", table_name="livestreams")
    with op.batch_alter_table("livestreams") as batch:
        batch.drop_constraint(op.f("ck_livestreams_live_due_at"), type_="check")
        batch.drop_column("due_at")
