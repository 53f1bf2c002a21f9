from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import JSONDocument, UTCDateTime
from app.extensions import db

ROLES = ("counsellor", "supervisor", "manager", "admin")
AVAILABILITY = ("available", "break", "offline")


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(sa.text("role IN ('counsellor', 'supervisor', 'manager', 'admin')"), name="role"),
        sa.CheckConstraint(sa.text("availability IN ('available', 'break', 'offline')"), name="availability"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), index=True)
    # Lower-cased; unique across helplines because login is by email alone.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # Set when an admin sets the password: until the user changes it, only the change-password route works.
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    availability: Mapped[str] = mapped_column(sa.String(16), default="offline")
    availability_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Since when the counsellor has had nothing new: routing offers to the longest idle first.
    # Moves on when they become available, take a contact, or finish one.
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Offers let lapse in a row; two put the counsellor on break (as TaskRouter does).
    missed_offers: Mapped[int] = mapped_column(sa.Integer, default=0)
    # {"sms": 3, "chat": 2, "total": 4}; a channel not named has capacity 1.
    capacity: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    # {"languages": ["en"], "queues": [queue ids]}; empty lists mean no restriction.
    skills: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    helpline = relationship("Helpline", lazy="joined")


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored: a database leak gives no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship(User, lazy="joined")


class StreamTicket(db.Model):
    """A single-use, short-lived credential for a browser's EventSource, which cannot send headers.
    It acts for the token that asked for it, so revoking that token closes the stream too."""

    __tablename__ = "stream_tickets"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    ticket_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_id: Mapped[str] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
