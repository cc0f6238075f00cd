"""Tables. Constraints and indexes live in the schema, not in hope.

Relationships are not used: every query says what it loads (no lazy loads in
async code).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, MetaData, String
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

    __table_args__ = (
        # The offline sweep reads only online users past the timeout.
        Index("ix_users_online_last_seen", "is_online", "last_seen"),
        Index("ix_users_last_activity_at", "last_activity_at"),
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
