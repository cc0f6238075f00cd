"""Tables. Constraints and indexes live in the schema, not in hope.

Relationships are not used: every query says what it loads (no lazy loads in
async code).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TextClause,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import UTCDateTime
from domain.ids import MAX_ID_LENGTH

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def status_is(value: str) -> TextClause:
    """`status = '<value>'`, the condition of a partial index. Queries that must use
    such an index write the same condition with a literal (`db.queries.literal_status`),
    not a bound parameter: only a condition that matches the index's as written lets
    PostgreSQL (generic plans, ON CONFLICT inference) and SQLite use it."""
    return text(f"status = '{value}'")


class User(Base):
    """A person the host application signs tokens for; created on first sight (§2)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    company_id: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_online: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Livestream credits remaining (§7). Only ever changed by one guarded UPDATE
    # (`credits = credits ± n`), never read-modify-written; the CHECK is the last word.
    credits: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        # The offline sweep reads only online users past the timeout.
        Index("ix_users_online_last_seen", "is_online", "last_seen"),
        Index("ix_users_last_activity_at", "last_activity_at"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
    )


class Conversation(Base):
    """A conversation registered by the host application (§3). Only WIDGET ones have presence."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    customer_name: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Written when the customer goes offline, so `lastSeen` survives restarts and
    # the presence store may forget conversations that have been quiet for long.
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserActivityDay(Base):
    """A user was active on this UTC day (§5): DAU of any past day stays answerable."""

    __tablename__ = "user_activity_days"

    user_id: Mapped[str] = mapped_column(
        String(MAX_ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)

    # Daily counts read one day's range of this index (an index-only scan).
    __table_args__ = (Index("ix_user_activity_days_day", "day"),)


class Meeting(Base):
    """A Zoom meeting students get tracking links for (§6), registered by an admin."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    zoom_url: Mapped[str] = mapped_column(Text)
    teacher_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    teacher_name: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttendanceSession(Base):
    """One student's attendance of one meeting, from the click to the last heartbeat (§6)."""

    __tablename__ = "attendance_sessions"

    id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), ForeignKey("meetings.id"))
    student_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    student_name: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime())
    session_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed', 'timeout')", name="status"),
        # At most one ACTIVE session per student and meeting: a second click (or two
        # clicks racing) finds the first one through INSERT … ON CONFLICT DO NOTHING.
        Index(
            "uq_attendance_sessions_active_student",
            "meeting_id",
            "student_id",
            unique=True,
            postgresql_where=status_is("active"),
            sqlite_where=status_is("active"),
        ),
        # The timeout sweep reads only active sessions past the cutoff: its cost
        # follows the sessions that expire, not the history.
        Index(
            "ix_attendance_sessions_active_last_activity_at",
            "last_activity_at",
            postgresql_where=status_is("active"),
            sqlite_where=status_is("active"),
        ),
        # Reports, the payroll export and the admin list go by click time.
        Index("ix_attendance_sessions_clicked_at", "clicked_at"),
    )


class CreditGrant(Base):
    """Credits an admin added to a user (§7): with the charges, the balance's ledger
    (`users.credits == sum(grants) - count(charges)`)."""

    __tablename__ = "credit_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)


class Livestream(Base):
    """A seller's livestream, metered in credit blocks while live (§7)."""

    __tablename__ = "livestreams"

    id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # The number of blocks charged, which is also the number of the next block.
    credits_consumed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The earliest instant a check of this live stream can have anything to do
    # (`domain.credits.due_at`, floored to the microsecond so never late): the monitor
    # reads only the live streams whose instant has come. Never NULL while live.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'live', 'ended')", name="status"),
        CheckConstraint("status <> 'live' OR due_at IS NOT NULL", name="live_due_at"),
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('manual', 'inactivity', 'credits_exhausted')", name="end_reason"
        ),
        CheckConstraint("credits_consumed >= 0", name="credits_consumed_not_negative"),
        # The monitor reads `status = 'live'` (a short range of this index, however
        # many ended streams there are); the admin list reads one status, newest first.
        Index("ix_livestreams_status_created_at", "status", "created_at"),
        # The monitor reads only the live streams with something due: its cost follows
        # them, not every live stream.
        Index(
            "ix_livestreams_live_due_at",
            "due_at",
            postgresql_where=status_is("live"),
            sqlite_where=status_is("live"),
        ),
    )


class CreditMetering(Base):
    """The `PRESENCE_STREAM_*` settings the stored `livestreams.due_at` were computed
    with (one row). A monitor pass that finds other settings here recomputes every
    live stream's `due_at` first, then writes its own."""

    __tablename__ = "credit_metering"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block: Mapped[float] = mapped_column(Float)
    warn_after: Mapped[float] = mapped_column(Float)
    end_after: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class LivestreamCharge(Base):
    """One credit charged for one block of a stream (§7). The primary key makes a
    block chargeable exactly once, whatever runs at the same time."""

    __tablename__ = "livestream_charges"

    livestream_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), ForeignKey("livestreams.id"), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), ForeignKey("users.id"), index=True)
    credits: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    charged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    block_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("block >= 0", name="block_not_negative"),
        CheckConstraint("credits = 1", name="one_credit"),
    )
