"""attendance sessions (meetings, sessions) and livestream credits (balance, grants, streams, charges)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Written by hand; tests/test_schema.py checks that the migrated schema matches
db/models.py on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(255)
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    # Users' remaining credits. On SQLite the CHECK makes the batch copy the table
    # (SQLite cannot add a constraint in place); on PostgreSQL these are two ALTERs.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("credits", sa.BigInteger(), nullable=False, server_default="0"))
        batch.create_check_constraint(op.f("ck_users_credits_not_negative"), "credits >= 0")

    op.create_table(
        "meetings",
        sa.Column("id", ID, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("zoom_url", sa.Text(), nullable=False),
        sa.Column("teacher_id", ID, nullable=False),
        sa.Column("teacher_name", ID, nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meetings"),
    )
    op.create_table(
        "attendance_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("student_id", ID, nullable=False),
        sa.Column("student_name", ID, nullable=True),
        sa.Column("clicked_at", UTCDateTime(), nullable=False),
        sa.Column("last_activity_at", UTCDateTime(), nullable=False),
        sa.Column("session_ended_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attendance_sessions"),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name="fk_attendance_sessions_meeting_id_meetings"),
        sa.CheckConstraint("status IN ('active', 'completed', 'timeout')", name=op.f("ck_attendance_sessions_status")),
    )
    op.create_index(
        "uq_attendance_sessions_active_student",
        "attendance_sessions",
        ["meeting_id", "student_id"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_index(
        "ix_attendance_sessions_active_last_activity_at",
        "attendance_sessions",
        ["last_activity_at"],
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_index("ix_attendance_sessions_clicked_at", "attendance_sessions", ["clicked_at"])

    op.create_table(
        "credit_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("granted_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_credit_grants"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_credit_grants_user_id_users"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_grants_amount_positive")),
    )
    op.create_index("ix_credit_grants_user_id", "credit_grants", ["user_id"])

    op.create_table(
        "livestreams",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("credits_consumed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("warned_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_livestreams"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_livestreams_user_id_users"),
        sa.CheckConstraint("status IN ('scheduled', 'live', 'ended')", name=op.f("ck_livestreams_status")),
        sa.CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('manual', 'inactivity', 'credits_exhausted')",
            name=op.f("ck_livestreams_end_reason"),
        ),
        sa.CheckConstraint("credits_consumed >= 0", name=op.f("ck_livestreams_credits_consumed_not_negative")),
    )
    op.create_index("ix_livestreams_user_id", "livestreams", ["user_id"])
    op.create_index("ix_livestreams_status_created_at", "livestreams", ["status", "created_at"])

    op.create_table(
        "livestream_charges",
        sa.Column("livestream_id", ID, nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("charged_at", UTCDateTime(), nullable=False),
        sa.Column("block_starts_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("livestream_id", "block", name="pk_livestream_charges"),
        sa.ForeignKeyConstraint(
            ["livestream_id"], ["livestreams.id"], name="fk_livestream_charges_livestream_id_livestreams"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_livestream_charges_user_id_users"),
        sa.CheckConstraint("block >= 0", name=op.f("ck_livestream_charges_block_not_negative")),
        sa.CheckConstraint("credits = 1", name=op.f("ck_livestream_charges_one_credit")),
    )
    op.create_index("ix_livestream_charges_user_id", "livestream_charges", ["user_id"])


def downgrade() -> None:
    op.drop_table("livestream_charges")
    op.drop_table("livestreams")
    op.drop_table("credit_grants")
    op.drop_table("attendance_sessions")
    op.drop_table("meetings")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_credits_not_negative"), type_="check")
        batch.drop_column("credits")
